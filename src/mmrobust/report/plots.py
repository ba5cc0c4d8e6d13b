"""Figures as PNG (Agg backend, no metadata: the same numbers give the same bytes on one machine).

Every figure of several panels shares one y-range (and x-range) across its panels, so that panels
compare by eye; a heatmap figure has one colour scale and one colorbar. Legends sit outside the
axes, right of the panels. The chance level of the task's metric, when known, is a dotted black line.
M_T and M_E are written with mathtext subscripts ($M_T$): plain "M_T" at a figure's edge loses its
underscore.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from ..downstream import methods  # noqa: E402
from ..evaluate import robustness as rb  # noqa: E402
from ..fileio import atomic_write_bytes  # noqa: E402
from ..modalities import SUBSETS  # noqa: E402

M_T, M_E = "$M_T$", "$M_E$"
CHANCE_STYLE = {"color": "black", "linestyle": ":", "linewidth": 1.2}
# Experiments' colours (the sweep figure): after the four methods' tab:blue/orange/green/red, so an
# experiment is never drawn in a method's colour; more than six experiments cycle.
EXPERIMENT_COLORS = ("tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")
# Fig. 6: one marker per training set M_T (the colour is the method).
SUBSET_MARKERS = dict(zip(SUBSETS, ("*", "s", "D", "^", "o", "v", "P")))


def method_color(name: str) -> str | None:
    """A registered method's colour (downstream.methods); None (matplotlib's next) for other series."""
    return methods.REGISTRY[name].color if name in methods.REGISTRY else None


def experiment_colors(experiments) -> dict[str, str]:
    return {e: EXPERIMENT_COLORS[i % len(EXPERIMENT_COLORS)] for i, e in enumerate(experiments)}


def save(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _panels(count: int, width: float = 3.6, height: float = 3.2, legend: float = 1.4, **shared):
    """`count` panels, one row up to 4 and then rows of ceil(count / 2) at most 3 wide (6 -> 2 x 3);
    the unused cells hidden; `legend` inches right of the panels for the legend."""
    cols = count if count <= 4 else min(3, math.ceil(count / 2))
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(width * cols + legend, height * rows + 0.5),
        squeeze=False,
        layout="constrained",
        **shared,
    )
    flat = list(axes.flat)
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def _label_outer(axes, xlabel: str, ylabel: str) -> None:
    """Axis labels on every panel (a panel read alone still says what it plots)."""
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)


def _chance(ax, chance: float | None, vertical: bool = False) -> None:
    if chance is not None:
        (ax.axvline if vertical else ax.axhline)(chance, **CHANCE_STYLE)


def _chance_handle(chance: float | None) -> list:
    return [] if chance is None else [Line2D([], [], **CHANCE_STYLE, label=f"chance {chance:.1f}")]


def heatmaps(
    matrices: dict[str, rb.Matrix],
    title: str,
    path: Path,
    unit: str,
    limits: tuple[float, float] | None = None,
):
    """One 7 x 7 heatmap p(M_E, M_T) per method, in % of the metric, one colour scale for all panels
    (`limits`, e.g. those of every heatmap of the task; default: these panels' range) and one colorbar.
    Returns the figure (closed: inspectable, not drawable)."""
    grids = {
        method: np.array([[100 * mat[e, t] for t in SUBSETS] for e in SUBSETS])
        for method, mat in matrices.items()
    }
    if limits is None:
        limits = (min(g.min() for g in grids.values()), max(g.max() for g in grids.values()))
    norm, cmap = Normalize(*limits), plt.get_cmap("viridis")
    fig, axes = _panels(len(grids), 3.2, 3.2, legend=0.9)
    for ax, (method, grid) in zip(axes, grids.items()):
        image = ax.imshow(grid, cmap=cmap, norm=norm)
        for i in range(7):
            for j in range(7):
                r, g, b, _ = cmap(norm(grid[i, j]))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                ax.text(
                    j,
                    i,
                    f"{grid[i, j]:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="w" if dark else "k",
                )
        ax.set_xticks(range(7), SUBSETS, fontsize=7)
        ax.set_yticks(range(7), SUBSETS, fontsize=7)
        ax.set_title(method)
    _label_outer(axes, f"{M_T} (train)", f"{M_E} (eval)")
    fig.colorbar(image, ax=axes, label=unit, shrink=0.9)
    fig.suptitle(title)
    save(fig, path)
    return fig


def lines_by_k(
    data: dict[str, dict[str, dict[int, float]]],
    ylabel: str,
    xlabel: str,
    title: str,
    path: Path,
    dashed: dict[str, dict[str, dict[int, float]]] | None = None,
    chance: float | None = None,
    colors: dict[str, str] | None = None,
    styles: tuple[str, str] = ("P", "R"),
):
    """One panel per group (outer key), one line per series (solid, o); `dashed` adds a second set in
    the same colours (dashed, x), named by `styles`. One y-range over all panels; the chance line."""
    fig, axes = _panels(len(data), sharey=True)
    handles: dict[str, Line2D] = {}
    for ax, (group, series) in zip(axes, data.items()):
        for name, values in series.items():
            color = (colors or {}).get(name) or method_color(name)
            (line,) = ax.plot(list(values), list(values.values()), marker="o", color=color)
            handles.setdefault(name, Line2D([], [], color=line.get_color(), marker="o", label=name))
            if dashed is not None:
                other = dashed[group][name]
                ax.plot(list(other), list(other.values()), marker="x", linestyle="--", color=line.get_color())
        _chance(ax, chance)
        ax.set_title(group)
        ax.set_xticks(list(next(iter(series.values()))))
        ax.yaxis.set_tick_params(labelleft=True)
        ax.grid(alpha=0.3)
    _label_outer(axes, xlabel, ylabel)
    extra = []
    if dashed is not None:
        extra = [
            Line2D([], [], color="black", marker="o", label=f"{styles[0]} (solid)"),
            Line2D([], [], color="black", marker="x", linestyle="--", label=f"{styles[1]} (dashed)"),
        ]
    fig.legend(
        handles=[*handles.values(), *extra, *_chance_handle(chance)], loc="outside right upper", fontsize=8
    )
    fig.suptitle(title)
    save(fig, path)
    return fig


def trend(ps, rs) -> tuple[float, float] | None:
    """Least-squares line R = a P + b through the points; None if the P are all equal."""
    ps, rs = np.asarray(ps, dtype=float), np.asarray(rs, dtype=float)
    if len(ps) < 2 or np.ptp(ps) == 0:
        return None
    a, b = np.polyfit(ps, rs, 1)
    return float(a), float(b)


def robustness_vs_performance(
    points: dict[str, dict[str, dict[str, tuple[float, float]]]],
    title: str,
    path: Path,
    unit: str,
    chance: float | None = None,
):
    """Fig. 6: R(M_T) against P(M_T), one panel per experiment, one colour per method, one marker per
    M_T, and the panel's trend line (least squares through all its points: seed 003 reads
    robustness "beyond the trend line" as the interventions' gain). One x- and y-range for all panels."""
    fig, axes = _panels(len(points), sharex=True, sharey=True)
    for ax, (experiment, by_method) in zip(axes, points.items()):
        every_p, every_r = [], []
        for method, per_set in by_method.items():
            for t in SUBSETS:
                p, r = 100 * per_set[t][0], 100 * per_set[t][1]
                ax.scatter(
                    p,
                    r,
                    color=method_color(method),
                    marker=SUBSET_MARKERS[t],
                    s=80 if t == "VAT" else 44,
                    edgecolors="none",
                    zorder=3,
                )
                every_p.append(p)
                every_r.append(r)
        line = trend(every_p, every_r)
        if line is not None:
            xs = np.array([min(every_p), max(every_p)])
            ax.plot(xs, line[0] * xs + line[1], color="0.4", linewidth=1, zorder=2)
        _chance(ax, chance)
        _chance(ax, chance, vertical=True)
        ax.set_title(experiment)
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.yaxis.set_tick_params(labelleft=True)
        ax.grid(alpha=0.3)
    _label_outer(axes, f"P({M_T}), {unit}", f"R({M_T}), {unit}")
    methods_seen = list(dict.fromkeys(m for by in points.values() for m in by))
    handles = [
        *(Line2D([], [], color=method_color(m), marker="o", linestyle="", label=m) for m in methods_seen),
        *(
            Line2D([], [], color="black", marker=SUBSET_MARKERS[t], linestyle="", label=f"{M_T} = {t}")
            for t in SUBSETS
        ),
        Line2D([], [], color="0.4", linewidth=1, label="trend (least squares)"),
        *_chance_handle(chance),
    ]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    fig.suptitle(title)
    save(fig, path)
    return fig
