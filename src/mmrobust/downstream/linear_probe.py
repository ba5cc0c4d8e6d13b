"""`lp`: a linear head on E(x|M_T) (Eq. 7) of frozen encoders, trained on the cached embeddings.

Full-batch AdamW from a zero head for `steps` steps, for each weight decay of the grid; the one with
the best validation metric (M_E = M_T: the modalities known at training time) is kept.
"""

from __future__ import annotations

import torch
from torch import nn

from ..evaluate.metrics import task_metric
from .model import represent
from .objectives import task_loss


def train_head(
    x: torch.Tensor, y: torch.Tensor, kind: str, num_classes: int, steps: int, lr: float, weight_decay: float
) -> nn.Linear:
    head = nn.Linear(x.shape[1], num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        task_loss(head(x), y, kind).backward()
        optimizer.step()
    return head


def fit(cache: dict, subset: str, train_idx, val_idx, settings: dict) -> tuple[nn.Linear, list[dict]]:
    """The selected head for training set `subset` and one row per grid point (validation metric)."""
    split = cache["train"]
    x = represent(split["embeddings"], split["has"], subset)
    y, kind, classes = split["targets"], cache["kind"], len(cache["classes"])
    rows, best = [], None
    for wd in settings["weight_decay"]:
        head = train_head(x[train_idx], y[train_idx], kind, classes, settings["steps"], settings["lr"], wd)
        with torch.no_grad():
            metric = task_metric(kind, head(x[val_idx]).numpy(), y[val_idx].numpy())
        rows.append({"train_set": subset, "candidate": f"weight_decay={wd:g}", "val_metric": metric})
        if best is None or metric > best[0]:
            best = (metric, head, len(rows) - 1)
    rows[best[2]]["selected"] = 1
    return best[1], rows


def train(job, subset: str) -> dict:
    """The method's training set `subset` (downstream.methods): the selected head on the cached embeddings."""
    head, rows = fit(job.cache, subset, job.split[0], job.split[1], job.spec["lp"])
    return {"head": head.state_dict(), "selection": rows}
