"""Masked reconstruction (seed 003's second objective): AV-MAE (Gong et al. 2022), extended to text.

The model is not VATT's encoders with heads but AV-MAE's encoder-decoder (models/avmae.py,
`model = "avmae"`): it owns its masking, decoder and reconstruction losses, and its forward
returns one term per clip and modality (`mae_video`, `mae_audio`, `mae_text`: the mean squared
error of the normalised hidden patches; the cross-entropy of the hidden caption tokens).
Terms: video, audio, text; L = sum_m w_m * mean over the clips having modality m (CAV-MAE sums the
modalities' means). The terms are per clip (no negatives): data parallel gathers them only so
that every process logs the global batch's loss; each backward reaches its own clips.

Nothing is compared (`compare` is empty): realignment and the curriculum are defined on the
contrastive terms (seed 001) and the config refuses them with mae (the schema's mae block). The
downstream embeddings E_m are AV-MAE's unmasked single-modality outputs, `width` wide.
"""

from __future__ import annotations

import torch

from .base import Objective

MODALITIES = ("video", "audio", "text")


class MAE(Objective):
    name = "mae"
    model = "avmae"
    terms = MODALITIES
    compare = ()
    embeddings = tuple(f"mae_{m}" for m in MODALITIES)  # the per-clip terms, gathered across processes
    representations = ()

    def add_heads(self, model) -> None:
        raise ValueError("objective mae trains AV-MAE (models/avmae.py), not heads on VATT's encoders")

    def embed_dim(self, cfg) -> int:
        return cfg.width

    def shared_prefixes(self, cfg) -> tuple[str, ...]:
        return ()

    def validity(self, flags: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # AVMAE.terms also drops a term when the clip hides none of the modality's tokens (a one-token
        # caption; a mask ratio too small for the token count): its zero term would still count in
        # the mean here. CLIP's start and end tokens make every caption 2 tokens or more.
        return {m: flags[f"has_{m}"] for m in MODALITIES}

    def loss_terms(
        self, out: dict[str, torch.Tensor], valid: dict[str, torch.Tensor], own: bool = False
    ) -> dict[str, torch.Tensor]:
        return {m: out[f"mae_{m}"] for m in MODALITIES}  # zero where invalid (AVMAE.terms)


OBJECTIVE = MAE
