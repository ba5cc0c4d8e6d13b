"""Per-modality embeddings E_m of a split (eval transform, no gradients), computed once per model.

The 49 cells of the 7 x 7 matrix need only these three: E(x|M_E) is their mean (Eq. 7), so one
pass per modality serves every M_E, every M_T's head and every frozen-encoder method.

An evaluation encodes the same split with many models (7 per method, 35 for wiseft's α sweep):
`SplitEncoder` stacks the split's batches once and encodes it once per distinct encoder, keyed on
the bytes of the encoder's state (the wiseft models at α = 0 all hold the pretrained encoders).
Reusing the embeddings of equal weights on equal inputs gives the bytes the pass would.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np
import torch
from tqdm import tqdm

from ..distributed import compute_device, to_device
from ..features.clips import ClipSet
from ..models.vatt import MODALITIES

Embeddings = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]  # (E_m (N, d), has_m (N,) bool)


def eval_batches(clips: ClipSet, batch_size: int) -> Iterable[dict[str, torch.Tensor]]:
    """The split in order, `batch_size` clips a batch, with the eval transform."""
    for first in range(0, len(clips), batch_size):
        yield clips.batch(np.arange(first, min(first + batch_size, len(clips))), None, train=False)


@torch.no_grad()
def split_embeddings(
    encoder: torch.nn.Module,
    clips: ClipSet,
    batch_size: int,
    desc: str = "embed",
    batches: Iterable[dict[str, torch.Tensor]] | None = None,
) -> Embeddings:
    """On the GPU when there is one (the encoder is moved there); the embeddings come back on the CPU.
    `batches`: those of `eval_batches(clips, batch_size)`, when the caller keeps them."""
    encoder.eval().to(compute_device())
    chunks: dict[str, list] = {m: [] for m in MODALITIES}
    has: dict[str, list] = {m: [] for m in MODALITIES}
    total = -(-len(clips) // batch_size)
    for batch in tqdm(batches or eval_batches(clips, batch_size), desc=desc, unit="batch", total=total):
        for m, z in encoder.embed(to_device(batch, compute_device()), MODALITIES).items():
            chunks[m].append(z.float().cpu())
            has[m].append(batch[f"has_{m}"])
    return {m: torch.cat(chunks[m]) for m in MODALITIES}, {m: torch.cat(has[m]) for m in MODALITIES}


def state_key(module: torch.nn.Module) -> str:
    """A digest of every entry of the state dict: names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name, value in module.state_dict().items():
        value = value.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


class SplitEncoder:
    """split_embeddings of one split for many encoders: the batches are made once, and an encoder whose
    state equals one seen before reuses its embeddings."""

    def __init__(self, clips: ClipSet, batch_size: int):
        self.clips, self.batch_size = clips, batch_size
        self._batches: list[dict[str, torch.Tensor]] | None = None
        self._done: dict[str, Embeddings] = {}

    def __call__(self, encoder: torch.nn.Module, desc: str = "embed") -> Embeddings:
        key = state_key(encoder)
        if key not in self._done:
            if self._batches is None:
                self._batches = list(eval_batches(self.clips, self.batch_size))
            self._done[key] = split_embeddings(encoder, self.clips, self.batch_size, desc, self._batches)
        return self._done[key]
