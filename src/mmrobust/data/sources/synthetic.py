"""Source `synthetic`: render the embedded default dataset from the seed (see data/synthetic/world.py)."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ...fileio import atomic_write_text, csv_text, sha256_file
from ...parallel import ordered_map
from ..manifest import ManifestRow
from ..mp4 import write_mp4
from ..skipped import Skip
from ..synthetic.render import render_audio, render_frames
from ..synthetic.world import SPLITS, ClipPlan, Concept, build_world, carrier_shares, plan_clip

_STATE: dict = {}


def _init(seed: int, spec: dict, world: list[Concept], out: Path) -> None:
    _STATE.update(seed=seed, spec=spec, world={c.name: c for c in world}, world_list=world, out=out)


def _render(job: tuple[str, int]) -> tuple[ClipPlan, str, str]:
    split, index = job
    spec, world = _STATE["spec"], _STATE["world"]
    plan = plan_clip(_STATE["seed"], split, index, _STATE["world_list"], spec)
    n_frames = int(round(spec["fps"] * spec["seconds"]))
    frames = render_frames(plan, world, spec["width"], spec["height"], n_frames)
    audio = render_audio(plan, world, spec["sample_rate"], spec["seconds"]) if plan.has_audio else None
    media = f"media/{split}/{plan.id}.mp4"
    write_mp4(_STATE["out"] / media, frames, spec["fps"], spec["gop"], audio, spec["sample_rate"])
    return plan, media, sha256_file(_STATE["out"] / media)


def _truth_csv(plans: list[ClipPlan]) -> str:
    header = ["id", "split", "concepts", "distractors", "shown_video", "shown_audio", "shown_text", "noise", "has_audio", "has_text"]
    return csv_text(header, ([p.id, p.split, ";".join(p.concepts), ";".join(p.distractors), ";".join(p.shown["V"]),
                              ";".join(p.shown["A"]), ";".join(p.shown["T"]), p.noise, int(p.has_audio), int(p.has_text)]
                             for p in plans))


def fetch(dataset: dict, seed: int, out: Path, workers: int) -> tuple[list[ManifestRow], list[Skip]]:
    spec = dataset["synthetic"]
    world = build_world(seed, spec["concepts"])
    jobs = [(split, i) for split in SPLITS for i in range(spec["splits"][split])]
    plans, rows = [], []
    for plan, media, digest in ordered_map(_render, jobs, workers, "synthetic clips", _init, (seed, spec, world, out)):
        plans.append(plan)
        rows.append(ManifestRow(plan.id, plan.split, media, 0.0, float(spec["seconds"]), plan.caption,
                                tuple(plan.labels), digest))
    world_doc = {"concepts": [asdict(c) for c in world], "carrier_shares": carrier_shares(world)}
    atomic_write_text(out / "meta" / "synthetic_world.json", json.dumps(world_doc, indent=2, sort_keys=True) + "\n")
    atomic_write_text(out / "meta" / "synthetic_truth.csv", _truth_csv(plans))
    return rows, []
