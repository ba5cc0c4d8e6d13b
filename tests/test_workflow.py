"""The Snakemake workflow on the tiny config: plan, real run, nothing left to do, deterministic, targeted reruns."""
import re
import subprocess
import sys

import pytest

from conftest import copy_workflow, snakemake_env, tree_digest

pytestmark = pytest.mark.slow


def snakemake(cwd, *args):
    result = subprocess.run([sys.executable, "-m", "snakemake", "--configfile", "config/tiny.yaml", *args],
                            cwd=cwd, capture_output=True, text=True, env=snakemake_env(), timeout=600)
    return result, result.stdout + result.stderr


def planned(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Two checkouts of the workflow, each run once for real."""
    dirs = [copy_workflow(tmp_path_factory.mktemp(name)) for name in ("first", "second")]
    for d in dirs:
        result, output = snakemake(d, "--cores", "2")
        assert result.returncode == 0, output[-3000:]
    return dirs


def test_dry_run_plans_download_and_features(tmp_path):
    copy_workflow(tmp_path)
    result, output = snakemake(tmp_path, "-n")
    assert result.returncode == 0, output
    assert planned(output) == {"download": 1, "features": 1, "curriculum": 2, "pretrain": 4, "all": 1}


def test_real_run_writes_every_output_and_logs(ran):
    root = ran[0]
    for path in ("data/synthetic/manifest.csv", "data/synthetic/skipped.csv", "data/synthetic/meta/provenance.json",
                 "data/synthetic/meta/synthetic_truth.csv", "features/synthetic/index.csv",
                 "features/synthetic/skipped.csv", "features/synthetic/summary.json",
                 "logs/download/synthetic.log", "logs/features/synthetic.log",
                 "logs/benchmarks/download/synthetic.tsv", "logs/benchmarks/features/synthetic.tsv",
                 *(f"checkpoints/{e}/model.pt" for e in ("vatt", "realign", "curriculum", "harmonized")),
                 *(f"results/{e}/pretrain/curves.csv" for e in ("vatt", "realign", "curriculum", "harmonized")),
                 "results/curriculum/curriculum/scores.csv", "checkpoints/harmonized/warmup.pt"):
        assert (root / path).is_file(), path
    assert len((root / "features/synthetic/index.csv").read_text().splitlines()) == 36 + 1
    shards = sorted(p.name for p in (root / "features/synthetic/shards").glob("*.tar"))
    assert shards[0] == "multilabel_eval-000000.tar" and len(shards) == 6  # pretrain needs 2 shards of 8


def test_second_run_has_nothing_to_do(ran):
    result, output = snakemake(ran[0], "-n")
    assert result.returncode == 0 and "Nothing to be done" in output, output


def test_outputs_are_byte_identical_across_runs(ran):
    for folder, files in (("data", 36 + 5), ("features", 6 + 3), ("results", 4 + 2 * 2), ("checkpoints", 4 + 2)):
        first, second = tree_digest(ran[0] / folder), tree_digest(ran[1] / folder)
        assert first == second and len(first) >= files


def test_a_features_setting_reruns_features_only(ran, tmp_path):
    override = tmp_path / "more_frames.yaml"
    override.write_text("features:\n  video:\n    num_frames: 2\n")
    result, output = snakemake(ran[1], "-n", "--configfile", "config/tiny.yaml", str(override))
    assert result.returncode == 0, output
    assert planned(output) == {"features": 1, "curriculum": 2, "pretrain": 4, "all": 1}


def test_a_dataset_setting_reruns_both(ran, tmp_path):
    override = tmp_path / "noisier.yaml"
    override.write_text("datasets:\n  synthetic:\n    synthetic:\n      noise_fraction: 0.5\n")
    result, output = snakemake(ran[1], "-n", "--configfile", "config/tiny.yaml", str(override))
    assert result.returncode == 0, output
    assert planned(output) == {"download": 1, "features": 1, "curriculum": 2, "pretrain": 4, "all": 1}


def test_one_experiments_override_reruns_that_ablation_alone(ran, tmp_path):
    override = tmp_path / "gradvac.yaml"
    override.write_text("experiments:\n  realign: {harmonization: {method: gradvac}}\n")
    result, output = snakemake(ran[1], "-n", "--configfile", "config/tiny.yaml", str(override))
    assert result.returncode == 0, output
    assert planned(output) == {"pretrain": 1, "all": 1}
    assert "checkpoints/realign/model.pt" in output


def test_a_realignment_setting_does_not_rerun_the_curriculum(ran, tmp_path):
    override = tmp_path / "level.yaml"
    override.write_text("pretrain:\n  harmonization: {level: parameters}\n")
    result, output = snakemake(ran[1], "-n", "--configfile", "config/tiny.yaml", str(override))
    assert result.returncode == 0, output
    assert planned(output) == {"pretrain": 4, "all": 1}
