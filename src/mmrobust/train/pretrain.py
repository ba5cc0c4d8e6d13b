"""The pretraining loop: AdamW, warm-up + cosine lr, harmonized steps, atomic resumable checkpoints.

Every random draw of step s (batch, augmentation, DropToken) comes from generators seeded by
(seed, s), and the resume state holds the model, AdamW's moments, GradVac's target and the curve
so far: a run killed after a checkpoint and restarted ends with the same parameters, bit for
bit on CPU, as one that never stopped.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..curriculum import batch_indices, curriculum_order, pool_fraction, read_scores, step_generator
from ..fileio import atomic_write_text, csv_text
from ..harmonize import Harmonizer
from ..models.config import model_config
from ..models.vatt import create_model
from . import checkpoint
from .data import ClipSet
from .schedule import adamw, learning_rate
from .step import LossSpec, train_step

CURVE_FIELDS = ("step", "lr", "loss", "loss_va", "loss_vt", "cos_before", "cos_after", "conflict_fraction", "pool_fraction")


def loss_spec(pre: dict) -> LossSpec:
    return LossSpec(pre["loss_weights"]["va"], pre["loss_weights"]["vt"], pre["temperature"])


def build_model(spec: dict):
    torch.manual_seed(spec["seed"])
    model = create_model(model_config(spec["pretrain"]["model"], spec["features"]))
    init = spec["pretrain"]["init"]
    if init["from"] == "clip":
        from ..models.clip_init import init_from_clip

        init_from_clip(model, init["path"])
    return model


def resume_key(spec: dict, features_dir: Path, scores_path: Path | None) -> str:
    """What a resume state must match: the settings, the scores' bytes and the feature shards
    (name, size, mtime: regenerated features never resume an old run)."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    if scores_path is not None:
        digest.update(Path(scores_path).read_bytes())
    for shard in sorted((Path(features_dir) / "shards").glob("*.tar")):
        stat = shard.stat()
        digest.update(f"{shard.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def pretrain(spec: dict, clips: ClipSet, out: Path, curves_path: Path, resume_dir: Path,
             scores_path: Path | None = None, threads: int = 1) -> None:
    """Train per `spec` (seed, features, pretrain) and write the checkpoint `out` and the curve CSV."""
    torch.set_num_threads(threads)
    pre, seed = spec["pretrain"], spec["seed"]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = build_model(spec).to(device)
    optimizer = adamw(model, pre["lr"], pre["weight_decay"], pre["betas"])
    harmonizer = Harmonizer(pre["harmonization"]["method"], pre["harmonization"]["gradvac_beta"])
    total = math.ceil(pre["epochs"] * len(clips) / pre["batch_size"])
    warmup = round(pre["warmup_fraction"] * total)
    cur = pre["curriculum"]
    order = curriculum_order(read_scores(scores_path, clips.ids)) if cur["enabled"] else None
    key = resume_key(spec, clips.features_dir, scores_path)
    state_path = resume_dir / "state.pt"
    start, curve = 0, []
    if state_path.exists():
        state = checkpoint.read(state_path)
        if state.get("key") == key:
            model.load_state_dict(state["state_dict"])
            optimizer.load_state_dict(state["optimizer"])
            harmonizer.load_state_dict(state["harmonizer"])
            start, curve = state["step"], state["curve"]
            print(f"resuming from step {start} of {total} ({state_path})")
        else:
            print(f"ignoring {state_path}: it belongs to other settings")
    loss = loss_spec(pre)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    model.train()
    bar = tqdm(range(start, total), initial=start, total=total, desc=f"pretrain {out.parent.name}", unit="step")
    for step in bar:
        idx = batch_indices(step, total, len(clips), pre["batch_size"], seed, order, cur["start_fraction"], cur["full_at"])
        generator = step_generator(seed, step, 2)
        batch = {k: v.to(device) for k, v in clips.batch(idx, generator, train=True).items()}
        keep = model.sample_keep(len(idx), generator)
        keep = None if keep is None else {k: v.to(device) for k, v in keep.items()}
        lr = learning_rate(step, total, pre["lr"], warmup, pre["min_lr"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            stats = train_step(model, batch, keep, loss, harmonizer, pre["harmonization"]["level"])
        optimizer.step()
        pool = 1.0 if order is None else pool_fraction(step / total, cur["start_fraction"], cur["full_at"])
        curve.append({"step": step + 1, "lr": lr, **stats, "pool_fraction": pool})
        bar.set_postfix(loss=f"{stats['loss']:.3f}", cos=f"{stats['cos_before']:.2f}")
        if (step + 1) % pre["checkpoint_every"] == 0 and step + 1 < total:
            checkpoint.save(state_path, checkpoint.model_payload(model, key=key, step=step + 1, curve=curve,
                                                                 optimizer=optimizer.state_dict(),
                                                                 harmonizer=harmonizer.state_dict()))
    checkpoint.save(out, checkpoint.model_payload(model.cpu(), spec=spec, step=total))
    atomic_write_text(curves_path, csv_text(CURVE_FIELDS, ([_cell(row[f]) for f in CURVE_FIELDS] for row in curve)))
    shutil.rmtree(resume_dir, ignore_errors=True)


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.6g}"
    return str(value)
