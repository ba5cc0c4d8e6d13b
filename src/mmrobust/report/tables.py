"""Table 1 (P/R overall and per stratum), Table 2 (best M_E per M_T) and the data behind each figure.

Numbers are the task metric x 100 (mAP or top-1, in %), two decimals in CSV, one in Markdown; a
Markdown table's first line says which metric and unit (`unit_line`). The rows hold the unrounded
values and each format rounds once (rounding the CSV's 18.348 -> 18.35 and then to one decimal would
print 18.4 where the read-out says 18.3). Rows are in experiment order, the baseline (`first`,
plain VATT in the report) before the others, then by method.
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


def ordered(items, first: str | None = None) -> list:
    """(experiment, ...) keyed items sorted with experiment `first` before the others."""
    return sorted(items, key=lambda item: (item[0][0] != first, item[0]))


def unit_line(metric: str, chance: float | None = None) -> str:
    """What a Markdown table's numbers are: the metric in %, and its chance level when known."""
    line = f"Numbers: {metric} in %"
    return line + (f"; chance level {100 * chance:.1f}." if chance is not None else ".")


def table1(
    matrices: dict[tuple[str, str], rb.Matrix],
    provenance: dict,
    objectives: dict[str, str],
    first: str | None = None,
) -> tuple[list[str], list[list]]:
    """Rows (experiment, its pretraining objective, method) with the ten metrics and the row's provenance."""
    metrics = [f"{s}_{m}" for s, m in TABLE1_METRICS]
    header = ["experiment", "objective", "method", *metrics, *provenance["columns"]]
    rows = []
    for (experiment, method), matrix in ordered(matrices.items(), first):
        strata = rb.strata(matrix)
        values = [percent(strata[s][m]) for s, m in TABLE1_METRICS]
        rows.append([experiment, objectives[experiment], method, *values, *provenance["values"]])
    return header, rows


def table2(
    matrices: dict[tuple[str, str], rb.Matrix], first: str | None = None
) -> tuple[list[str], list[list]]:
    """Best M_E per M_T; the last column counts the M_T whose best M_E is all of M."""
    header = ["experiment", "method", *(f"M_T={t}" for t in SUBSETS), "best_is_VAT"]
    rows = []
    for (experiment, method), matrix in ordered(matrices.items(), first):
        best = rb.best_eval_sets(matrix)
        rows.append([experiment, method, *(best[t] for t in SUBSETS), sum(best[t] == "VAT" for t in SUBSETS)])
    return header, rows


def fig4_data(matrices, first: str | None = None) -> tuple[list[str], list[list]]:
    return ["experiment", "method", "k", "P"], [
        [e, m, k, percent(v)]
        for (e, m), mat in ordered(matrices.items(), first)
        for k, v in rb.same_sets(mat).items()
    ]


def fig5_data(matrices, first: str | None = None) -> tuple[list[str], list[list]]:
    return ["experiment", "method", "k", "P", "R"], [
        [e, m, k, percent(s["P"]), percent(s["R"])]
        for (e, m), mat in ordered(matrices.items(), first)
        for k, s in rb.shared(mat).items()
    ]


def fig6_data(matrices, first: str | None = None) -> tuple[list[str], list[list]]:
    rows = []
    for (e, m), mat in ordered(matrices.items(), first):
        per = rb.per_train_set(mat, rb.STRATA["overall"])
        rows += [[e, m, t, percent(per[t][0]), percent(per[t][1])] for t in SUBSETS]
    return ["experiment", "method", "train_set", "P", "R"], rows


def sweep_data(
    sweeps: dict[str, dict[float, rb.Matrix]], first: str | None = None
) -> tuple[list[str], list[list]]:
    rows = []
    for experiment, by_alpha in sorted(sweeps.items(), key=lambda item: (item[0] != first, item[0])):
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


def markdown(header: list[str], rows: list[list], note: str | None = None) -> str:
    """A GitHub table, after the line `note` (the unit) when given."""
    return (
        (f"{note}\n\n" if note else "")
        + tabulate(
            [[f"{v:.1f}" if isinstance(v, float) else v for v in row] for row in rows],
            header,
            tablefmt="github",
            disable_numparse=True,
        )
        + "\n"
    )
