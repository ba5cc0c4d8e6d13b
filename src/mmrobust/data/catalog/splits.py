"""Seeded random splits of a catalog split (seed 003: ImageNet-Captions 80/20, Kinetics' 20% D_SD).

The order is a hash of (seed, clip id), not a random generator's stream, so it is the same on
every machine and every numpy version; the input is sorted, so file order does not matter.
Exactly: clips ascending by the SHA-256 digest of the UTF-8 text f"{seed}/{clip_id}" (ties, which
need equal ids, by id).
Each part gets floor(fraction x n) clips, in part-name order; the clips the rounding leaves over
(fewer than the number of parts) are left out: 80/20 of ImageNet-Captions' 448,896 examples
gives seed 003's 359,116 + 89,779, one example fewer.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from fractions import Fraction

from ...errors import MmrobustError
from .request import ClipRequest


def part_sizes(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """floor(fraction x n) per part, exact (0.29 x 100 is 29, not 28 as in floating point)."""
    return {name: math.floor(Fraction(str(fraction)) * n) for name, fraction in sorted(fractions.items())}


def _rank(seed: int, clip_id: str) -> bytes:
    return hashlib.sha256(f"{seed}/{clip_id}".encode()).digest()


def random_split(requests: list[ClipRequest], option: dict) -> list[ClipRequest]:
    """The clips of split `option["from"]` re-assigned to the parts of `option["into"]`."""
    source, parts = option["from"], option["into"]
    pool = sorted((r for r in requests if r.split == source), key=lambda r: (_rank(option["seed"], r.id), r.id))
    if not pool:
        known = ", ".join(sorted({r.split for r in requests})) or "none"
        raise MmrobustError(f"catalog.random_split.from: split {source!r} has no clips (splits: {known})")
    if sum(Fraction(str(f)) for f in parts.values()) > 1:
        raise MmrobustError(f"catalog.random_split.into: the fractions add up to more than 1 ({parts})")
    clash = sorted(set(parts) & {r.split for r in requests} - {source})
    if clash:
        raise MmrobustError(f"catalog.random_split.into: {clash[0]!r} is already a split of the catalog")
    kept, start = [r for r in requests if r.split != source], 0
    for name, size in part_sizes(len(pool), parts).items():
        kept += [replace(r, split=name) for r in pool[start:start + size]]
        start += size
    return kept
