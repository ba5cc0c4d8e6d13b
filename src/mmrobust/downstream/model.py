"""The downstream model f_θ(x|m): pretrained encoders (VATT's, or AV-MAE's for objective mae), Eq. 7's
mean embedding, a linear head.

    E(x|m) = (1/|m'|) Σ_{m' in m present in x} E_m'(x|m')        logits = W E(x|m) + b

A clip lacking a modality of m (AudioSet clips without audio, say) averages the ones it has; with
none of them it gets the zero vector, so the head answers with its bias alone.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import MmrobustError
from ..evaluate.metrics import task_metric
from ..evaluate.robustness import Matrix
from ..modalities import SUBSETS, modalities
from ..models.build import from_dict
from ..models.checkpoint import load_model, read


def represent(embeddings: dict[str, torch.Tensor], has: dict[str, torch.Tensor], subset: str) -> torch.Tensor:
    """Eq. 7 over the modalities of `subset`; `embeddings` (N, d) and `has` (N,) bool per modality."""
    names = modalities(subset)
    total = sum(embeddings[m] * has[m][:, None] for m in names)
    count = sum(has[m].to(total.dtype) for m in names)
    return total / count.clamp(min=1)[:, None]


@torch.no_grad()
def column(
    head: torch.nn.Module, embeddings: dict, has: dict, targets: torch.Tensor, kind: str, train_set: str
) -> Matrix:
    """p(M_E, train_set) for the 7 M_E, from the eval split's per-modality embeddings (Eq. 7 per M_E)."""
    y = targets.numpy()
    return {
        (e, train_set): task_metric(kind, head(represent(embeddings, has, e)).numpy(), y) for e in SUBSETS
    }


class Classifier(nn.Module):
    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.embed_dim(), num_classes)
        self.cfg = encoder.cfg  # so that models.checkpoint.model_payload saves it

    def embed(self, batch: dict[str, torch.Tensor], subset: str) -> dict[str, torch.Tensor]:
        return self.encoder.embed(batch, modalities(subset))

    def forward(self, batch: dict[str, torch.Tensor], subset: str) -> torch.Tensor:
        """Logits of f(x|subset): only the modalities of `subset` are encoded."""
        has = {m: batch[f"has_{m}"] for m in modalities(subset)}
        return self.head(represent(self.embed(batch, subset), has, subset))


def load_classifier(path) -> tuple[Classifier, dict]:
    """(model, payload) of a fine-tuned checkpoint (ft, masd, wiseft)."""
    payload = read(path)
    if "classes" not in payload or "state_dict" not in payload:
        raise MmrobustError(f"{path}: classes / state_dict missing (not a fine-tuned mmrobust checkpoint)")
    model = Classifier(from_dict(payload["model_config"]), len(payload["classes"]))
    model.load_state_dict(payload["state_dict"])
    return model, payload


def lp_classifier(pretrained, head_path) -> Classifier:
    """θ_lp: the pretrained encoders and a linear probe's head (what ft, masd and wiseft start from)."""
    encoder, _ = load_model(pretrained)
    lp = read(head_path)
    model = Classifier(encoder, len(lp["classes"]))
    model.head.load_state_dict(lp["head"])
    return model
