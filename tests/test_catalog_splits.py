"""Seed 003's splits: ImageNet-Captions 80/20 (359,116 / 89,779 of 448,896), Kinetics-400's 20% D_SD
variant; seeded, independent of input order, the same on every machine."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from catalog_configs import FIXTURES, dataset

from mmrobust.data.catalog import ClipRequest, requests
from mmrobust.data.catalog.splits import part_sizes, random_split
from mmrobust.errors import MmrobustError

EIGHTY_TWENTY = {"from": "all", "into": {"train": 0.8, "eval": 0.2}, "seed": 0}


def test_part_sizes_are_exact_floors():
    assert part_sizes(448_896, {"train": 0.8, "eval": 0.2}) == {"eval": 89_779, "train": 359_116}  # seed 003
    assert part_sizes(246_245, {"train": 0.8, "distill": 0.2}) == {"distill": 49_249, "train": 196_996}
    assert part_sizes(100, {"a": 0.29}) == {"a": 29}  # 0.29 * 100 is 28.999... in floating point


def test_imagenet_captions_full_size_split():
    ids = [f"n{i // 449:08d}_{i}" for i in range(448_896)]
    found = [ClipRequest(clip, "all") for clip in ids]
    split = random_split(found, EIGHTY_TWENTY)
    assert Counter(r.split for r in split) == {"train": 359_116, "eval": 89_779}  # one example left over


def test_split_does_not_depend_on_input_order():
    found = [ClipRequest(f"clip{i}", "all") for i in range(1000)]
    shuffled = found[:]
    random.Random(1).shuffle(shuffled)
    assignment = {r.id: r.split for r in random_split(found, EIGHTY_TWENTY)}
    assert {r.id: r.split for r in random_split(shuffled, EIGHTY_TWENTY)} == assignment


def _by_hand(seed: int) -> tuple[set[str], set[str]]:
    """(eval, train) of the fixture's 80/20, from splits.py's definition and not its code: the 10
    ids of the captions file ordered by the SHA-256 digest of the UTF-8 text "SEED/ID"; the parts
    in name order (eval before train) take floor(0.2 x 10) = 2 and floor(0.8 x 10) = 8 of them."""
    ids = [
        Path(e["filename"]).stem
        for e in json.loads((FIXTURES / "imagenet_captions/imagenet_captions.json").read_text())
    ]
    assert len(ids) == 10
    order = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}/{i}".encode()).digest())
    return set(order[:2]), set(order[2:])


def test_fixture_split_is_pinned():
    """The assignment is a hash of (seed, id): these ids are in eval on any machine, any numpy."""
    found = requests(dataset("imagenet_captions"))
    assert Counter(r.split for r in found) == {"train": 8, "eval": 2}
    for seed in (0, 1):
        reseeded = requests(dataset("imagenet_captions", random_split={**EIGHTY_TWENTY, "seed": seed}))
        eval_ids, train_ids = _by_hand(seed)
        assert {r.id for r in reseeded if r.split == "eval"} == eval_ids
        assert {r.id for r in reseeded if r.split == "train"} == train_ids
    # Pinned as well, so a change of the definition itself (the hash, the text hashed) shows here.
    assert [r.id for r in found if r.split == "eval"] == ["n01440764_10026", "n01491361_10052"]
    reseeded = requests(dataset("imagenet_captions", random_split={**EIGHTY_TWENTY, "seed": 1}))
    assert [r.id for r in reseeded if r.split == "eval"] != ["n01440764_10026", "n01491361_10052"]


def test_kinetics_twenty_percent_of_train_as_distillation_data():
    variant = {"from": "train", "into": {"train": 0.8, "distill": 0.2}}
    found = requests(dataset("kinetics400", random_split=variant))
    assert Counter(r.split for r in found) == {"train": 8, "distill": 2, "val": 4, "test": 2}
    plain = {r.id: r for r in requests(dataset("kinetics400"))}
    assert {r.id for r in found} == set(plain)  # nothing lost, val and test untouched
    assert all(plain[r.id].split == "train" for r in found if r.split == "distill")


@pytest.mark.parametrize(
    "option, message",
    [
        ({"from": "train", "into": {"a": 0.7, "b": 0.4}}, "add up to more than 1"),
        (
            {"from": "training", "into": {"a": 0.5}},
            "split 'training' has no clips (splits: test, train, val)",
        ),
        ({"from": "train", "into": {"val": 0.5}}, "'val' is already a split"),
    ],
)
def test_bad_random_split(option, message):
    with pytest.raises(MmrobustError, match=re.escape(message)):
        requests(dataset("kinetics400", random_split=option))
