"""A real single-node SLURM (scripts/slurm-local-up: slurmctld + slurmd + munge, no mocks).

The tiny pipeline's chain download -> features -> pretrain -> embed -> finetune (lp) runs through
`snakemake --profile slurm` (the global profile that `make slurm-profile` installs) and sbatch, and
its files equal the local run's;
GPU rules ask for a GPU, CPU rules do not. Pretraining on 2 processes under srun (scripts/launch)
reaches the one-process parameters. Without root or apt-get the module is skipped, unless
MMROBUST_REQUIRE_SLURM=1 (CI, .ci/run) turns that into a failure.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, make_project, sh

pytestmark = pytest.mark.slow

TARGET = "checkpoints/vatt/multilabel/lp/VAT.pt"  # download, features, pretrain, embed, finetune
COMPARED = [
    "data/synthetic/manifest.csv",
    "features/synthetic/index.csv",
    "checkpoints/vatt/model.pt",
    "embeddings/vatt/multilabel.pt",
    "results/vatt/multilabel/lp/selection.csv",
    *(f"checkpoints/vatt/multilabel/lp/{s}.pt" for s in ("VAT", "VA", "VT", "AT", "V", "A", "T")),
]
BOUND = ["timeout", "-k", "15", "420"]  # Snakemake ignores SIGTERM while jobs run: SIGKILL 15 s later


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "scripts/slurm-local-up needs root (apt-get install slurm-wlm munge, daemons as root)"
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        return "slurm-wlm is not installed and there is no apt-get to install it"
    return None


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> dict:
    """The environment for sbatch/squeue of a running local cluster (started here unless one runs)."""
    reason = unavailable()
    if reason:
        if os.environ.get("MMROBUST_REQUIRE_SLURM") == "1":
            pytest.fail(f"MMROBUST_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)
    up = subprocess.run(
        [str(REPO / "scripts" / "slurm-local-up")], capture_output=True, text=True, timeout=300
    )
    assert up.returncode == 0, up.stderr
    conf = re.search(r"export SLURM_CONF=(\S+)", up.stdout).group(1)
    yield {"SLURM_CONF": conf}
    if "already running" not in up.stderr:
        subprocess.run([str(REPO / "scripts" / "slurm-local-down"), str(Path(conf).parent)], timeout=60)


def test_pipeline_through_sbatch_equals_the_local_run(slurm, projects, tmp_path):
    """`snakemake --profile slurm` as a user types it, from the project's root, after `make slurm-profile`."""
    (tmp_path / "project").mkdir()
    project = make_project(tmp_path / "project")
    env = {**slurm, "XDG_CONFIG_HOME": str(tmp_path / "config")}  # the user's ~/.config
    sh(project, "scripts/install-slurm-profile", env=env)
    log = sh(
        project,
        *BOUND,
        "snakemake",
        "--profile",
        "slurm",
        TARGET,
        "--verbose",
        "--slurm-init-seconds-before-status-checks",
        "2",
        timeout=480,
        env=env,
    )
    assert "Using profiles slurm and workflow specific profile profiles/default" in log, log[:2000]
    calls = {
        m.group(1): line
        for line in log.splitlines()
        if "sbatch call" in line
        for m in [re.search(r"rule_(\w+?)_wildcards", line)]
        if m
    }
    assert set(calls) == {"download", "features", "pretrain", "embed", "finetune"}, log[-3000:]
    for rule, line in calls.items():
        gpu = "--gpus=1" in line
        assert gpu == (rule in ("pretrain", "embed", "finetune")), f"{rule}: {line}"
    assert sorted(p.name for p in (project / "logs" / "slurm").rglob("*.log"))  # the jobs' own SLURM logs
    for path in COMPARED:
        assert (project / path).read_bytes() == (projects[0] / path).read_bytes(), path


def test_pretraining_on_two_processes_under_srun(slurm, tiny_config, tiny_features, tmp_path):
    """sbatch --ntasks=2: scripts/launch starts 2 ranks with srun (gloo); compared to one process as in
    test_pretrain."""
    from test_pretrain import REALIGNMENTS, flat_update, realign_spec

    from mmrobust.models.checkpoint import read
    from mmrobust.train.pretrain import build_model

    spec = realign_spec(tiny_config, REALIGNMENTS[0], epochs=2)
    outputs = {}
    for processes in (1, 2):
        out = tmp_path / str(processes)
        command = (
            f"scripts/launch {processes} mmrobust pretrain --spec {shlex.quote(json.dumps(spec))} "
            f"--features {tiny_features}"
            f" --out {out}/m.pt --curves {out}/m.csv"
        )
        sh(
            REPO,
            *BOUND,
            "sbatch",
            "--wait",
            f"--ntasks={processes}",
            "--cpus-per-task=1",
            "--mem=2000",
            f"--output={tmp_path}/{processes}.log",
            "--wrap",
            command,
            timeout=480,
            env=slurm,
        )
        outputs[processes] = read(out / "m.pt")["state_dict"]
    launched = (tmp_path / "2.log").read_text()
    assert "distributed: rank 0 of 2 (gloo" in launched and "distributed: rank 1 of 2 (gloo" in launched, (
        launched[-2000:]
    )
    start = build_model(spec).state_dict()
    a, b = (flat_update(outputs[n], start, True) for n in (1, 2))
    assert float((a - b).norm() / a.norm()) < 1e-3
