"""The youtube source against a server on 127.0.0.1 (yt-dlp's generic extractor reads `<id>.mp4`):
the availability report, retries, time-outs, truncated bodies, resume, workers, pacing."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import decord
import numpy as np
import pytest
import yt_dlp
from conftest import make_clip, run_cli, tree_digest
from media_server import MediaServer

from mmrobust.config import parse_spec
from mmrobust.data.manifest import read_manifest
from mmrobust.data.skipped import read_report
from mmrobust.data.sources import download
from mmrobust.data.sources.youtube import classify

FPS = 8


def kinetics_csv(path: Path, clips: list[tuple[str, float, float]]) -> Path:
    """A Kinetics-400 CSV (the catalog format with time spans) of (youtube id, start, end)."""
    path.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        + "".join(f"dancing,{video},{start},{end},train\n" for video, start, end in clips)
    )
    return path


def spec(server: MediaServer, catalog: Path, cache: Path, **changes) -> dict:
    """The download spec as the CLI gets it: validated, defaults filled."""
    youtube = {
        "url_template": server.url + "{id}.mp4",
        "retries": 1,
        "backoff_s": 0.0,
        "timeout_s": 0.5,
        "min_interval_s": 0.0,
        "cache_dir": str(cache),
        **changes,
    }
    dataset = {
        "source": "youtube",
        "youtube": youtube,
        "catalog": {"format": "kinetics400", "files": {"train": str(catalog)}},
    }
    return parse_spec("download", json.dumps({"seed": 0, "dataset": dataset}))


def availability(folder: Path) -> dict[str, tuple[str, str]]:
    with open(folder / "meta" / "availability.csv", newline="") as fh:
        return {row["id"]: (row["status"], row["reason"]) for row in csv.DictReader(fh)}


@pytest.fixture()
def www(tmp_path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    for name in ("okvideo0001", "okvideo0002", "trunconce01", "truncalways", "stalled0001"):
        make_clip(root / f"{name}.mp4", seconds=6.0, fps=FPS)
    return root


CLIPS = [
    ("okvideo0001", 2.3, 4.1),
    ("okvideo0001", 0.0, 1.5),
    ("okvideo0002", 1.0, 5.0),
    ("trunconce01", 1.0, 3.0),
    ("truncalways", 1.0, 3.0),
    ("stalled0001", 1.0, 3.0),
    ("gonevideo01", 0.0, 2.0),
]


def test_availability_report_retries_and_resume(www, tmp_path):
    catalog = kinetics_csv(tmp_path / "train.csv", CLIPS)
    with MediaServer(www) as server:
        server.stall.add("stalled0001.mp4")
        server.truncate.update(
            {"trunconce01.mp4": 2, "truncalways.mp4": 1000}
        )  # the first GET only sniffs the type
        began = time.monotonic()
        download(spec(server, catalog, tmp_path / "cache"), tmp_path / "data", workers=2)
        took = time.monotonic() - began

        got = availability(tmp_path / "data")
        assert {k: v[0] for k, v in got.items()} == {
            "yt_okvideo0001_0_1500": "ok",
            "yt_okvideo0001_2300_4100": "ok",
            "yt_okvideo0002_1000_5000": "ok",
            "yt_trunconce01_1000_3000": "ok",
            "yt_truncalways_1000_3000": "failed",
            "yt_stalled0001_1000_3000": "failed",
            "yt_gonevideo01_0_2000": "gone",
        }
        assert (
            got["yt_gonevideo01_0_2000"][1]
            == "HTTPError: Unable to download webpage: HTTP Error 404: Not Found"
        )
        stalled = got["yt_stalled0001_1000_3000"][1]
        assert stalled.startswith("DownloadError: Got error: Read timed out") and stalled.endswith(
            "(2 attempts)"
        )
        assert "127.0.0.1" not in stalled
        assert got["yt_truncalways_1000_3000"][1].startswith("DownloadError: Got error: ")
        assert "more expected" in got["yt_truncalways_1000_3000"][1]
        assert took < 10  # the stalled server costs two time-outs, not a hang

        summary = json.loads((tmp_path / "data" / "meta" / "availability.json").read_text())
        assert summary["total"] == {"clips": 7, "ok": 4, "gone": 1, "private": 0, "failed": 2, "missing": 0}
        assert summary["splits"] == {"train": summary["total"]}
        assert summary["reasons"] == {"failed: DownloadError": 2, "gone: HTTPError": 1}
        skipped = {s.id: s for s in read_report(tmp_path / "data" / "skipped.csv")}
        assert sorted(skipped) == [
            "yt_gonevideo01_0_2000",
            "yt_stalled0001_1000_3000",
            "yt_truncalways_1000_3000",
        ]
        assert {s.action for s in skipped.values()} == {"dropped_clip"}
        assert skipped["yt_gonevideo01_0_2000"].reason.startswith("gone: HTTPError")

        # The truncated download resumed with a Range request; the one that never completes is not a clip.
        assert any(n == "trunconce01.mp4" and r and r != "bytes=0-" for n, r, _ in server.log)
        assert list((tmp_path / "cache" / "videos").iterdir()) == [
            tmp_path / "cache" / "videos" / "truncalways.mp4.part"
        ]
        rows = {r.id: r for r in read_manifest(tmp_path / "data" / "manifest.csv")}
        assert sorted(rows) == sorted(k for k, v in got.items() if v[0] == "ok")
        assert {r.text for r in rows.values()} == {""} and {r.labels for r in rows.values()} == {("dancing",)}

        # The cut keeps whole GOPs (a keyframe every second): [2.3, 4.1] is [0.3, 2.1] of the 2..5 s cut.
        row = rows["yt_okvideo0001_2300_4100"]
        assert (row.start, row.end) == (pytest.approx(0.3), pytest.approx(2.1))
        clip, whole = (
            decord.VideoReader(str(tmp_path / "data" / row.media)),
            decord.VideoReader(str(www / "okvideo0001.mp4")),
        )
        assert len(clip) == 3 * FPS
        assert np.array_equal(clip[round(row.start * FPS)].asnumpy(), whole[round(2.3 * FPS)].asnumpy())
        assert (
            decord.AudioReader(str(tmp_path / "data" / row.media), sample_rate=16000).shape[1] > 2.9 * 16000
        )

        # Resume: a second run asks only for what failed; ok clips and gone videos are not fetched again.
        server.log.clear()
        server.truncate["truncalways.mp4"] = 1000
        download(spec(server, catalog, tmp_path / "cache"), tmp_path / "again", workers=2)
        assert set(server.names()) == {"stalled0001.mp4", "truncalways.mp4"}
        assert {k: v[0] for k, v in availability(tmp_path / "again").items()} == {
            k: v[0] for k, v in got.items()
        }
        assert (tmp_path / "again" / "manifest.csv").read_bytes() == (
            tmp_path / "data" / "manifest.csv"
        ).read_bytes()
        assert tree_digest(tmp_path / "again" / "media") == tree_digest(tmp_path / "data" / "media")


def test_resume_after_a_lost_clip_and_a_torn_state_line(www, tmp_path):
    catalog = kinetics_csv(tmp_path / "train.csv", [("okvideo0001", 1.0, 2.0), ("okvideo0002", 1.0, 2.0)])
    with MediaServer(www) as server:
        download(spec(server, catalog, tmp_path / "cache"), tmp_path / "data", workers=1)
        (tmp_path / "cache" / "clips" / "yt_okvideo0002_1000_2000.mp4").unlink()
        with open(tmp_path / "cache" / "state.jsonl", "a") as fh:
            fh.write('{"id": "yt_okvideo0001_1000_2000", "vid')  # a run killed mid-line
        server.log.clear()
        download(spec(server, catalog, tmp_path / "cache"), tmp_path / "again", workers=1)
        assert set(server.names()) == {"okvideo0002.mp4"}
        assert tree_digest(tmp_path / "again") == tree_digest(tmp_path / "data")


def test_workers_download_in_parallel_with_identical_output(www, tmp_path):
    videos = ("okvideo0001", "okvideo0002", "trunconce01", "stalled0001")  # not stalled here
    catalog = kinetics_csv(tmp_path / "train.csv", [(v, 1.0, 3.0) for v in videos])
    with MediaServer(www) as server:
        server.delay_s = 0.2
        download(spec(server, catalog, tmp_path / "c1"), tmp_path / "one", workers=1)
        assert server.max_in_flight == 1
        download(spec(server, catalog, tmp_path / "c4"), tmp_path / "four", workers=4)
        assert server.max_in_flight >= 3
    assert tree_digest(tmp_path / "four") == tree_digest(tmp_path / "one")


def test_min_interval_spaces_requests_across_workers(www, tmp_path):
    videos = ("okvideo0001", "okvideo0002", "trunconce01")
    catalog = kinetics_csv(tmp_path / "train.csv", [(v, 1.0, 3.0) for v in videos])
    with MediaServer(www) as server:
        # The first extraction of a process imports yt-dlp's extractors (~0.3 s), which would delay its
        # request.
        warm = kinetics_csv(tmp_path / "one.csv", [(videos[0], 1.0, 3.0)])
        download(spec(server, warm, tmp_path / "c0"), tmp_path / "warm", workers=1)
        server.log.clear()
        download(spec(server, catalog, tmp_path / "cache", min_interval_s=0.3), tmp_path / "data", workers=3)
        firsts = sorted(min(t for n, _, t in server.log if n == f"{v}.mp4") for v in videos)
    assert all(b - a > 0.25 for a, b in zip(firsts, firsts[1:]))


class _Cause(Exception):
    pass


@pytest.mark.parametrize(
    "message, status",
    [
        (
            "ERROR: [youtube] abcdefghijk: Private video. Sign in if you've been granted access to this "
            "video",
            "private",
        ),
        ("ERROR: [youtube] abcdefghijk: Video unavailable. This video is private", "private"),
        (
            "ERROR: [youtube] abcdefghijk: Join this channel to get access to members-only content like "
            "this video",
            "private",
        ),
        (
            "ERROR: [youtube] abcdefghijk: Video unavailable. This video has been removed by the uploader",
            "gone",
        ),
        ("ERROR: [youtube] abcdefghijk: Video unavailable", "gone"),
        (
            "ERROR: [youtube] -bcdefghijk: This video is no longer available because the YouTube account "
            "associated with "
            "this video has been terminated.",
            "gone",
        ),
        (
            "ERROR: [youtube] abcdefghijk: Sign in to confirm you're not a bot. Use --cookies-from-browser",
            "failed",
        ),
        ("ERROR: [youtube] abcdefghijk: Requested format is not available. Use --list-formats", "failed"),
    ],
)
def test_classify_youtube_messages(message, status):
    got, reason = classify(
        yt_dlp.utils.DownloadError(message, (_Cause, _Cause(), None)), "https://www.youtube.com/watch?v=x"
    )
    assert got == status
    assert reason.startswith("_Cause: ") and "ERROR" not in reason and "[youtube]" not in reason


def test_bad_config_is_one_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(
        "datasets: {clips: {source: youtube, youtube: {url_template: 'https://example.org/{name}.mp4'}, "
        "catalog: {format: youtube8m, files: {train: x.csv}}}}\n"
    )
    result = run_cli(
        "check-config", "--config", "config/config.yaml", str(config), cwd=Path(__file__).resolve().parents[1]
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "datasets.clips.youtube.url_template: 'https://example.org/{name}.mp4' does not "
        "match '^https?://[^{}]*\\\\{id\\\\}[^{}]*$'"
    )
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
