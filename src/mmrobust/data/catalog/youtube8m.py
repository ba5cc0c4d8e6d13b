"""YouTube-8M, video level: the official TFRecords key videos by obfuscated ids, so the catalog reads
what the id lookup produces instead: one CSV per split with the header `youtube_id,labels`, the
labels being the vocabulary indices of the TFRecords separated by spaces (`"3 17 4051"`).
With `vocabulary` (the official vocabulary.csv, `Index,...,Name,...`) labels become the class
names and an index not in it is an error; without it they stay the indices. One clip per video,
the whole video (start and end unset). Titles, if given, are the text.
"""
from __future__ import annotations

from ...errors import MmrobustError
from .reading import clip_id, csv_records, youtube_id
from .request import ClipRequest
from .titles import read_titles


def vocabulary(path: str | None) -> dict[str, str] | None:
    """{index: Name}, or None without a file."""
    if path is None:
        return None
    names = {}
    for where, record in csv_records(path, "vocabulary", ("Index", "Name")):
        index = record["Index"].strip()
        if not index.isdigit():
            raise MmrobustError(f"{where}: Index: {record['Index']!r} is not a class index")
        if not record["Name"].strip() or ";" in record["Name"]:
            raise MmrobustError(f"{where}: Name: {record['Name']!r} is not a class name")
        names[str(int(index))] = record["Name"].strip()
    return names


def _label(raw: str, names: dict[str, str] | None, where: str, source: str | None) -> str:
    if raw.isdigit():
        index = str(int(raw))
        if names is None:
            return index
        if index in names:
            return names[index]
    raise MmrobustError(f"{where}: labels: {raw!r} is not " + (f"an index of {source}" if names is not None else "a vocabulary index"))


def build(cfg: dict) -> list[ClipRequest]:
    names, titles = vocabulary(cfg.get("vocabulary")), read_titles(cfg.get("titles"))
    requests = []
    for split, path in sorted(cfg["files"].items()):
        for where, record in csv_records(path, f"files.{split}", ("youtube_id", "labels")):
            video = youtube_id(record["youtube_id"], where, "youtube_id")
            labels = tuple(_label(raw, names, where, cfg.get("vocabulary")) for raw in record["labels"].split())
            requests.append(ClipRequest(clip_id(video), split, video, text=titles.get(video, ""), labels=labels))
    return requests
