"""The skipped-items report: every clip or modality left out, with the stage and the reason."""
from __future__ import annotations

import csv
import os
import sys
from dataclasses import astuple, dataclass
from pathlib import Path

from ..fileio import atomic_write_text, csv_text

FIELDS = ("id", "path", "stage", "action", "reason")
DROPPED_CLIP = "dropped_clip"


@dataclass(frozen=True, order=True)
class Skip:
    id: str
    path: str
    stage: str
    action: str  # dropped_clip, or dropped_<modality> when the clip is kept without it
    reason: str


def write_report(path: str | os.PathLike, skips: list[Skip]) -> None:
    atomic_write_text(path, csv_text(FIELDS, (astuple(s) for s in sorted(skips))))


def print_skips(skips: list[Skip], what: str = "skipped") -> None:
    """Each left-out item on stderr (the stage's log) before a stage stops because of them."""
    for s in sorted(skips):
        label = what if s.action == DROPPED_CLIP else f"{what} {s.action.removeprefix('dropped_')} of"
        print(f"{label} {s.id} ({s.path}, {s.stage}): {s.reason}", file=sys.stderr)


def read_report(path: str | os.PathLike) -> list[Skip]:
    with open(Path(path), encoding="utf-8", newline="") as fh:
        return [Skip(**row) for row in csv.DictReader(fh)]
