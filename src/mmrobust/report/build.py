"""The report stage: every matrix of results/<experiment>/<task>/<method>/ into tables, figures,
metrics.json (every stratum: `dvc metrics diff --targets results/metrics.json`), the headline
metrics (headline/<task>/<experiment>.json: overall P and R per method, what `dvc metrics show`
prints), the read-out and a provenance file."""

from __future__ import annotations

import csv
import json
from importlib.metadata import version
from pathlib import Path

from ..downstream import methods
from ..errors import MmrobustError
from ..evaluate import robustness as rb
from ..evaluate.matrix import read_matrix
from ..fileio import atomic_write_text, csv_text
from . import plots, tables
from .chance import chance_level, read_labels
from .readout import task_readout

BASELINE = "vatt"  # the read-out compares every other experiment with plain VATT when it is configured


def read_sweep(path: Path, method: str) -> dict[float, rb.Matrix]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        out: dict[float, rb.Matrix] = {}
        for row in rows:
            out.setdefault(float(row["alpha"]), {})[row["eval_set"], row["train_set"]] = float(row["value"])
    except FileNotFoundError:
        raise MmrobustError(f"{path}: not found (run the evaluate stage of {method})") from None
    except (KeyError, ValueError) as exc:
        raise MmrobustError(
            f"{path}: not an α-sweep table (alpha, train_set, eval_set, value): {exc}"
        ) from None
    return out


def provenance_columns(task: dict, summaries: dict[str, dict], seed: int) -> dict:
    """Per-row provenance: the seed and the clips of the task's splits (present, and lacking A or T)."""
    summary = summaries.get(task["dataset"])
    if summary is None:
        raise MmrobustError(
            f"report: no features summary.json given for dataset {task['dataset']!r} (--provenance)"
        )
    columns, values = ["seed"], [seed]
    for part in ("train", "eval"):
        counts = summary["splits"].get(task[part])
        if counts is None:
            raise MmrobustError(f"report: summary of {task['dataset']!r} has no split {task[part]!r}")
        columns += [f"{part}_clips", f"{part}_without_audio", f"{part}_without_text"]
        values += [
            counts["clips"],
            counts["clips"] - counts["with_audio"],
            counts["clips"] - counts["with_text"],
        ]
    return {"columns": columns, "values": values}


def write_table(
    folder: Path, name: str, header: list[str], rows: list[list], note: str | None = None
) -> None:
    """CSV always; Markdown, under the line `note` (what the numbers are), when a note is given."""
    atomic_write_text(folder / f"{name}.csv", csv_text(header, tables.csv_cells(rows)))
    if note is not None:
        atomic_write_text(folder / f"{name}.md", tables.markdown(header, rows, note))


def headline_text(by_method: dict) -> str:
    """One experiment and task: {method: {P, R}} of the overall stratum. One small file per
    (task, experiment) makes `dvc metrics show` a table of one row each and 8 columns."""
    head = {m: {k: strata["overall"][k] for k in ("P", "R")} for m, strata in by_method.items()}
    return json.dumps(head, indent=1, sort_keys=True) + "\n"


def build_report(
    spec: dict, results: Path, out: Path, summaries: list[Path], indexes: list[Path] = ()
) -> None:
    """`summaries`: features summary.json files (provenance); `indexes`: features index.csv files, whose
    labels give each task's chance level (the figures' chance line, the tables' unit line); a task
    whose dataset has none is drawn without one."""
    labels = {path.parent.name: read_labels(path) for path in indexes}
    by_dataset = {}
    for path in summaries:
        try:
            by_dataset[path.parent.name] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise MmrobustError(f"{path}: unreadable features summary ({exc})") from None
    tables_dir, plots_dir = out / "tables", out / "plots"
    metrics, readout = (
        {},
        [
            "# Read-out of the robustness study",
            "",
            "Computed from the tables by `mmrobust report`; numbers are the task metric in %.",
            "",
        ],
    )
    for task_name, task in sorted(spec["tasks"].items()):
        metric = "mAP" if task["kind"] == "multilabel" else "top-1"
        chance = chance_level(task, labels[task["dataset"]]) if task["dataset"] in labels else None
        matrices = {
            (e, m): read_matrix(results / e / task_name / m / "matrix.csv")
            for e in spec["experiments"]
            for m in methods.names()
        }
        sweeps = {
            m: {e: read_sweep(results / e / task_name / m / "sweep.csv", m) for e in spec["experiments"]}
            for m in methods.swept()
        }
        prov = provenance_columns(task, by_dataset, spec["seed"])
        write_table(
            tables_dir,
            f"table1_{task_name}",
            *tables.table1(matrices, prov, spec["objectives"], BASELINE),
            tables.unit_line(metric, chance),
        )
        write_table(
            tables_dir,
            f"table2_{task_name}",
            *tables.table2(matrices, BASELINE),
            f"Cells: the M_E of the highest {metric} for each M_T; best_is_VAT: how many M_T have VAT best.",
        )
        for name, data in (
            ("fig4", tables.fig4_data),
            ("fig5", tables.fig5_data),
            ("fig6", tables.fig6_data),
        ):
            write_table(tables_dir, f"{name}_{task_name}", *data(matrices, BASELINE))
        for m, by_experiment in sweeps.items():
            write_table(tables_dir, f"{m}_sweep_{task_name}", *tables.sweep_data(by_experiment, BASELINE))
        _figures(task_name, metric, chance, matrices, sweeps, plots_dir)
        metrics[task_name] = {
            e: {
                m: {
                    s: {k: tables.pct(v) for k, v in vals.items()}
                    for s, vals in rb.strata(matrices[e, m]).items()
                }
                for m in methods.names()
            }
            for e in spec["experiments"]
        }
        readout += task_readout(task_name, metric, matrices, BASELINE)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    for task_name, by_experiment in metrics.items():
        for experiment, by_method in by_experiment.items():
            atomic_write_text(out / "headline" / task_name / f"{experiment}.json", headline_text(by_method))
    atomic_write_text(tables_dir / "readout.md", "\n".join(readout))
    # Beside the tables, not in them: a commit that changes no result changes no table byte.
    provenance = {
        "spec": spec,
        "mmrobust": version("mmrobust"),
        "features": {k: v["splits"] for k, v in sorted(by_dataset.items())},
    }
    atomic_write_text(tables_dir / "provenance.json", json.dumps(provenance, indent=1, sort_keys=True) + "\n")


def experiment_order(experiments) -> list[str]:
    """The baseline (plain VATT) first, then the others in name order: the panels and the tables."""
    return sorted(set(experiments), key=lambda e: (e != BASELINE, e))


def _figures(task: str, metric: str, chance: float | None, matrices, sweeps, folder: Path) -> None:
    experiments = experiment_order(e for e, _ in matrices)
    unit = f"{metric} (%)"
    line = None if chance is None else 100 * chance
    cells = [100 * v for mat in matrices.values() for v in mat.values()]
    limits = (min(cells), max(cells))  # one colour scale for every heatmap of the task
    for e in experiments:
        plots.heatmaps(
            {m: matrices[e, m] for m in methods.names()},
            f"$p(M_E, M_T)$, {unit}: {e}, {task}",
            folder / f"heatmap_{task}_{e}.png",
            unit,
            limits,
        )
    same = {
        m: {e: {k: 100 * v for k, v in rb.same_sets(matrices[e, m]).items()} for e in experiments}
        for m in methods.names()
    }
    plots.lines_by_k(
        same,
        f"P, {unit}",
        "$k = |M_T| = |M_E|$",
        f"Fig. 4, {task}: more modalities ($M_T = M_E$), one panel per method",
        folder / f"fig4_{task}.png",
        chance=line,
        colors=plots.experiment_colors(experiments),
    )
    shared = {e: {m: rb.shared(matrices[e, m]) for m in methods.names()} for e in experiments}
    plots.lines_by_k(
        {e: {m: {k: 100 * v["P"] for k, v in s.items()} for m, s in by.items()} for e, by in shared.items()},
        f"P and R, {unit}",
        "$k = |M_T \\cap M_E|$",
        f"Fig. 5, {task}: shared modalities",
        folder / f"fig5_{task}.png",
        dashed={
            e: {m: {k: 100 * v["R"] for k, v in s.items()} for m, s in by.items()} for e, by in shared.items()
        },
        chance=line,
    )
    points = {
        e: {m: rb.per_train_set(matrices[e, m], rb.STRATA["overall"]) for m in methods.names()}
        for e in experiments
    }
    plots.robustness_vs_performance(
        points, f"Fig. 6, {task}: R against P per $M_T$", folder / f"fig6_{task}.png", unit, line
    )
    for method, by_experiment in sweeps.items():
        sweep: dict[str, dict] = {"overall": {}, "Missing-at-Test": {}}
        dashed: dict[str, dict] = {"overall": {}, "Missing-at-Test": {}}
        for e in experiments:
            for stratum, key in (("overall", "overall"), ("Missing-at-Test", "missing")):
                per_value = {
                    a: rb.summary(mat, rb.STRATA[key]) for a, mat in sorted(by_experiment[e].items())
                }
                sweep[stratum][e] = {a: 100 * s["P"] for a, s in per_value.items()}
                dashed[stratum][e] = {a: 100 * s["R"] for a, s in per_value.items()}
        settings = methods.get(method).sweep
        plots.lines_by_k(  # one colour per experiment (six and more: P and R apart would reuse colours)
            sweep,
            unit,
            settings.axis,
            f"{settings.title}, {task}: P and R",
            folder / f"{method}_sweep_{task}.png",
            dashed=dashed,
            chance=line,
            colors=plots.experiment_colors(experiments),
        )
