"""Table 1 (P/R overall and per stratum), Table 2 (best M_E per M_T) and the data behind each figure.

Numbers are the task metric x 100 (mAP or top-1, in %), two decimals in CSV, one in Markdown. The
rows hold the unrounded values and each format rounds once (rounding the CSV's 18.348 -> 18.35 and
then to one decimal would print 18.4 where the read-out says 18.3).
"""

from __future__ import annotations

from tabulate import tabulate

from ..evaluate import robustness as rb
from ..modalities import SUBSETS

STRATUM_TITLES = {
    "overall": "Overall",
    "missing": "Missing-at-Test",
    "added": "Added-at-Test",
    "transfer": "Transferability",
}
TABLE1_METRICS = [
    ("overall", "P"),
    ("overall", "R"),
    ("overall", "P_best"),
    ("overall", "R_best"),
    ("missing", "P"),
    ("missing", "R"),
    ("added", "P"),
    ("added", "R"),
    ("transfer", "P"),
    ("transfer", "R"),
]


def pct(value: float) -> float:
    """A metric in %, two decimals (metrics.json and the headline files)."""
    return round(100 * value, 2)


def percent(value: float) -> float:
    """A metric in %, unrounded (table rows: each format rounds once)."""
    return 100 * value


def table1(matrices: dict[tuple[str, str], rb.Matrix], provenance: dict) -> tuple[list[str], list[list]]:
    """Rows (experiment, method) with the ten metrics and the row's provenance."""
    header = ["experiment", "method", *(f"{s}_{m}" for s, m in TABLE1_METRICS), *provenance["columns"]]
    rows = []
    for (experiment, method), matrix in sorted(matrices.items()):
        strata = rb.strata(matrix)
        rows.append(
            [experiment, method, *(percent(strata[s][m]) for s, m in TABLE1_METRICS), *provenance["values"]]
        )
    return header, rows


def table2(matrices: dict[tuple[str, str], rb.Matrix]) -> tuple[list[str], list[list]]:
    """Best M_E per M_T; the last column counts the M_T whose best M_E is all of M."""
    header = ["experiment", "method", *(f"M_T={t}" for t in SUBSETS), "best_is_VAT"]
    rows = []
    for (experiment, method), matrix in sorted(matrices.items()):
        best = rb.best_eval_sets(matrix)
        rows.append([experiment, method, *(best[t] for t in SUBSETS), sum(best[t] == "VAT" for t in SUBSETS)])
    return header, rows


def fig4_data(matrices) -> tuple[list[str], list[list]]:
    return ["experiment", "method", "k", "P"], [
        [e, m, k, percent(v)]
        for (e, m), mat in sorted(matrices.items())
        for k, v in rb.same_sets(mat).items()
    ]


def fig5_data(matrices) -> tuple[list[str], list[list]]:
    return ["experiment", "method", "k", "P", "R"], [
        [e, m, k, percent(s["P"]), percent(s["R"])]
        for (e, m), mat in sorted(matrices.items())
        for k, s in rb.shared(mat).items()
    ]


def fig6_data(matrices) -> tuple[list[str], list[list]]:
    rows = []
    for (e, m), mat in sorted(matrices.items()):
        per = rb.per_train_set(mat, rb.STRATA["overall"])
        rows += [[e, m, t, percent(per[t][0]), percent(per[t][1])] for t in SUBSETS]
    return ["experiment", "method", "train_set", "P", "R"], rows


def sweep_data(sweeps: dict[str, dict[float, rb.Matrix]]) -> tuple[list[str], list[list]]:
    rows = []
    for experiment, by_alpha in sorted(sweeps.items()):
        for alpha, mat in sorted(by_alpha.items()):
            strata = rb.strata(mat)
            rows.append(
                [
                    experiment,
                    f"{alpha:g}",
                    percent(strata["overall"]["P"]),
                    percent(strata["overall"]["R"]),
                    percent(strata["missing"]["P"]),
                    percent(strata["missing"]["R"]),
                ]
            )
    return ["experiment", "alpha", "P", "R", "missing_P", "missing_R"], rows


def csv_cells(rows: list[list]) -> list[list[str]]:
    return [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row] for row in rows]


def markdown(header: list[str], rows: list[list]) -> str:
    return (
        tabulate(
            [[f"{v:.1f}" if isinstance(v, float) else v for v in row] for row in rows],
            header,
            tablefmt="github",
            disable_numparse=True,
        )
        + "\n"
    )
