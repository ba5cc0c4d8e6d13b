"""Modality sets in the canonical V, A, T order: `VAT`, `VA`, `VT`, `AT`, `V`, `A`, `T` (design.md)."""

from __future__ import annotations

LETTERS = {"V": "video", "A": "audio", "T": "text"}
SUBSETS = ("VAT", "VA", "VT", "AT", "V", "A", "T")  # the 7 non-empty subsets of M


def modalities(subset: str) -> tuple[str, ...]:
    """`VA` -> ("video", "audio"); raises ValueError on anything but a canonical subset."""
    if subset not in SUBSETS:
        raise ValueError(f"{subset!r} is not a modality set (one of {', '.join(SUBSETS)})")
    return tuple(LETTERS[letter] for letter in subset)


def complement(subset: str) -> str:
    """M \\ subset in canonical order; "" for the full set."""
    modalities(subset)
    return "".join(letter for letter in "VAT" if letter not in subset)
