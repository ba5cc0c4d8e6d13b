"""Bad input through the CLI as a user meets it: unusual clip ids, duplicate ids, manifest media
that are not media (or lie outside local.allowed_roots), and `pack` arguments."""

import csv
import io
import json
import tarfile

import pytest
from conftest import make_clip, run_cli, tree_digest

from mmrobust.config import stage_spec
from mmrobust.features.clips import ClipSet

LONG_ID = "L" + "0123456789" * 19 + "abcdefghi"  # 200 characters, the manifest's maximum
ODD_IDS = ["clip.v2", "a.json", "b.video", "c.video.npy", "x.y.z", LONG_ID]


def manifest_spec(csv_path, **local):
    return json.dumps(
        {
            "seed": 0,
            "dataset": {
                "source": "local",
                "local": {"manifest": str(csv_path), "default_split": "train", **local},
            },
        }
    )


def one_line_error(result):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmrobust: error: "), result.stderr
    return lines[0]


def download(tmp_path, rows, out="data", **local):
    """`mmrobust download` of a manifest CSV written from `rows` (id, media)."""
    (tmp_path / "m.csv").write_text("id,media,split\n" + "".join(f"{i},{m},pretrain\n" for i, m in rows))
    return run_cli(
        "download", "--spec", manifest_spec(tmp_path / "m.csv", **local), "--out", str(tmp_path / out)
    )


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
    result = run_cli(
        "features", "--spec", features, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "f")
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / "f" / "index.csv", newline="") as fh:
        assert sorted(r["id"] for r in csv.DictReader(fh)) == sorted(ids)
    names = [
        n
        for shard in sorted((tmp_path / "f" / "shards").glob("*.tar"))
        for n in tarfile.open(shard).getnames()
    ]
    assert f"{LONG_ID}.video.npy" in names and "clip.v2.json" in names and "c.video.npy.audio.npy" in names

    # The training loader reads every clip back under its own id, with its arrays.
    clips = ClipSet(tmp_path / "f", "pretrain", stage_spec("features", tiny_config, "synthetic")["features"])
    assert clips.ids == sorted(ids)
    assert all(sorted(s.arrays) == ["audio", "video"] for s in clips.samples)

    # ... and so does the pretrain stage, through the CLI.
    spec = stage_spec("pretrain", tiny_config, "vatt")
    spec["pretrain"].update(batch_size=len(ids), epochs=1)
    result = run_cli(
        "pretrain",
        "--spec",
        json.dumps(spec),
        "--features",
        str(tmp_path / "f"),
        "--out",
        str(tmp_path / "m.pt"),
        "--curves",
        str(tmp_path / "m.csv"),
    )
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


def skipped(data):
    with open(data / "skipped.csv", newline="") as fh:
        return {r["id"]: (r["path"], r["action"], r["reason"]) for r in csv.DictReader(fh)}


def kept(data):
    with open(data / "manifest.csv", newline="") as fh:
        return sorted(r["id"] for r in csv.DictReader(fh))


EXTS = ".mp4 .mkv .webm .mov .avi .wav .flac .m4a .mp3 .ogg"


def test_manifest_media_that_are_not_media_files_are_dropped_and_never_packed(clip, tmp_path):
    from test_features import write_wav

    (tmp_path / "a.mp4").hardlink_to(clip)
    write_wav(tmp_path / "voice.wav")
    (tmp_path / "fake.mp4").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "folder.mp4").mkdir()
    (tmp_path / "link.mp4").symlink_to("/etc/passwd")
    up = "../" * len(tmp_path.parts) + "etc/passwd"  # ../../../x from the manifest's folder
    rows = [
        ("good", "a.mp4"),
        ("voice", "voice.wav"),
        ("passwd", "/etc/passwd"),
        ("shadow", "/etc/shadow"),
        ("up", up),
        ("fake", "fake.mp4"),
        ("empty", "empty.wav"),
        ("folder", "folder.mp4"),
        ("link", "link.mp4"),
        ("devnull", "/dev/null"),
    ]
    result = download(tmp_path, rows)
    assert result.returncode == 0, result.stderr[-2000:]
    data = tmp_path / "data"
    assert kept(data) == ["good", "voice"]
    no_ext = f"not a media file (extension '', want one of {EXTS})"
    report = skipped(data)
    assert report.pop("fake")[2].startswith("not a media file: opening the container failed (")
    assert report == {
        "passwd": ("/etc/passwd", "dropped_clip", no_ext),
        "shadow": ("/etc/shadow", "dropped_clip", no_ext),
        "up": (up, "dropped_clip", no_ext),
        "empty": ("empty.wav", "dropped_clip", "not a media file: empty file (0 bytes)"),
        "folder": ("folder.mp4", "dropped_clip", "not a regular file"),
        "link": ("link.mp4", "dropped_clip", report["link"][2]),
        "devnull": ("/dev/null", "dropped_clip", "not a regular file"),
    }
    assert report["link"][2].startswith("not a media file: opening the container failed (")
    assert sorted(p.name for p in (data / "media").rglob("*")) == ["good.mp4", "pretrain", "voice.wav"]

    result = run_cli("pack", str(data), str(tmp_path / "www"))
    assert result.returncode == 0, result.stderr[-2000:]
    names = [n for shard in (tmp_path / "www").glob("*.tar") for n in tarfile.open(shard).getnames()]
    assert sorted(names) == [
        "pretrain/good.json",
        "pretrain/good.mp4",
        "pretrain/voice.json",
        "pretrain/voice.wav",
    ]


def test_pack_never_widens_a_files_permissions(clip, tmp_path):
    make_clip(tmp_path / "private.mp4", seconds=1.0)
    (tmp_path / "private.mp4").chmod(0o600)
    (tmp_path / "a.mp4").hardlink_to(clip)
    (tmp_path / "a.mp4").chmod(0o644)
    assert download(tmp_path, [("private", "private.mp4"), ("public", "a.mp4")]).returncode == 0
    result = run_cli("pack", str(tmp_path / "data"), str(tmp_path / "www"), "--shard-size", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    # rows sorted by id: private in shard 0, public in shard 1
    modes = {}
    for shard in sorted((tmp_path / "www").glob("shard-*.tar")):
        modes[shard.name] = shard.stat().st_mode & 0o777
        with tarfile.open(shard) as tar:
            modes.update({m.name: m.mode for m in tar})
    assert modes == {
        "shard-000000.tar": 0o600,
        "pretrain/private.mp4": 0o600,
        "pretrain/private.json": 0o600,
        "shard-000001.tar": 0o644,
        "pretrain/public.mp4": 0o644,
        "pretrain/public.json": 0o644,
    }


@pytest.fixture()
def library(clip, tmp_path):
    """lib/a.mp4, other/b.mp4, and lib/c.mp4: a symlink out of lib to other/b.mp4."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "lib" / "a.mp4").hardlink_to(clip)
    make_clip(tmp_path / "other" / "b.mp4", seconds=1.0, tone_hz=660.0)
    (tmp_path / "lib" / "c.mp4").symlink_to(tmp_path / "other" / "b.mp4")
    return tmp_path


@pytest.mark.parametrize("roots", [None, [], ["lib"], ["lib", "other"]])
def test_allowed_roots_confine_manifest_media(library, roots):
    rows = [("a", "lib/a.mp4"), ("b", str(library / "other" / "b.mp4")), ("c", "lib/c.mp4")]
    local = {} if roots is None else {"allowed_roots": [str(library / r) for r in roots]}
    result = download(library, rows, **local)
    assert result.returncode == 0, result.stderr[-2000:]
    if roots == ["lib"]:
        assert kept(library / "data") == ["a"]
        assert {i: r[2] for i, r in skipped(library / "data").items()} == {
            "b": "outside local.allowed_roots",
            "c": "outside local.allowed_roots",
        }
    else:  # absent, empty or both folders: no confinement
        assert kept(library / "data") == ["a", "b", "c"] and skipped(library / "data") == {}


def test_allowed_roots_confine_a_folders_symlinks_too(library):
    spec = json.dumps(
        {
            "seed": 0,
            "dataset": {
                "source": "local",
                "local": {
                    "path": str(library / "lib"),
                    "default_split": "train",
                    "allowed_roots": [str(library / "lib")],
                },
            },
        }
    )
    result = run_cli("download", "--spec", spec, "--out", str(library / "data"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert kept(library / "data") == ["a"]
    assert skipped(library / "data") == {"c": ("train/c.mp4", "dropped_clip", "outside local.allowed_roots")}


def test_allowed_roots_in_a_config_file(library):
    import yaml
    from conftest import REPO

    def config(roots):
        path = library / "mine.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "datasets": {
                        "mine": {
                            "source": "local",
                            "local": {"manifest": str(library / "m.csv"), "allowed_roots": roots},
                        }
                    }
                }
            )
        )
        return ["--config", str(REPO / "config" / "config.yaml"), str(path), "--dataset", "mine"]

    (library / "m.csv").write_text("id,media\na,lib/a.mp4\nb,other/b.mp4\n")
    result = run_cli("download", *config([str(library / "lib")]), "--out", str(library / "data"), cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert kept(library / "data") == ["a"] and list(skipped(library / "data")) == ["b"]

    before = tree_digest(library / "data")
    line = one_line_error(run_cli("download", *config("lib"), "--out", str(library / "data"), cwd=REPO))
    assert "datasets.mine.local.allowed_roots" in line
    line = one_line_error(
        run_cli("download", *config([str(library / "nowhere")]), "--out", str(library / "data"), cwd=REPO)
    )
    assert line == f"mmrobust: error: {library / 'nowhere'}: local.allowed_roots: not a folder"
    assert tree_digest(library / "data") == before


@pytest.mark.parametrize("size", ["0", "-1"])
def test_pack_shard_size_must_be_positive(clip, tmp_path, size):
    (tmp_path / "a.mp4").hardlink_to(clip)
    assert download(tmp_path, [("a", "a.mp4")]).returncode == 0
    assert run_cli("pack", str(tmp_path / "data"), str(tmp_path / "www")).returncode == 0
    before = tree_digest(tmp_path / "www")
    line = one_line_error(
        run_cli("pack", str(tmp_path / "data"), str(tmp_path / "www"), "--shard-size", size)
    )
    assert line == f"mmrobust: error: --shard-size: {size} is not a positive number of clips"
    assert tree_digest(tmp_path / "www") == before


def test_odd_ids_round_trip_through_pack_and_the_http_source(clip, tmp_path):
    from media_server import MediaServer

    (tmp_path / "a.mp4").hardlink_to(clip)
    assert download(tmp_path, [(i, "a.mp4") for i in ODD_IDS]).returncode == 0
    result = run_cli("pack", str(tmp_path / "data"), str(tmp_path / "www"), "--shard-size", "4")
    assert result.returncode == 0, result.stderr[-2000:]
    with MediaServer(tmp_path / "www") as srv:
        spec = {
            "seed": 0,
            "dataset": {
                "source": "http",
                "http": {
                    "url": srv.url,
                    "retries": 0,
                    "timeout_s": 10,
                    "backoff_s": 0.0,
                    "cache_dir": str(tmp_path / "cache"),
                },
            },
        }
        result = run_cli("download", "--spec", json.dumps(spec), "--out", str(tmp_path / "again"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert kept(tmp_path / "again") == sorted(ODD_IDS)
    # the shards keep each clip's split folder and bytes
    for i in ODD_IDS:
        assert (tmp_path / "again" / "media" / "pretrain" / f"{i}.mp4").read_bytes() == clip.read_bytes()


def test_a_folders_symlink_out_to_a_non_media_file_is_dropped(clip, tmp_path):
    (tmp_path / "clips" / "train").mkdir(parents=True)
    (tmp_path / "clips" / "train" / "a.mp4").hardlink_to(clip)
    (tmp_path / "clips" / "train" / "passwd.mp4").symlink_to("/etc/passwd")
    (tmp_path / "clips" / "train" / "inside.mp4").symlink_to("a.mp4")  # within the folder: an ordinary clip
    spec = json.dumps(
        {
            "seed": 0,
            "dataset": {
                "source": "local",
                "local": {"path": str(tmp_path / "clips"), "default_split": "train"},
            },
        }
    )
    result = run_cli("download", "--spec", spec, "--out", str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert kept(tmp_path / "data") == ["a", "inside"]
    path, action, reason = skipped(tmp_path / "data")["passwd"]
    assert (path, action) == ("train/passwd.mp4", "dropped_clip")
    assert reason.startswith("not a media file: opening the container failed (")
