"""Requests whose media is a file on this machine (ImageNet-Captions' ILSVRC images), for the sources.

Each file is hard-linked (copied across file systems) into the dataset folder, so the dataset stays
valid if the user's tree moves; a missing or empty file is a report entry, not an error.
"""
from __future__ import annotations

from pathlib import Path

from ...fileio import sha256_file
from ..catalog.request import ClipRequest
from ..manifest import ManifestRow
from ..skipped import DROPPED_CLIP, Skip
from .local import STAGE, place


def fetch_local(found: list[ClipRequest], out: Path) -> tuple[list[ManifestRow], list[Skip]]:
    """Manifest rows of the requests' `path` files placed under `out/media/<split>/`, and the skipped ones."""
    rows, skips = [], []
    for request in found:
        src = Path(request.path)
        if not src.is_file() or src.stat().st_size == 0:
            skips.append(Skip(request.id, request.path, STAGE, DROPPED_CLIP,
                              "file not found" if not src.is_file() else "empty file (0 bytes)"))
            continue
        media = f"media/{request.split}/{request.id}{src.suffix.lower()}"
        place(src, out / media)
        rows.append(ManifestRow(request.id, request.split, media, request.start, request.end, request.text,
                                request.labels, sha256_file(out / media)))
    return rows, skips
