"""Independent torch generators keyed by (seed, step, stream, ...): every random draw of training
(batch sampling, augmentation, DropToken, fine-tuning batches) is a function of its key alone."""

from __future__ import annotations

import numpy as np
import torch


def step_generator(seed: int, step: int, stream: int = 0, *more: int) -> torch.Generator:
    """An independent generator for (seed, step, stream, *more)."""
    state = np.random.SeedSequence([seed, step, stream, *more]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def clip_generators(seed: int, step: int, stream: int, positions: range) -> list[torch.Generator]:
    """One generator per position of a batch: a clip's augmentation does not depend on who else is drawn."""
    return [step_generator(seed, step, stream, p) for p in positions]
