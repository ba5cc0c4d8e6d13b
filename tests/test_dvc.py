"""DVC over the Snakemake workflow on the tiny config: clean status after a run, the same hashes
from two runs, and push -> fresh clone -> pull -> nothing to do, with a local and an S3 remote."""

import socket

import pytest
import yaml
from conftest import REPO, make_project, sh, tree_digest

from mmrobust.fileio import sha256_file

pytestmark = pytest.mark.slow

OUTS = ("data", "features", "embeddings", "checkpoints", "results")


def digest(root):
    """tree_digest of the outputs, without Snakemake's directory markers (not versioned)."""
    return {
        folder: {
            k: v for k, v in tree_digest(root / folder).items() if not k.endswith(".snakemake_timestamp")
        }
        for folder in OUTS
    }


def lock_hashes(project):
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["pipeline"]
    return {out["path"]: out["md5"] for out in lock["outs"]}


def test_dvc_yaml_has_an_out_per_experiment():
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["pipeline"]
    outs = {next(iter(o)) if isinstance(o, dict) else o for o in stage["outs"]}
    experiments = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["experiments"]
    assert {f"results/{e}" for e in experiments} <= outs


def test_the_pipeline_depends_on_the_code_the_environment_and_the_scripts(tmp_path):
    deps = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["pipeline"]["deps"]
    assert {
        "Snakefile",
        "workflow",
        "profiles",
        "src/mmrobust",
        "requirements.lock",
        "pyproject.toml",
        "scripts",
    } <= set(deps)
    project = make_project(tmp_path)  # what the DVC tests run `dvc repro` in: a missing dep would fail it
    assert [d for d in deps if not (project / d).exists()] == []


def test_a_run_leaves_dvc_status_clean_and_two_runs_the_same_hashes(projects):
    for project in projects:
        assert "Data and pipelines are up to date" in sh(project, "dvc", "status")
    assert lock_hashes(projects[0]) == lock_hashes(projects[1])
    assert {"results/tables", "results/plots", "results/metrics.json", "checkpoints"} <= lock_hashes(
        projects[0]
    ).keys()


def pull_into_clone(origin, clone, remote_args, env=None):
    sh(clone.parent, "git", "clone", "-q", str(origin), str(clone))
    for args in remote_args:
        sh(clone, "dvc", "remote", *args, env=env)
    sh(clone, "dvc", "pull", "-q", "-r", "test", env=env)
    assert "Data and pipelines are up to date" in sh(clone, "dvc", "status", env=env)
    sh(clone, "scripts/dvc-pulled", env=env)
    assert "Nothing to be done" in sh(clone, "snakemake", "-n", env=env)
    assert "Data and pipelines are up to date" in sh(clone, "dvc", "status", env=env)
    assert digest(clone) == digest(origin)


def test_local_remote_push_clone_pull_nothing_to_do(projects, tmp_path):
    origin = projects[0]
    remote = [("add", "--local", "-f", "test", str(tmp_path / "remote"))]
    for args in remote:
        sh(origin, "dvc", "remote", *args)
    sh(origin, "dvc", "push", "-q", "-r", "test")
    pull_into_clone(origin, tmp_path / "clone", remote)
    # a later config change is still seen: the touched metadata did not hide it
    config = tmp_path / "clone" / "config" / "config.yaml"
    config.write_text(config.read_text().replace("alpha: 0.75", "alpha: 0.5"))
    assert "evaluate_wiseft" in sh(tmp_path / "clone", "snakemake", "-n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_s3_remote_on_loopback(projects, tmp_path):
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket="mmrobust")
        remote = [
            ("add", "--local", "-f", "test", "s3://mmrobust/dvc"),
            ("modify", "--local", "test", "endpointurl", endpoint),
        ]
        origin = projects[0]
        for args in remote:
            sh(origin, "dvc", "remote", *args)
        sh(origin, "dvc", "push", "-q", "-r", "test", env=env)
        assert "config.local" not in sh(
            origin, "git", "ls-files", ".dvc"
        )  # credentials and endpoints stay out of git
        pull_into_clone(origin, tmp_path / "clone", remote, env)
    finally:
        server.stop()


def snapshot(project, experiment):
    """(bytes digest, mtime) of every output file of `experiment`."""
    files = {}
    for folder in (f"checkpoints/{experiment}", f"results/{experiment}", f"embeddings/{experiment}"):
        for path in sorted((project / folder).rglob("*")):
            if path.is_file():
                files[str(path.relative_to(project))] = (sha256_file(path), path.stat().st_mtime_ns)
    return files


WORKFLOW = ("snakemake",)  # profiles/default comes by itself
ABLATIONS = {
    # one experiment's rule forced through a target, then the workflow brings the rest up to date
    "target": [[*WORKFLOW, "--forcerun", "pretrain", "--", "checkpoints/realign/model.pt"], [*WORKFLOW]],
    # --forcerun of one rule's job of that experiment (one method of one task)
    "forcerun": [
        [*WORKFLOW, "--forcerun", "finetune", "--", "checkpoints/realign/multilabel/masd/VA.pt"],
        [*WORKFLOW],
    ],
    # a changed setting of one experiment, run as a DVC experiment
    "dvc-exp": [
        [
            "dvc",
            "exp",
            "run",
            "-q",
            "-S",
            "config/config.yaml:experiments.realign.harmonization.method=gradvac",
        ]
    ],
}
RERUN = {
    "target": ("model.pt", "matrix.csv"),
    "forcerun": ("multilabel/masd/matrix.csv", "multilabel/wiseft/matrix.csv"),
    "dvc-exp": ("model.pt", "matrix.csv"),
}


@pytest.mark.parametrize("how", sorted(ABLATIONS))
def test_one_ablation_reruns_alone(projects, tmp_path, how):
    import shutil

    work = tmp_path / "project"
    shutil.copytree(projects[1], work, symlinks=True)  # copy2 keeps the mtimes
    others = ("vatt", "curriculum", "harmonized")
    before = {e: snapshot(work, e) for e in (*others, "realign")}
    for command in ABLATIONS[how]:
        sh(work, *command)
    for e in others:
        assert snapshot(work, e) == before[e], e  # bytes and mtimes
    after = snapshot(work, "realign")
    assert after.keys() == before["realign"].keys()
    rerun = [f for f in after if f.endswith(RERUN[how])]
    assert rerun and all(after[f][1] > before["realign"][f][1] for f in rerun)
    model = "checkpoints/realign/model.pt"
    assert (after[model][0] != before["realign"][model][0]) == (
        how == "dvc-exp"
    )  # a forced rerun gives the same bytes
    if how == "forcerun":
        assert after[model] == before["realign"][model]
        assert (
            after["results/realign/singlelabel/masd/matrix.csv"]
            == before["realign"]["results/realign/singlelabel/masd/matrix.csv"]
        )
