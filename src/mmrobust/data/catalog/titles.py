"""Video titles, the text modality of YouTube datasets (seed 003 uses AudioSet's titles).

No official file has them, so the user supplies a CSV with the header `youtube_id,title`
(RFC 4180 quoting, e.g. written from yt-dlp's metadata). A video without a title, or not in
the file, has no text modality.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import MmrobustError
from .reading import clean_text, csv_records, youtube_id


def read_titles(path: str | Path | None) -> dict[str, str]:
    """{youtube id: title}; {} without a file."""
    if path is None:
        return {}
    titles: dict[str, str] = {}
    for where, record in csv_records(path, "titles", ("youtube_id", "title")):
        video = youtube_id(record["youtube_id"], where, "youtube_id")
        if video in titles:
            raise MmrobustError(f"{where}: youtube_id: {video!r} appears twice")
        titles[video] = clean_text(record["title"])
    return titles
