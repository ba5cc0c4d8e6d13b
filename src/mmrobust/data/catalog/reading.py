"""Reading the official files. Every problem is one MmrobustError naming the file, the line and the field."""
from __future__ import annotations

import csv
import json
import math
import re
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

from ...errors import MmrobustError

_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")


@contextmanager
def open_text(path: str | Path, key: str) -> Iterator[IO[str]]:
    """UTF-8 text; a missing file names the config key that points at it."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:  # a BOM (spreadsheet exports) is not part of the header
            yield fh
    except FileNotFoundError:
        raise MmrobustError(f"{path}: catalog.{key}: file not found") from None
    except IsADirectoryError:
        raise MmrobustError(f"{path}: catalog.{key}: is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise MmrobustError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def csv_rows(path: str | Path, key: str, comment: str | None = None,
             skipinitialspace: bool = False) -> Iterator[tuple[str, list[str]]]:
    """(`file:line`, cells) per non-empty row, the line being where the row starts (a quoted cell may
    span lines); lines starting with `comment` are skipped but counted."""
    with open_text(path, key) as fh:
        row: dict[str, int | None] = {"start": None}  # first line of the row being parsed (csv reads no further)

        def lines() -> Iterator[str]:
            for number, text in enumerate(fh, start=1):
                if not (comment and text.startswith(comment)):
                    row["start"] = row["start"] or number
                    yield text

        try:
            for cells in csv.reader(lines(), skipinitialspace=skipinitialspace, strict=True):
                start, row["start"] = row["start"], None
                if cells:
                    yield f"{path}:{start}", cells
        except csv.Error as exc:
            raise MmrobustError(f"{path}:{row['start']}: not valid CSV ({exc})") from None


def csv_records(path: str | Path, key: str, required: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str]]]:
    """Rows of a CSV with a header line as {column: cell}; the `required` columns must be there."""
    rows = csv_rows(path, key)
    first = next(rows, None)
    if first is None:
        raise MmrobustError(f"{path}: empty file (expected the header {','.join(required)})")
    header = [cell.strip() for cell in first[1]]
    missing = [column for column in required if column not in header]
    if missing:
        raise MmrobustError(f"{first[0]}: header: missing column {missing[0]!r} (expected {','.join(required)})")
    for where, cells in rows:
        if len(cells) != len(header):
            raise MmrobustError(f"{where}: expected {len(header)} fields ({','.join(header)}), got {len(cells)}")
        yield where, dict(zip(header, cells))


def read_json(path: str | Path, key: str) -> Any:
    with open_text(path, key) as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as exc:
            raise MmrobustError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None


def seconds(value: Any, where: str, field: str) -> float:
    """A time in seconds: a finite number >= 0 (a numeric string in CSVs)."""
    try:
        number = float("nan" if isinstance(value, bool) else value)
    except (TypeError, ValueError):
        number = float("nan")
    if not math.isfinite(number) or number < 0:
        raise MmrobustError(f"{where}: {field}: {value!r} is not a number of seconds >= 0")
    return number


def span(start: Any, end: Any, where: str, fields: tuple[str, str]) -> tuple[float, float]:
    first, last = seconds(start, where, fields[0]), seconds(end, where, fields[1])
    if last <= first:
        raise MmrobustError(f"{where}: {fields[1]}: {last:g} is not after {fields[0]} {first:g}")
    return first, last


def youtube_id(value: str, where: str, field: str) -> str:
    value = value.strip()
    if not _YOUTUBE_ID.match(value):
        raise MmrobustError(f"{where}: {field}: {value!r} is not a YouTube id (11 characters A-Z a-z 0-9 _ -)")
    return value


def clip_id(video_id: str, start: float | None = None, end: float | None = None) -> str:
    """`yt_<id>` for a whole video, `yt_<id>_<start ms>_<end ms>` for a span. The prefix keeps
    ids that start with '-' from reading as command-line options (the manifest's id rule)."""
    if start is None or end is None:
        return f"yt_{video_id}"
    return f"yt_{video_id}_{round(start * 1000)}_{round(end * 1000)}"


def clean_text(text: str) -> str:
    return " ".join(text.split())
