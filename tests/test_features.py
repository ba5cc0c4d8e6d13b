"""The features stage on real mp4s: shapes, missing modalities kept, bad inputs reported, old outputs safe."""

import json
import os
import wave

import numpy as np
import pytest
from conftest import make_clip, run_cli, tree_digest

from mmrobust.config import stage_spec
from mmrobust.data.manifest import read_manifest
from mmrobust.data.skipped import read_report
from mmrobust.data.sources import download
from mmrobust.errors import MmrobustError
from mmrobust.features.extract import extract
from mmrobust.features.shards import iter_shard


def features_spec(config, **changes):
    spec = stage_spec("features", config, "synthetic")["features"]
    spec.update(changes)
    return spec


def load_all(out):
    return {s.id: s for shard in sorted((out / "shards").glob("*.tar")) for s in iter_shard(shard)}


def test_tiny_dataset_features(config, tiny_dataset, tmp_path):
    out = tmp_path / "features"
    summary = extract(tiny_dataset, out, features_spec(config), workers=2)
    rows = read_manifest(tiny_dataset / "manifest.csv")
    samples = load_all(out)
    assert summary["clips_out"] == len(samples) == len(rows)
    for row in rows:
        sample = samples[row.id]
        assert sample.labels == list(row.labels) and sample.split == row.split
        assert sample.arrays["video"].shape == (4, 40, 54, 3)  # 64x48 stored at short side 40
        assert ("text" in sample.arrays) == bool(row.text)
        if "text" in sample.arrays:
            assert sample.arrays["text"].shape == (32,) and sample.arrays["text"][0] == 49406  # <start>
        if "audio" in sample.arrays:
            assert sample.arrays["audio"].shape == (128, 198) and sample.arrays["audio"].dtype == np.float16
    index = (out / "index.csv").read_text().splitlines()
    assert index[0] == "id,split,shard,video,audio,text,labels" and len(index) == len(rows) + 1
    # Same outputs, byte for byte, with one worker.
    extract(tiny_dataset, tmp_path / "one", features_spec(config), workers=1)
    assert tree_digest(tmp_path / "one") == tree_digest(out)


def write_wav(path, seconds=1.0):
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1), fh.setsampwidth(2), fh.setframerate(16000)
        t = np.arange(int(16000 * seconds)) / 16000
        fh.writeframes((8000 * np.sin(2 * np.pi * 330 * t)).astype("<i2").tobytes())


@pytest.fixture()
def bad_folder(tmp_path):
    root = tmp_path / "clips"
    (root / "train").mkdir(parents=True)
    good = make_clip(root / "train" / "good.mp4", seconds=4.0)
    (root / "train" / "good.txt").write_text("a bright square and a tone\n")
    (root / "train" / "good.json").write_text(json.dumps({"labels": ["square", "tone"]}))
    make_clip(root / "train" / "noaudio.mp4", audio=False)
    (root / "train" / "noaudio.txt").write_text("silent film")
    (root / "train" / "truncated.mp4").write_bytes(good.read_bytes()[: good.stat().st_size * 6 // 10])
    (root / "train" / "random.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    (root / "train" / "empty.mp4").write_bytes(b"")
    make_clip(root / "train" / "latin1.mp4")
    (root / "train" / "latin1.txt").write_bytes("caf\xe9 noir".encode("latin-1"))
    write_wav(root / "train" / "voice.wav")
    (root / "train" / "orphan.txt").write_text("a caption without its clip")
    return root


def local_spec(root, seed=0):
    return {
        "seed": seed,
        "dataset": {"source": "local", "local": {"path": str(root), "default_split": "train"}},
    }


def test_bad_inputs_each_get_their_documented_entry(config, bad_folder, tmp_path):
    data, out = tmp_path / "data", tmp_path / "features"
    download(local_spec(bad_folder), data, workers=1)
    rows = {r.id: r for r in read_manifest(data / "manifest.csv")}
    assert sorted(rows) == ["empty", "good", "latin1", "noaudio", "random", "truncated", "voice"]
    assert rows["latin1"].text == "" and rows["good"].labels == ("square", "tone")
    extract(data, out, features_spec(config, max_skipped_fraction=1.0), workers=1)

    report = {(s.id, s.action): s for s in read_report(out / "skipped.csv")}
    assert set(report) == {
        ("latin1", "dropped_text"),
        ("orphan", "dropped_clip"),
        ("empty", "dropped_clip"),
        ("random", "dropped_clip"),
        ("truncated", "dropped_clip"),
    }
    assert (
        report[("latin1", "dropped_text")].stage == "download"
        and "not UTF-8" in report[("latin1", "dropped_text")].reason
    )
    assert "no media file" in report[("orphan", "dropped_clip")].reason
    assert report[("empty", "dropped_clip")].reason == "empty file (0 bytes)"
    assert report[("random", "dropped_clip")].reason.startswith("opening the container failed")
    truncated = report[("truncated", "dropped_clip")]  # cut at 60%: neither stream decodes
    assert truncated.stage == "features" and truncated.reason.startswith("video decode failed")
    assert "audio track truncated (decoded 2." in truncated.reason and "of 4.00 s)" in truncated.reason
    text = (out / "skipped.csv").read_text()
    assert str(tmp_path) not in text and "/github/" not in text  # no absolute paths, no decord stamps

    samples = load_all(out)
    assert sorted(samples) == [
        "good",
        "latin1",
        "noaudio",
        "voice",
    ]  # a clip with nothing decodable is dropped
    assert sorted(samples["noaudio"].arrays) == ["text", "video"]  # missing audio track: kept without audio
    assert sorted(samples["latin1"].arrays) == ["audio", "video"]  # undecodable caption: kept without text
    assert sorted(samples["voice"].arrays) == ["audio"]  # audio-only clip: kept without video
    assert sorted(samples["good"].arrays) == ["audio", "text", "video"]


def test_media_missing_at_features_time_is_reported(config, tiny_dataset, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("manifest.csv", "skipped.csv"):
        (data / name).write_bytes((tiny_dataset / name).read_bytes())
    rows = read_manifest(data / "manifest.csv")
    for row in rows[1:]:  # every clip but the first is present
        (data / row.media).parent.mkdir(parents=True, exist_ok=True)
        (data / row.media).write_bytes((tiny_dataset / row.media).read_bytes())
    extract(data, tmp_path / "features", features_spec(config), workers=1)
    skips = read_report(tmp_path / "features" / "skipped.csv")
    assert [(s.id, s.path, s.stage, s.action, s.reason) for s in skips] == [
        (rows[0].id, rows[0].media, "features", "dropped_clip", "file not found")
    ]


def test_too_many_skips_fail_and_keep_earlier_outputs(config, bad_folder, tmp_path):
    data, out = tmp_path / "data", tmp_path / "features"
    download(local_spec(bad_folder), data, workers=1)
    extract(data, out, features_spec(config, max_skipped_fraction=1.0), workers=1)
    before = {p: (d, os.stat(out / p).st_mtime_ns) for p, d in tree_digest(out).items()}
    with pytest.raises(
        MmrobustError,
        match=r"4 of 8 clips \(50.0%\) could not be used, above features.max_skipped_fraction = 0.1",
    ):
        extract(data, out, features_spec(config, max_skipped_fraction=0.1), workers=1)
    assert {p: (d, os.stat(out / p).st_mtime_ns) for p, d in tree_digest(out).items()} == before
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no staging folder left behind


def test_cli_failure_is_one_line(config, bad_folder, tmp_path):
    data = tmp_path / "data"
    download(local_spec(bad_folder), data, workers=1)
    spec = json.dumps({"features": features_spec(config, max_skipped_fraction=0.0)})
    result = run_cli("features", "--spec", spec, "--data", str(data), "--out", str(tmp_path / "f"))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mmrobust: error: ") and "could not be used" in last
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "f").exists()


def test_user_manifest_csv(tmp_path):
    make_clip(tmp_path / "a.mp4")
    (tmp_path / "m.csv").write_text(
        "id,media,split,start,end,text,labels\n"
        'a,a.mp4,train,0.5,1.5,"hello, world",x;y\n'
        "b,missing.mp4,eval,,,bye,\n"
    )
    spec = {
        "seed": 0,
        "dataset": {
            "source": "local",
            "local": {"manifest": str(tmp_path / "m.csv"), "default_split": "train"},
        },
    }
    download(spec, tmp_path / "data", workers=1)
    rows = read_manifest(tmp_path / "data" / "manifest.csv")
    assert [(r.id, r.start, r.end, r.text, r.labels) for r in rows] == [
        ("a", 0.5, 1.5, "hello, world", ("x", "y"))
    ]
    skips = read_report(tmp_path / "data" / "skipped.csv")
    assert [(s.id, s.action, s.reason) for s in skips] == [("b", "dropped_clip", "media file not found")]


def test_user_manifest_bad_field_names_line_and_keeps_old_data(tmp_path):
    make_clip(tmp_path / "a.mp4")
    good = {
        "seed": 0,
        "dataset": {
            "source": "local",
            "local": {"manifest": str(tmp_path / "m.csv"), "default_split": "train"},
        },
    }
    (tmp_path / "m.csv").write_text("id,media,start\na,a.mp4,0\n")
    download(good, tmp_path / "data", workers=1)
    before = tree_digest(tmp_path / "data")
    (tmp_path / "m.csv").write_text("id,media,start\na,a.mp4,soon\n")
    with pytest.raises(MmrobustError, match=r"m.csv:2: start: 'soon' is not a number"):
        download(good, tmp_path / "data", workers=1)
    assert tree_digest(tmp_path / "data") == before
