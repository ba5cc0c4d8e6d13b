"""Controlled pretraining variants of `vatt`, each measured with retrieval.py (issue 17 item 2).

Each variant is the default `vatt` pretrain spec (what `snakemake -n -p --forcerun pretrain` prints
for it) with one change, pretrained into --work and measured on the default evaluation splits. A row
per variant goes to --out (JSON lines: appended, so an interrupted sweep keeps what it finished).

Usage: python benchmarks/retrieval_variants.py --root /work/main --work /tmp/align/v [--only NAME ...]
       [--out benchmarks/results/retrieval_variants.jsonl]
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

from mmrobust.config import deep_merge, load_config, stage_spec

# name -> (what changes, patch deep-merged over the spec's `pretrain`)
VARIANTS: dict[str, tuple[str, dict]] = {
    "default": ("none (the default vatt)", {}),
    "tau0.2": ("temperature 0.07 -> 0.2", {"temperature": 0.2}),
    "tau0.03": ("temperature 0.07 -> 0.03", {"temperature": 0.03}),
    "lr1e-3": ("lr 3e-3 -> 1e-3", {"lr": 0.001}),
    "lr3e-4": ("lr 3e-3 -> 3e-4", {"lr": 0.0003}),
    "lr1e-2": ("lr 3e-3 -> 1e-2", {"lr": 0.01}),
    "ms": ("architecture ma -> ms", {"model": {"architecture": "ms"}}),
    "vt_only": ("loss_weights va 1 -> 0", {"loss_weights": {"va": 0.0}}),
    "bs32": ("batch_size 16 -> 32", {"batch_size": 32}),
    "drop0.5": ("drop_token 0 -> 0.5", {"model": {"drop_token": 0.5}}),
    "wd0": ("weight_decay 0.05 -> 0", {"weight_decay": 0.0}),
    "ep45": ("epochs 15 -> 45", {"epochs": 45}),
}


def default_spec(config: dict) -> dict:
    """The vatt pretrain spec as the workflow builds it (what `snakemake -n -p` prints)."""
    return stage_spec("pretrain", config, "vatt")


def mean_tail(curves: Path, steps: int = 32) -> dict[str, float]:
    with open(curves, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))[-steps:]
    return {k: round(sum(float(r[k]) for r in rows) / len(rows), 4) for k in rows[0] if k.startswith("loss")}


def summary(report: dict) -> dict:
    entry = next(iter(report["experiments"].values()))
    out = {}
    for split, cells in entry["splits"].items():
        for direction, c in cells.items():
            key = f"{split.split('_')[0]}_{direction}"
            out[key] = {
                "R@1": round(c["R@1"], 4),
                "R@5": round(c["R@5"], 4),
                "x_chance": round(c["R@1_over_chance"], 2),
                "concept_R@1": round(c["concept_R@1"], 3),
                "concept_chance": round(c["concept_chance"], 3),
                "mean_norm": [
                    round(c["collapse"]["mean_norm_query"], 3),
                    round(c["collapse"]["mean_norm_gallery"], 3),
                ],
                "cos_paired_unpaired": [
                    round(c["collapse"]["cos_paired"], 3),
                    round(c["collapse"]["cos_unpaired"], 3),
                ],
                "gap_sd": round(c["collapse"]["gap_in_sd"], 2),
            }
    if "probe" in entry:
        out["probe"] = {
            t: {m: p[m]["ridge"] for m in ("video", "audio", "text")} | {"chance": round(p["chance"], 4)}
            for t, p in entry["probe"].items()
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=JSON", help="extra variants")
    parser.add_argument("--probe", action="store_true", help="also the ridge probes (loads the train splits)")
    parser.add_argument("--out", default="benchmarks/results/retrieval_variants.jsonl")
    args = parser.parse_args()
    root, work = Path(args.root), Path(args.work)
    config = load_config([root / "config" / "config.yaml"])
    base = default_spec(config)
    variants = dict(VARIANTS)
    for item in args.set:
        name, patch = item.split("=", 1)
        variants[name] = (patch, json.loads(patch))
    here = Path(__file__).resolve().parent
    for name in args.only or variants:
        change, patch = variants[name]
        spec = copy.deepcopy(base)
        spec["pretrain"] = deep_merge(spec["pretrain"], patch)
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        command = [sys.executable, "-m", "mmrobust", "pretrain", "--spec", json.dumps(spec, sort_keys=True)]
        command += ["--features", str(root / "features" / spec["pretrain"]["dataset"])]
        command += [
            "--out",
            str(folder / "model.pt"),
            "--curves",
            str(folder / "curves.csv"),
            "--workers",
            "2",
        ]
        with open(folder / "pretrain.log", "w") as log:
            subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
        seconds = round(time.perf_counter() - start, 1)
        measure = [sys.executable, str(here / "retrieval.py"), "--root", str(root), "--experiments"]
        measure += ["--checkpoint", f"{name}={folder / 'model.pt'}", "--out", str(folder / "retrieval.json")]
        measure += [] if args.probe else ["--no-probe"]
        subprocess.run(measure, check=True, stdout=subprocess.DEVNULL)
        report = json.loads((folder / "retrieval.json").read_text())
        row = {
            "variant": name,
            "change": change,
            "pretrain_s": seconds,
            "final_loss": mean_tail(folder / "curves.csv"),
        }
        row.update(summary(report))
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        ml = row["multilabel_v2t"]
        print(
            f"{name:<12} {seconds:6.1f}s  loss {row['final_loss']}  ml v2t R@1 {100 * ml['R@1']:.1f}% "
            f"({ml['x_chance']}x) R@5 {100 * ml['R@5']:.1f}% concept {ml['concept_R@1']} "
            f"|m| {ml['mean_norm']} gap {ml['gap_sd']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
