"""AudioSet: the segment CSVs (one per split) and class_labels_indices.csv; titles as text.

Segment CSVs start with three `#` lines, then `YTID, start_seconds, end_seconds, "positive_labels"`
with a space after each comma and the labels quoted and comma-separated. Labels stay the
ontology ids (`/m/09x0r`) the segment files use; class_labels_indices.csv (`index,mid,display_name`,
527 classes) says which are known and maps them to names for people.
"""
from __future__ import annotations

from ...errors import MmrobustError
from .reading import clip_id, csv_records, csv_rows, span, youtube_id
from .request import ClipRequest
from .titles import read_titles

FIELDS = ("YTID", "start_seconds", "end_seconds", "positive_labels")


def class_mids(path: str) -> set[str]:
    """The mids of class_labels_indices.csv."""
    mids: set[str] = set()
    for where, record in csv_records(path, "labels", ("index", "mid", "display_name")):
        if not record["index"].strip().isdigit():
            raise MmrobustError(f"{where}: index: {record['index']!r} is not a class index")
        if record["mid"] in mids:
            raise MmrobustError(f"{where}: mid: {record['mid']!r} appears twice")
        mids.add(record["mid"])
    return mids


def build(cfg: dict) -> list[ClipRequest]:
    known, titles = class_mids(cfg["labels"]), read_titles(cfg.get("titles"))
    requests = []
    for split, path in sorted(cfg["segments"].items()):
        for where, cells in csv_rows(path, f"segments.{split}", comment="#", skipinitialspace=True):
            if len(cells) != len(FIELDS):
                raise MmrobustError(f"{where}: expected {len(FIELDS)} fields ({', '.join(FIELDS)}), got {len(cells)}")
            video = youtube_id(cells[0], where, "YTID")
            start, end = span(cells[1], cells[2], where, ("start_seconds", "end_seconds"))
            labels = tuple(label.strip() for label in cells[3].split(","))
            unknown = [label for label in labels if label not in known]
            if unknown:
                raise MmrobustError(f"{where}: positive_labels: {unknown[0]!r} is not in {cfg['labels']}")
            requests.append(ClipRequest(clip_id(video, start, end), split, video, start=start, end=end,
                                        text=titles.get(video, ""), labels=labels))
    return requests
