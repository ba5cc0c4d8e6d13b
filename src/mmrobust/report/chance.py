"""The chance level of a task's metric, from the labels of its dataset's features index.csv.

- multilabel (mAP): the mAP of a constant scorer. All its scores tie, so each class's AP is the
  class's positive rate in the evaluation split; the mean over the classes with a positive there
  (the classes mAP averages: evaluate.metrics skips those without one).
- singlelabel (top-1): the share of the evaluation split's most frequent class, the best a
  classifier that ignores its input can score.
The classes are the labels found in the task's train and evaluation splits, as the heads have them
(downstream.data.class_names). Returned as a fraction (0..1), like the matrices.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from ..errors import MmrobustError


def read_labels(path: Path) -> dict[str, list[list[str]]]:
    """{split: [labels of each clip]} of a features index.csv."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        out: dict[str, list[list[str]]] = {}
        for row in rows:
            out.setdefault(row["split"], []).append([x for x in row["labels"].split(";") if x])
    except OSError as exc:
        raise MmrobustError(f"{path}: unreadable features index ({exc})") from None
    except KeyError as exc:
        raise MmrobustError(f"{path}: not a features index.csv (no column {exc})") from None
    return out


def chance_level(task: dict, labels: dict[str, list[list[str]]]) -> float:
    """The chance level of `task` (kind, train, eval) given its dataset's labels per split."""
    clips = labels.get(task["eval"])
    if not clips:
        raise MmrobustError(f"report: the features index has no clip of split {task['eval']!r}")
    classes = sorted(
        {c for split in (task["train"], task["eval"]) for names in labels.get(split, []) for c in names}
    )
    counts = Counter(c for names in clips for c in names)
    if task["kind"] == "multilabel":
        rates = [counts[c] / len(clips) for c in classes if counts[c]]
        return sum(rates) / len(rates)
    return max(counts.values()) / len(clips)
