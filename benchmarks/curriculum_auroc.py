"""How well the curriculum score finds the planted noisy triplets of the synthetic data (seed 001).

Reads the curriculum stage's scores (results/<experiment>/curriculum/scores.csv) and the
generator's ground truth (data/<dataset>/meta/synthetic_truth.csv), and reports
  AUROC    of the conflict (-cosine) for planted-noisy vs clean triplets (goal: >= 0.8),
  by kind  audio-noise and caption-noise separately,
  means    of the cosine on clean and on noisy triplets (seed 001's observation: clean > noisy),
and plots both score distributions. Triplets without a score (a missing modality) are left out.

Usage: python benchmarks/curriculum_auroc.py [--experiment curriculum] [--dataset synthetic]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from common import machine  # noqa: E402


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counted half (Mann-Whitney)."""
    greater = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    return float(greater + 0.5 * ties)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="curriculum")
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--out", default="benchmarks/results/curriculum_auroc")
    args = parser.parse_args()
    with open(f"results/{args.experiment}/curriculum/scores.csv", newline="") as fh:
        scores = {r["id"]: float(r["cosine"]) for r in csv.DictReader(fh) if r["cosine"]}
    with open(f"data/{args.dataset}/meta/synthetic_truth.csv", newline="") as fh:
        noise = {r["id"]: r["noise"] for r in csv.DictReader(fh) if r["id"] in scores}
    ids = sorted(scores)
    cos = np.array([scores[i] for i in ids])
    kind = np.array([noise[i] for i in ids])
    clean = cos[kind == "none"]
    result = {
        "machine": machine(),
        "experiment": args.experiment,
        "scored": len(ids),
        "noisy": int((kind != "none").sum()),
        "clean": int((kind == "none").sum()),
        "auroc_noisy_vs_clean": round(auroc(-cos[kind != "none"], -clean), 3),
        "auroc_audio_noise": round(auroc(-cos[kind == "audio"], -clean), 3),
        "auroc_caption_noise": round(auroc(-cos[kind == "text"], -clean), 3),
        "mean_cosine_clean": round(float(clean.mean()), 3),
        "mean_cosine_noisy": round(float(cos[kind != "none"].mean()), 3),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    bins = np.linspace(-1, 1, 41)
    for label, values, colour in (
        ("clean", clean, "tab:blue"),
        ("noisy audio", cos[kind == "audio"], "tab:red"),
        ("noisy caption", cos[kind == "text"], "tab:orange"),
    ):
        ax.hist(
            values,
            bins=bins,
            alpha=0.55,
            color=colour,
            label=f"{label} (n={len(values)}, mean {values.mean():.2f})",
        )
    ax.set_xlabel("cos(g_va, g_vt) under the warm-up model")
    ax.set_ylabel("triplets")
    ax.set_title(f"Curriculum score, AUROC {result['auroc_noisy_vs_clean']:.2f} (planted noise vs clean)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
