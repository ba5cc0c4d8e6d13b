"""VATT's encoders (Akbari et al. 2021) on ViT blocks, with the heads of a pretraining objective.

Each modality is tokenized with its own position encoding and prefixed with a learned [AGG]
token whose output is the modality's representation r. `ms` runs one transformer per modality;
`ma` runs one modality-agnostic transformer for all three (VATT-MA), so the video-audio and
video-text losses meet in the same parameters. The heads, the outputs they add and the
downstream embeddings are the objective's (`cfg.objective`, src/mmrobust/objectives/; VATT's
heads: objectives/vatt.py). DropToken keeps a random (1 - drop_token) of the video and audio
tokens in training. The blocks are timm's, written out in block.py (no timm import).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features.audio import AUDIO_MEAN, AUDIO_STD
from ..objectives import objective_class
from .block import Block
from .config import ModelConfig
from .tokenizers import AudioPatches, TextTokens, VideoTubelets

MODALITIES = ("video", "audio", "text")
# Input normalisation lives in the model, so a checkpoint is usable on its own.
VIDEO_MEAN = (0.48145466, 0.4578275, 0.40821073)  # CLIP's, for CLIP initialisation
VIDEO_STD = (0.26862954, 0.26130258, 0.27577711)


class Encoder(nn.Module):
    """[AGG] + tokens through ViT blocks; returns the normalised [AGG] output."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.blocks = nn.ModuleList(
            [Block(cfg.width, cfg.heads, cfg.mlp_ratio, qkv_bias=True) for _ in range(cfg.depth)]
        )
        self.norm = nn.LayerNorm(cfg.width)

    def forward(
        self, tokens: torch.Tensor, agg: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = torch.cat([agg.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        mask = None
        if valid is not None:  # keys that may be attended to: [AGG] and the non-padding tokens
            keys = torch.cat([torch.ones_like(valid[:, :1]), valid], dim=1)
            mask = keys[:, None, None, :]
        for block in self.blocks:
            x = block(x, attn_mask=mask)
        return self.norm(x[:, 0])


class VATT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.architecture not in ("ms", "ma"):
            raise ValueError(f"architecture must be 'ms' or 'ma', not {cfg.architecture!r}")
        self.cfg = cfg
        self.video = VideoTubelets(cfg.width, cfg.tubelet, cfg.num_frames, cfg.crop_size)
        self.audio = AudioPatches(cfg.width, cfg.audio_patch, cfg.n_mels, cfg.audio_frames)
        self.text = TextTokens(cfg.width, cfg.vocab_size, cfg.context_length)
        self.agg = nn.ParameterDict({m: nn.Parameter(torch.zeros(1, 1, cfg.width)) for m in MODALITIES})
        if cfg.architecture == "ma":
            self.backbone = Encoder(cfg)
        else:
            self.encoders = nn.ModuleDict({m: Encoder(cfg) for m in MODALITIES})
        self.objective = objective_class(cfg.objective)()  # its heads and outputs; not a module
        self.objective.add_heads(self)
        self.register_buffer("video_mean", torch.tensor(VIDEO_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("video_std", torch.tensor(VIDEO_STD).view(1, 3, 1, 1, 1), persistent=False)
        for p in self.agg.values():
            nn.init.trunc_normal_(p, std=0.02)

    def encoder(self, modality: str) -> Encoder:
        return self.backbone if self.cfg.architecture == "ma" else self.encoders[modality]

    def shared_parameter_names(self) -> list[str]:
        """Parameters that at least two of the objective's compared terms reach (vatt: the video path
        up to z_v,va, plus, in `ma`, the shared backbone)."""
        prefixes = tuple(self.objective.shared_prefixes(self.cfg))
        return [n for n, _ in self.named_parameters() if n.startswith(prefixes)]

    def token_counts(self) -> dict[str, int]:
        return {
            "video": self.video.pos_time.shape[0] * self.video.pos_space.shape[1],
            "audio": self.audio.pos.shape[1],
        }

    def sample_keep(self, generators: Sequence[torch.Generator]) -> dict[str, torch.Tensor] | None:
        """DropToken: sorted indices of the video and audio tokens each sample keeps (one generator per
        sample)."""
        return sample_keep(self.token_counts(), self.cfg.drop_token, generators)

    def encode_modality(
        self, batch: dict[str, torch.Tensor], modality: str, keep: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Representation r_<modality> (B, width): each modality passes through the encoder alone."""
        valid = None
        if modality == "video":
            tokens = self.video((batch["video"] - self.video_mean) / self.video_std)
        elif modality == "audio":
            tokens = self.audio((batch["audio"] - AUDIO_MEAN) / AUDIO_STD)
        else:
            tokens, valid = self.text(batch["text"])
        if keep is not None and modality in keep:
            idx = keep[modality]
            tokens = torch.gather(tokens, 1, idx[..., None].expand(-1, -1, tokens.shape[-1]))
        return self.encoder(modality)(tokens, self.agg[modality], valid)

    def encode(
        self, batch: dict[str, torch.Tensor], keep: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Representations r_video, r_audio, r_text (B, width) of a batch of video/audio/text tensors."""
        return {m: self.encode_modality(batch, m, keep) for m in MODALITIES}

    def embed(self, batch: dict[str, torch.Tensor], modalities) -> dict[str, torch.Tensor]:
        """The per-modality embeddings E_m of seed 003's Eq. 7 (the objective's, L2-normalised; vatt:
        VATT's video-text space, the one space all three reach)."""
        return {m: self.objective.embed(self, self.encode_modality(batch, m), m) for m in modalities}

    def embed_dim(self) -> int:
        """Width of the embeddings E_m (vatt: vt_dim; pairwise: va_dim)."""
        return self.objective.embed_dim(self.cfg)

    def forward(
        self, batch: dict[str, torch.Tensor], keep: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """r_video, r_audio, r_text and the objective's head outputs."""
        r = self.encode(batch, keep)
        return {**{f"r_{m}": r[m] for m in MODALITIES}, **self.objective.heads(self, r)}


def sample_keep(
    token_counts: dict[str, int], drop_token: float, generators: Sequence[torch.Generator]
) -> dict[str, torch.Tensor] | None:
    """DropToken's draw without the model, so that data-loading workers can make it."""
    if drop_token <= 0:
        return None
    keep = {}
    for modality, count in token_counts.items():
        k = max(1, round(count * (1 - drop_token)))
        order = torch.stack([torch.randperm(count, generator=g) for g in generators])
        keep[modality] = order[:, :k].sort(dim=1).values
    return keep


def create_model(cfg: ModelConfig) -> VATT:
    return VATT(cfg)
