"""Bad input through the CLI as a user meets it: unusual clip ids, duplicate ids, manifest media
that are not media (or lie outside local.allowed_roots), and `pack` arguments."""
import csv
import io
import json
import tarfile

import pytest

from mmrobust.config import stage_spec
from mmrobust.train.data import ClipSet

from conftest import make_clip, run_cli, tree_digest

LONG_ID = "L" + "0123456789" * 19 + "abcdefghi"  # 200 characters, the manifest's maximum
ODD_IDS = ["clip.v2", "a.json", "b.video", "c.video.npy", "x.y.z", LONG_ID]


def manifest_spec(csv_path, **local):
    return json.dumps({"seed": 0, "dataset": {"source": "local",
                                              "local": {"manifest": str(csv_path), "default_split": "train", **local}}})


def one_line_error(result):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmrobust: error: "), result.stderr
    return lines[0]


def download(tmp_path, rows, out="data", **local):
    """`mmrobust download` of a manifest CSV written from `rows` (id, media)."""
    (tmp_path / "m.csv").write_text("id,media,split\n" + "".join(f"{i},{m},pretrain\n" for i, m in rows))
    return run_cli("download", "--spec", manifest_spec(tmp_path / "m.csv", **local), "--out", str(tmp_path / out))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "a.mp4", seconds=1.0)


def test_ids_with_dots_and_200_characters_round_trip_to_pretraining(tiny_config, clip, tmp_path):
    (tmp_path / "a.mp4").hardlink_to(clip)
    ids = ODD_IDS + ["plain"]
    result = download(tmp_path, [(i, "a.mp4") for i in ids])
    assert result.returncode == 0, result.stderr[-2000:]
    for i in ids:  # data/<ds>/media/<split>/<id><ext>
        assert (tmp_path / "data" / "media" / "pretrain" / f"{i}.mp4").is_file()

    features = json.dumps({"features": stage_spec("features", tiny_config, "synthetic")["features"]})
    result = run_cli("features", "--spec", features, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "f"))
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / "f" / "index.csv", newline="") as fh:
        assert sorted(r["id"] for r in csv.DictReader(fh)) == sorted(ids)
    names = [n for shard in sorted((tmp_path / "f" / "shards").glob("*.tar")) for n in tarfile.open(shard).getnames()]
    assert f"{LONG_ID}.video.npy" in names and "clip.v2.json" in names and "c.video.npy.audio.npy" in names

    # The training loader reads every clip back under its own id, with its arrays.
    clips = ClipSet(tmp_path / "f", "pretrain", stage_spec("features", tiny_config, "synthetic")["features"])
    assert clips.ids == sorted(ids)
    assert all(sorted(s.arrays) == ["audio", "video"] for s in clips.samples)

    # ... and so does the pretrain stage, through the CLI.
    spec = stage_spec("pretrain", tiny_config, "vatt")
    spec["pretrain"].update(batch_size=len(ids), epochs=1)
    result = run_cli("pretrain", "--spec", json.dumps(spec), "--features", str(tmp_path / "f"),
                     "--out", str(tmp_path / "m.pt"), "--curves", str(tmp_path / "m.csv"))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert (tmp_path / "m.pt").is_file()


def test_short_id_members_keep_their_plain_ustar_bytes(tiny_features):
    """Default shards are byte-identical to plain USTAR archives of the same members."""
    for shard in sorted((tiny_features / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            members = [(m.name, tar.extractfile(m).read()) for m in tar]
        rebuilt = io.BytesIO()
        with tarfile.open(fileobj=rebuilt, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tar.addfile(info, io.BytesIO(data))
        assert shard.read_bytes() == rebuilt.getvalue(), shard.name


@pytest.mark.parametrize("bad", ["my clip", "café", "клип", "a/b", "../x", LONG_ID + "Z", ".hidden"])
def test_ids_that_cannot_be_file_names_everywhere_are_refused_naming_the_row(clip, tmp_path, bad):
    (tmp_path / "a.mp4").hardlink_to(clip)
    assert download(tmp_path, [("ok", "a.mp4")]).returncode == 0
    before = tree_digest(tmp_path / "data")
    line = one_line_error(download(tmp_path, [("ok", "a.mp4"), (bad, "a.mp4")]))
    assert f"m.csv:3: id: {bad!r}" in line
    assert tree_digest(tmp_path / "data") == before  # the earlier download is intact


@pytest.mark.parametrize("second", ["a.mp4", "b.mp4", "missing.mp4"])
def test_duplicate_id_in_a_manifest_names_both_lines(clip, tmp_path, second):
    (tmp_path / "a.mp4").hardlink_to(clip)
    make_clip(tmp_path / "b.mp4", seconds=1.0, tone_hz=660.0)
    assert download(tmp_path, [("x", "a.mp4")]).returncode == 0
    before = tree_digest(tmp_path / "data")
    line = one_line_error(download(tmp_path, [("x", "a.mp4"), ("y", "b.mp4"), ("x", second)]))
    assert line == f"mmrobust: error: {tmp_path / 'm.csv'}: duplicate id 'x' at lines 2 and 4"
    assert tree_digest(tmp_path / "data") == before
