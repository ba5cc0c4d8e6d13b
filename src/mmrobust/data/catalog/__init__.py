"""Catalogs: the papers' datasets as lists of clip requests, read from their official manifest files.

A catalog says *which* clips a dataset has (id, split, where the media lives, time span, text,
labels); a source (`youtube`, `mirror`) then fetches the media of those requests. Builders live
one per module (audioset, kinetics400, imagenet_captions, howto100m, youtube8m) and register in
CATALOGS under the `catalog.format` name of the config.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ClipRequest:
    id: str                      # unique within the dataset; the manifest's id
    split: str
    video_id: str = ""           # YouTube id, when the media comes from YouTube (or a mirror of it)
    path: str = ""               # a local file instead (ImageNet-Captions' ILSVRC images)
    start: float | None = None   # seconds into the video
    end: float | None = None
    text: str = ""
    labels: tuple[str, ...] = field(default_factory=tuple)
