"""Pairwise contrastive (seed 003, l.107): symmetric InfoNCE on every pair of modalities.

Seed 003 "closely follows VATT" and builds "a pairwise InfoNCE loss over all possible pairs of
input modalities". Each modality has its own encoder (`architecture: ms` in the experiments that
use it) and its own linear projection, without bias as CLIP's, into one joint space of `va_dim`
dimensions (512, CLIP ViT-B/16's):  z_m = normalise(W_m r_m),  m in video, audio, text.
Terms, each the symmetric NCE of losses.py (both directions averaged, temperature tau):
    va = NCE(z_v, z_a)      vt = NCE(z_v, z_t)      at = NCE(z_a, z_t)
A clip missing a modality drops out of exactly the pairs that need it (neither anchor nor
negative there). No parameter is shared across modalities in pretraining (with `ms`): the only
modality-shared parameters are the downstream linear head on the mean of the E_m = z_m.
With `init: {from: clip}`, CLIP's visual projection goes to the video and audio projections and
its text projection to the text one, where the shapes agree.

Realignment and the curriculum compare all three terms (K = 3). Each modality's path is reached by
the two pairs that hold it: the exact per-triplet gradients are over every parameter, the cheap
ones over (r_video, r_audio, r_text) concatenated, where the pairs meet two by two.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import nce_terms
from .base import Objective

PAIRS = {"va": ("video", "audio"), "vt": ("video", "text"), "at": ("audio", "text")}
MODALITIES = ("video", "audio", "text")


class Pairwise(Objective):
    name = "pairwise"
    terms = tuple(PAIRS)
    compare = tuple(PAIRS)
    embeddings = ("z_video", "z_audio", "z_text")
    representations = ("r_video", "r_audio", "r_text")

    def add_heads(self, model) -> None:
        for m in MODALITIES:
            setattr(model, f"head_{m}", nn.Linear(model.cfg.width, model.cfg.va_dim, bias=False))

    def heads(self, model, r: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {f"z_{m}": self.embed(model, r[m], m) for m in MODALITIES}

    def embed(self, model, r: torch.Tensor, modality: str) -> torch.Tensor:
        return F.normalize(getattr(model, f"head_{modality}")(r), dim=-1)

    def embed_dim(self, cfg) -> int:
        return cfg.va_dim

    def shared_prefixes(self, cfg) -> tuple[str, ...]:
        return ("",)  # every parameter

    def clip_targets(self, model, clip: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        if "visual.proj" in clip:  # CLIP computes x @ proj: our weight is its transpose
            out["head_video.weight"] = out["head_audio.weight"] = clip["visual.proj"].T
        if "text_projection" in clip:
            out["head_text.weight"] = clip["text_projection"].T
        return out

    def validity(self, flags: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {t: flags[f"has_{a}"] & flags[f"has_{b}"] for t, (a, b) in PAIRS.items()}

    def loss_terms(
        self, out: dict[str, torch.Tensor], valid: dict[str, torch.Tensor], own: bool = False
    ) -> dict[str, torch.Tensor]:
        return {
            t: nce_terms(out[f"z_{a}"], out[f"z_{b}"], valid[t], self.tau, own) for t, (a, b) in PAIRS.items()
        }


OBJECTIVE = Pairwise
