"""The manifest: one validated CSV row per clip (schema: workflow/schemas/manifest.schema.yaml)."""
from __future__ import annotations

import csv
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import load_schema, validate
from ..errors import MmrobustError
from ..fileio import atomic_write_text, csv_text

FIELDS = ("id", "split", "media", "start", "end", "text", "labels", "sha256")
LABEL_SEP = ";"


@dataclass(frozen=True)
class ManifestRow:
    id: str
    split: str
    media: str
    start: float | None
    end: float | None
    text: str
    labels: tuple[str, ...] = field(default_factory=tuple)
    sha256: str = ""

    def validate(self, source: str) -> "ManifestRow":
        record = asdict(self)
        record["labels"] = list(self.labels)
        validate(record, load_schema("manifest.schema.yaml"), source)
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise MmrobustError(f"{source}: end: {self.end} is not after start {self.start}")
        return self


def _number(value: str, source: str, key: str) -> float | None:
    if value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise MmrobustError(f"{source}: {key}: {value!r} is not a number") from None
    if not math.isfinite(number):  # float() reads "nan" and "inf"; neither is a time
        raise MmrobustError(f"{source}: {key}: {value!r} is not a finite number")
    return number


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def format_manifest(rows: list[ManifestRow]) -> str:
    return csv_text(FIELDS, ([r.id, r.split, r.media, _cell(r.start), _cell(r.end), r.text, LABEL_SEP.join(r.labels), r.sha256]
                             for r in sorted(rows, key=lambda r: (r.split, r.id))))


def write_manifest(path: str | os.PathLike, rows: list[ManifestRow]) -> None:
    """Validate every row, refuse duplicate ids, write sorted by (split, id), atomically."""
    seen: dict[str, str] = {}
    for row in rows:
        row.validate(f"{path}: clip {row.id}")
        if row.id in seen:
            raise MmrobustError(f"{path}: id: {row.id!r} appears twice (splits {seen[row.id]} and {row.split})")
        seen[row.id] = row.split
    atomic_write_text(path, format_manifest(rows))


def read_manifest(path: str | os.PathLike) -> list[ManifestRow]:
    """Read and validate; an error names the file, the line and the field."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [f for f in FIELDS if f not in (reader.fieldnames or [])]
            if missing:
                raise MmrobustError(f"{path}: header: missing column(s) {', '.join(missing)}")
            rows = []
            for line, record in enumerate(reader, start=2):
                source = f"{path}:{line}"
                rows.append(ManifestRow(
                    id=record["id"], split=record["split"], media=record["media"],
                    start=_number(record["start"], source, "start"), end=_number(record["end"], source, "end"),
                    text=record["text"], labels=tuple(l for l in record["labels"].split(LABEL_SEP) if l),
                    sha256=record["sha256"],
                ).validate(source))
    except FileNotFoundError:
        raise MmrobustError(f"{path}: manifest not found (run the download stage first)") from None
    except UnicodeDecodeError as exc:
        raise MmrobustError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return rows
