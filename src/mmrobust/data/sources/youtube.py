"""Source `youtube`: the clips of a catalog (`mmrobust.data.catalog`), fetched with yt-dlp's Python API.

Each video is downloaded once, whole, for all its clips (yt-dlp's section download needs an ffmpeg
binary), from `url_template` (YouTube's watch page by default; any URL yt-dlp reads, e.g. a lab
server of `<id>.mp4` files through its generic extractor). Its clips are cut out (clips.py) and
the video deleted. Downloads run on `workers` threads, at most one start every `min_interval_s`
across them, each at most `rate_limit` bytes/s; yt-dlp retries nothing itself (one retry policy:
ours, with exponential backoff) but resumes its `.part` file with a Range request on our retry,
and checks Content-Length; a file that still ends early fails the cut's truncation check.

Resume: `cache_dir` (outside the dataset folder, so a failed run keeps its work) holds the clips
and `state.jsonl`, one line per finished request. A rerun reuses clips whose file still has the
recorded size and gone/private verdicts for the same URL, and retries failed requests.
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yt_dlp
from tqdm import tqdm

from .. import catalog
from ..catalog.request import ClipRequest
from ..manifest import ManifestRow
from ..skipped import Skip
from .clips import Availability, Clip, Pacer, Unavailable, cut, keep, local_requests, report, threaded

STATE = "state.jsonl"
# Substrings of yt-dlp's (YouTube's) messages, lower case; private is tested first
# ("Video unavailable. This video is private"). A bot check ("Sign in to confirm you're not a bot") is a failure.
_PRIVATE = ("private video", "this video is private", "members-only", "join this channel", "sign in to confirm your age",
            "age-restricted", "inappropriate for some users")
_GONE = ("video unavailable", "this video is not available", "no longer available", "has been removed",
         "has been terminated", "does not exist", "http error 404", "http error 410")
_PREFIX = re.compile(r"^(?:ERROR: )?(?:\[[^\]]+\] (?:[\w-]+: )?)?")
_NOISE = re.compile(r" \(caused by .*$|; please report this issue.*$|HTTPS?ConnectionPool\([^)]*\): ")


@dataclass(frozen=True, slots=True)  # millions of them at paper scale
class Entry:
    """One finished request of the resume state: its clip (status ok) or why it has none."""
    id: str
    video_id: str
    start: float | None
    end: float | None
    url: str
    status: str
    reason: str = ""
    file: str = ""  # the clip, relative to cache_dir
    clip_start: float | None = None
    clip_end: float | None = None
    sha256: str = ""
    size: int = 0


class State:
    """`cache_dir/state.jsonl`: appended as videos finish, so a killed run loses at most the videos in flight."""

    def __init__(self, cache: Path):
        self.cache, self.path = cache, cache / STATE
        self.entries: dict[str, Entry] = {}
        cache.mkdir(parents=True, exist_ok=True)
        text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        for line in text.splitlines():
            try:
                entry = Entry(**json.loads(line))
            except (ValueError, TypeError):  # a line torn by a killed run: that request is fetched again
                continue
            self.entries[entry.id] = entry
        if text and not text.endswith("\n"):
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write("\n")

    def reusable(self, request: ClipRequest, url: str) -> Entry | None:
        entry = self.entries.get(request.id)
        if entry is None or (entry.video_id, entry.start, entry.end) != (request.video_id, request.start, request.end):
            return None
        if entry.status == "ok":
            clip = self.cache / entry.file
            return entry if clip.is_file() and clip.stat().st_size == entry.size else None
        return entry if entry.status in ("gone", "private") and entry.url == url else None

    def add(self, entries: list[Entry]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(asdict(e), sort_keys=True) + "\n" for e in entries)
        self.entries.update((e.id, e) for e in entries)


class _Log:
    """yt-dlp's warnings and errors to stderr (the job's log) above the progress bar; its chatter nowhere."""

    def debug(self, message: str) -> None:
        pass

    info = debug

    def warning(self, message: str) -> None:
        tqdm.write(message, file=sys.stderr)

    error = warning


def classify(exc: yt_dlp.utils.YoutubeDLError, url: str) -> tuple[str, str]:
    """(status, reason): the status from the message, the reason `<cause class>: <message>` without
    the URL, ports or yt-dlp's boilerplate, so reports compare across runs."""
    cause = exc.exc_info[1] if getattr(exc, "exc_info", None) else None
    message = _PREFIX.sub("", (getattr(exc, "msg", None) or str(exc)).replace("\r", "").strip())
    message = " ".join(_NOISE.sub("", message.replace(url, "<url>")).split())[:200]
    lower = message.lower()
    status = "private" if any(s in lower for s in _PRIVATE) else "gone" if any(s in lower for s in _GONE) else "failed"
    return status, f"{type(cause or exc).__name__}: {message}"


def download(url: str, video_id: str, spec: dict, pacer: Pacer) -> Path:
    """The whole video in `cache_dir/videos/`; Unavailable if it is gone or private, or failed every attempt."""
    options = {
        "format": spec["format"], "socket_timeout": spec["timeout_s"], "ratelimit": spec["rate_limit"],
        "outtmpl": {"default": str(Path(spec["cache_dir"]) / "videos" / f"{video_id.replace('%', '%%')}.%(ext)s")},
        "retries": 0, "fragment_retries": 0, "extractor_retries": 0, "continuedl": True, "noplaylist": True,
        "quiet": True, "noprogress": True, "logger": _Log(), "cachedir": False, "updatetime": False,
        **spec["options"],
    }
    reason = ""
    for attempt in range(spec["retries"] + 1):
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                pacer.wait()
                info = ydl.extract_info(url, download=True)
            return Path(info["requested_downloads"][0]["filepath"])
        except yt_dlp.utils.YoutubeDLError as exc:
            status, reason = classify(exc, url)
            if status != "failed":
                raise Unavailable(status, reason) from None
        if attempt < spec["retries"]:
            time.sleep(spec["backoff_s"] * 2 ** attempt)
    raise Unavailable("failed", f"{reason} ({spec['retries'] + 1} attempts)")


def _video_clips(video_id: str, pending: list[ClipRequest], spec: dict, pacer: Pacer) -> list[Entry]:
    cache = Path(spec["cache_dir"])
    url = spec["url_template"].format(id=video_id)

    def entry(request: ClipRequest, status: str, reason: str = "", clip: Clip | None = None) -> Entry:
        found = {} if clip is None else {"file": str(clip.path.relative_to(cache)), "clip_start": clip.start,
                                         "clip_end": clip.end, "sha256": clip.sha256, "size": clip.path.stat().st_size}
        return Entry(request.id, video_id, request.start, request.end, url, status, reason, **found)

    try:
        video = download(url, video_id, spec, pacer)
    except Unavailable as exc:
        return [entry(r, exc.status, exc.reason) for r in pending]
    entries = []
    try:
        for request in pending:
            try:
                entries.append(entry(request, "ok", clip=cut(video, cache / "clips" / f"{request.id}{video.suffix}",
                                                             request.start, request.end)))
            except Unavailable as exc:
                entries.append(entry(request, exc.status, exc.reason))
    finally:
        video.unlink()  # the clips are kept; a video that could not be cut is fetched anew next time
    return entries


def fetch(dataset: dict, seed: int, out: Path, workers: int) -> tuple[list[ManifestRow], list[Skip]]:
    spec = dataset["youtube"]
    found = catalog.requests(dataset)
    rows, availability = local_requests([r for r in found if r.path], out)
    remote = [r for r in found if not r.path]
    state = State(Path(spec["cache_dir"]))
    todo: dict[str, list[ClipRequest]] = {}
    for request in remote:
        if state.reusable(request, spec["url_template"].format(id=request.video_id)) is None:
            todo.setdefault(request.video_id, []).append(request)
    pacer = Pacer(spec["min_interval_s"])
    for _, entries in threaded(lambda item: _video_clips(*item, spec, pacer), sorted(todo.items()), workers,
                               "youtube videos", "video"):
        state.add(entries)
    for request in remote:
        entry = state.entries[request.id]
        availability.append(Availability(request.split, request.id, request.video_id, entry.status, entry.reason))
        if entry.status == "ok":
            clip = Clip(Path(spec["cache_dir"]) / entry.file, entry.clip_start, entry.clip_end, entry.sha256)
            rows.append(keep(clip, request, out))
    return rows, report(out, "youtube", availability)
