"""One clip of a catalog: what a source needs to fetch its media and write its manifest row."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)  # millions of them (AudioSet: 2M)
class ClipRequest:
    id: str                      # unique within the dataset; the manifest's id
    split: str
    video_id: str = ""           # YouTube id, when the media comes from YouTube (or a mirror of it)
    path: str = ""               # a local file instead (ImageNet-Captions' ILSVRC images)
    start: float | None = None   # seconds into the video
    end: float | None = None
    text: str = ""
    labels: tuple[str, ...] = field(default_factory=tuple)
