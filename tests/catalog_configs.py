"""`catalog` sections over the fixtures in tests/fixtures/catalogs/ (copies of the official formats)."""

from __future__ import annotations

import copy
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "catalogs"


def _files(folder: str, **names: str) -> dict[str, str]:
    return {split: str(FIXTURES / folder / name) for split, name in names.items()}


CATALOGS = {
    "audioset": {
        "format": "audioset",
        "segments": _files(
            "audioset",
            balanced_train="balanced_train_segments.csv",
            eval="eval_segments.csv",
            unbalanced_train="unbalanced_train_segments.csv",
        ),
        "labels": str(FIXTURES / "audioset" / "class_labels_indices.csv"),
        "titles": str(FIXTURES / "audioset" / "titles.csv"),
    },
    "kinetics400": {
        "format": "kinetics400",
        "files": _files("kinetics400", train="train.csv", val="validate.csv", test="test.csv"),
        "titles": str(FIXTURES / "kinetics400" / "titles.csv"),
    },
    "imagenet_captions": {
        "format": "imagenet_captions",
        "captions": str(FIXTURES / "imagenet_captions" / "imagenet_captions.json"),
        "images": "/nonexistent/ILSVRC2012",
        "random_split": {"from": "all", "into": {"train": 0.8, "eval": 0.2}},
    },
    "howto100m": {
        "format": "howto100m",
        "videos": str(FIXTURES / "howto100m" / "HowTo100M_v1.csv"),
        "captions": str(FIXTURES / "howto100m" / "caption.json"),
    },
    "youtube8m": {
        "format": "youtube8m",
        "files": _files("youtube8m", train="train.csv", validate="validate.csv"),
        "vocabulary": str(FIXTURES / "youtube8m" / "vocabulary.csv"),
        "titles": str(FIXTURES / "youtube8m" / "titles.csv"),
    },
}


def dataset(name: str, **overrides) -> dict:
    """A dataset entry whose catalog is the fixture `name`, with `overrides` replacing catalog keys (None:
    removing)."""
    catalog = {**copy.deepcopy(CATALOGS[name]), **overrides}
    return {
        "source": "youtube",
        "catalog": {key: value for key, value in catalog.items() if value is not None},
    }
