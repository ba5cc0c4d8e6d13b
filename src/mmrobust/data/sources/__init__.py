"""Sources: where a dataset's clips come from. Each `fetch` puts media under the dataset folder
and returns manifest rows and skip entries; `download` wraps any of them with validation,
the report and an atomic swap of the folder.

`youtube` and `mirror` fetch the clips of a catalog (the papers' datasets) and also write the
availability report, meta/availability.csv and .json (clips.py). A new source is one module with
a `fetch` of the same signature, added to SOURCES and to the schema's `source` enum.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ...fileio import atomic_write_text, staged_dir
from ..manifest import write_manifest
from ..report import DROPPED_CLIP, write_report
from . import http, local, mirror, synthetic, youtube

SOURCES = {"synthetic": synthetic.fetch, "local": local.fetch, "http": http.fetch, "youtube": youtube.fetch,
           "mirror": mirror.fetch}


def download(spec: dict, out: Path, workers: int) -> dict:
    """Build `out` = manifest.csv + media/ + skipped.csv + meta/provenance.json; returns the provenance."""
    dataset = spec["dataset"]
    with staged_dir(out) as stage:
        (stage / "media").mkdir()
        rows, skips = SOURCES[dataset["source"]](dataset, spec["seed"], stage, workers)
        write_manifest(stage / "manifest.csv", rows)
        write_report(stage / "skipped.csv", skips)
        provenance = {
            "source": dataset["source"],
            "clips": dict(sorted(Counter(r.split for r in rows).items())),
            "without_text": sum(not r.text for r in rows),
            "dropped_clips": sum(s.action == DROPPED_CLIP for s in skips),
            "report_entries": len(skips),
        }
        atomic_write_text(stage / "meta" / "provenance.json", json.dumps(provenance, indent=2, sort_keys=True) + "\n")
    return provenance
