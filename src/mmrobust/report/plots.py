"""Figures as PNG (Agg backend, no metadata: the same numbers give the same bytes on one machine)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..downstream import methods  # noqa: E402
from ..evaluate import robustness as rb  # noqa: E402
from ..fileio import atomic_write_bytes  # noqa: E402
from ..modalities import SUBSETS  # noqa: E402


def method_color(name: str) -> str | None:
    """A registered method's colour (downstream.methods); None (matplotlib's next) for other series."""
    return methods.REGISTRY[name].color if name in methods.REGISTRY else None


def save(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


MAX_COLUMNS = 4  # more panels wrap into rows of equal length (6 experiments: 2 x 3)


def _panels(count: int, width: float = 3.6):
    rows = -(-count // MAX_COLUMNS)
    columns = -(-count // rows)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, 3.4 * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def heatmaps(matrices: dict[str, rb.Matrix], title: str, path: Path) -> None:
    """One 7 x 7 heatmap p(M_E, M_T) per method."""
    fig, axes = _panels(len(matrices), 3.4)
    for ax, (method, mat) in zip(axes, matrices.items()):
        grid = np.array([[100 * mat[e, t] for t in SUBSETS] for e in SUBSETS])
        ax.imshow(grid, cmap="viridis")
        for i in range(7):
            for j in range(7):
                ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=7, color="w")
        ax.set_xticks(range(7), SUBSETS, fontsize=7)
        ax.set_yticks(range(7), SUBSETS, fontsize=7)
        ax.set_xlabel("M_T (train)")
        ax.set_ylabel("M_E (eval)")
        ax.set_title(method)
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, path)


def lines_by_k(
    data: dict[str, dict[str, dict[int, float]]],
    ylabel: str,
    xlabel: str,
    title: str,
    path: Path,
    dashed: dict[str, dict[str, dict[int, float]]] | None = None,
) -> None:
    """One panel per group (outer key), one line per series; `dashed` adds a second, dashed set (R)."""
    fig, axes = _panels(len(data))
    for ax, (group, series) in zip(axes, data.items()):
        for name, values in series.items():
            color = method_color(name)
            ax.plot(list(values), list(values.values()), marker="o", label=name, color=color)
            if dashed is not None:
                other = dashed[group][name]
                ax.plot(
                    list(other),
                    list(other.values()),
                    marker="x",
                    linestyle="--",
                    color=ax.lines[-1].get_color(),
                )
        ax.set_title(group)
        ax.set_xlabel(xlabel)
        ax.set_xticks(list(next(iter(series.values()))))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, path)


def robustness_vs_performance(
    points: dict[str, dict[str, dict[str, tuple[float, float]]]], title: str, path: Path
) -> None:
    """Fig. 6: R(M_T) against P(M_T), one panel per experiment, one colour per method."""
    fig, axes = _panels(len(points))
    for ax, (experiment, by_method) in zip(axes, points.items()):
        for method, per_set in by_method.items():
            ps = [100 * per_set[t][0] for t in SUBSETS]
            rs = [100 * per_set[t][1] for t in SUBSETS]
            ax.scatter(ps, rs, label=method, color=method_color(method), s=18)
            for t, p, r in zip(SUBSETS, ps, rs):
                ax.annotate(t, (p, r), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set_title(experiment)
        ax.set_xlabel("P(M_T)")
        ax.set_ylabel("R(M_T)")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, path)
