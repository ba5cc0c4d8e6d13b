"""Gradient-based curriculum (seed 001, technique ii).

Score:  c_i = cos(g_i^va, g_i^vt), triplet i's per-triplet gradients of the objective's two compared
        terms (vatt; losses.py, train/step.py) under a warm-up model, batches in id order, eval
        transforms, no DropToken. A low c_i is a conflict: the caption and the audio pull the video
        apart, the sign of a noisy triplet. With K > 2 compared terms (pairwise: va, vt, at), c_i is
        the mean of the K (K - 1) / 2 pairwise cosines (our choice; harmonize.triplet_score).
        Triplets lacking a compared term (vatt: audio or text) have no score; they rank last.
Order:  triplets by c_i, highest first (ties by id).
Pacing: at progress p = step / total_steps each batch is drawn uniformly, without replacement,
        from the first n(p) triplets of the order,
            n(p) = max(batch_size, ceil(N * min(1, start + (1 - start) * p / full_at)))
        so training starts on the `start` fraction of cleanest triplets and uses all data from
        p = full_at on. Without a curriculum the pool is all N triplets (the same sampler).
The draw at step s depends only on (seed, s): resuming at step s gives the same batches.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .errors import MmrobustError
from .fileio import atomic_write_text, csv_text
from .harmonize import triplet_score
from .seeding import step_generator


def pool_fraction(progress: float, start: float, full_at: float) -> float:
    return 1.0 if full_at <= 0 else min(1.0, start + (1.0 - start) * progress / full_at)


def batch_indices(
    step: int,
    total_steps: int,
    n: int,
    batch_size: int,
    seed: int,
    order: np.ndarray | None = None,
    start: float = 1.0,
    full_at: float = 1.0,
) -> np.ndarray:
    size = (
        n
        if order is None
        else max(min(batch_size, n), math.ceil(n * pool_fraction(step / max(1, total_steps), start, full_at)))
    )
    pool = np.arange(n) if order is None else np.asarray(order)[:size]
    pick = torch.randperm(size, generator=step_generator(seed, step, 1))[: min(batch_size, size)].numpy()
    return pool[pick]


def score_triplets(model, clips, batch_size: int, gradients) -> np.ndarray:
    """c_i for every clip (NaN where a compared term is missing). `gradients(out, batch) -> (grads, mask)`:
    the K per-row gradients and the (B,) rows that have every compared term."""
    scores = np.full(len(clips), np.nan)
    device = next(model.parameters()).device
    for first in tqdm(range(0, len(clips), batch_size), desc="curriculum scores", unit="batch"):
        idx = np.arange(first, min(first + batch_size, len(clips)))
        batch = {k: v.to(device) for k, v in clips.batch(idx, None, train=False).items()}
        out = model(batch, None)
        grads, mask = gradients(out, batch)
        pair = mask.cpu().numpy()
        scores[idx[pair]] = triplet_score(grads).detach().float().cpu().numpy()[pair]
    return scores


def write_scores(path: Path, ids: list[str], scores: np.ndarray) -> None:
    order = curriculum_order(scores)
    rank = np.empty(len(ids), dtype=int)
    rank[order] = np.arange(len(ids))
    atomic_write_text(
        path,
        csv_text(
            ["id", "cosine", "rank"],
            ([ids[i], "" if np.isnan(scores[i]) else f"{scores[i]:.6f}", rank[i]] for i in range(len(ids))),
        ),
    )


def curriculum_order(scores: np.ndarray) -> np.ndarray:
    """Indices by score, highest first; unscored last; ties keep id order (stable sort)."""
    key = np.where(np.isnan(scores), np.inf, -scores)
    return np.argsort(key, kind="stable")


def read_scores(path: Path, ids: list[str]) -> np.ndarray:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            table = {r["id"]: (float(r["cosine"]) if r["cosine"] else np.nan) for r in csv.DictReader(fh)}
    except FileNotFoundError:
        raise MmrobustError(f"{path}: curriculum scores not found (run the curriculum stage)") from None
    missing = [i for i in ids if i not in table]
    if missing:
        raise MmrobustError(
            f"{path}: no score for {len(missing)} clip(s), e.g. {missing[0]!r}: scores are from other data"
        )
    return np.array([table[i] for i in ids])
