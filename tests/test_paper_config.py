"""config/paper.yaml: the papers' datasets as catalogs; Snakemake plans the whole study with none of
their files present (catalogs are read by the download jobs, not at planning)."""

from __future__ import annotations

import re
import subprocess

from conftest import REPO, copy_workflow, snakemake_env

from mmrobust.config import load_config

# docs/data.md, "The papers' datasets": the dry run's job counts. Counted from config/paper.yaml:
# 5 datasets (download, features); 7 experiments (vatt, realign, curriculum, harmonized,
# harmonized_yt8m, audioset2m, audioset2m_mae), 3 with the curriculum enabled (curriculum,
# harmonized, harmonized_yt8m); 3 tasks; 4 methods (lp, ft, masd, wiseft), of which lp, ft and
# masd have an evaluate job and wiseft its evaluate_wiseft job: embed 7 x 3, finetune 7 x 3 x 4,
# evaluate 7 x 3 x 3, evaluate_wiseft 7 x 3.
JOBS = {
    "clip_checkpoint": 1,
    "download": 5,
    "features": 5,
    "curriculum": 3,
    "pretrain": 7,
    "embed": 21,
    "finetune": 84,
    "evaluate": 63,
    "evaluate_wiseft": 21,
    "report": 1,
    "all": 1,
}


def test_paper_config_uses_catalogs_for_every_dataset():
    config = load_config([REPO / "config" / "paper.yaml"])
    formats = {name: d["catalog"]["format"] for name, d in config["datasets"].items()}
    assert formats == {
        "audioset": "audioset",
        "howto100m": "howto100m",
        "imagenet_captions": "imagenet_captions",
        "kinetics400": "kinetics400",
        "youtube8m": "youtube8m",
    }
    study = config["study"]
    assert (
        study["tasks"]["audioset"]["train"] == "balanced_train"
        and study["tasks"]["audioset"]["eval"] == "eval"
    )
    assert study["distill"] == {"dataset": "audioset", "split": "unbalanced_train", "size": 20000}


def test_dry_run_plans_the_whole_study_without_data(tmp_path):
    copy_workflow(tmp_path)
    result = subprocess.run(
        ["snakemake", "-n", "--configfile", "config/paper.yaml", "--replace-workflow-config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=snakemake_env(),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stats = result.stdout.split("Job stats:")[1]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)}
    assert {k: v for k, v in counts.items() if k != "total"} == JOBS
    assert not (tmp_path / "data").exists()


def test_a_missing_clip_checkpoint_stops_with_where_to_put_it(tmp_path):
    copy_workflow(tmp_path)
    result = subprocess.run(
        [
            "snakemake",
            "--configfile",
            "config/paper.yaml",
            "--replace-workflow-config",
            "checkpoints/clip/ViT-B-16.pt",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=snakemake_env(),
    )
    assert result.returncode != 0
    assert (
        "missing checkpoints/clip/ViT-B-16.pt: save an open_clip ViT-B/16 state dict there"
        in result.stdout + result.stderr
    )
