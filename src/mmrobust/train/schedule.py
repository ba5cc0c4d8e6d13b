"""Learning rate: linear warm-up, then cosine decay to min_lr (per step)."""
from __future__ import annotations

import math


def learning_rate(step: int, total: int, base: float, warmup: int, min_lr: float = 0.0) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
