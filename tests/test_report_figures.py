"""What the report's figures and tables show a reader, on hand-made matrices (issue 16 item 7): one
colour scale and one colorbar per heatmap figure, one y-range (and x-range) across a figure's panels,
the chance line at the task's chance level, Fig. 6's trend line, the baseline experiment first."""

import csv

import numpy as np
import pytest
from matplotlib.image import AxesImage

from mmrobust.downstream import methods
from mmrobust.evaluate import robustness as rb
from mmrobust.evaluate.metrics import mean_average_precision
from mmrobust.modalities import SUBSETS
from mmrobust.report import plots, tables
from mmrobust.report.build import build_report
from mmrobust.report.chance import chance_level, read_labels

ROW = dict(zip(SUBSETS, (0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)))
METHODS = ("lp", "ft", "masd", "wiseft")


@pytest.fixture(autouse=True)
def seed_003_methods(monkeypatch):
    monkeypatch.setattr(methods, "REGISTRY", {m: methods.REGISTRY[m] for m in METHODS})


def matrix(offset):
    """p(M_E, M_T) = ROW[M_E] + offset: P = 0.4 + offset, R = 0.1 + offset for every M_T."""
    return {(e, t): ROW[e] + offset for e in SUBSETS for t in SUBSETS}


def visible(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def test_a_heatmap_figure_has_one_colour_scale_and_one_colorbar(tmp_path):
    fig = plots.heatmaps(
        {m: matrix(i / 10) for i, m in enumerate(METHODS)}, "t", tmp_path / "h.png", "mAP (%)"
    )
    panels = visible(fig)
    assert len(panels) == 4 and len(fig.axes) == 5  # the fifth: the one colorbar
    norms = {
        (im.norm.vmin, im.norm.vmax) for ax in panels for im in ax.get_images() if isinstance(im, AxesImage)
    }
    # every panel on the range of all of them: 10 (lp's T row) to 100 (wiseft's VAT row), in %
    assert len(norms) == 1 and norms.pop() == pytest.approx((10.0, 100.0))
    assert [ax.get_xlabel() for ax in panels] == ["$M_T$ (train)"] * 4  # mathtext: M with subscript T
    assert fig.axes[-1].get_ylabel() == "mAP (%)"


def test_line_figures_share_one_y_range_and_draw_the_chance_line(tmp_path):
    data = {
        g: {"lp": {1: 10.0 * i, 2: 20.0 * i, 3: 30.0 * i}}
        for i, g in enumerate(("a", "b", "c", "d", "e", "f"), 1)
    }
    fig = plots.lines_by_k(data, "P, mAP (%)", "k", "t", tmp_path / "l.png", chance=12.5)
    panels = visible(fig)
    assert len(panels) == 6
    assert len({ax.get_ylim() for ax in panels}) == 1
    assert panels[0].get_ylim()[1] >= 180  # panel f's 180 fits in panel a
    for ax in panels:
        assert [list(line.get_ydata()) for line in ax.lines if line.get_linestyle() == ":"] == [[12.5, 12.5]]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["lp", "chance 12.5"]


def test_fig6_shares_both_ranges_and_draws_the_trend_line(tmp_path):
    # R = P / 2 + 5 for lp, R = P / 2 + 7 for ft: the least-squares line through both has slope 1/2
    points = {
        e: {
            "lp": {
                t: (0.1 * (i + 1) + j / 100, 0.05 * (i + 1) + j / 200 + 0.05) for j, t in enumerate(SUBSETS)
            },
            "ft": {
                t: (0.1 * (i + 1) + j / 100, 0.05 * (i + 1) + j / 200 + 0.07) for j, t in enumerate(SUBSETS)
            },
        }
        for i, e in enumerate(("vatt", "realign"))
    }
    fig = plots.robustness_vs_performance(points, "t", tmp_path / "f.png", "mAP (%)", chance=3.0)
    panels = visible(fig)
    assert len({ax.get_xlim() for ax in panels}) == 1 and len({ax.get_ylim() for ax in panels}) == 1
    for ax in panels:
        (trend_line,) = [line for line in ax.lines if line.get_linestyle() == "-"]
        x, y = np.asarray(trend_line.get_xdata()), np.asarray(trend_line.get_ydata())
        assert (y[1] - y[0]) / (x[1] - x[0]) == pytest.approx(0.5)
    assert panels[0].get_xlabel() == "P($M_T$), mAP (%)"
    assert plots.trend([1.0, 1.0], [2.0, 3.0]) is None


def test_figures_are_byte_identical_across_runs(tmp_path):
    for name in ("a", "b"):
        plots.heatmaps({"lp": matrix(0.0)}, "t", tmp_path / f"{name}.png", "mAP (%)")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def write_index(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "split", "shard", "video", "audio", "text", "labels"])
        writer.writerows([f"c{i}", split, "s.tar", 1, 1, 1, labels] for i, (split, labels) in enumerate(rows))


def test_chance_level_is_a_constant_scorers_metric(tmp_path):
    # multilabel eval: a in 2 of 4 clips, b and c in 1, d (train only) in none, so skipped by mAP
    rows = [("ml_train", "a;d"), ("ml_eval", "a;b"), ("ml_eval", "a"), ("ml_eval", "c"), ("ml_eval", "")]
    rows += [("sl_train", "z"), ("sl_eval", "x"), ("sl_eval", "x"), ("sl_eval", "y")]
    write_index(tmp_path / "index.csv", rows)
    labels = read_labels(tmp_path / "index.csv")
    ml = chance_level({"kind": "multilabel", "train": "ml_train", "eval": "ml_eval"}, labels)
    assert ml == pytest.approx((2 / 4 + 1 / 4 + 1 / 4) / 3)
    targets = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]], dtype=bool)
    assert mean_average_precision(np.zeros((4, 4)), targets)[0] == pytest.approx(ml)
    assert chance_level({"kind": "singlelabel", "train": "sl_train", "eval": "sl_eval"}, labels) == 2 / 3


def test_tables_put_the_baseline_first_and_say_their_unit(monkeypatch, tmp_path):
    monkeypatch.setattr(methods, "REGISTRY", {m: methods.REGISTRY[m] for m in ("lp", "ft")})  # no sweep
    spec = {
        "seed": 0,
        "experiments": ["curriculum", "vatt"],
        "objectives": {"curriculum": "pairwise", "vatt": "vatt"},  # by hand: the column reads the spec
        "tasks": {"ml": {"dataset": "d", "train": "ml_train", "eval": "ml_eval", "kind": "multilabel"}},
    }
    for e, offset in (("curriculum", 0.0), ("vatt", 0.1)):
        for m in ("lp", "ft"):
            path = tmp_path / "results" / e / "ml" / m / "matrix.csv"
            path.parent.mkdir(parents=True)
            lines = [f"{x}," + ",".join(f"{ROW[x] + offset:.6f}" for _ in SUBSETS) for x in SUBSETS]
            path.write_text("eval_set," + ",".join(SUBSETS) + "\n" + "\n".join(lines) + "\n")
    counts = {"clips": 4, "with_audio": 4, "with_text": 4, "with_video": 4}
    summary = tmp_path / "features" / "d" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text('{"splits": {"ml_train": %s, "ml_eval": %s}}' % ((str(counts).replace("'", '"'),) * 2))
    write_index(
        tmp_path / "features" / "d" / "index.csv", [("ml_train", "a"), ("ml_eval", "a"), ("ml_eval", "b")]
    )
    build_report(spec, tmp_path / "results", tmp_path / "out", [summary], [tmp_path / "features/d/index.csv"])
    md = (tmp_path / "out/tables/table1_ml.md").read_text().splitlines()
    # eval: a in 1 of 2 clips, b in 1 of 2: chance 50.0; vatt's rows before curriculum's, methods sorted
    assert md[0] == "Numbers: mAP in %; chance level 50.0."
    objective = {"vatt": "vatt", "curriculum": "pairwise"}
    assert [row.split("|")[1:4] for row in md[4:]] == [
        [f" {e:<12} ", f" {objective[e]:<11} ", f" {m:<8} "]
        for e in ("vatt", "curriculum")
        for m in ("ft", "lp")
    ]
    csv_rows = (tmp_path / "out/tables/table1_ml.csv").read_text().splitlines()
    assert csv_rows[0].startswith("experiment,objective,method,overall_P,")
    assert csv_rows[1].startswith("vatt,vatt,ft,50.00,20.00")  # P = 40 + 10, R = 10 + 10
    assert tables.unit_line("top-1") == "Numbers: top-1 in %."
    assert rb.summary(matrix(0.1), rb.STRATA["overall"])["P"] == pytest.approx(0.5)
