"""Source `mirror`: the clips of a catalog from a lab's own copy, so the same catalogs work without YouTube.

The copy is a folder (`path`) or tar shards over http (`url`: `SHA256SUMS` + shards, fetched,
resumed and verified by the `http` source's code, cached in `cache_dir`). Its media files are
found by name, directly under the root or one folder down (`<root>[/<folder>]/<name>.<ext>`):

- `<id>.<ext>`, named by the request's clip id (`<split>/<id>.mp4`, what `mmrobust pack` and the
  `local` layout have): the clip itself; its `<id>.json` sidecar's `start`/`end`, if any, give
  the span within the file, else the whole file is the clip;
- `<video_id>.<ext>`, a whole video named by its YouTube id: cut to the request's span, as the
  `youtube` source does.

A request found neither way is `missing` in the availability report. Text and labels always come
from the catalog. A whole-video mirror on a web server is the `youtube` source with
`url_template: https://host/videos/{id}.mp4`.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ...errors import MmrobustError
from ...fileio import sha256_file
from .. import catalog
from ..catalog.request import ClipRequest
from ..manifest import ManifestRow
from ..skipped import Skip
from .clips import Availability, Clip, Unavailable, cut, keep, local_requests, report, threaded
from .http import fetch_shards
from .local import AUDIO_EXT, VIDEO_EXT, read_sidecar


def index(root: Path) -> dict[str, Path]:
    """File stem -> media file, for media directly under `root` or one folder down."""
    files: dict[str, Path] = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        inner = sorted(os.scandir(entry.path), key=lambda e: e.name) if entry.is_dir() else [entry]
        for item in inner:
            path = Path(item.path)
            if not item.is_file() or path.suffix.lower() not in VIDEO_EXT + AUDIO_EXT:
                continue
            if path.stem in files:
                raise MmrobustError(f"{root}: {path.relative_to(root)}: {path.stem!r} also at "
                                    f"{files[path.stem].relative_to(root)}")
            files[path.stem] = path
    return files


def _clip_file(path: Path, root: Path) -> Clip:
    if path.stat().st_size == 0:
        raise Unavailable("failed", "EmptyFile: 0 bytes")
    side = read_sidecar(path.with_suffix(".json"), f"{root}/{path.relative_to(root).with_suffix('.json')}")
    return Clip(path, side.get("start"), side.get("end"), sha256_file(path))


def _cut_video(item: tuple[Path, list[ClipRequest]], scratch: Path) -> list[Clip | Unavailable]:
    video, found = item
    results: list[Clip | Unavailable] = []
    for request in found:
        try:
            results.append(cut(video, scratch / f"{request.id}{video.suffix.lower()}", request.start, request.end))
        except Unavailable as exc:
            results.append(exc)
    return results


def _root(spec: dict, out: Path) -> Path:
    if "url" in spec:
        fetch_shards(spec, out / ".extracted")
        return out / ".extracted"
    root = Path(spec["path"])
    if not root.is_dir():
        raise MmrobustError(f"{root}: mirror.path: not a folder")
    return root


def fetch(dataset: dict, seed: int, out: Path, workers: int) -> tuple[list[ManifestRow], list[Skip]]:
    spec = dataset["mirror"]
    found = catalog.requests(dataset)
    rows, availability = local_requests([r for r in found if r.path], out)
    root = _root(spec, out)
    try:
        files = index(root)
        outcomes: dict[str, Clip | Unavailable] = {}
        videos: dict[Path, list[ClipRequest]] = {}
        for request in (r for r in found if not r.path):
            if request.id in files:
                try:
                    outcomes[request.id] = _clip_file(files[request.id], root)
                except Unavailable as exc:
                    outcomes[request.id] = exc
            elif request.video_id in files:
                videos.setdefault(files[request.video_id], []).append(request)
            else:
                outcomes[request.id] = Unavailable("missing", f"NotInMirror: no {request.id}.* or {request.video_id}.*")
        for (_, cuts), results in threaded(lambda item: _cut_video(item, out / ".cuts"), sorted(videos.items()),
                                           workers, "mirror videos", "video"):
            outcomes.update((r.id, result) for r, result in zip(cuts, results))
        for request in (r for r in found if not r.path):
            outcome = outcomes[request.id]
            if isinstance(outcome, Unavailable):
                availability.append(Availability(request.split, request.id, request.video_id, outcome.status, outcome.reason))
            else:
                availability.append(Availability(request.split, request.id, request.video_id, "ok"))
                rows.append(keep(outcome, request, out))
    finally:
        shutil.rmtree(out / ".cuts", ignore_errors=True)
        shutil.rmtree(out / ".extracted", ignore_errors=True)
    return rows, report(out, "mirror", availability)
