"""Kinetics-400: one CSV per split, `label,youtube_id,time_start,time_end,split` (+ `is_cc` in some
releases); labels with spaces are quoted. The split is the config's name for the file (the
`split` column says `val` in validate.csv and is not needed). Titles, if given, are the text.
"""
from __future__ import annotations

from ...errors import MmrobustError
from .reading import clip_id, csv_records, span, youtube_id
from .request import ClipRequest
from .titles import read_titles

COLUMNS = ("label", "youtube_id", "time_start", "time_end")


def build(cfg: dict) -> list[ClipRequest]:
    titles = read_titles(cfg.get("titles"))
    requests = []
    for split, path in sorted(cfg["files"].items()):
        for where, record in csv_records(path, f"files.{split}", COLUMNS):
            label = record["label"].strip()
            if not label or ";" in label:
                raise MmrobustError(f"{where}: label: {record['label']!r} is not a class name")
            video = youtube_id(record["youtube_id"], where, "youtube_id")
            start, end = span(record["time_start"], record["time_end"], where, ("time_start", "time_end"))
            requests.append(ClipRequest(clip_id(video, start, end), split, video, start=start, end=end,
                                        text=titles.get(video, ""), labels=(label,)))
    return requests
