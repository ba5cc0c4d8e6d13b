"""The pre-norm ViT block VATT's encoders stack: timm's `vision_transformer.Block` as the models build
it (qkv bias, no qk-norm, layer scale, drop path or dropout; fused attention, LayerNorm eps 1e-6,
exact GELU), written out so that a job does not import timm: its package import pulls in
torchvision and torch._dynamo, ~1.5 s of every evaluate and embed job's ~4 s.

The same submodules in the same order (the same state-dict names, so timm-built checkpoints load,
and the same random draws at initialisation) and the same operations: outputs and gradients equal
timm's bit for bit (tests/test_models.py compares them when timm is installed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.LayerNorm):
    """timm's LayerNorm without its fast-norm option: eps 1e-6."""

    def __init__(self, width: int):
        super().__init__(width, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, qkv_bias: bool):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not a multiple of heads {heads}")
        self.num_heads, self.head_dim = heads, width // heads
        self.qkv = nn.Linear(width, width * 3, bias=qkv_bias)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=0.0, is_causal=False)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """x + attn(norm1(x)), then + mlp(norm2(x)); `attn_mask` as scaled_dot_product_attention takes it."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = False):
        super().__init__()
        self.norm1 = LayerNorm(width)
        self.attn = Attention(width, heads, qkv_bias)
        self.norm2 = LayerNorm(width)
        self.mlp = Mlp(width, int(width * mlp_ratio))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), attn_mask=attn_mask)
        return x + self.mlp(self.norm2(x))
