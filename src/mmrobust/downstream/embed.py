"""Per-modality embeddings E_m of a split (eval transform, no gradients), computed once per model.

The 49 cells of the 7 x 7 matrix need only these three: E(x|M_E) is their mean (Eq. 7), so one
pass per modality serves every M_E, every M_T's head and every frozen-encoder method.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from ..distributed import compute_device, to_device
from ..features.clips import ClipSet
from ..models.vatt import MODALITIES

Embeddings = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]  # (E_m (N, d), has_m (N,) bool)


@torch.no_grad()
def split_embeddings(
    encoder: torch.nn.Module, clips: ClipSet, batch_size: int, desc: str = "embed"
) -> Embeddings:
    """On the GPU when there is one (the encoder is moved there); the embeddings come back on the CPU."""
    encoder.eval().to(compute_device())
    chunks: dict[str, list] = {m: [] for m in MODALITIES}
    has: dict[str, list] = {m: [] for m in MODALITIES}
    for first in tqdm(range(0, len(clips), batch_size), desc=desc, unit="batch"):
        batch = clips.batch(np.arange(first, min(first + batch_size, len(clips))), None, train=False)
        for m, z in encoder.embed(to_device(batch, compute_device()), MODALITIES).items():
            chunks[m].append(z.float().cpu())
            has[m].append(batch[f"has_{m}"])
    return {m: torch.cat(chunks[m]) for m in MODALITIES}, {m: torch.cat(has[m]) for m in MODALITIES}
