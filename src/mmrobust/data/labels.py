"""The label report (meta/labels.json): labels that look like one class spelled two ways, and
labels that only the evaluation splits have.

Reported, never merged: which spelling is meant is the user's call, and a silent merge would
change a task's classes behind their back. An evaluation-only label becomes a class no training
clip shows, which is worth knowing before training.
"""
from __future__ import annotations

import re
from collections import Counter

from .manifest import ManifestRow

# Evaluation splits by name: `eval`, `test`, `val`, ... or a name ending in `_eval`, `-test`, ...
EVAL_SPLIT = re.compile(r"(^|[_-])(eval|evaluation|test|val|valid|validation)$")
SHOWN = 20  # warnings printed to the log; the file lists them all


def _key(label: str) -> str:
    return " ".join(label.split()).casefold()


def label_report(rows: list[ManifestRow]) -> dict:
    """Clips per label and split, case/space variants, evaluation-only labels; sorted, deterministic."""
    counts: dict[str, Counter] = {}
    for row in rows:
        for label in row.labels:
            counts.setdefault(label, Counter())[row.split] += 1
    groups: dict[str, list[str]] = {}
    for label in sorted(counts):
        groups.setdefault(_key(label), []).append(label)
    splits = {split for c in counts.values() for split in c}
    eval_splits = sorted(s for s in splits if EVAL_SPLIT.search(s))
    # With no labelled training split there is nothing to compare against (e.g. a test-only dataset).
    has_train = any(not EVAL_SPLIT.search(s) for s in splits)
    eval_only = sorted(label for label, c in counts.items() if has_train and all(EVAL_SPLIT.search(s) for s in c))
    return {
        "evaluation_splits": eval_splits,
        "case_or_space_variants": sorted(g for g in groups.values() if len(g) > 1),
        "only_in_evaluation_splits": eval_only,
        "clips_per_label": {label: dict(sorted(c.items())) for label, c in sorted(counts.items())},
    }


def warnings(report: dict) -> list[str]:
    """One log line per finding (the first SHOWN of each kind), naming the labels."""
    lines = []
    variants, eval_only = report["case_or_space_variants"], report["only_in_evaluation_splits"]
    for group in variants[:SHOWN]:
        lines.append(f"labels: {', '.join(repr(g) for g in group)} differ only by case or spaces; "
                     f"kept as {len(group)} separate classes (fix the spelling to merge them)")
    for label in eval_only[:SHOWN]:
        splits = ", ".join(report["clips_per_label"][label])
        lines.append(f"labels: {label!r} occurs only in evaluation split(s) {splits}: no training clip shows it")
    hidden = max(0, len(variants) - SHOWN) + max(0, len(eval_only) - SHOWN)
    if hidden:
        lines.append(f"labels: {hidden} more finding(s)")
    if lines:
        lines.append("labels: all findings are in meta/labels.json")
    return lines
