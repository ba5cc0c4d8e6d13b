"""`ft` and `masd`: the encoders unfrozen, starting from the linear probe's head (LP-FT).

One step on a task batch restricted to M_T, plus for `masd` (Eq. 8) a batch of D_SD:
    L = L_task(f(x|M_T), y) + λ L_sd(teacher = f(x'|M_T) without gradient, student = f(x'|M \\ M_T))
Teacher and student are the same weights and see the same clip x' of D_SD (its eval view: the
distillation asks for agreement across modalities, not across augmentations). For M_T = M the
complement is empty and the step is the task loss alone. The epoch with the best validation metric
(M_E = M_T) is kept; every random draw comes from (seed, training set, epoch).
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
from tqdm import tqdm

from ..curriculum import step_generator
from ..evaluate.metrics import task_metric
from ..modalities import SUBSETS, complement
from ..train.data import ClipSet
from ..train.schedule import adamw, learning_rate
from .model import Classifier
from .objectives import distill_loss, task_loss


@torch.no_grad()
def predict(model: Classifier, clips: ClipSet, idx: np.ndarray, subset: str, batch_size: int) -> torch.Tensor:
    model.eval()
    out = [model(clips.batch(idx[i:i + batch_size], None, train=False), subset) for i in range(0, len(idx), batch_size)]
    return torch.cat(out)


def masd_step_loss(model: Classifier, batch: dict, y: torch.Tensor, subset: str, kind: str,
                   distill_batch: dict | None, weight: float) -> torch.Tensor:
    """Eq. 8 on one task batch and one D_SD batch (None: the task loss alone, as in `ft`)."""
    loss = task_loss(model(batch, subset), y, kind)
    rest = complement(subset)
    if distill_batch is not None and rest:
        with torch.no_grad():
            teacher = model(distill_batch, subset)
        loss = loss + weight * distill_loss(teacher, model(distill_batch, rest), kind)
    return loss


def finetune(model: Classifier, clips: ClipSet, targets: torch.Tensor, kind: str, subset: str,
             split: tuple[np.ndarray, np.ndarray], spec: dict, distill: ClipSet | None = None) -> tuple[dict, list[dict]]:
    """Train `model` in place; returns the best epoch's state dict and one row per epoch."""
    settings, batch_size, seed = spec["ft"], spec["batch_size"], spec["seed"]
    weight = spec["masd"]["distill_weight"] if distill is not None else 0.0
    train_idx, val_idx = split
    per_epoch = math.ceil(len(train_idx) / batch_size)
    total = settings["epochs"] * per_epoch
    warmup = round(settings["warmup_fraction"] * total)
    optimizer = adamw(model, settings["lr"], settings["weight_decay"])
    stream = SUBSETS.index(subset)
    rows, best = [], None
    for epoch in range(settings["epochs"]):
        generator = step_generator(seed, epoch, 10 + stream)
        order = train_idx[torch.randperm(len(train_idx), generator=generator).numpy()]
        # D_SD draws have their own stream, so ft and masd see the same task batches; M_T = M has no student.
        distill_generator = step_generator(seed, epoch, 20 + stream)
        use_distill = distill is not None and complement(subset) != "" and weight > 0
        distill_order = torch.randperm(len(distill), generator=distill_generator).numpy() if use_distill else None
        model.train()
        for i in tqdm(range(per_epoch), desc=f"{subset} epoch {epoch + 1}", unit="step", leave=False):
            step = epoch * per_epoch + i
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, total, settings["lr"], warmup)
            idx = order[i * batch_size:(i + 1) * batch_size]
            distill_batch = None
            if distill_order is not None:
                picks = np.resize(np.roll(distill_order, -i * batch_size), batch_size)
                distill_batch = distill.batch(picks, None, train=False)
            optimizer.zero_grad(set_to_none=True)
            masd_step_loss(model, clips.batch(idx, generator, train=True), targets[idx], subset, kind,
                           distill_batch, weight).backward()
            optimizer.step()
        metric = task_metric(kind, predict(model, clips, val_idx, subset, batch_size).numpy(), targets[val_idx].numpy())
        rows.append({"train_set": subset, "candidate": f"epochs={epoch + 1}", "val_metric": metric})
        if best is None or metric > best[0]:
            best = (metric, copy.deepcopy(model.state_dict()), len(rows) - 1)
    rows[best[2]]["selected"] = 1
    return best[1], rows
