"""The mirror source: a catalog's clips from a local folder (clips by id, whole videos by YouTube id)
or from tar shards on a server on 127.0.0.1, with the availability report of the youtube source."""

from __future__ import annotations

import json
from pathlib import Path

import decord
import numpy as np
import pytest
from catalog_configs import dataset
from conftest import make_clip, tree_digest
from media_server import MediaServer
from test_still_images import PRESENT, ilsvrc_tree
from test_youtube import FPS, availability, kinetics_csv

from mmrobust.config import parse_spec
from mmrobust.data.manifest import read_manifest
from mmrobust.data.pack import pack
from mmrobust.data.skipped import read_report
from mmrobust.data.sources import download
from mmrobust.errors import MmrobustError
from mmrobust.fileio import sha256_file

CLIPS = [
    ("okvideo0001", 1.0, 3.0),
    ("okvideo0003", 0.0, 2.0),
    ("okvideo0002", 2.3, 4.1),
    ("okvideo0002", 0.0, 1.0),
    ("emptyclip01", 0.0, 2.0),
    ("truncated01", 1.0, 5.0),
    ("notmirrored", 0.0, 2.0),
]


def mirror_spec(catalog: Path, **mirror) -> dict:
    dataset = {
        "source": "mirror",
        "mirror": mirror,
        "catalog": {"format": "kinetics400", "files": {"train": str(catalog)}},
    }
    return parse_spec("download", json.dumps({"seed": 0, "dataset": dataset}))


@pytest.fixture()
def mirror(tmp_path) -> Path:
    """Clips named by clip id (one with a sidecar), whole videos named by YouTube id, and bad files."""
    root = tmp_path / "mirror"
    (root / "train").mkdir(parents=True)
    (root / "videos").mkdir()
    make_clip(root / "train" / "yt_okvideo0001_1000_3000.mp4", seconds=3.0, fps=FPS)
    (root / "train" / "yt_okvideo0001_1000_3000.json").write_text('{"start": 0.5, "end": 2.5}')
    make_clip(root / "train" / "yt_okvideo0003_0_2000.mp4", seconds=2.0, fps=FPS)
    make_clip(root / "videos" / "okvideo0002.mp4", seconds=6.0, fps=FPS)
    (root / "train" / "yt_emptyclip01_0_2000.mp4").write_bytes(b"")
    whole = make_clip(tmp_path / "whole.mp4", seconds=6.0, fps=FPS).read_bytes()
    (root / "truncated01.mp4").write_bytes(whole[: len(whole) // 2])  # moov first: demuxes without an error
    return root


def test_folder_mirror(mirror, tmp_path):
    download(
        mirror_spec(kinetics_csv(tmp_path / "train.csv", CLIPS), path=str(mirror)),
        tmp_path / "data",
        workers=2,
    )
    got = availability(tmp_path / "data")
    assert {k: v[0] for k, v in got.items()} == {
        "yt_okvideo0001_1000_3000": "ok",
        "yt_okvideo0003_0_2000": "ok",
        "yt_okvideo0002_2300_4100": "ok",
        "yt_okvideo0002_0_1000": "ok",
        "yt_emptyclip01_0_2000": "failed",
        "yt_truncated01_1000_5000": "failed",
        "yt_notmirrored_0_2000": "missing",
    }
    assert got["yt_emptyclip01_0_2000"][1] == "EmptyFile: 0 bytes"
    assert got["yt_truncated01_1000_5000"][1].startswith("CutError: truncated file (")
    assert got["yt_notmirrored_0_2000"][1] == "NotInMirror: no yt_notmirrored_0_2000.* or notmirrored.*"
    summary = json.loads((tmp_path / "data" / "meta" / "availability.json").read_text())
    assert summary["total"] == {"clips": 7, "ok": 4, "gone": 0, "private": 0, "failed": 2, "missing": 1}
    assert sorted(s.id for s in read_report(tmp_path / "data" / "skipped.csv")) == sorted(
        k for k, v in got.items() if v[0] != "ok"
    )

    rows = {r.id: r for r in read_manifest(tmp_path / "data" / "manifest.csv")}
    by_id, bare = rows["yt_okvideo0001_1000_3000"], rows["yt_okvideo0003_0_2000"]
    assert (by_id.start, by_id.end, by_id.labels) == (
        0.5,
        2.5,
        ("dancing",),
    )  # the sidecar's span, the catalog's label
    assert by_id.sha256 == sha256_file(mirror / "train" / "yt_okvideo0001_1000_3000.mp4")
    assert (bare.start, bare.end) == (None, None)
    cut = rows["yt_okvideo0002_2300_4100"]
    assert (cut.start, cut.end) == (pytest.approx(0.3), pytest.approx(2.1))
    clip = decord.VideoReader(str(tmp_path / "data" / cut.media))
    whole = decord.VideoReader(str(mirror / "videos" / "okvideo0002.mp4"))
    assert np.array_equal(clip[round(cut.start * FPS)].asnumpy(), whole[round(2.3 * FPS)].asnumpy())
    assert not (tmp_path / "data" / ".cuts").exists()

    download(
        mirror_spec(kinetics_csv(tmp_path / "train.csv", CLIPS), path=str(mirror)),
        tmp_path / "again",
        workers=1,
    )
    assert tree_digest(tmp_path / "again") == tree_digest(tmp_path / "data")


def test_shard_mirror_gives_the_folder_mirrors_clips(mirror, tmp_path):
    catalog = kinetics_csv(tmp_path / "train.csv", CLIPS)
    download(mirror_spec(catalog, path=str(mirror)), tmp_path / "data", workers=1)
    pack(tmp_path / "data", tmp_path / "www", shard_size=3)
    with MediaServer(tmp_path / "www") as server:
        spec = mirror_spec(catalog, url=server.url, backoff_s=0.0, cache_dir=str(tmp_path / "cache"))
        download(spec, tmp_path / "shards", workers=1)
        assert server.names() == ["SHA256SUMS", "shard-000000.tar", "shard-000001.tar"]
    assert (tmp_path / "shards" / "manifest.csv").read_bytes() == (
        tmp_path / "data" / "manifest.csv"
    ).read_bytes()
    assert tree_digest(tmp_path / "shards" / "media") == tree_digest(tmp_path / "data" / "media")
    folder, shards = availability(tmp_path / "data"), availability(tmp_path / "shards")
    assert {k for k, v in shards.items() if v[0] == "ok"} == {k for k, v in folder.items() if v[0] == "ok"}
    assert {v[0] for k, v in shards.items() if folder[k][0] != "ok"} == {
        "missing"
    }  # packs hold only what was fetched
    assert not (tmp_path / "shards" / ".extracted").exists()


def test_catalog_requests_for_local_files(tmp_path):
    """ImageNet-Captions names ILSVRC2012 images on this machine: placed, or reported missing."""
    images = ilsvrc_tree(tmp_path / "ILSVRC2012")
    entry = {
        **dataset("imagenet_captions", images=str(images)),
        "source": "mirror",
        "mirror": {"path": str(images)},
    }
    download(parse_spec("download", json.dumps({"seed": 0, "dataset": entry})), tmp_path / "data", workers=1)
    got = availability(tmp_path / "data")
    assert len(got) == 10 and {k for k, v in got.items() if v[0] == "ok"} == set(PRESENT)
    assert {v for k, v in got.items() if k not in PRESENT} == {("missing", "file not found")}
    assert sorted(r.id for r in read_manifest(tmp_path / "data" / "manifest.csv")) == sorted(PRESENT)


def test_two_files_of_one_name_are_an_error(mirror, tmp_path):
    make_clip(mirror / "train" / "okvideo0002.mp4", seconds=1.0)
    with pytest.raises(
        MmrobustError, match=r"mirror: videos/okvideo0002.mp4: 'okvideo0002' also at train/okvideo0002.mp4"
    ):
        download(
            mirror_spec(kinetics_csv(tmp_path / "train.csv", CLIPS), path=str(mirror)),
            tmp_path / "data",
            workers=1,
        )
    assert not (tmp_path / "data").exists()


def test_mirror_path_must_be_a_folder(tmp_path):
    with pytest.raises(MmrobustError, match=r"nowhere: mirror.path: not a folder"):
        download(
            mirror_spec(kinetics_csv(tmp_path / "train.csv", CLIPS), path=str(tmp_path / "nowhere")),
            tmp_path / "data",
            workers=1,
        )


def test_path_or_url_not_both(tmp_path):
    with pytest.raises(MmrobustError, match=r"--spec: dataset.mirror: give exactly one of path or url"):
        mirror_spec(tmp_path / "train.csv", path="x", url="http://127.0.0.1:1/")
