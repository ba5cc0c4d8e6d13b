"""The pretraining loop for any objective (VATT's encoders and heads, or AV-MAE for mae): AdamW,
warm-up + cosine lr, harmonized steps, atomic resumable checkpoints.

Every random draw of step s comes from generators seeded by (seed, s): the batch by (seed, s), a
clip's augmentation and DropToken by (seed, s, its position in the global batch), AV-MAE's masks
(objective mae) by (seed, s, their own stream, that position), whatever the number of processes
(train/loader.py). The resume state holds the model, AdamW's moments,
GradVac's target and the curve so far: a run killed after a checkpoint and restarted ends with
the same parameters, bit for bit on CPU, as one that never stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..curriculum import curriculum_order, pool_fraction, read_scores
from ..distributed import World, to_device
from ..features.clips import ClipSet
from ..fileio import atomic_write_text, csv_text
from ..harmonize import Harmonizer
from ..models import checkpoint
from ..models.avmae import AVMAE
from ..models.build import build, config_for
from ..models.vatt import sample_keep
from ..objectives import DEFAULT, Objective, from_settings
from ..schedule import adamw, learning_rate
from .loader import CurriculumSampler, StepBatches, step_loader
from .step import train_step

SYNC_EVERY = 20  # steps between reads of the statistics (each read waits for the device)


def curve_fields(objective: Objective) -> tuple[str, ...]:
    """The curve's columns: one unweighted loss per term of the objective (vatt: loss_va, loss_vt)."""
    return (
        "step",
        "lr",
        "loss",
        *(f"loss_{t}" for t in objective.terms),
        "cos_before",
        "cos_after",
        "conflict_fraction",
        "pool_fraction",
    )


def build_model(spec: dict):
    torch.manual_seed(spec["seed"])
    pre = spec["pretrain"]
    model = build(config_for(pre["model"], spec["features"], pre.get("objective", DEFAULT)))
    init = pre["init"]
    if init["from"] == "clip":
        from ..models.clip_init import init_from_clip

        init_from_clip(model, init["path"])
    return model


def data_parallel(net, device: torch.device) -> DistributedDataParallel:
    """DDP around the model. AV-MAE's per-modality LayerNorms (the single-modality embeddings' only)
    get no gradient in pretraining: DDP must look for unused parameters then."""
    return DistributedDataParallel(
        net,
        device_ids=[device] if device.type == "cuda" else None,
        find_unused_parameters=isinstance(net, AVMAE),
    )


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


def loader_workers(device: torch.device, threads: int) -> int:
    """On a GPU the CPUs only feed it: all but one prepare batches. On CPU they run the model, and
    extra loading processes would compete with it."""
    return max(0, threads - 1) if device.type == "cuda" else 0


def pretrain(
    spec: dict,
    clips: ClipSet,
    out: Path,
    curves_path: Path,
    resume_dir: Path,
    scores_path: Path | None = None,
    threads: int = 1,
    world: World = World(),
) -> None:
    """Train per `spec` (seed, features, pretrain) and write the checkpoint `out` and the curve CSV
    (rank 0 writes; every process of a distributed run calls this)."""
    torch.set_num_threads(threads)
    pre, seed = spec["pretrain"], spec["seed"]
    device = world.device()
    net = build_model(spec).to(device)
    optimizer = adamw(net, pre["lr"], pre["weight_decay"], pre["betas"])
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
            net.load_state_dict(state["state_dict"])
            optimizer.load_state_dict(state["optimizer"])
            harmonizer.load_state_dict(state["harmonizer"])
            start, curve = state["step"], state["curve"]
            print(f"resuming from step {start} of {total} ({state_path})")
        else:
            print(f"ignoring {state_path}: it belongs to other settings")
    mae = isinstance(net, AVMAE)
    engine = data_parallel(net, device) if world.active else net
    if pre["compile"]:
        engine = torch.compile(engine)
    sampler = CurriculumSampler(
        seed, total, len(clips), pre["batch_size"], order, cur["start_fraction"], cur["full_at"]
    )
    drop = not mae and net.cfg.drop_token > 0
    keep = partial(sample_keep, net.token_counts(), net.cfg.drop_token) if drop else None
    batches = step_loader(
        StepBatches(clips, sampler, world, start, keep, net.mask_sampler() if mae else None),
        loader_workers(device, threads),
        device.type == "cuda",
    )
    objective = from_settings(pre)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    net.train()
    pending: list[tuple[int, float, float, dict]] = []  # rows whose statistics are still on the device
    bar = tqdm(
        range(start, total),
        initial=start,
        total=total,
        desc=f"pretrain {out.parent.name}",
        unit="step",
        disable=not world.main,
    )
    for step, (batch, keep_idx) in zip(bar, batches):
        lr = learning_rate(step, total, pre["lr"], warmup, pre["min_lr"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            stats = train_step(
                net,
                to_device(batch, device),
                to_device(keep_idx, device),
                objective,
                harmonizer,
                pre["harmonization"]["level"],
                world,
                engine,
            )
        optimizer.step()
        pool = 1.0 if order is None else pool_fraction(step / total, cur["start_fraction"], cur["full_at"])
        pending.append((step + 1, lr, pool, stats))
        due = (step + 1) % pre["checkpoint_every"] == 0 and step + 1 < total
        if due or (step + 1) % SYNC_EVERY == 0 or step + 1 == total:
            curve += _materialise(pending)
            pending.clear()
            bar.set_postfix(loss=f"{curve[-1]['loss']:.3f}", cos=f"{curve[-1]['cos_before']:.2f}")
        if due and world.main:
            checkpoint.save(
                state_path,
                checkpoint.model_payload(
                    net,
                    key=key,
                    step=step + 1,
                    curve=curve,
                    optimizer=optimizer.state_dict(),
                    harmonizer=harmonizer.state_dict(),
                ),
            )
    if world.main:
        checkpoint.save(out, checkpoint.model_payload(net.cpu(), spec=spec, step=total))
        fields = curve_fields(objective)
        atomic_write_text(curves_path, csv_text(fields, ([_cell(row[f]) for f in fields] for row in curve)))
        shutil.rmtree(resume_dir, ignore_errors=True)
    world.barrier()


def _materialise(pending: list[tuple[int, float, float, dict]]) -> list[dict]:
    """Curve rows with plain floats: one host sync for all the pending steps."""
    if not pending:
        return []
    names = list(pending[0][3])
    values = torch.stack([torch.stack([stats[n].float() for n in names]) for *_, stats in pending]).tolist()
    return [
        {"step": step, "lr": lr, **dict(zip(names, row)), "pool_fraction": pool}
        for (step, lr, pool, _), row in zip(pending, values)
    ]


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.6g}"
    return str(value)
