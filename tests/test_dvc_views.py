"""What the committed dvc.yaml makes DVC print, on small report outputs built here (no workflow run):
`dvc metrics show` as a table of headline metrics, `dvc plots show` with a line per experiment."""

import itertools
import json
import shutil

import pytest
from conftest import REPO, sh

from mmrobust.downstream import methods
from mmrobust.modalities import SUBSETS
from mmrobust.report.build import build_report

TASKS = {
    k: {"dataset": "synthetic", "train": f"{k}_train", "eval": f"{k}_eval", "kind": k}
    for k in ("multilabel", "singlelabel")
}
SPEC = {
    "seed": 0,
    "experiments": ["realign", "vatt"],
    "objectives": {"realign": "vatt", "vatt": "vatt"},
    "tasks": TASKS,
    "wiseft": {"alpha": 0.5, "sweep": [0.0, 0.5, 1.0]},
}
# p(M_E, M_T) = ROW[M_E] + OFFSET[experiment, method] for every M_T and both tasks: P(M_T) = mean(ROW) +
# offset = 0.4 + offset
# and R(M_T) = min(ROW) + offset = 0.1 + offset, the same for every M_T, so P and R are these by hand
ROW = dict(zip(SUBSETS, (0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)))
OFFSET = {"lp": 0.0, "ft": 0.125, "masd": 0.25, "wiseft": 0.375}
EXPERIMENT_OFFSET = {"realign": 0.0, "vatt": 0.0625}


@pytest.fixture(autouse=True)
def seed_003_methods(monkeypatch):
    """The report of seed 003's four methods, whatever else is registered."""
    monkeypatch.setattr(methods, "REGISTRY", {m: methods.REGISTRY[m] for m in OFFSET})


def write_matrix(path, offset):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{e}," + ",".join(f"{ROW[e] + offset:.6f}" for _ in SUBSETS) for e in SUBSETS]
    path.write_text("eval_set," + ",".join(SUBSETS) + "\n" + "\n".join(rows) + "\n")


def write_results(root):
    """results/<experiment>/<task>/{lp,ft,masd,wiseft}/matrix.csv, the α sweeps and a features summary."""
    for (experiment, e_offset), task_name in itertools.product(EXPERIMENT_OFFSET.items(), TASKS):
        task = root / "results" / experiment / task_name
        for method, offset in OFFSET.items():
            write_matrix(task / method / "matrix.csv", offset + e_offset)
        lines = ["alpha,train_set,eval_set,value"]
        for alpha in (0.0, 0.5, 1.0):
            lines += [
                f"{alpha},{t},{e},{ROW[e] + e_offset + alpha / 4:.6f}" for t in SUBSETS for e in SUBSETS
            ]
        (task / "wiseft" / "sweep.csv").write_text("\n".join(lines) + "\n")
    summary = root / "features" / "synthetic" / "summary.json"
    summary.parent.mkdir(parents=True, exist_ok=True)
    counts = {"clips": 8, "with_audio": 7, "with_text": 6, "with_video": 8}
    summary.write_text(
        json.dumps({"splits": {f"{k}_{part}": counts for k in TASKS for part in ("train", "eval")}})
    )
    return summary


def report(root):
    build_report(SPEC, root / "results", root / "results", [write_results(root)])


def test_headline_metrics_are_overall_p_and_r_per_method(tmp_path):
    report(tmp_path)
    headline = tmp_path / "results" / "headline"
    files = sorted(str(p.relative_to(headline)) for p in headline.rglob("*") if p.is_file())
    assert files == [
        "multilabel/realign.json",
        "multilabel/vatt.json",
        "singlelabel/realign.json",
        "singlelabel/vatt.json",
    ]
    assert json.loads((headline / "multilabel/realign.json").read_text()) == {
        "ft": {"P": 52.5, "R": 22.5},
        "lp": {"P": 40.0, "R": 10.0},
        "masd": {"P": 65.0, "R": 35.0},
        "wiseft": {"P": 77.5, "R": 47.5},
    }
    assert json.loads((headline / "multilabel/vatt.json").read_text()) == {
        "ft": {"P": 58.75, "R": 28.75},
        "lp": {"P": 46.25, "R": 16.25},
        "masd": {"P": 71.25, "R": 41.25},
        "wiseft": {"P": 83.75, "R": 53.75},
    }
    before = {p: p.read_bytes() for p in headline.rglob("*.json")}
    report(tmp_path)
    assert {p: p.read_bytes() for p in headline.rglob("*.json")} == before


def dvc_repo(root):
    """A git + DVC repository with the project's dvc.yaml and plot templates and these report outputs."""
    report(root)
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "dvc", "init", "-q")
    shutil.copytree(REPO / ".dvc" / "plots", root / ".dvc" / "plots")
    sh(root, "dvc", "config", "core.analytics", "false")
    return root


def test_dvc_metrics_show_is_a_table_of_headline_metrics(tmp_path):
    lines = sh(dvc_repo(tmp_path), "dvc", "metrics", "show").splitlines()
    assert lines[0].split() == [
        "Path",
        "ft.P",
        "ft.R",
        "lp.P",
        "lp.R",
        "masd.P",
        "masd.R",
        "wiseft.P",
        "wiseft.R",
    ]
    assert [line.split() for line in lines[1:]] == [
        [
            "results/headline/multilabel/realign.json",
            "52.5",
            "22.5",
            "40.0",
            "10.0",
            "65.0",
            "35.0",
            "77.5",
            "47.5",
        ],
        [
            "results/headline/multilabel/vatt.json",
            "58.75",
            "28.75",
            "46.25",
            "16.25",
            "71.25",
            "41.25",
            "83.75",
            "53.75",
        ],
        [
            "results/headline/singlelabel/realign.json",
            "52.5",
            "22.5",
            "40.0",
            "10.0",
            "65.0",
            "35.0",
            "77.5",
            "47.5",
        ],
        [
            "results/headline/singlelabel/vatt.json",
            "58.75",
            "28.75",
            "46.25",
            "16.25",
            "71.25",
            "41.25",
            "83.75",
            "53.75",
        ],
    ]
    # every stratum stays one command away
    full = json.loads(sh(tmp_path, "dvc", "metrics", "show", "--json", "results/metrics.json"))
    assert (
        full[""]["data"]["results/metrics.json"]["data"]["multilabel"]["vatt"]["lp"]["missing"]["P"] == 30.0
    )  # (35 + 25 + 20 + 15) / 4 + 6.25


def lines(plot):
    """{(experiment, rev): [(alpha, y)]} of one plot of `dvc plots show/diff --json`, as the spec draws it."""
    assert len(plot) == 1 and plot[0]["type"] == "vega"
    spec = plot[0]["content"]
    encoding = spec["encoding"]
    assert (encoding["color"]["field"], encoding["strokeDash"]["field"], encoding["x"]["field"]) == (
        "experiment",
        "rev",
        "alpha",
    )
    assert spec["mark"]["type"] == "line" and "detail" not in encoding
    out = {}
    for point in spec["data"]["values"]:
        out.setdefault((point["experiment"], point["rev"]), []).append(
            (point["alpha"], point[encoding["y"]["field"]])
        )
    return out


def test_dvc_plots_draw_a_sweep_line_per_experiment_and_revision(tmp_path):
    repo = dvc_repo(tmp_path)
    shown = json.loads(sh(repo, "dvc", "plots", "show", "--json"))
    assert "errors" not in shown
    plots = shown["data"]
    assert {f"wiseft_sweep_{t}_{y}" for t in TASKS for y in "PR"} | {
        f"results/plots/fig6_{t}.png" for t in TASKS
    } == set(plots)
    p, r = lines(plots["wiseft_sweep_multilabel_P"]), lines(plots["wiseft_sweep_multilabel_R"])
    # sweep cells: ROW[M_E] + experiment offset + alpha / 4, so P = 40 + offset + 25 alpha and R = 10 +
    # offset + 25 alpha
    assert p == {
        ("realign", "workspace"): [("0", "40.00"), ("0.5", "52.50"), ("1", "65.00")],
        ("vatt", "workspace"): [("0", "46.25"), ("0.5", "58.75"), ("1", "71.25")],
    }
    assert r[("vatt", "workspace")] == [("0", "16.25"), ("0.5", "28.75"), ("1", "41.25")]
    # across revisions: a line per experiment and revision
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "first")
    EXPERIMENT_OFFSET["vatt"] = 0.125
    try:
        report(repo)
    finally:
        EXPERIMENT_OFFSET["vatt"] = 0.0625
    diff = lines(
        json.loads(sh(repo, "dvc", "plots", "diff", "HEAD", "--json"))["data"]["wiseft_sweep_multilabel_P"]
    )
    assert sorted(diff) == [
        ("realign", "HEAD"),
        ("realign", "workspace"),
        ("vatt", "HEAD"),
        ("vatt", "workspace"),
    ]
    assert diff[("vatt", "HEAD")] == p[("vatt", "workspace")]
    assert diff[("vatt", "workspace")] == [("0", "52.50"), ("0.5", "65.00"), ("1", "77.50")]
