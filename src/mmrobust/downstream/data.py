"""A downstream task's clips, classes and targets; the validation part; the distillation set D_SD."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import MmrobustError


def class_names(rows: list[dict], splits: tuple[str, ...], source: str) -> list[str]:
    """Sorted labels found in the task's splits: the classes of its head."""
    names = sorted({label for r in rows if r["split"] in splits for label in r["labels"].split(";") if label})
    if len(names) < 2:
        raise MmrobustError(
            f"{source}: labels: splits {', '.join(splits)} have {len(names)} class(es); a task needs at "
            "least 2"
        )
    return names


def targets(labels: list[list[str]], classes: list[str], kind: str) -> torch.Tensor:
    """(N, C) bool for `multilabel`; (N,) class index for `singlelabel` (exactly one label per clip)."""
    column = {c: i for i, c in enumerate(classes)}
    if kind == "multilabel":
        out = torch.zeros(len(labels), len(classes), dtype=torch.bool)
        for row, names in enumerate(labels):
            out[row, [column[n] for n in names if n in column]] = True
        return out
    bad = [i for i, names in enumerate(labels) if len(names) != 1]
    if bad:
        raise MmrobustError(
            f"singlelabel task: clip {bad[0]} has {len(labels[bad[0]])} labels, needs exactly 1"
        )
    return torch.tensor([column[names[0]] for names in labels])


def validation_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) row indices: a seeded random `fraction` of the training split is held out
    to choose hyperparameters; the evaluation split is never used for that."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(fraction * n))
    if n_val >= n:
        raise MmrobustError(f"validation_fraction {fraction} leaves no training clip out of {n}")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def distill_ids(rows: list[dict], split: str, size: int, seed: int, source: str) -> set[str]:
    """D_SD: a seeded random sample of `size` complete-modality clips of the (unlabeled) `split`."""
    complete = sorted(
        r["id"] for r in rows if r["split"] == split and r["video"] == r["audio"] == r["text"] == "1"
    )
    if not complete:
        raise MmrobustError(
            f"{source}: split {split!r} has no clip with all three modalities (needed for D_SD)"
        )
    if size > len(complete):
        raise MmrobustError(
            f"{source}: study.distill.size {size} is more than the {len(complete)} complete clips of split "
            f"{split!r}"
        )
    picked = np.random.default_rng(seed).choice(len(complete), size, replace=False)
    return {complete[i] for i in picked}
