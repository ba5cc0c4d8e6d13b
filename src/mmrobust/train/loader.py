"""Pretraining batches through a DataLoader: the curriculum's sampler decides the global batch of a
step, each process augments its own slice of it (in worker processes, into pinned memory on GPU).

Every draw is keyed by (seed, step, position in the global batch), so the batches do not depend on
the number of processes or workers, and a resumed run starts at its step with the same batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..curriculum import batch_indices
from ..distributed import World
from ..features.clips import ClipSet
from ..seeding import clip_generators

AUGMENT_STREAM = 2  # stream 1 draws the batch (curriculum.batch_indices)
# AV-MAE's masks (objective mae): a stream of their own, so that a clip's mask depends neither on
# the other clips of the batch nor on its augmentation (whose draws depend on which modalities it has).
MASK_STREAM = 3


@dataclass(frozen=True)
class CurriculumSampler:
    """Step -> the global batch's clip indices: the whole split, or the curriculum's growing pool of
    the cleanest triplets; `for_rank` is the distributed part, a contiguous slice per process."""

    seed: int
    total: int
    n: int
    batch_size: int
    order: np.ndarray | None = None
    start_fraction: float = 1.0
    full_at: float = 1.0

    def indices(self, step: int) -> np.ndarray:
        return batch_indices(
            step,
            self.total,
            self.n,
            self.batch_size,
            self.seed,
            self.order,
            self.start_fraction,
            self.full_at,
        )

    def for_rank(self, step: int, world: World) -> tuple[np.ndarray, range]:
        idx = self.indices(step)
        part = world.shard(len(idx), "pretrain.batch_size")
        return idx[part], range(part.start, part.stop)


class StepBatches(Dataset):
    """Item i = (batch, DropToken keep or AV-MAE's masks) of step first + i for this process.

    `keep(generators)` draws DropToken with the clips' augmentation generators (after augmentation);
    `masks(batch, generators)` draws AV-MAE's masks with generators of MASK_STREAM."""

    def __init__(
        self,
        clips: ClipSet,
        sampler: CurriculumSampler,
        world: World,
        first: int,
        keep: Callable[[list[torch.Generator]], dict | None] | None = None,
        masks: Callable[[dict, list[torch.Generator]], dict] | None = None,
    ):
        self.clips, self.sampler, self.world, self.first, self.keep = clips, sampler, world, first, keep
        self.masks = masks

    def __len__(self) -> int:
        return self.sampler.total - self.first

    def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
        step = self.first + i
        idx, positions = self.sampler.for_rank(step, self.world)
        generators = clip_generators(self.sampler.seed, step, AUGMENT_STREAM, positions)
        batch = self.clips.batch(idx, generators, train=True)
        if self.masks is not None:
            return batch, self.masks(batch, clip_generators(self.sampler.seed, step, MASK_STREAM, positions))
        return batch, (None if self.keep is None else self.keep(generators))


def step_loader(batches: StepBatches, workers: int, pin: bool) -> DataLoader:
    """In order, one item per step; `workers` = 0 prepares the batches in this process."""
    return DataLoader(
        batches,
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin,
        prefetch_factor=4 if workers else None,
    )
