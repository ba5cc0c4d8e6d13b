"""`snakemake --report` on the tiny run (conftest's `projects`): the results are in it, grouped by task and
experiment, each CSV shown as a table in its description, and every table and figure of the run tagged."""

import json
import re
import subprocess
import sys

import pytest
from conftest import snakemake_env

pytestmark = pytest.mark.slow


def report_data(html: str, name: str) -> dict:
    """The JSON that the report's page holds in `var NAME = {...};`."""
    match = re.search(rf"^\s*var {name} = (\{{.*\}});$", html, re.M)
    assert match, f"no `var {name}` in the report"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def report(projects, tmp_path_factory):
    root = projects[0]
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--report", str(out)],
        cwd=root,
        capture_output=True,
        text=True,
        env=snakemake_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = out.read_text(encoding="utf-8")
    return root, html, report_data(html, "categories"), report_data(html, "results")


def test_results_are_grouped_by_task_and_experiment(report, tiny_config):
    _, _, categories, _ = report
    tasks, experiments = sorted(tiny_config["study"]["tasks"]), sorted(tiny_config["experiments"])
    assert sorted(categories) == ["All tasks", *tasks]
    assert categories["All tasks"] == {
        "All tasks": ["results/metrics.json", "results/tables/provenance.json", "results/tables/readout.md"]
    }
    for task in tasks:
        assert sorted(categories[task]) == sorted(["All experiments", *experiments])
        shared = categories[task]["All experiments"]
        assert {
            f"results/tables/table1_{task}.csv",
            f"results/tables/table2_{task}.csv",
            f"results/plots/fig4_{task}.png",
            f"results/tables/fig4_{task}.csv",
            f"results/plots/wiseft_sweep_{task}.png",
        } <= set(shared)
        for experiment in experiments:
            assert sorted(categories[task][experiment]) == [
                f"results/headline/{task}/{experiment}.json",
                f"results/plots/heatmap_{task}_{experiment}.png",
            ]


def test_every_table_and_figure_is_in_the_report(report):
    root, _, _, results = report
    # the Markdown copies of Tables 1 and 2 stay out: the report shows their CSV as a table
    files = {
        str(p.relative_to(root))
        for folder in ("results/tables", "results/plots", "results/headline")
        for p in (root / folder).rglob("*")
        if p.is_file() and p.name != ".snakemake_timestamp"
    }
    assert set(results) == {f for f in files if not re.search(r"table\d_\w+\.md$", f)} | {
        "results/metrics.json"
    }
    for path, entry in results.items():
        assert entry["caption"].strip(), path
        if path.endswith(".png"):
            assert entry["mime_type"] == "image/png" and entry["data_uri"].startswith("data:image/png;"), path


def test_captions_show_the_tables_and_the_read_out(report):
    _, html, _, results = report
    table1 = results["results/tables/table1_multilabel.csv"]
    assert table1["labels"] == {"result": "Table 1: P and R per stratum (CSV)"}
    caption = table1["caption"]
    assert "<table" in caption and ">overall_P</th>" in caption and ">masd</td>" in caption
    readout = results["results/tables/readout.md"]["caption"]
    assert readout.count("<li>") >= 8 and "|M_T| = |M_E| = k" in readout
    headline = results["results/headline/multilabel/vatt.json"]["caption"]
    assert '"masd"' in headline.replace("&quot;", '"')
    assert "system-message" not in html  # no reStructuredText error in any caption or in workflow.rst
    assert "Robustness of audio-video-text models" in html
