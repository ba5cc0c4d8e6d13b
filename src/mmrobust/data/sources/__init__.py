"""Sources: where a dataset's clips come from. Each `fetch` puts media under the dataset folder
and returns manifest rows and skip entries; `download` wraps any of them with validation,
the report and an atomic swap of the folder.

`youtube` and `mirror` fetch the clips of a catalog (the papers' datasets) and also write the
availability report, meta/availability.csv and .json (clips.py). A new source is one module with
a `fetch` of the same signature, added to SOURCES and to the schema's `source` enum.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from ...errors import MmrobustError
from ...fileio import atomic_write_text, staged_dir
from ..labels import label_report, warnings
from ..manifest import ManifestRow, write_manifest
from ..skipped import DROPPED_CLIP, print_skips, write_report
from . import http, local, mirror, synthetic, youtube

SOURCES = {"synthetic": synthetic.fetch, "local": local.fetch, "http": http.fetch, "youtube": youtube.fetch,
           "mirror": mirror.fetch}


def _origin(dataset: dict) -> str:
    """Where the user pointed the source: the folder, CSV or URL an error should name."""
    source = dataset["source"]
    spec = dataset.get(source) or {}
    key = next((k for k in ("manifest", "path", "url") if k in spec), None)
    return f"{spec[key]} ({source}.{key})" if key else f"source {source}"


def _refuse_empty(dataset: dict, skips: list) -> None:
    """An empty dataset is a wrong path or an empty CSV, not a result: stop before features sees it."""
    print_skips(skips)
    found = (f"{len(skips)} item(s) left out, listed above; most common: "
             f"{Counter(s.reason for s in skips).most_common(1)[0][0]}") if skips else "no media files found"
    raise MmrobustError(f"{_origin(dataset)}: no clips ({found}); earlier data (if any) was kept")


def _report_labels(rows: list[ManifestRow], path: Path) -> None:
    report = label_report(rows)
    atomic_write_text(path, json.dumps(report, indent=2, sort_keys=True) + "\n")
    for line in warnings(report):
        print(line, file=sys.stderr)


def download(spec: dict, out: Path, workers: int) -> dict:
    """Build `out` = manifest.csv + media/ + skipped.csv + meta/provenance.json + meta/labels.json;
    returns the provenance. Refuses a source that yields no clip, keeping any earlier `out`."""
    dataset = spec["dataset"]
    with staged_dir(out) as stage:
        (stage / "media").mkdir()
        rows, skips = SOURCES[dataset["source"]](dataset, spec["seed"], stage, workers)
        if not rows:
            _refuse_empty(dataset, skips)
        write_manifest(stage / "manifest.csv", rows)
        write_report(stage / "skipped.csv", skips)
        _report_labels(rows, stage / "meta" / "labels.json")
        provenance = {
            "source": dataset["source"],
            "clips": dict(sorted(Counter(r.split for r in rows).items())),
            "without_text": sum(not r.text for r in rows),
            "dropped_clips": sum(s.action == DROPPED_CLIP for s in skips),
            "report_entries": len(skips),
        }
        atomic_write_text(stage / "meta" / "provenance.json", json.dumps(provenance, indent=2, sort_keys=True) + "\n")
    return provenance
