"""The interface every pretraining objective implements.

The model class: `model`, "vatt" (VATT's encoders, models/vatt.py, with the objective's heads) by
default; "avmae" for mae, whose model (models/avmae.py) owns its masking, decoder and per-clip
terms, and so uses none of the model-side methods below (models/build.py chooses the class).

Model side (the model calls these while it is built and run; `model.cfg` is its ModelConfig):
    add_heads(model)            registers the objective's heads on the model, in a fixed order
    heads(model, r)             {output name: tensor} from the representations r[modality] (B, width)
    embed(model, r, modality)   the per-modality embedding E_m of the downstream study (Eq. 7 of
                                seed 003), L2-normalised
    embed_dim(cfg)              its width (the downstream linear head's input)
    shared_prefixes(cfg)        parameter-name prefixes of the parameters that at least two compared
                                terms reach: where the exact (`parameters`) per-triplet gradients live
    clip_targets(model, clip)   extra CLIP tensors for `init: {from: clip}` (our key -> tensor)

Loss side (an instance carries the weights, one per term, and the temperature):
    terms                       the named per-clip loss terms, in the curves' order
    compare                     the K >= 2 terms that realignment and the curriculum compare; empty
                                when there is nothing to compare (mae: the config refuses realignment
                                and the curriculum, the step computes no per-triplet gradients)
    embeddings                  the model outputs the loss reads (gathered across processes)
    representations             the model outputs where the compared terms meet: the space of the
                                cheap (`representation`) per-triplet gradients, concatenated
    validity(flags)             {term: (B,) bool}: the clips a term exists for (has_video, ...)
    loss_terms(out, valid, own) {term: (B,) per-clip l_i}, zero where invalid; `own=True` holds
                                other clips' embeddings constant (losses.py, "a triplet's gradient")

The batch loss is L = sum_t w_t * mean over valid clips of l_t (train/step.py).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ..losses import TEMPERATURE

DEFAULT = "vatt"


class Objective:
    name: ClassVar[str]
    model: ClassVar[str] = "vatt"
    terms: ClassVar[tuple[str, ...]]
    compare: ClassVar[tuple[str, ...]]
    embeddings: ClassVar[tuple[str, ...]]
    representations: ClassVar[tuple[str, ...]]

    def __init__(self, weights: dict | None = None, temperature: float = TEMPERATURE):
        if weights is None:
            weights = {t: 1.0 for t in self.terms}
        missing = [t for t in self.terms if t not in weights]
        unknown = [t for t in weights if t not in self.terms]
        if missing or unknown:
            raise ValueError(
                f"objective {self.name}: loss_weights needs exactly the terms {', '.join(self.terms)} "
                f"(missing: {missing}, unknown: {unknown})"
            )
        self.weights = {t: weights[t] for t in self.terms}
        self.tau = temperature

    # model side
    def add_heads(self, model) -> None:
        raise NotImplementedError

    def heads(self, model, r: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def embed(self, model, r: torch.Tensor, modality: str) -> torch.Tensor:
        raise NotImplementedError

    def embed_dim(self, cfg) -> int:
        raise NotImplementedError

    def shared_prefixes(self, cfg) -> tuple[str, ...]:
        raise NotImplementedError

    def clip_targets(self, model, clip: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {}

    # loss side
    def validity(self, flags: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def loss_terms(
        self, out: dict[str, torch.Tensor], valid: dict[str, torch.Tensor], own: bool = False
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError
