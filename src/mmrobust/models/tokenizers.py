"""Per-modality tokenizers, each with its own learned position encoding (modality-specific)."""

from __future__ import annotations

import torch
from torch import nn


class VideoTubelets(nn.Module):
    """(B, 3, T, H, W) -> (B, T'*H'*W', width): non-overlapping tubelets, factorised time x space
    positions."""

    def __init__(self, width: int, tubelet: list[int], num_frames: int, crop: int):
        super().__init__()
        t, h, w = tubelet
        if num_frames % t or crop % h or crop % w:
            raise ValueError(f"video input {num_frames}x{crop}x{crop} is not divisible by tubelet {tubelet}")
        self.proj = nn.Conv3d(3, width, kernel_size=tubelet, stride=tubelet)
        self.grid = (num_frames // t, crop // h, crop // w)
        self.pos_time = nn.Parameter(torch.zeros(self.grid[0], 1, width))
        self.pos_space = nn.Parameter(torch.zeros(1, self.grid[1] * self.grid[2], width))
        nn.init.trunc_normal_(self.pos_time, std=0.02)
        nn.init.trunc_normal_(self.pos_space, std=0.02)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        x = self.proj(video)  # (B, width, T', H', W')
        x = x.flatten(3).permute(0, 2, 3, 1)  # (B, T', H'W', width)
        x = x + self.pos_time + self.pos_space
        return x.flatten(1, 2)


class AudioPatches(nn.Module):
    """(B, 1, mels, frames) -> (B, F'*T', width): spectrogram patches (seed 003: 16x16), 2-D positions.
    Trailing frames that do not fill a patch are dropped."""

    def __init__(self, width: int, patch: list[int], n_mels: int, frames: int):
        super().__init__()
        if n_mels % patch[0]:
            raise ValueError(f"{n_mels} mel bins are not divisible by the audio patch height {patch[0]}")
        self.proj = nn.Conv2d(1, width, kernel_size=patch, stride=patch)
        self.frames = frames // patch[1] * patch[1]
        self.pos = nn.Parameter(torch.zeros(1, (n_mels // patch[0]) * (frames // patch[1]), width))
        nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = self.proj(audio[..., : self.frames]).flatten(2).transpose(1, 2)
        return x + self.pos


class TextTokens(nn.Module):
    """(B, L) BPE ids -> (B, L, width) and the padding mask (id 0 is padding). A table smaller than
    the BPE vocabulary hashes the ids into its rows (id mod rows)."""

    def __init__(self, width: int, vocab: int, length: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(torch.zeros(1, length, width))
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.trunc_normal_(self.pos, std=0.01)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embed(tokens % self.embed.num_embeddings) + self.pos[:, : tokens.shape[1]], tokens != 0
