"""Frame transforms applied when training or evaluating loads the stored frames (seed 003).

train: resize the short side to a random size in [lo, hi], then a random crop;
eval:  resize the short side to a fixed size, then a centre crop.
Frames are stored once at `stored_short_side`, so the training augmentation differs per epoch.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resize_short_side(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(T, C, H, W) float -> short side `size`, aspect kept, antialiased bilinear."""
    h, w = frames.shape[-2:]
    if min(h, w) == size:
        return frames  # stored at this size already (eval with stored_short_side == eval_short_side)
    scale = size / min(h, w)
    out = F.interpolate(frames, size=(max(size, round(h * scale)), max(size, round(w * scale))),
                        mode="bilinear", antialias=True, align_corners=False)
    return out.clamp_(0.0, 1.0)  # the antialiasing kernel overshoots by float rounding


def to_float(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float32 in [0, 1]."""
    frames = torch.as_tensor(frames)
    return frames.permute(0, 3, 1, 2).float().div_(255.0)


def eval_transform(frames: np.ndarray | torch.Tensor, short_side: int, crop: int) -> torch.Tensor:
    x = resize_short_side(to_float(frames), short_side)
    top, left = (x.shape[-2] - crop) // 2, (x.shape[-1] - crop) // 2
    return x[..., top:top + crop, left:left + crop]


def train_transform(frames: np.ndarray | torch.Tensor, short_side: tuple[int, int], crop: int,
                    generator: torch.Generator) -> torch.Tensor:
    size = int(torch.randint(short_side[0], short_side[1] + 1, (1,), generator=generator))
    x = resize_short_side(to_float(frames), size)
    top = int(torch.randint(0, x.shape[-2] - crop + 1, (1,), generator=generator))
    left = int(torch.randint(0, x.shape[-1] - crop + 1, (1,), generator=generator))
    return x[..., top:top + crop, left:left + crop]
