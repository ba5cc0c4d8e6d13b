"""`mmrobust estimate`: clips, hours and feature sizes per split from the catalogs; the sizes are the
bytes the features stage writes."""

from __future__ import annotations

import copy

import pytest
import yaml
from catalog_configs import CATALOGS, dataset
from conftest import make_clip

from mmrobust.cli import main
from mmrobust.data.catalog import ClipRequest
from mmrobust.data.manifest import ManifestRow, write_manifest
from mmrobust.errors import MmrobustError
from mmrobust.estimate import YOUTUBE_FRAME, array_layout, array_members, estimate, sample_bytes, shard_bytes
from mmrobust.features.extract import extract


def with_catalogs(config: dict) -> dict:
    config = copy.deepcopy(config)
    config["datasets"].update({name: dataset(name) for name in CATALOGS})
    return config


def cells(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ")
    ]


def test_report_per_dataset_and_split(config):
    text = estimate(with_catalogs(config))
    assert text == estimate(with_catalogs(config))  # deterministic
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        "## audioset (catalog audioset)",
        "## howto100m (catalog howto100m)",
        "## imagenet_captions (catalog imagenet_captions)",
        "## kinetics400 (catalog kinetics400)",
        "## youtube8m (catalog youtube8m)",
    ]  # the synthetic dataset has no catalog
    rows = {tuple(row[:6]) for row in cells(text)}
    assert ("balanced_train", "5", "2", "5", "0.01", "1") in rows  # 5 clips, 2 titled, 50 s, one shard of 8
    assert ("unbalanced_train", "8", "2", "8", "0.02", "1") in rows
    assert ("train", "8", "7", "0", "0.00", "1") in rows  # ImageNet-Captions' 80%: images have no time span
    assert (
        "video 4x40x54x3 uint8" in text
        and "audio" not in text.split("## imagenet_captions")[1].split("## kinetics")[0]
    )


def test_sizes_equal_the_shards_the_features_stage_writes(tmp_path, config):
    # short side 48: decord 0.6.0 fails to scale 16:9 video to 72x40 (the tiny config's 40)
    features = {
        **config["features"],
        "shard_size": 2,
        "video": {**config["features"]["video"], "stored_short_side": 48},
    }
    requests = [
        ClipRequest(
            f"yt_clip{i}", "train", text="a dog barks" if i % 2 else "", labels=("/m/0bt9lr",) * (i > 0)
        )
        for i in range(5)
    ]
    for r in requests:  # 16:9 like the YouTube frame the estimate assumes
        make_clip(tmp_path / "data" / "media" / f"{r.id}.mp4", seconds=2.0, size=(64, 36))
    write_manifest(
        tmp_path / "data" / "manifest.csv",
        [
            ManifestRow(r.id, r.split, f"media/{r.id}.mp4", None, None, r.text, r.labels, "0" * 64)
            for r in requests
        ],
    )
    extract(tmp_path / "data", tmp_path / "features", features, workers=1)
    written = sum(p.stat().st_size for p in (tmp_path / "features" / "shards").iterdir())
    members = array_members(array_layout(features, YOUTUBE_FRAME))
    estimated = shard_bytes(
        [sample_bytes(r, members, ["video", "audio"] + ["text"] * bool(r.text)) for r in requests], 2
    )
    assert estimated == written


def test_cli_estimate_and_its_errors(tmp_path, capsys):
    override = tmp_path / "catalogs.yaml"
    datasets = {name: {**dataset(name), "youtube": {}} for name in CATALOGS}
    override.write_text(
        yaml.safe_dump({"datasets": datasets, "pretrain": {"dataset": "howto100m", "split": "pretrain"}})
    )
    assert main(["estimate", "--config", "config/config.yaml", str(override), "--dataset", "howto100m"]) == 0
    out = capsys.readouterr().out
    assert "## howto100m (catalog howto100m)" in out and "## audioset" not in out
    assert ["vatt", "howto100m/pretrain", "7", "15", "16", "7"] in cells(out)  # ceil(15 x 7 / 16) steps

    datasets["kinetics400"]["catalog"]["files"]["train"] = str(tmp_path / "missing.csv")
    override.write_text(yaml.safe_dump({"datasets": datasets}))
    assert main(["estimate", "--config", "config/config.yaml", str(override)]) == 2
    err = capsys.readouterr().err
    assert err == f"mmrobust: error: {tmp_path / 'missing.csv'}: catalog.files.train: file not found\n"


def test_estimate_names_a_dataset_it_cannot_size(config):
    with pytest.raises(MmrobustError, match=r"datasets\.synthetic\.catalog: missing key"):
        estimate(config, "synthetic")
    with pytest.raises(MmrobustError, match=r"datasets\.audioset: no such dataset \(configured: synthetic\)"):
        estimate(config, "audioset")
