"""Nothing computed is lost, through Snakemake as a user runs it: a failing rerun and a SIGKILL mid-job of
download, features and pretrain leave the previous outputs byte-identical and usable by the next rule;
Snakemake killed outright is undone by `mmrobust restore`; two runs of a stage on one output cannot
both run, and a stale lock is taken over."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import copy_workflow, make_clip, run_cli, snakemake_env, tree_digest
from faults import kill, run_and_kill, snakemake_cmd, stage_pids

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = {
    "download": ["data/clips"],
    "features": ["features/clips"],
    "pretrain": ["checkpoints/vatt/model.pt", "results/vatt/pretrain/curves.csv"],
}
TARGET = {
    "download": "data/clips/manifest.csv",
    "features": "features/clips/summary.json",
    "pretrain": "checkpoints/vatt/model.pt",
}


def digest(root: Path, stage: str) -> dict[str, str]:
    """Every byte of the stage's outputs (Snakemake's own timestamp markers left out)."""
    out = {}
    for rel in OUTPUTS[stage]:
        path = root / rel
        if path.is_dir():
            out |= {
                f"{rel}/{k}": v
                for k, v in tree_digest(path).items()
                if not k.endswith(".snakemake_timestamp")
            }
        elif path.exists():
            out[rel] = tree_digest(path.parent)[path.name]
    return out


def config_args(override: str | None = None) -> list[str]:
    """The config files, last on the command line: --configfile takes every word after it."""
    return ["--configfile", "config/tiny.yaml", "project.yaml", *([override] if override else [])]


def snakemake(
    root: Path, *targets: str, override: str | None = None, dry: bool = False
) -> subprocess.CompletedProcess:
    args = [*targets, *(["-n"] if dry else []), *config_args(override)]
    return subprocess.run(
        snakemake_cmd(*args), cwd=root, capture_output=True, text=True, env=snakemake_env(), timeout=600
    )


def write_override(root: Path, text: str) -> str:
    (root / "override.yaml").write_text(text)
    return "override.yaml"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A tiny project with a second dataset `clips` (a local folder: 5 mp4s and one that does not
    decode), its features, and the `vatt` checkpoint, built by Snakemake."""
    root = copy_workflow(tmp_path_factory.mktemp("reliable"))
    shutil.copytree(REPO / "scripts", root / "scripts")
    clips = root / "clips"
    for split, n in (("train", 3), ("eval", 2)):
        (clips / split).mkdir(parents=True)
        for i in range(n):
            make_clip(clips / split / f"{split}{i}.mp4", seconds=1.0, tone_hz=300.0 + 100 * i)
    (clips / "train" / "broken.mp4").write_bytes(os.urandom(2000))
    (root / "bad_clips" / "train").mkdir(parents=True)
    make_clip(root / "bad_clips" / "train" / "a.mp4", seconds=1.0)
    (root / "bad_clips" / "train" / "a.json").write_text('{"colour": "red"}')
    shutil.copytree(clips, root / "clips_b", ignore=shutil.ignore_patterns("broken.mp4"))
    (root / "not_a_checkpoint.pt").write_bytes(os.urandom(3000))
    (root / "project.yaml").write_text(
        yaml.safe_dump(
            {
                "datasets": {"clips": {"source": "local", "local": {"path": "clips"}}},
                "features": {"max_skipped_fraction": 0.5},
                "experiments": {"vatt": {}},
            }
        )
    )
    result = snakemake(root, TARGET["features"], TARGET["pretrain"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


def assert_nothing_to_do(root: Path, stage: str) -> None:
    result = snakemake(root, TARGET[stage], dry=True)
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr, result.stdout[
        -2000:
    ]


# A config under which each stage's rerun fails: a sidecar with an unknown key, a stricter
# max_skipped_fraction (the broken clip is 1 of 6), a CLIP checkpoint that is not one.
FAILING = {
    "download": "datasets:\n  clips:\n    source: local\n    local: {path: bad_clips}\n",
    "features": "features:\n  max_skipped_fraction: 0.0\n",
    # vatt's own override: in `pretrain` it would reach the default config's mae experiment, which the
    # config check refuses (no CLIP init of AV-MAE) before any job runs.
    "pretrain": "experiments:\n  vatt: {init: {from: clip, path: not_a_checkpoint.pt}}\n",
}
# A config under which each stage's rerun succeeds with other bytes (for the kill tests).
CHANGED = {
    "download": "datasets:\n  clips:\n    source: local\n    local: {path: clips_b}\n",
    "features": "features:\n  video: {num_frames: 2}\n",
    "pretrain": "pretrain:\n  lr: 0.001\n",
}
# What the stage's log shows once it is under way (the kill comes after it).
UNDER_WAY = {"download": None, "features": "features clips", "pretrain": "pretrain vatt"}


@pytest.mark.parametrize("stage", ["download", "features", "pretrain"])
def test_a_failing_rerun_keeps_the_previous_outputs(project, stage):
    before = digest(project, stage)
    result = snakemake(project, TARGET[stage], override=write_override(project, FAILING[stage]))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert (
        "mmrobust: error:"
        in (project / "logs" / stage / ("vatt.log" if stage == "pretrain" else "clips.log")).read_text()
    )
    assert "is back in place" in output
    assert digest(project, stage) == before
    # Snakemake judges them as before the failed run: nothing to do under the old config ...
    assert_nothing_to_do(project, stage)


def single_links(root: Path) -> bool:
    """No output file shares its inode (DVC would take it for one of its cache links and re-copy it)."""
    files = [p for d in ("features", "checkpoints", "results") for p in (root / d).rglob("*") if p.is_file()]
    return bool(files) and all(p.stat().st_nlink == 1 for p in files)


def test_after_runs_and_restores_no_output_keeps_a_second_link(project):
    assert single_links(project)
    assert not list((project / ".mmrobust" / "kept").glob("*"))


def test_restored_outputs_feed_the_next_rule(project):
    """After a failed features rerun, a rule that was never run reads the restored features."""
    features = digest(project, "features")
    assert (
        snakemake(
            project, TARGET["features"], override=write_override(project, FAILING["features"])
        ).returncode
        != 0
    )
    assert digest(project, "features") == features
    override = "experiments:\n  vatt: {}\n  other: {dataset: clips, split: train, batch_size: 3}\n"
    result = snakemake(project, "checkpoints/other/model.pt", override=write_override(project, override))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "rule features" not in result.stdout + result.stderr
    assert (project / "checkpoints/other/model.pt").stat().st_size > 0


@pytest.mark.parametrize("stage", ["download", "features", "pretrain"])
def test_a_job_killed_mid_run_keeps_the_previous_outputs(project, stage):
    before = digest(project, stage)
    log = project / "logs" / stage / ("vatt.log" if stage == "pretrain" else "clips.log")
    args = [TARGET[stage], *config_args(write_override(project, CHANGED[stage]))]
    code, killed, output = run_and_kill(project, stage, args, delay=0.0, started=UNDER_WAY[stage], log=log)
    assert killed and code != 0, output[-3000:]
    assert digest(project, stage) == before, output[-3000:]
    assert_nothing_to_do(project, stage)
    # ... and the rerun that was killed completes when run again
    result = snakemake(project, TARGET[stage], override=write_override(project, CHANGED[stage]))
    assert result.returncode == 0, result.stdout[-3000:]
    assert digest(project, stage) != before
    # back to the project's own config (same bytes again), and everything downstream brought up to date
    result = snakemake(project, *TARGET.values())
    assert result.returncode == 0 and digest(project, stage) == before, result.stdout[-3000:]


def test_snakemake_killed_outright_is_undone_by_restore(project):
    """Nothing runs in a process that is SIGKILLed: the stage's outputs are gone until `mmrobust restore`."""
    before = digest(project, "features")
    args = [TARGET["features"], *config_args(write_override(project, CHANGED["features"]))]
    proc = subprocess.Popen(
        snakemake_cmd(*args),
        cwd=project,
        env=snakemake_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not stage_pids("features", project) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kill(stage_pids("features", project))
    assert not (project / "features/clips/index.csv").exists()
    result = run_cli("restore", cwd=project)
    assert result.returncode == 0 and "restored features/clips/index.csv" in result.stdout, result.stderr
    assert digest(project, "features") == before
    shutil.rmtree(project / ".snakemake" / "locks", ignore_errors=True)  # left by the killed Snakemake
    assert snakemake(project, TARGET["features"]).returncode == 0


def hold_lock(path: Path) -> subprocess.Popen:
    """Another process holding the stage's lock on `path` (as a running stage would)."""
    code = (
        "import sys, time; from mmrobust.keep import output_lock\n"
        "with output_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_on_the_same_output_fails_at_once_naming_the_holder(tiny_dataset, tiny_config, tmp_path):
    from mmrobust.config import spec_json

    out = tmp_path / "features"
    spec = spec_json("features", tiny_config, "synthetic")
    holder = hold_lock(out)
    try:
        start = time.monotonic()
        result = run_cli("features", "--spec", spec, "--data", str(tiny_dataset), "--out", str(out))
        elapsed = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"mmrobust: error: {out}: in use by pid {holder.pid} on host {os.uname().nodename} "
        f"(lock {tmp_path / '.features.lock'}); wait for it to finish or stop it"
    )
    assert not out.exists() and elapsed < 60
    # the holder was SIGKILLed: its lock is stale, and the next run takes it over
    result = run_cli("features", "--spec", spec, "--data", str(tiny_dataset), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"taking over the lock {tmp_path / '.features.lock'} left by pid {holder.pid}" in result.stderr
    assert not (tmp_path / ".features.lock").exists()


def test_two_concurrent_runs_cannot_corrupt_one_output(tiny_dataset, tiny_config, tmp_path):
    from mmrobust.config import spec_json

    out = tmp_path / "features"
    args = [
        sys.executable,
        "-m",
        "mmrobust",
        "features",
        "--spec",
        spec_json("features", tiny_config, "synthetic"),
        "--data",
        str(tiny_dataset),
        "--out",
        str(out),
    ]
    runs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [(r.wait(timeout=300), r.stderr.read()) for r in runs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    if codes == [0, 2]:  # they overlapped: the second stopped at once, naming the first
        assert any("in use by pid" in err for _, err in results)
    index = (out / "index.csv").read_text().splitlines()[1:]
    shards = {line.split(",")[2] for line in index}
    assert len(index) == 36 and all((out / "shards" / s).is_file() for s in shards)
