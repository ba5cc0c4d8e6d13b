"""Job-seconds of the study's jobs (finetune, evaluate, evaluate_wiseft) of one (experiment, task),
this tree's code against a baseline commit's, and whether their outputs are byte-identical to the
pipeline's (ratios from one run: each job runs with the baseline's code, then this tree's, back to
back, so that load bursts on a shared machine hit both).

The job commands are the workflow's own (`snakemake -n -p --forcerun ...`, read-only), run here with
their outputs redirected into a temporary folder; inputs are read from the pipeline's outputs
(`make run` first). Wall and CPU seconds are the job process's, start-up included.

Usage: python benchmarks/study_cost.py --baseline REV [--experiment vatt] [--task multilabel]
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine

OUTPUT_FLAGS = ("--out", "--selection", "--sweep")


def job_commands(root: Path, experiment: str, task: str) -> list[str]:
    """The finetune and evaluate command lines of (experiment, task), in the workflow's order."""
    dry = subprocess.run(
        ["snakemake", "-n", "-p", "--forcerun", "finetune", "evaluate", "evaluate_wiseft"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pattern = re.compile(r"(?:scripts/launch 1 )?(mmrobust (?:finetune|evaluate) .*)")
    found = []
    for line in dry.splitlines():
        match = pattern.search(line)
        if match and f"/{experiment}/{task}/" in line:
            found.append(match.group(1).split(" > ")[0])
    return list(dict.fromkeys(found))


def run(command: str, src: Path, root: Path, out: Path) -> tuple[float, float, list[str]]:
    """(wall s, CPU s, outputs relative to root) of one job with this `src` on the PYTHONPATH."""
    args = shlex.split(command)[1:]
    outputs = []
    for i, arg in enumerate(args[:-1]):
        if arg in OUTPUT_FLAGS:
            outputs.append(args[i + 1])
            args[i + 1] = str(out / args[i + 1])
            Path(args[i + 1]).parent.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mmrobust", *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(src)},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    files = []
    for name in outputs:
        path = out / name
        files += [str(p.relative_to(out)) for p in sorted(path.rglob("*.pt"))] if path.is_dir() else [name]
    return wall, cpu, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the commit whose code is compared")
    parser.add_argument("--root", default=".", help="the pipeline's outputs (a `make run` checkout)")
    parser.add_argument("--experiment", default="vatt")
    parser.add_argument("--task", default="multilabel")
    parser.add_argument("--out", default="benchmarks/results/study_cost.json")
    parser.add_argument("--note", default="", help="e.g. what else ran on the machine")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    here = Path(__file__).resolve().parents[1]
    commands = job_commands(root, args.experiment, args.task)
    rows, totals = [], {"baseline": [0.0, 0.0], "this tree": [0.0, 0.0]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        archive = subprocess.run(
            ["git", "archive", args.baseline, "src", "workflow", "config"],
            cwd=here,
            capture_output=True,
            check=True,
        ).stdout
        (tmp / "baseline").mkdir()
        subprocess.run(["tar", "-x", "-C", str(tmp / "baseline")], input=archive, check=True)
        trees = {"baseline": tmp / "baseline" / "src", "this tree": here / "src"}
        for command in commands:
            job = " ".join(shlex.split(command)[1:2]) + " " + json.loads(shlex.split(command)[3])["method"]
            row = {"job": job}
            for name, src in trees.items():
                out = tmp / name.replace(" ", "_")
                wall, cpu, files = run(command, src, root, out)
                same = all(filecmp.cmp(out / f, root / f, shallow=False) for f in files)
                row[name] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "identical": same}
                totals[name][0] += wall
                totals[name][1] += cpu
            row["cpu_ratio"] = round(row["this tree"]["cpu_s"] / row["baseline"]["cpu_s"], 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "machine": machine(),
        "note": args.note,
        "baseline": subprocess.run(
            ["git", "rev-parse", "--short", args.baseline], cwd=here, capture_output=True, text=True
        ).stdout.strip(),
        "experiment": args.experiment,
        "task": args.task,
        "jobs": rows,
        "total": {name: {"wall_s": round(w, 1), "cpu_s": round(c, 1)} for name, (w, c) in totals.items()},
        "cpu_ratio": round(totals["this tree"][1] / totals["baseline"][1], 3),
        "wall_ratio": round(totals["this tree"][0] / totals["baseline"][0], 3),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("total", "cpu_ratio", "wall_ratio")}))


if __name__ == "__main__":
    main()
