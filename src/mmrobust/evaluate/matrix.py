"""The matrix p(M_E, M_T): one column per trained model, one row per evaluation set, as a CSV grid."""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import MmrobustError
from ..fileio import atomic_write_text, csv_text
from ..modalities import SUBSETS
from .robustness import Matrix


def write_matrix(path: Path, matrix: Matrix) -> None:
    atomic_write_text(
        path,
        csv_text(["eval_set", *SUBSETS], ([e, *(f"{matrix[e, t]:.6f}" for t in SUBSETS)] for e in SUBSETS)),
    )


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
