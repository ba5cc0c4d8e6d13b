"""The matrix p(M_E, M_T): one column per trained model, one row per evaluation set, as a CSV grid."""
from __future__ import annotations

import csv
from pathlib import Path

import torch

from ..downstream.model import represent
from ..errors import MmrobustError
from ..fileio import atomic_write_text, csv_text
from ..modalities import SUBSETS
from .metrics import task_metric
from .robustness import Matrix


@torch.no_grad()
def column(head: torch.nn.Module, embeddings: dict, has: dict, targets: torch.Tensor, kind: str, train_set: str) -> Matrix:
    """p(M_E, train_set) for the 7 M_E, from the eval split's per-modality embeddings (Eq. 7 per M_E)."""
    y = targets.numpy()
    return {(e, train_set): task_metric(kind, head(represent(embeddings, has, e)).numpy(), y) for e in SUBSETS}


def write_matrix(path: Path, matrix: Matrix) -> None:
    atomic_write_text(path, csv_text(["eval_set", *SUBSETS], ([e, *(f"{matrix[e, t]:.6f}" for t in SUBSETS)] for e in SUBSETS)))


def read_matrix(path: Path) -> Matrix:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        matrix = {(row["eval_set"], t): float(row[t]) for row in rows for t in SUBSETS}
    except FileNotFoundError:
        raise MmrobustError(f"{path}: not found (run the evaluate stage)") from None
    except (KeyError, ValueError) as exc:
        raise MmrobustError(f"{path}: not a 7 x 7 matrix (eval_set, {', '.join(SUBSETS)}): {exc}") from None
    if {e for e, _ in matrix} != set(SUBSETS):
        raise MmrobustError(f"{path}: eval_set rows must be {', '.join(SUBSETS)}")
    return matrix
