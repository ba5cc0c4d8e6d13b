"""Entry points of the `pretrain` and `curriculum` stages (called by the CLI)."""

from __future__ import annotations

import copy
from pathlib import Path

from ..curriculum import score_triplets, write_scores
from ..distributed import World, compute_device
from ..features.clips import ClipSet
from ..models.checkpoint import load_model
from ..objectives import from_settings
from .pretrain import pretrain
from .step import comparable, triplet_gradients


def clips_for(spec: dict, features_dir: Path) -> ClipSet:
    return ClipSet(features_dir, spec["pretrain"]["split"], spec["features"])


def run_pretrain(
    spec: dict,
    features_dir: Path,
    out: Path,
    curves: Path,
    scores: Path | None,
    threads: int,
    world: World = World(),
) -> None:
    pretrain(
        spec,
        clips_for(spec, features_dir),
        out,
        curves,
        out.parent / f".{out.stem}.resume",
        scores,
        threads,
        world,
    )


def run_curriculum(
    spec: dict, features_dir: Path, scores_out: Path, warmup_out: Path, curves: Path, threads: int
) -> None:
    """Train the warm-up model (the objective without realignment, `warmup_epochs`), then score every
    triplet with it."""
    warm = copy.deepcopy(spec)
    pre = warm["pretrain"]
    pre["epochs"] = pre["curriculum"]["warmup_epochs"]
    pre["harmonization"] = {**pre["harmonization"], "method": "none"}
    pre["curriculum"] = {**pre["curriculum"], "enabled": False}
    clips = clips_for(warm, features_dir)
    pretrain(warm, clips, warmup_out, curves, warmup_out.parent / f".{warmup_out.stem}.resume", None, threads)
    model, _ = load_model(warmup_out)
    model.eval().to(compute_device())
    objective, level = from_settings(pre), pre["curriculum"]["level"]

    def gradients(out, batch):
        return triplet_gradients(model, batch, None, out, objective, level), comparable(objective, batch)

    write_scores(scores_out, clips.ids, score_triplets(model, clips, pre["batch_size"], gradients))
