"""The Snakemake workflow on the tiny config: plan, real run, nothing left to do, deterministic, targeted
reruns."""

import re
import subprocess
import sys

import pytest
from conftest import copy_workflow, snakemake_env, tree_digest

from mmrobust.downstream import methods

pytestmark = pytest.mark.slow


def snakemake(cwd, *args):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", "config/tiny.yaml", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=snakemake_env(),
        timeout=600,
    )
    return result, result.stdout + result.stderr


def planned(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.fixture(scope="module")
def ran(projects):
    """Two checkouts of the project, each run once for real (through `dvc repro`, conftest)."""
    return projects


# 6 experiments (vatt, realign, curriculum, harmonized, pairwise, mae; 2 with the curriculum on:
# curriculum, harmonized) x 2 tasks: an embedding file each; finetune of every registered method (lp,
# ft, masd, wiseft); evaluate of those without a sweep (lp, ft, masd), evaluate_wiseft of those with
# one (wiseft)
STUDY = {
    "embed": 12,
    "finetune": 12 * len(methods.names()),
    "evaluate": 12 * (len(methods.names()) - len(methods.swept())),
    "evaluate_wiseft": 12 * len(methods.swept()),
    "report": 1,
    "all": 1,
}


def test_dry_run_plans_every_stage(tmp_path):
    copy_workflow(tmp_path)
    result, output = snakemake(tmp_path, "-n")
    assert result.returncode == 0, output
    assert planned(output) == {"download": 1, "features": 1, "curriculum": 2, "pretrain": 6, **STUDY}


def test_real_run_writes_every_output_and_logs(ran):
    root = ran[0]
    for path in (
        "data/synthetic/manifest.csv",
        "data/synthetic/skipped.csv",
        "data/synthetic/meta/provenance.json",
        "data/synthetic/meta/synthetic_truth.csv",
        "features/synthetic/index.csv",
        "features/synthetic/skipped.csv",
        "features/synthetic/summary.json",
        "logs/download/synthetic.log",
        "logs/features/synthetic.log",
        "logs/benchmarks/download/synthetic.tsv",
        "logs/benchmarks/features/synthetic.tsv",
        *(f"checkpoints/{e}/model.pt" for e in ("vatt", "realign", "curriculum", "harmonized")),
        *(f"results/{e}/pretrain/curves.csv" for e in ("vatt", "realign", "curriculum", "harmonized")),
        "results/curriculum/curriculum/scores.csv",
        "checkpoints/harmonized/warmup.pt",
        "embeddings/vatt/multilabel.pt",
        "checkpoints/realign/singlelabel/wiseft/VT.pt",
        "results/harmonized/multilabel/masd/selection.csv",
        "results/vatt/singlelabel/wiseft/sweep.csv",
        "results/metrics.json",
        "results/headline/multilabel/vatt.json",
        "results/tables/table1_multilabel.md",
        "results/tables/table2_singlelabel.csv",
        "results/tables/readout.md",
        "results/plots/fig6_singlelabel.png",
        "logs/report/report.log",
    ):
        assert (root / path).is_file(), path
    assert len((root / "features/synthetic/index.csv").read_text().splitlines()) == 36 + 1
    shards = sorted(p.name for p in (root / "features/synthetic/shards").glob("*.tar"))
    assert shards[0] == "multilabel_eval-000000.tar" and len(shards) == 6  # pretrain needs 2 shards of 8


def test_second_run_has_nothing_to_do(ran):
    result, output = snakemake(ran[0], "-n")
    assert result.returncode == 0 and "Nothing to be done" in output, output


def test_outputs_are_byte_identical_across_runs(ran):
    # PNGs included: the same numbers on the same machine draw the same bytes
    for folder, files in (
        ("data", 36 + 5),
        ("features", 6 + 3),
        ("embeddings", 8),
        ("results", 4 + 2 * 2 + 8 * 4 * 2 + 8 + 30),
        ("checkpoints", 4 + 2 + 8 * 4 * 7),
    ):
        first, second = tree_digest(ran[0] / folder), tree_digest(ran[1] / folder)
        assert first == second and len(first) >= files


@pytest.mark.parametrize(
    "override, expected, target",
    [
        # a feature setting: features and everything downstream, not download
        (
            "features:\n  video:\n    num_frames: 2\n",
            {"features": 1, "curriculum": 2, "pretrain": 6, **STUDY},
            "features/synthetic/index.csv",
        ),
        # a dataset setting: everything
        (
            "datasets:\n  synthetic:\n    synthetic:\n      noise_fraction: 0.5\n",
            {"download": 1, "features": 1, "curriculum": 2, "pretrain": 6, **STUDY},
            "data/synthetic/manifest.csv",
        ),
        # one experiment's overrides: that ablation alone
        (
            "experiments:\n  realign: {harmonization: {method: gradvac}}\n",
            {
                "pretrain": 1,
                "embed": 2,
                "finetune": 8,
                "evaluate": 6,
                "evaluate_wiseft": 2,
                "report": 1,
                "all": 1,
            },
            "checkpoints/realign/model.pt",
        ),
        # a realignment setting: every pretraining (mae's too: the unused level is in its settings),
        # but not the curriculum (its warm-up is plain VATT)
        (
            "pretrain:\n  harmonization: {level: parameters}\n",
            {"pretrain": 6, **STUDY},
            "checkpoints/vatt/model.pt",
        ),
        # a MASD setting: masd and the WiSE-FT built on it, for every experiment and task; not lp or ft
        (
            "study:\n  masd: {distill_weight: 0.5}\n",
            {"finetune": 24, "evaluate": 12, "evaluate_wiseft": 12, "report": 1, "all": 1},
            "checkpoints/vatt/multilabel/masd/VA.pt",
        ),
        # WiSE-FT's alpha: only the interpolation and its evaluation
        (
            "study:\n  wiseft: {alpha: 0.5}\n",
            {"finetune": 12, "evaluate_wiseft": 12, "report": 1, "all": 1},
            "checkpoints/vatt/multilabel/wiseft/VA.pt",
        ),
    ],
    ids=["features", "dataset", "one-experiment", "realignment", "masd", "wiseft-alpha"],
)
def test_a_config_change_reruns_exactly_what_depends_on_it(ran, tmp_path, override, expected, target):
    path = tmp_path / "override.yaml"
    path.write_text(override)
    result, output = snakemake(ran[1], "-n", "--configfile", "config/tiny.yaml", str(path))
    assert result.returncode == 0, output
    assert planned(output) == expected
    assert target in output
