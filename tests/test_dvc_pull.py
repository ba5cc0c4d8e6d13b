"""scripts/dvc-pull in a fresh clone of a tiny git + DVC project (one Snakemake rule, the project's
committed .dvc/config and scripts): one line and exit 1 when the remote is not there, a pull with
nothing left to do once it is."""

import shutil
import subprocess

from conftest import GIT_ENV, REPO, sh, snakemake_env

SNAKEFILE = """rule all:
    input: "out/f.txt"

rule copy:
    input: "in.txt"
    output: "out/f.txt"
    shell: "cp {input} {output}"
"""
DVC_YAML = """stages:
  pipeline:
    cmd: snakemake
    deps: [Snakefile, in.txt]
    outs:
      - out: {persist: true}
"""


def run(cwd, *args):
    return subprocess.run(
        list(args), cwd=cwd, capture_output=True, text=True, timeout=300, env={**snakemake_env(), **GIT_ENV}
    )


def origin(parent):
    """parent/project, run and pushed to its committed default remote: the folder
    parent/mmrobust-dvc-storage."""
    project = parent / "project"
    (project / "profiles/default").mkdir(parents=True)
    (project / "profiles/default/config.yaml").write_text("cores: 1\n")
    (project / "Snakefile").write_text(SNAKEFILE)
    (project / "dvc.yaml").write_text(DVC_YAML)
    (project / "in.txt").write_text("pulled\n")
    (project / ".gitignore").write_text(".snakemake/\n")
    (project / "scripts").mkdir()
    for name in ("dvc-pull", "dvc-pulled"):
        shutil.copy2(REPO / "scripts" / name, project / "scripts" / name)
    sh(project, "git", "init", "-q", "-b", "main")
    sh(project, "dvc", "init", "-q")
    shutil.copy(REPO / ".dvc" / "config", project / ".dvc" / "config")
    sh(project, "dvc", "repro", "-q")
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "run")
    sh(project, "dvc", "push", "-q")
    assert (parent / "mmrobust-dvc-storage").is_dir()
    return project


def clone(project, dest):
    sh(dest.parent, "git", "clone", "-q", str(project), str(dest))
    return dest


def one_line_failure(result):
    assert result.returncode == 1 and result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scripts/dvc-pull: "), result.stderr
    return lines[0]


def pulled(project):
    assert (project / "out/f.txt").read_text() == "pulled\n"
    assert "Nothing to be done" in sh(project, "snakemake", "-n")
    assert "Data and pipelines are up to date" in sh(project, "dvc", "status")


def test_pull_into_a_clone_elsewhere_says_in_one_line_which_remote_to_configure(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    project = origin(tmp_path / "a")
    there = clone(project, tmp_path / "b" / "clone")
    line = one_line_failure(run(there, "scripts/dvc-pull"))
    assert (
        f"DVC remote 'local' is the folder {tmp_path / 'b' / 'mmrobust-dvc-storage'}, which does not exist "
        "here" in line
    )
    assert "dvc remote modify --local local url URL" in line
    assert not (there / "out").exists()
    # configured as the line says: the pull works and nothing is left to do
    sh(
        there,
        "dvc",
        "remote",
        "modify",
        "--local",
        "local",
        "url",
        str(tmp_path / "a" / "mmrobust-dvc-storage"),
    )
    assert "pulled from DVC remote 'local'" in sh(there, "scripts/dvc-pull")
    pulled(there)
    assert (
        sh(there, "git", "status", "--porcelain") == ""
    )  # the setting is in .dvc/config.local, which git ignores


def test_pull_beside_the_original_needs_no_configuration(tmp_path):
    project = origin(tmp_path)
    beside = clone(project, tmp_path / "clone")
    sh(beside, "scripts/dvc-pull")
    pulled(beside)


def test_no_remote_an_unknown_one_or_one_without_the_files_is_one_line(tmp_path):
    (tmp_path / "a").mkdir()
    project = origin(tmp_path / "a")
    there = clone(project, tmp_path / "clone")
    assert "remote named 'nowhere'" in one_line_failure(run(there, "scripts/dvc-pull", "-r", "nowhere"))
    (tmp_path / "empty").mkdir()
    sh(there, "dvc", "remote", "add", "--local", "-d", "empty", str(tmp_path / "empty"))
    line = one_line_failure(run(there, "scripts/dvc-pull"))
    assert f"DVC remote 'empty' ({tmp_path / 'empty'}) lacks files of this commit" in line
    sh(there, "dvc", "remote", "remove", "--local", "empty")
    sh(there, "dvc", "remote", "remove", "local")  # the committed default gone: no remote at all
    assert "no default DVC remote is configured" in one_line_failure(run(there, "scripts/dvc-pull"))
    usage = run(there, "scripts/dvc-pull", "extra")
    assert usage.returncode == 2 and "unrecognized arguments: extra" in usage.stderr
