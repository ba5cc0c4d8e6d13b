"""`make lint` (scripts/lint): the workflow lints clean but for the deliberate missing conda/container."""

import subprocess
import sys
from pathlib import Path

from conftest import REPO, copy_workflow, snakemake_env

LINT = REPO / "scripts" / "lint"


def lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(LINT)], cwd=cwd, capture_output=True, text=True, env=snakemake_env(), timeout=300
    )


def test_the_workflow_lints_clean(tmp_path):
    result = lint(copy_workflow(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 finding(s)" in result.stdout


def test_a_rule_without_log_fails(tmp_path):
    # a rule as someone might add it: no log directive (and no conda/container, which is accepted)
    (tmp_path / "Snakefile").write_text('rule a:\n    output: "x"\n    shell: "touch {output}"\n')
    result = lint(tmp_path)
    assert result.returncode == 1
    assert "lint: rule a (" in result.stderr and ": No log directive defined" in result.stderr


def test_only_the_conda_container_lint_is_accepted(tmp_path):
    (tmp_path / "Snakefile").write_text(
        'rule a:\n    output: "x"\n    log: "a.log"\n    shell: "touch {output} 2> {log}"\n'
    )
    result = lint(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "0 finding(s); 1 accepted on purpose" in result.stdout


def test_a_broken_snakefile_fails(tmp_path):
    (tmp_path / "Snakefile").write_text('rule a:\n    outptu: "x"\n')
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "without a finding this script can read" in result.stderr
