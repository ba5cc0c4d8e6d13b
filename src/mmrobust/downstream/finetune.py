"""`ft` and `masd`: the encoders unfrozen, starting from the linear probe's head (LP-FT).

One step on a task batch restricted to M_T, plus for `masd` (Eq. 8) a batch of D_SD:
    L = L_task(f(x|M_T), y) + λ L_sd(teacher = f(x'|M_T) without gradient, student = f(x'|M \\ M_T))
Teacher and student are the same weights and see the same clip x' of D_SD (its eval view: the
distillation asks for agreement across modalities, not across augmentations). For M_T = M the
complement is empty and the step is the task loss alone. The epoch with the best validation metric
(M_E = M_T) is kept; every random draw comes from (seed, training set, epoch, step, clip).

Data parallel: each process takes an equal slice of every task and D_SD batch, sums its clips'
losses and divides by the global batch size; DDP wraps the whole objective (one forward per step
covering Eq. 8's three passes) and averages, hence the factor world.size. Epochs have whole
batches only (a partial last batch would not split evenly).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..distributed import World, to_device
from ..evaluate.metrics import task_metric
from ..features.clips import ClipSet
from ..modalities import SUBSETS, complement
from ..schedule import adamw, learning_rate
from ..seeding import clip_generators, step_generator
from .model import Classifier, lp_classifier
from .objectives import distill_loss, task_loss


@torch.no_grad()
def predict(model: Classifier, clips: ClipSet, idx: np.ndarray, subset: str, batch_size: int) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    out = [
        model(to_device(clips.batch(idx[i : i + batch_size], None, train=False), device), subset)
        .float()
        .cpu()
        for i in range(0, len(idx), batch_size)
    ]
    return torch.cat(out)


def masd_step_loss(
    model: Classifier,
    batch: dict,
    y: torch.Tensor,
    subset: str,
    kind: str,
    distill_batch: dict | None,
    weight: float,
    totals: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Eq. 8 on one task batch and one D_SD batch (None: the task loss alone, as in `ft`). With
    `totals` (the global task and D_SD batch sizes) the batches are one process's slices."""

    def average(loss_fn, *args, total):
        return loss_fn(*args, kind) if totals is None else loss_fn(*args, kind, "sum") / total

    loss = average(task_loss, model(batch, subset), y, total=totals and totals[0])
    rest = complement(subset)
    if distill_batch is not None and rest:
        with torch.no_grad():
            teacher = model(distill_batch, subset)
        loss = loss + weight * average(
            distill_loss, teacher, model(distill_batch, rest), total=totals and totals[1]
        )
    return loss


class Objective(torch.nn.Module):
    """Eq. 8 as one module: DDP expects one forward per backward, and MASD's passes share the weights."""

    def __init__(self, model: Classifier):
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs) -> torch.Tensor:
        return masd_step_loss(self.model, *args, **kwargs)


def finetune(
    model: Classifier,
    clips: ClipSet,
    targets: torch.Tensor,
    kind: str,
    subset: str,
    split: tuple[np.ndarray, np.ndarray],
    spec: dict,
    distill: ClipSet | None = None,
    world: World = World(),
) -> tuple[dict, list[dict]]:
    """Train `model` in place; returns the best epoch's state dict and one row per epoch."""
    settings, batch_size, seed = spec["ft"], spec["batch_size"], spec["seed"]
    weight = spec["masd"]["distill_weight"] if distill is not None else 0.0
    train_idx, val_idx = split
    per_epoch = max(1, len(train_idx) // batch_size)
    total = settings["epochs"] * per_epoch
    warmup = round(settings["warmup_fraction"] * total)
    device = world.device()
    model.to(device)
    optimizer = adamw(model, settings["lr"], settings["weight_decay"])
    # A training set leaves parts unused (audio's tokenizer for M_T = V, say): DDP must look for them.
    engine = (
        DistributedDataParallel(Objective(model), find_unused_parameters=True)
        if world.active
        else Objective(model)
    )
    stream = SUBSETS.index(subset)
    rows, best = [], None
    for epoch in range(settings["epochs"]):
        generator = step_generator(seed, epoch, 10 + stream)
        order = train_idx[torch.randperm(len(train_idx), generator=generator).numpy()]
        # D_SD draws have their own stream, so ft and masd see the same task batches; M_T = M has no student.
        distill_generator = step_generator(seed, epoch, 20 + stream)
        use_distill = distill is not None and complement(subset) != "" and weight > 0
        distill_order = (
            torch.randperm(len(distill), generator=distill_generator).numpy() if use_distill else None
        )
        model.train()
        for i in tqdm(range(per_epoch), desc=f"{subset} epoch {epoch + 1}", unit="step", leave=False):
            step = epoch * per_epoch + i
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, total, settings["lr"], warmup)
            idx = order[i * batch_size : (i + 1) * batch_size]
            part = world.shard(len(idx), "study.batch_size")
            augment = clip_generators(seed, step, 30 + stream, range(part.start, part.stop))
            distill_batch = None
            if distill_order is not None:
                picks = np.resize(np.roll(distill_order, -i * batch_size), batch_size)
                distill_batch = to_device(
                    distill.batch(picks[world.shard(len(picks), "study.batch_size")], None, train=False),
                    device,
                )
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = engine(
                    to_device(clips.batch(idx[part], augment, train=True), device),
                    targets[idx[part]].to(device),
                    subset,
                    kind,
                    distill_batch,
                    weight,
                    (len(idx), batch_size) if world.active else None,
                )
            (loss * world.size).backward()
            optimizer.step()
        metric = task_metric(
            kind, predict(model, clips, val_idx, subset, batch_size).numpy(), targets[val_idx].numpy()
        )
        rows.append({"train_set": subset, "candidate": f"epochs={epoch + 1}", "val_metric": metric})
        if best is None or metric > best[0]:
            best = (
                metric,
                {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
                len(rows) - 1,
            )
    rows[best[2]]["selected"] = 1
    return best[1], rows


def train(job, subset: str) -> dict:
    """ft and masd's training set `subset` (downstream.methods): θ_lp fine-tuned, with the
    self-distillation when the job has D_SD (masd)."""
    model = lp_classifier(job.pretrained, job.models["lp"] / f"{subset}.pt")
    targets = job.cache["train"]["targets"]
    kind = job.cache["kind"]
    state, rows = finetune(
        model, job.clips, targets, kind, subset, job.split, job.spec, job.distill, job.world
    )
    return {"model_config": model.cfg.to_dict(), "state_dict": state, "selection": rows}
