"""Seed 003's robustness metrics over the matrix p(M_E, M_T) (design.md, Eq. 3-6).

    P(M_T) = mean over eligible M_E of p(M_E, M_T)        R(M_T) = min over eligible M_E
    P = mean_T P(M_T)    R = mean_T R(M_T)    P_best = max_T P(M_T)    R_best = max_T R(M_T)

A stratum restricts the eligible pairs; a training set with no eligible M_E drops out of that
stratum's means (e.g. M_T = V has no strict subset to go missing). The matrix is a dict
{(M_E, M_T): p} over the canonical subsets.
"""

from __future__ import annotations

from typing import Callable

from ..modalities import SUBSETS

Matrix = dict[tuple[str, str], float]

STRATA: dict[str, Callable[[set, set], bool]] = {
    "overall": lambda e, t: True,
    "missing": lambda e, t: e < t,  # Missing-at-Test: M_E a strict subset of M_T
    "added": lambda e, t: t < e,  # Added-at-Test: M_T a strict subset of M_E
    "transfer": lambda e, t: not e & t,  # Transferability: disjoint
}


def per_train_set(matrix: Matrix, eligible: Callable[[set, set], bool]) -> dict[str, tuple[float, float]]:
    """{M_T: (P(M_T), R(M_T))} over the pairs `eligible(set(M_E), set(M_T))` allows."""
    out = {}
    for t in SUBSETS:
        values = [matrix[e, t] for e in SUBSETS if eligible(set(e), set(t))]
        if values:
            out[t] = (sum(values) / len(values), min(values))
    return out


def summary(matrix: Matrix, eligible: Callable[[set, set], bool]) -> dict[str, float]:
    """P, R, P_best, R_best (Eq. 5-6) over the training sets with an eligible M_E."""
    rows = per_train_set(matrix, eligible)
    ps, rs = [p for p, _ in rows.values()], [r for _, r in rows.values()]
    return {"P": sum(ps) / len(ps), "R": sum(rs) / len(rs), "P_best": max(ps), "R_best": max(rs)}


def strata(matrix: Matrix) -> dict[str, dict[str, float]]:
    return {name: summary(matrix, rule) for name, rule in STRATA.items()}


def same_sets(matrix: Matrix) -> dict[int, float]:
    """Fig. 4: for k = 1, 2, 3, the mean of p(S, S) over the sets S of size k (M_T = M_E)."""
    return {
        k: sum(matrix[s, s] for s in SUBSETS if len(s) == k) / sum(len(s) == k for s in SUBSETS)
        for k in (1, 2, 3)
    }


def shared(matrix: Matrix) -> dict[int, dict[str, float]]:
    """Fig. 5: P and R (Eq. 6) over the pairs sharing exactly k modalities, k = |M_T ∩ M_E|."""
    return {k: summary(matrix, lambda e, t, k=k: len(e & t) == k) for k in (0, 1, 2, 3)}


def best_eval_sets(matrix: Matrix) -> dict[str, str]:
    """Table 2: argmax over M_E of p(M_E, M_T) per M_T (ties: the first in canonical order)."""
    return {t: max(SUBSETS, key=lambda e: (matrix[e, t], -SUBSETS.index(e))) for t in SUBSETS}
