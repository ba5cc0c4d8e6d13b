"""Fault injection: SIGKILL `download`, `features`, `pretrain` and `finetune` at seeded random moments of
their run under Snakemake, and check after each kill that every output of the stage is either the
previous bytes or the complete new bytes (never missing, never a mix), and that the rerun completes.

A tiny project (config/tiny.yaml, experiment vatt) is built once. Each stage then alternates between
two configs A and B that give it different bytes: a run towards the other config is killed at
`moment x duration` (duration: the stage's own run in the reference pass, moment ~ U(0, 1) from
--seed), the outputs are compared with the reference digests of A and B, the run is repeated to
completion and compared again. Ratios and counts only; the machine is named in the JSON.

Usage: python benchmarks/fault_injection.py [--kills 10] [--seed 0]
                                            [--out benchmarks/results/fault_injection.json]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from common import machine  # noqa: E402
from conftest import copy_workflow, snakemake_env, tree_digest  # noqa: E402
from faults import run_and_kill, snakemake_cmd, stage_pids  # noqa: E402

TARGET = {
    "download": "data/synthetic/manifest.csv",
    "features": "features/synthetic/summary.json",
    "pretrain": "checkpoints/vatt/model.pt",
    "finetune": "checkpoints/vatt/multilabel/lp/VA.pt",
}
OUTPUTS = {
    "download": ["data/synthetic"],
    "features": ["features/synthetic"],
    "pretrain": ["checkpoints/vatt/model.pt", "results/vatt/pretrain/curves.csv"],
    "finetune": ["checkpoints/vatt/multilabel/lp", "results/vatt/multilabel/lp/selection.csv"],
}
# Config B of each stage: other bytes for that stage (A is the project's own config).
CHANGED = {
    "download": "datasets:\n  synthetic:\n    synthetic: {noise_fraction: 0.5}\n",
    "features": "features:\n  video: {num_frames: 2}\n",
    "pretrain": "pretrain:\n  lr: 0.001\n",
    "finetune": "study:\n  lp: {steps: 10}\n",
}


def digest(root: Path, stage: str) -> dict[str, str] | None:
    """Every byte of the stage's outputs; None when any is missing."""
    out = {}
    for rel in OUTPUTS[stage]:
        path = root / rel
        if not path.exists():
            return None
        if path.is_dir():
            out |= {
                f"{rel}/{k}": v
                for k, v in tree_digest(path).items()
                if not k.endswith(".snakemake_timestamp")
            }
        else:
            out[rel] = tree_digest(path.parent)[path.name]
    return out


def config_args(root: Path, stage: str | None) -> list[str]:
    files = ["config/tiny.yaml", "project.yaml"]
    if stage is not None:
        (root / "b.yaml").write_text(CHANGED[stage])
        files.append("b.yaml")
    return ["--configfile", *files]


def complete(root: Path, targets: list[str], stage: str | None) -> None:
    result = subprocess.run(
        snakemake_cmd(*targets, *config_args(root, stage)),
        cwd=root,
        capture_output=True,
        text=True,
        env=snakemake_env(),
        timeout=1200,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"snakemake {' '.join(targets)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


def timed_stage(root: Path, stage: str, towards_b: bool) -> float:
    """Run the stage to completion, timing its own process (first seen to gone)."""
    proc = subprocess.Popen(
        snakemake_cmd(TARGET[stage], *config_args(root, stage if towards_b else None)),
        cwd=root,
        env=snakemake_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = last = None
    while proc.poll() is None:
        if stage_pids(stage, root):
            first = first or time.monotonic()
            last = time.monotonic()
        time.sleep(0.02)
    if proc.returncode != 0 or first is None:
        raise SystemExit(f"reference run of {stage} failed (exit {proc.returncode})")
    return last - first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per stage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/fault_injection.json")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="mmrobust-faults-"))
    try:
        copy_workflow(root)
        shutil.copytree(REPO / "scripts", root / "scripts")
        (root / "project.yaml").write_text("experiments:\n  vatt: {}\n")
        complete(root, list(TARGET.values()), None)
        stages = {}
        for stage in TARGET:
            reference = {"A": digest(root, stage)}
            duration = timed_stage(root, stage, towards_b=True)
            reference["B"] = digest(root, stage)
            timed_stage(root, stage, towards_b=False)
            assert digest(root, stage) == reference["A"] and reference["A"] != reference["B"], stage
            state, trials = "A", []
            for _ in range(args.kills):
                goal = "B" if state == "A" else "A"
                moment = rng.random()
                start = time.monotonic()
                code, killed, _ = run_and_kill(
                    root,
                    stage,
                    [TARGET[stage], *config_args(root, stage if goal == "B" else None)],
                    delay=moment * duration,
                )
                after = digest(root, stage)
                outcome = (
                    "lost"
                    if after is None
                    else "previous"
                    if after == reference[state]
                    else "new"
                    if after == reference[goal]
                    else "corrupt"
                )
                complete(root, [TARGET[stage]], stage if goal == "B" else None)
                rerun_ok = digest(root, stage) == reference[goal]
                trials.append(
                    {
                        "moment": round(moment, 3),
                        "killed_mid_run": killed,
                        "snakemake_exit": code,
                        "outputs_after_kill": outcome,
                        "rerun_complete": rerun_ok,
                        "seconds": round(time.monotonic() - start, 1),
                    }
                )
                print(
                    f"{stage}: kill at {moment:.2f} x {duration:.1f} s: {outcome}; rerun "
                    f"{'complete' if rerun_ok else 'WRONG'}",
                    flush=True,
                )
                state = goal
            if state != "A":
                complete(root, [TARGET[stage]], None)
            complete(root, list(TARGET.values()), None)  # downstream up to date for the next stage
            stages[stage] = {"stage_seconds": round(duration, 2), "trials": trials}
        all_trials = [t for s in stages.values() for t in s["trials"]]
        summary = {
            "kills_tried": len(all_trials),
            "killed_mid_run": sum(t["killed_mid_run"] for t in all_trials),
            "outputs_lost": sum(t["outputs_after_kill"] == "lost" for t in all_trials),
            "outputs_corrupt": sum(t["outputs_after_kill"] == "corrupt" for t in all_trials),
            "reruns_incomplete": sum(not t["rerun_complete"] for t in all_trials),
        }
        report = {"machine": machine(), "seed": args.seed, "summary": summary, "stages": stages}
        Path(args.out).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        print(json.dumps(summary, sort_keys=True))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
