"""Catalogs: the papers' datasets as lists of clip requests, read from their official manifest files.

A catalog says *which* clips a dataset has (id, split, where the media lives, time span, text,
labels); a source (`youtube`, `mirror`) then fetches the media of those requests. Builders live
one per module (audioset, kinetics400, imagenet_captions, howto100m, youtube8m) and register in
CATALOGS under the `catalog.format` name of the config. Formats and splits: config/README.md.
"""
from __future__ import annotations

import copy
from typing import Callable

from ...config import load_schema, validate
from ...errors import MmrobustError
from . import audioset, howto100m, imagenet_captions, kinetics400, youtube8m
from .request import ClipRequest
from .splits import random_split

__all__ = ["CATALOGS", "ClipRequest", "requests"]

CATALOGS: dict[str, Callable[[dict], list[ClipRequest]]] = {
    "audioset": audioset.build,
    "kinetics400": kinetics400.build,
    "imagenet_captions": imagenet_captions.build,
    "howto100m": howto100m.build,
    "youtube8m": youtube8m.build,
}


def catalog_settings(dataset: dict, source: str = "catalog") -> dict:
    """The dataset's `catalog` section, validated with defaults filled (callers may pass a raw dict)."""
    if "catalog" not in dataset:
        raise MmrobustError(f"{source}: missing key (the clip list of a youtube or mirror dataset)")
    schema = {**load_schema("config.schema.yaml"), "$ref": "#/$defs/catalog"}
    for key in ("properties", "required", "additionalProperties", "type", "description"):
        schema.pop(key, None)
    return validate(copy.deepcopy(dataset["catalog"]), schema, source)


def requests(dataset: dict) -> list[ClipRequest]:
    """Every clip of the dataset's catalog, split assignment applied, sorted by (split, id)."""
    cfg = catalog_settings(dataset)
    found = CATALOGS[cfg["format"]](cfg)
    if "random_split" in cfg:
        found = random_split(found, cfg["random_split"])
    splits: dict[str, str] = {}
    for request in found:
        if request.id in splits:
            raise MmrobustError(f"catalog: clip {request.id!r} is listed twice (splits {splits[request.id]} and {request.split})")
        splits[request.id] = request.split
    return sorted(found, key=lambda r: (r.split, r.id))
