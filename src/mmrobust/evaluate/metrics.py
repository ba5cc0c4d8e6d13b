"""Task metrics: mAP (multi-label) and top-1 accuracy (single-label).

Average precision of one class follows sklearn's `average_precision_score`:
    AP = sum_n (R_n - R_{n-1}) P_n
over the distinct score thresholds in decreasing order (tied scores enter together). mAP is the
mean over classes of AP; a class with no positive in the evaluation set has no defined AP and is
skipped (AudioSet's eval split lacks a few classes), and the count of skipped classes is returned.
"""

from __future__ import annotations

import numpy as np

from ..errors import MmrobustError


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """AP of one class: `scores` (N,) any real values, `positive` (N,) bool with at least one True."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], positive[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last index of each tie group
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> tuple[float, int]:
    """(mAP over the classes with a positive, number of classes skipped) for (N, C) scores/targets."""
    has_positive = targets.any(axis=0)
    if not has_positive.any():
        raise MmrobustError("mAP: no class has a positive example in the evaluation set")
    aps = [average_precision(scores[:, c], targets[:, c]) for c in np.flatnonzero(has_positive)]
    return float(np.mean(aps)), int((~has_positive).sum())


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose highest score is the label (ties: the lowest class index wins)."""
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def task_metric(kind: str, scores: np.ndarray, targets: np.ndarray) -> float:
    """The task's metric p: mAP for `multilabel` (targets (N, C) bool), top-1 for `singlelabel` ((N,) int)."""
    if kind == "multilabel":
        return mean_average_precision(scores, targets)[0]
    return top1(scores, targets)
