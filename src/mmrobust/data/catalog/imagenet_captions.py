"""ImageNet-Captions (Fang et al. 2022): one JSON list of Flickr metadata for ILSVRC2012 train images.

Each entry has `filename` (`n01440764_10026.JPEG`), `wnid`, `title`, `description` and `tags`
(a list). The image is `<images>/train/<wnid>/<filename>`, a single-frame video without audio;
the label is the wnid. The caption joins the `text_fields` (default: title, description and
tags, the Flickr text Fang et al. build captions from) after stripping the HTML markup Flickr
descriptions carry. Whether an image file exists is the source's business: a missing one is a
report entry there, not an error here.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from ...errors import MmrobustError
from .reading import clean_text, read_json
from .request import ClipRequest

_WNID = re.compile(r"^n[0-9]{8}$")
_FILENAME = re.compile(r"^(n[0-9]{8})_[0-9]+\.JPEG$")
_MARKUP = re.compile(r"<[^>]*>")


def _plain(value: str) -> str:
    return clean_text(html.unescape(_MARKUP.sub(" ", value)))


def _text(entry: dict, fields: list[str], where: str) -> str:
    parts = []
    for field in fields:
        value = entry.get(field, "")
        if field == "tags":
            if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
                raise MmrobustError(f"{where}.tags: expected a list of strings, got {type(value).__name__}")
            value = " ".join(value)
        elif not isinstance(value, str):
            raise MmrobustError(f"{where}.{field}: expected a string, got {type(value).__name__}")
        parts.append(_plain(value))
    return " ".join(part for part in parts if part)


def build(cfg: dict) -> list[ClipRequest]:
    entries = read_json(cfg["captions"], "captions")
    if not isinstance(entries, list):
        raise MmrobustError(f"{cfg['captions']}: <top level>: expected a JSON list of entries")
    root, requests, seen = Path(cfg["images"]) / "train", [], set()
    for index, entry in enumerate(entries):
        where = f"{cfg['captions']}: [{index}]"
        if not isinstance(entry, dict):
            raise MmrobustError(f"{where}: expected an object with filename, wnid, title, description, tags")
        wnid, filename = entry.get("wnid"), entry.get("filename")
        if not isinstance(wnid, str) or not _WNID.match(wnid):
            raise MmrobustError(f"{where}.wnid: {wnid!r} is not a WordNet id (n + 8 digits)")
        match = _FILENAME.match(filename) if isinstance(filename, str) else None
        if not match or match.group(1) != wnid:
            raise MmrobustError(f"{where}.filename: {filename!r} is not an ILSVRC2012 train image of {wnid}")
        clip = filename[:-len(".JPEG")]
        if clip in seen:
            raise MmrobustError(f"{where}.filename: {filename!r} appears twice")
        seen.add(clip)
        requests.append(ClipRequest(clip, cfg["split"], path=str(root / wnid / filename),
                                    text=_text(entry, cfg["text_fields"], where), labels=(wnid,)))
    return requests
