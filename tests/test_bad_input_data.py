"""Bad input data (issue 13, items 6-7): sidecar JSON types, near-duplicate and evaluation-only
labels, empty folders and manifests. Through the CLI and Snakemake, as a user meets them."""

import json
import subprocess
import sys
import tarfile

import pytest
from conftest import copy_workflow, make_clip, run_cli, snakemake_env, tree_digest
from media_server import MediaServer

from mmrobust.fileio import sha256_file


def local_spec(root, **local):
    return json.dumps(
        {
            "seed": 0,
            "dataset": {
                "source": "local",
                "local": {"default_split": "train", **(local or {"path": str(root)})},
            },
        }
    )


def assert_one_line_error(result, *parts):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mmrobust: error: "), result.stderr
    for part in parts:
        assert part in last, last
    return last


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", seconds=1.0)


def folder(root, clip, files: dict) -> object:
    """`files`: relative path -> text (a caption or sidecar) or None (a copy of the clip)."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            (root / rel).write_bytes(clip.read_bytes())
        else:
            (root / rel).write_text(text, encoding="utf-8")
    return root


# --- item 6: sidecar types -------------------------------------------------------------------


@pytest.mark.parametrize(
    "sidecar, field, says",
    [
        ('{"labels": null}', "labels", 'expected a list of strings (e.g. ["dog"]), got null'),
        ('{"labels": 5}', "labels", "got int"),
        ('{"labels": "dog"}', "labels", "got a string"),  # was: three labels d, o, g
        ('{"labels": {"dog": 1}}', "labels", "got an object"),  # was: the dict's keys
        ('{"labels": ["dog", ""]}', "labels[1]", "expected a non-empty string, got ''"),
        ('{"labels": ["  "]}', "labels[0]", "expected a non-empty string"),
        ('{"labels": ["dog", 3]}', "labels[1]", "expected a non-empty string, got int"),
        ('{"labels": ["dog", null]}', "labels[1]", "got null"),
        ('{"labels": ["dog;cat"]}', "labels[0]", "contains ';'"),
        ('{"labels": ["dog", "dog"]}', "labels[1]", "listed twice"),
        ('{"start": "1.5"}', "start", "expected a number of seconds >= 0 or null, got a string"),
        ('{"start": true}', "start", "got true/false"),
        ('{"end": NaN}', "end", "got nan"),
        ('{"end": Infinity}', "end", "got inf"),
        ('{"start": -1}', "start", "got -1"),
        ('{"start": [1]}', "start", "got a list"),
        ('["dog"]', "<top level>", "expected an object"),
    ],
)
def test_sidecar_of_wrong_type_stops_download_with_one_line(tmp_path, clip, sidecar, field, says):
    root = folder(tmp_path / "clips", clip, {"train/a.mp4": None, "train/a.json": sidecar})
    out = tmp_path / "data"
    result = run_cli("download", "--spec", local_spec(root), "--out", str(out))
    assert_one_line_error(result, f"{root}/train/a.json: {field}: ", says)
    assert not out.exists()


def test_bad_sidecar_keeps_the_earlier_dataset(tmp_path, clip):
    root = folder(
        tmp_path / "clips",
        clip,
        {"train/a.mp4": None, "train/a.json": '{"labels": ["dog"], "start": 0, "end": 0.5}'},
    )
    out = tmp_path / "data"
    assert run_cli("download", "--spec", local_spec(root), "--out", str(out)).returncode == 0
    assert "a,train,media/train/a.mp4,0.0,0.5,,dog," in (out / "manifest.csv").read_text()
    before = tree_digest(out)
    (root / "train" / "a.json").write_text('{"labels": "dog"}')
    assert_one_line_error(
        run_cli("download", "--spec", local_spec(root), "--out", str(out)), "a.json: labels: "
    )
    assert tree_digest(out) == before


def test_null_times_mean_the_whole_file(tmp_path, clip):
    # what `mmrobust pack` writes for a clip without a time span
    root = folder(
        tmp_path / "clips",
        clip,
        {"train/a.mp4": None, "train/a.json": '{"labels": [], "start": null, "end": null}'},
    )
    result = run_cli("download", "--spec", local_spec(root), "--out", str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    assert (
        (tmp_path / "data" / "manifest.csv")
        .read_text()
        .splitlines()[1]
        .startswith("a,train,media/train/a.mp4,,,,,")
    )


@pytest.mark.parametrize("cell", ["nan", "inf", "-inf"])
def test_user_manifest_non_finite_time_is_refused(tmp_path, clip, cell):
    (tmp_path / "a.mp4").write_bytes(clip.read_bytes())
    (tmp_path / "m.csv").write_text(f"id,media,start\na,a.mp4,{cell}\n")
    result = run_cli(
        "download",
        "--spec",
        local_spec(None, manifest=str(tmp_path / "m.csv")),
        "--out",
        str(tmp_path / "data"),
    )
    assert_one_line_error(result, f"{tmp_path / 'm.csv'}:2: start: '{cell}' is not a finite number")


def test_http_sidecar_error_names_the_shard(tmp_path, clip):
    www = tmp_path / "www"
    www.mkdir()
    with tarfile.open(www / "s-000.tar", "w") as tar:
        tar.add(clip, "train/a.mp4")
        side = tmp_path / "a.json"
        side.write_text('{"labels": 5}')
        tar.add(side, "train/a.json")
    (www / "SHA256SUMS").write_text(f"{sha256_file(www / 's-000.tar')}  s-000.tar\n")
    with MediaServer(www) as server:
        spec = json.dumps(
            {
                "seed": 0,
                "dataset": {
                    "source": "http",
                    "http": {"url": server.url, "cache_dir": str(tmp_path / "cache"), "retries": 0},
                },
            }
        )
        result = run_cli("download", "--spec", spec, "--out", str(tmp_path / "data"))
    assert_one_line_error(result, f"{server.url.rstrip('/')}/s-000.tar: train/a.json: labels: ", "got int")


# --- item 6: the label report ----------------------------------------------------------------

LABELLED = {
    "train/a.mp4": None,
    "train/a.json": '{"labels": ["Cat "]}',
    "train/b.mp4": None,
    "train/b.json": '{"labels": ["cat", "dog"]}',
    "train/c.mp4": None,
    "train/c.json": '{"labels": ["CAT"]}',
    "pretrain/p.mp4": None,
    "eval/d.mp4": None,
    "eval/d.json": '{"labels": ["dog", "bird"]}',
    "eval/e.mp4": None,
    "eval/e.json": '{"labels": ["bird", "Owl"]}',
}


def test_near_duplicate_and_eval_only_labels_are_reported_not_merged(tmp_path, clip):
    root = folder(tmp_path / "clips", clip, LABELLED)
    out = tmp_path / "data"
    result = run_cli("download", "--spec", local_spec(root), "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "meta" / "labels.json").read_text())
    assert report == {
        "evaluation_splits": ["eval"],
        "case_or_space_variants": [["CAT", "Cat ", "cat"]],
        "only_in_evaluation_splits": ["Owl", "bird"],
        "clips_per_label": {
            "CAT": {"train": 1},
            "Cat ": {"train": 1},
            "Owl": {"eval": 1},
            "bird": {"eval": 2},
            "cat": {"train": 1},
            "dog": {"eval": 1, "train": 1},
        },
    }
    log = result.stderr
    assert "labels: 'CAT', 'Cat ', 'cat' differ only by case or spaces; kept as 3 separate classes" in log
    assert "labels: 'bird' occurs only in evaluation split(s) eval" in log
    assert "labels: 'Owl' occurs only in evaluation split(s) eval" in log
    # kept as given: not merged, not stripped
    manifest = (out / "manifest.csv").read_text()
    assert (
        "a,train,media/train/a.mp4,,,,Cat ," in manifest and "c,train,media/train/c.mp4,,,,CAT," in manifest
    )
    # deterministic: a second run writes the same bytes
    again = tmp_path / "again"
    assert run_cli("download", "--spec", local_spec(root), "--out", str(again)).returncode == 0
    assert (again / "meta" / "labels.json").read_bytes() == (out / "meta" / "labels.json").read_bytes()


def test_clean_labels_report_nothing(tmp_path, clip):
    files = {
        "train/a.mp4": None,
        "train/a.json": '{"labels": ["dog"]}',
        "multilabel_test/b.mp4": None,
        "multilabel_test/b.json": '{"labels": ["dog"]}',
    }
    root = folder(tmp_path / "clips", clip, files)
    result = run_cli("download", "--spec", local_spec(root), "--out", str(tmp_path / "data"))
    assert result.returncode == 0 and "labels:" not in result.stderr, result.stderr
    report = json.loads((tmp_path / "data" / "meta" / "labels.json").read_text())
    assert report["evaluation_splits"] == ["multilabel_test"]
    assert report["case_or_space_variants"] == [] and report["only_in_evaluation_splits"] == []


# --- item 7: empty datasets ------------------------------------------------------------------


def test_empty_folder_stops_download(tmp_path):
    (tmp_path / "clips").mkdir()
    result = run_cli("download", "--spec", local_spec(tmp_path / "clips"), "--out", str(tmp_path / "data"))
    assert_one_line_error(result, f"{tmp_path / 'clips'} (local.path): no clips (no media files found)")
    assert not (tmp_path / "data").exists()


def test_folder_of_captions_only_stops_download_listing_them(tmp_path):
    root = tmp_path / "clips"
    (root / "train").mkdir(parents=True)
    (root / "train" / "a.txt").write_text("a caption without its clip")
    result = run_cli("download", "--spec", local_spec(root), "--out", str(tmp_path / "data"))
    assert_one_line_error(result, "no clips (1 item(s) left out, listed above; most common: no media file")
    assert "skipped a (train/a, download): no media file" in result.stderr


@pytest.mark.parametrize("csv_text", ["id,media\n", "id,media\nb,missing.mp4\n"])
def test_empty_manifest_stops_download_and_keeps_earlier_data(tmp_path, clip, csv_text):
    (tmp_path / "a.mp4").write_bytes(clip.read_bytes())
    spec = local_spec(None, manifest=str(tmp_path / "m.csv"))
    (tmp_path / "m.csv").write_text("id,media\na,a.mp4\n")
    assert run_cli("download", "--spec", spec, "--out", str(tmp_path / "data")).returncode == 0
    before = tree_digest(tmp_path / "data")
    (tmp_path / "m.csv").write_text(csv_text)
    result = run_cli("download", "--spec", spec, "--out", str(tmp_path / "data"))
    assert_one_line_error(result, f"{tmp_path / 'm.csv'} (local.manifest): no clips")
    assert tree_digest(tmp_path / "data") == before


def test_features_refuses_an_empty_manifest(tmp_path, config):
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.csv").write_text("id,split,media,start,end,text,labels,sha256\n")
    spec = json.dumps({"features": {k: v for k, v in config["features"].items() if k != "workers"}})
    result = run_cli("features", "--spec", spec, "--data", str(data), "--out", str(tmp_path / "features"))
    assert_one_line_error(result, f"{data / 'manifest.csv'}: no clips to extract features from")
    assert not (tmp_path / "features").exists()


def snakemake(cwd, *args):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=snakemake_env(),
        timeout=600,
    )
    return result, result.stdout + result.stderr


def test_snakemake_on_an_empty_folder_fails_with_one_line(tmp_path):
    (tmp_path / "project").mkdir()
    project = copy_workflow(tmp_path / "project")
    (tmp_path / "empty").mkdir()
    (project / "config" / "mine.yaml").write_text(
        f"datasets:\n  mine:\n    source: local\n    local: {{path: {tmp_path / 'empty'}}}\n"
    )
    result, output = snakemake(project, "features/mine/summary.json", "--configfile", "config/mine.yaml")
    assert result.returncode != 0, output
    log = (project / "logs" / "download" / "mine.log").read_text()
    assert log.strip().splitlines() == [
        f"mmrobust: error: {tmp_path / 'empty'} (local.path): no clips (no media files found); earlier data "
        "(if any) was kept"
    ]
    assert "Traceback" not in output
    assert not (project / "data" / "mine").exists() and not (project / "features" / "mine").exists()


def test_snakemake_download_logs_the_label_findings(tmp_path, clip):
    (tmp_path / "project").mkdir()
    project = copy_workflow(tmp_path / "project")
    root = folder(tmp_path / "clips", clip, LABELLED)
    (project / "config" / "mine.yaml").write_text(
        f"datasets:\n  mine:\n    source: local\n    local: {{path: {root}}}\n"
    )
    result, output = snakemake(project, "data/mine/manifest.csv", "--configfile", "config/mine.yaml")
    assert result.returncode == 0, output
    log = (project / "logs" / "download" / "mine.log").read_text()
    assert "labels: 'CAT', 'Cat ', 'cat' differ only by case or spaces" in log
    assert "labels: 'bird' occurs only in evaluation split(s) eval" in log
    assert json.loads((project / "data" / "mine" / "meta" / "labels.json").read_text())[
        "only_in_evaluation_splits"
    ] == ["Owl", "bird"]


# --- item 8: no aspect ratio loses its video; a lost modality counts -------------------------

ASPECTS = {"wide": (72, 40), "small": (48, 32), "three_two": (72, 48), "tall": (40, 72)}


def test_snakemake_features_keep_the_video_of_every_aspect_ratio_at_short_side_40(tmp_path):
    root = tmp_path / "clips"
    (root / "train").mkdir(parents=True)
    for name, size in ASPECTS.items():
        make_clip(root / "train" / f"{name}.mp4", size=size, seconds=1.0)
    (tmp_path / "project").mkdir()
    project = copy_workflow(tmp_path / "project")
    (project / "config" / "mine.yaml").write_text(
        f"datasets:\n  mine:\n    source: local\n    local: {{path: {root}}}\n"
    )
    # config/tiny.yaml stores frames at short side 40
    result, output = snakemake(
        project, "features/mine/summary.json", "--configfile", "config/tiny.yaml", "config/mine.yaml"
    )
    assert result.returncode == 0, output
    summary = json.loads((project / "features" / "mine" / "summary.json").read_text())
    assert summary["video_short_side"] == 40
    assert summary["splits"]["train"] == {"clips": 4, "with_audio": 4, "with_text": 0, "with_video": 4}
    assert summary["report"] == {}
    assert (project / "features" / "mine" / "skipped.csv").read_text().splitlines() == [
        "id,path,stage,action,reason"
    ]


def zero_video(src, dst):
    """A copy of `src` whose video packets are all zero bytes: the stream is there, it does not decode;
    the audio packets are untouched, so the clip is kept without video."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            index = packet.stream.index
            if packet.stream.type == "video":
                blank = av.Packet(bytes(packet.size))
                blank.pts, blank.dts, blank.time_base = packet.pts, packet.dts, packet.time_base
                blank.is_keyframe = packet.is_keyframe
                packet = blank
            packet.stream = streams[index]
            out.mux(packet)
    return dst


@pytest.fixture(scope="module")
def lost_video(tmp_path_factory):
    """data/ of 4 clips, 3 of which lose their video (audio decodes): 75% of the video lost."""
    root = tmp_path_factory.mktemp("lost") / "clips"
    (root / "train").mkdir(parents=True)
    good = make_clip(root / "train" / "a.mp4", seconds=1.0)
    for name in ("b", "c", "d"):
        zero_video(good, root / "train" / f"{name}.mp4")
    data = root.parent / "data"
    assert run_cli("download", "--spec", local_spec(root), "--out", str(data)).returncode == 0
    return data


def features_spec(config, **changes):
    return json.dumps(
        {"features": {**{k: v for k, v in config["features"].items() if k != "workers"}, **changes}}
    )


def run_features(config, data, out, **changes):
    """`mmrobust features` on `data` into `out`, the config's features with `changes`."""
    return run_cli(
        "features", "--spec", features_spec(config, **changes), "--data", str(data), "--out", str(out)
    )


def test_losing_most_video_fails_features_with_one_line_and_keeps_earlier_features(
    tmp_path, config, lost_video
):
    out = tmp_path / "features"
    first = run_features(config, lost_video, out, max_skipped_fraction=1.0)
    assert first.returncode == 0, first.stderr
    assert json.loads((out / "summary.json").read_text())["splits"]["train"]["with_video"] == 1
    before = tree_digest(out)
    result = run_features(config, lost_video, out, max_skipped_fraction=0.05)
    assert_one_line_error(
        result,
        f"{lost_video / 'manifest.csv'}: video: lost in 3 of 4 clips that have it (75.0%), "
        "above features.max_skipped_fraction = 0.05 (most common: video decode failed)",
        "earlier features were kept",
    )
    assert "lost video of b (media/train/b.mp4, features): video decode failed" in result.stderr
    assert tree_digest(out) == before


def test_losing_few_video_streams_passes(tmp_path, config, lost_video):
    # 3 of 4 lost: 75% passes a 0.8 threshold, and the report still lists each lost stream
    out = tmp_path / "features"
    result = run_features(config, lost_video, out, max_skipped_fraction=0.8)
    assert result.returncode == 0, result.stderr
    rows = (out / "skipped.csv").read_text().splitlines()[1:]
    assert [r.split(",")[:4] for r in rows] == [
        [n, f"media/train/{n}.mp4", "features", "dropped_video"] for n in "bcd"
    ]


def test_losing_most_captions_fails_features_naming_text(tmp_path, config, clip):
    root = folder(
        tmp_path / "clips",
        clip,
        {"train/a.mp4": None, "train/b.mp4": None, "train/c.mp4": None, "train/c.txt": "a caption"},
    )
    for name in ("a", "b"):
        (root / "train" / f"{name}.txt").write_bytes("caf\xe9".encode("latin-1"))
    data = tmp_path / "data"
    assert run_cli("download", "--spec", local_spec(root), "--out", str(data)).returncode == 0
    result = run_features(config, data, tmp_path / "features", max_skipped_fraction=0.5)
    assert_one_line_error(
        result,
        "text: lost in 2 of 3 clips that have it (66.7%), above features.max_skipped_fraction = 0.5 "
        "(most common: caption is not UTF-8)",
    )
    assert not (tmp_path / "features").exists()


def test_features_refuses_when_no_clip_is_left_even_at_fraction_1(tmp_path, config, clip):
    root = folder(tmp_path / "clips", clip, {})
    (root / "train").mkdir(parents=True)
    (root / "train" / "a.mp4").write_bytes(b"not a video")
    data = tmp_path / "data"
    assert run_cli("download", "--spec", local_spec(root), "--out", str(data)).returncode == 0
    result = run_features(config, data, tmp_path / "features", max_skipped_fraction=1.0)
    assert_one_line_error(
        result,
        "1 of 1 clips (100.0%) could not be used, none is left (most common: opening the container failed)",
    )
    assert not (tmp_path / "features").exists()
