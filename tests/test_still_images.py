"""ImageNet-Captions' images through download and features: a single-frame video without audio;
a missing image is a report entry, not an error."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
from catalog_configs import dataset

from mmrobust.data.catalog import requests
from mmrobust.data.manifest import ManifestRow, read_manifest, write_manifest
from mmrobust.data.skipped import DROPPED_CLIP, read_report, write_report
from mmrobust.data.sources.local_files import fetch_local
from mmrobust.features.extract import clip_features, extract

PRESENT = ("n01440764_10026", "n01440764_10027", "n01443537_10007")


def write_image(path: Path, width: int = 80, height: int = 60, codec: str = "mjpeg") -> Path:
    """A still image (left half red, right half blue) in ffmpeg's image2 format."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2] = (200, 30, 30)
    rgb[:, width // 2 :] = (30, 30, 200)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream(codec)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "rgb24"
        for packet in [*stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")), *stream.encode()]:
            container.mux(packet)
    return path


def ilsvrc_tree(root: Path) -> Path:
    """Three of the fixture's ten images; n01440764_10027 is a PNG named .JPEG, as one ILSVRC2012 file is."""
    for clip in PRESENT:
        write_image(
            root / "train" / clip.split("_")[0] / f"{clip}.JPEG",
            codec="png" if clip.endswith("27") else "mjpeg",
        )
    return root


def test_an_image_is_one_frame_repeated_without_audio(tmp_path, config):
    write_image(tmp_path / "media" / "a.JPEG")
    spec = config["features"]
    row = ManifestRow("a", "train", "media/a.JPEG", None, None, "a tench", ("n01440764",), "0" * 64)
    sample, skips = clip_features(row, tmp_path, spec)
    assert skips == []
    video, short = sample.arrays["video"], spec["video"]["stored_short_side"]
    assert video.shape == (spec["video"]["num_frames"], short, 2 * round(80 * short / 60 / 2), 3)
    assert (video == video[:1]).all()
    assert (
        abs(int(video[0, short // 2, 2, 0]) - 200) < 12 and abs(int(video[0, short // 2, -3, 2]) - 200) < 12
    )
    assert sorted(sample.arrays) == ["text", "video"]


def test_imagenet_captions_download_and_features(tmp_path, config):
    images = ilsvrc_tree(tmp_path / "ILSVRC2012")
    found = requests(dataset("imagenet_captions", images=str(images)))
    out = tmp_path / "data"
    rows, skips = fetch_local(found, out)
    assert sorted(r.id for r in rows) == sorted(PRESENT)
    assert len(skips) == 7 and {(s.action, s.reason) for s in skips} == {(DROPPED_CLIP, "file not found")}
    write_manifest(out / "manifest.csv", rows)
    write_report(out / "skipped.csv", skips)
    assert {r.media for r in read_manifest(out / "manifest.csv")} == {
        f"media/{r.split}/{r.id}.jpeg" for r in rows
    }

    summary = extract(
        out, tmp_path / "features", {**config["features"], "max_skipped_fraction": 1.0}, workers=1
    )
    assert summary["clips_in"] == 10 and summary["clips_out"] == 3
    assert summary["report"] == {"download:dropped_clip": 7}  # nothing lost in features
    splits = summary["splits"]
    assert sum(s["with_video"] for s in splits.values()) == 3 and not any(
        s["with_audio"] for s in splits.values()
    )
    assert len(read_report(tmp_path / "features" / "skipped.csv")) == 7
    assert json.loads((tmp_path / "features" / "summary.json").read_text()) == summary
