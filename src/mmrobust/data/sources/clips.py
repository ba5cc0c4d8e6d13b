"""Clips of catalog requests, shared by the `youtube` and `mirror` sources.

A request names a span of a video; its clip is cut out of the whole video without re-encoding
(PyAV copies packets; there is no ffmpeg binary). A cut starts at the video keyframe at or before
the span's start and stops at the first keyframe at or after its end, so every kept frame
decodes; the manifest's start/end then give the span within the clip, which the features stage
honours. Audio packets start at the first whole AAC frame after that keyframe (within ~23 ms).

Every request gets one row of the availability report (`meta/availability.csv` and a summary in
`meta/availability.json`): ok, gone (the video was removed / 404), private (needs an account:
private, members-only, age-restricted), failed (network, truncated or undecodable file; the
reason says which), or missing (not in the mirror). Each row that is not ok is also a
`dropped_clip` entry of `skipped.csv`.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

import av
from tqdm import tqdm

from ...fileio import atomic_path, atomic_write_text, csv_text, sha256_file
from ..catalog.request import ClipRequest
from ..manifest import ManifestRow
from ..skipped import DROPPED_CLIP, Skip
from .local import STAGE, place
from .local_files import fetch_local

STATUSES = ("ok", "gone", "private", "failed", "missing")
FIELDS = ("split", "id", "video_id", "status", "reason")
MUXERS = {".mp4": "mp4", ".m4a": "mp4", ".mov": "mov", ".webm": "webm", ".mkv": "matroska", ".wav": "wav", ".flac": "flac",
          ".mp3": "mp3", ".ogg": "ogg"}
TRUNCATION_SLACK_S = 0.1

T = TypeVar("T")
R = TypeVar("R")


class Unavailable(Exception):
    """A request without a clip: `status` is one of STATUSES, the message is the report's reason."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True, order=True)
class Availability:
    split: str
    id: str
    video_id: str  # or the request's local path
    status: str
    reason: str = ""


@dataclass(frozen=True)
class Clip:
    """A verified clip file and the request's span within it (None: from its start / to its end)."""
    path: Path
    start: float | None
    end: float | None
    sha256: str


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 6)  # no float noise in the manifest


def cut(src: Path, dst: Path, start: float | None, end: float | None) -> Clip:
    """Copy the packets of [start, end) of `src` (all of it without a span) into `dst`, atomically.

    Doubles as the check that a download is whole: a stream that ends before its declared
    duration (a truncated file demuxes without an error) raises Unavailable("failed").
    """
    muxer = MUXERS.get(dst.suffix.lower())
    if muxer is None:
        raise Unavailable("failed", f"CutError: cannot cut {dst.suffix or 'extension-less'} files ({', '.join(sorted(MUXERS))})")
    try:
        with av.open(str(src)) as inp, atomic_path(dst) as tmp:
            streams = [s for s in inp.streams if s.type in ("video", "audio")]
            if not streams:
                raise Unavailable("failed", "CutError: no video or audio stream")
            anchor = next((s for s in streams if s.type == "video"), streams[0])
            with av.open(str(tmp), "w", format=muxer) as out:
                outputs = {s.index: out.add_stream_from_template(s) for s in streams}
                offset, reached = _copy_packets(inp, streams, anchor, outputs, out, start, end)
            if offset is None or (reached is not None and start is not None and max(reached.values()) <= start):
                raise Unavailable("failed", f"CutError: the video ends before the clip's start ({start} s)")
            for stream in streams if reached is not None else ():
                declared = _declared_end(stream)
                if declared is not None and reached.get(stream.index, 0.0) < declared - TRUNCATION_SLACK_S:
                    raise Unavailable("failed", f"CutError: truncated file ({stream.type} ends at "
                                                f"{reached.get(stream.index, 0.0):.2f} s of {declared:.2f} s)")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        message = str(exc).replace(str(src), src.name).replace(f"{dst.parent}{os.sep}", "")  # no absolute paths in reports
        raise Unavailable("failed", f"CutError: {type(exc).__name__}: {message[:160]}") from None
    # max(0, .): a video whose first frame comes after the span's start
    return Clip(dst, _seconds(None if start is None else max(0.0, start - offset)),
                _seconds(None if end is None else end - offset), sha256_file(dst))


def _copy_packets(inp, streams, anchor, outputs, out, start, end) -> tuple[float | None, dict[int, float] | None]:
    """Mux the kept packets, shifted so the clip starts at 0; returns the shift (None: nothing kept) and,
    when the input was read to its end, how far each stream reached (for the truncation check)."""
    if start:
        inp.seek(int(start / anchor.time_base), stream=anchor, backward=True)
    offset, reached = None, {}
    for packet in inp.demux(*streams):
        if packet.dts is None or packet.pts is None:  # demuxer flush packets
            continue
        t = float(packet.pts * packet.time_base)
        packet_end = t + float((packet.duration or 0) * packet.time_base)
        reached[packet.stream.index] = max(reached.get(packet.stream.index, 0.0), packet_end)
        if packet.stream is anchor:
            if offset is None:
                offset = t
            elif end is not None and packet.is_keyframe and t >= end:
                return offset, None
        if offset is None or t < offset:
            continue
        shift = round(offset / packet.time_base)
        packet.pts -= shift
        packet.dts -= shift
        packet.stream = outputs[packet.stream.index]
        out.mux(packet)
    return offset, reached


def _declared_end(stream) -> float | None:
    if not stream.duration:
        return None
    return float((stream.duration + (stream.start_time or 0)) * stream.time_base)


def keep(clip: Clip, request: ClipRequest, out: Path) -> ManifestRow:
    """Place the clip under `out/media/<split>/<id><ext>` (a hard link where possible) and return its row."""
    media = f"media/{request.split}/{request.id}{clip.path.suffix.lower()}"
    place(clip.path, out / media)
    return ManifestRow(request.id, request.split, media, clip.start, clip.end, request.text, request.labels,
                       clip.sha256).validate(f"catalog: clip {request.id}")


def local_requests(found: Sequence[ClipRequest], out: Path) -> tuple[list[ManifestRow], list[Availability]]:
    """Requests whose media is a file on this machine (ILSVRC images), with their availability."""
    rows, skips = fetch_local(list(found), out)
    reasons = {s.id: s.reason for s in skips}
    return rows, [Availability(r.split, r.id, r.path, "ok") if r.id not in reasons else
                  Availability(r.split, r.id, r.path, "missing" if not Path(r.path).is_file() else "failed", reasons[r.id])
                  for r in found]


def threaded(fn: Callable[[T], R], items: Sequence[T], workers: int, desc: str, unit: str) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) in the order they finish, over `workers` threads, with a tqdm bar on stderr.

    Threads, not processes: the work waits on the network or the disk, and the sources share a
    request pacer and write their resume state from this (the calling) thread.
    """
    with tqdm(total=len(items), desc=desc, unit=unit, mininterval=1.0, dynamic_ncols=True) as bar, \
            ThreadPoolExecutor(max(1, workers)) as pool:
        futures = {pool.submit(fn, item): item for item in items}
        try:
            for future in as_completed(futures):
                bar.update()
                yield futures[future], future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


class Pacer:
    """At least `interval` seconds between the starts of requests, across all threads."""

    def __init__(self, interval: float):
        self.interval, self.lock, self.next = interval, threading.Lock(), 0.0

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.interval
        time.sleep(start - now)


def _counts(statuses: Counter) -> dict[str, int]:
    return {"clips": sum(statuses.values()), **{s: statuses[s] for s in STATUSES}}


def report(out: Path, source: str, found: list[Availability]) -> list[Skip]:
    """Write meta/availability.csv and meta/availability.json; the dropped_clip rows of skipped.csv."""
    found = sorted(found)
    atomic_write_text(out / "meta" / "availability.csv", csv_text(FIELDS, (astuple(a) for a in found)))
    splits: dict[str, Counter] = {}
    for a in found:
        splits.setdefault(a.split, Counter())[a.status] += 1
    summary = {
        "source": source,
        "splits": {split: _counts(c) for split, c in sorted(splits.items())},
        "total": _counts(sum(splits.values(), Counter())),
        "reasons": dict(sorted(Counter(f"{a.status}: {a.reason.split(':')[0]}" for a in found if a.status != "ok").items())),
    }
    atomic_write_text(out / "meta" / "availability.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return [Skip(a.id, a.video_id, STAGE, DROPPED_CLIP, f"{a.status}: {a.reason}") for a in found if a.status != "ok"]
