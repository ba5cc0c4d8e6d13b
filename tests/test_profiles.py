"""Snakemake's split between workflow and cluster: profiles/default comes by itself (plain `snakemake`
needs no --profile and no --cores), and `make slurm-profile` installs the global profile `slurm`
without ever overwriting one the user has."""

import subprocess
import sys

from conftest import REPO, copy_workflow, snakemake_env

INSTALL = REPO / "scripts" / "install-slurm-profile"


def run(args, cwd, env=None):
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env={**snakemake_env(), **(env or {})}, timeout=300
    )


def test_plain_snakemake_plans_a_readme_target_without_profile_or_cores(tmp_path):
    copy_workflow(tmp_path)
    result = run([sys.executable, "-m", "snakemake", "-n", "checkpoints/realign/model.pt"], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "workflow specific profile profiles/default" in output
    assert "cores have to be specified" not in output


def test_slurm_profile_is_installed_where_snakemake_looks(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = run([str(INSTALL)], REPO, env)
    assert result.returncode == 0, result.stderr
    installed = tmp_path / "config" / "snakemake" / "slurm" / "config.yaml"
    assert installed.read_bytes() == (REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_bytes()
    # Snakemake finds it by name: a dry run under it plans the study with the SLURM executor's settings
    (tmp_path / "project").mkdir()
    copy_workflow(tmp_path / "project")
    plan = run(
        [sys.executable, "-m", "snakemake", "--profile", "slurm", "-n", "checkpoints/vatt/model.pt"],
        tmp_path / "project",
        env,
    )
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr[-2000:]
    assert "Using profiles slurm and workflow specific profile profiles/default" in plan.stderr, plan.stderr[
        -2000:
    ]


def test_an_existing_slurm_profile_is_kept(tmp_path):
    mine = tmp_path / "config" / "snakemake" / "slurm"
    mine.mkdir(parents=True)
    (mine / "config.yaml").write_text("executor: slurm\nslurm-partition: mine\n")
    result = run([str(INSTALL)], REPO, {"XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert result.returncode == 0 and "kept your Snakemake profile" in result.stdout, result.stderr
    assert (mine / "config.yaml").read_text() == "executor: slurm\nslurm-partition: mine\n"
    assert sorted(p.name for p in mine.iterdir()) == ["config.yaml"]
