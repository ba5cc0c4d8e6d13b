"""AdamW with the usual decay groups; learning rate: linear warm-up, then cosine decay to min_lr (per
step)."""

from __future__ import annotations

import math

import torch


def learning_rate(step: int, total: int, base: float, warmup: int, min_lr: float = 0.0) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def decayed(name: str, param: torch.Tensor) -> bool:
    """Weight decay on matrices only: not on biases, norms, position encodings or [AGG] tokens."""
    return param.ndim >= 2 and "pos" not in name and "agg" not in name


def adamw(model: torch.nn.Module, lr: float, weight_decay: float, betas=(0.9, 0.999)) -> torch.optim.AdamW:
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if decayed(n, p)], "weight_decay": weight_decay},
        {"params": [p for n, p in named if not decayed(n, p)], "weight_decay": 0.0},
    ]
    fused = all(p.is_cuda for _, p in named)  # one kernel for the whole update on GPUs
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), fused=fused or None)
