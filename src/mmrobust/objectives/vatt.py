"""VATT (Akbari et al. 2021; seeds 000/001): NCE video-audio + MIL-NCE video-text.

Heads (our reading of VATT):
    z_v,va = g_v->va(r_v)          z_a,va = g_a->va(r_a)          (video-audio space, va_dim)
    z_v,vt = g_va->vt(z_v,va)      z_t,vt = g_t->vt(r_t)          (video-text space, vt_dim)
g_va->vt is a two-layer ReLU MLP, the others linear; the losses see the L2-normalised z.
Terms: va = symmetric NCE(z_v,va, z_a,va), vt = MIL-NCE(z_v,vt, z_t,vt) (losses.py). Both reach
the video path, so realignment and the curriculum compare (va, vt) and the cheap per-triplet
gradients live at r_video, where they meet in either architecture. The downstream embeddings live
in the video-text space, the one space all three modalities reach (audio through g_a->va, whose
output is trained into z_v,va's space, then g_va->vt).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import mil_nce_terms, nce_terms
from .base import Objective


class VATT(Objective):
    name = "vatt"
    terms = ("va", "vt")
    compare = ("va", "vt")
    embeddings = ("v_va", "a_va", "v_vt", "t_vt")
    representations = ("r_video",)

    def add_heads(self, model) -> None:
        cfg = model.cfg
        model.head_v_va = nn.Linear(cfg.width, cfg.va_dim)
        model.head_a_va = nn.Linear(cfg.width, cfg.va_dim)
        model.head_va_vt = nn.Sequential(
            nn.Linear(cfg.va_dim, cfg.va_dim), nn.ReLU(), nn.Linear(cfg.va_dim, cfg.vt_dim)
        )
        model.head_t_vt = nn.Linear(cfg.width, cfg.vt_dim)

    def heads(self, model, r: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        v_va = model.head_v_va(r["video"])
        return {
            "v_va": F.normalize(v_va, dim=-1),
            "a_va": F.normalize(model.head_a_va(r["audio"]), dim=-1),
            "v_vt": F.normalize(model.head_va_vt(v_va), dim=-1),
            "t_vt": F.normalize(model.head_t_vt(r["text"]), dim=-1),
        }

    def embed(self, model, r: torch.Tensor, modality: str) -> torch.Tensor:
        if modality == "text":
            z = model.head_t_vt(r)
        else:
            z = model.head_va_vt((model.head_v_va if modality == "video" else model.head_a_va)(r))
        return F.normalize(z, dim=-1)

    def embed_dim(self, cfg) -> int:
        return cfg.vt_dim

    def shared_prefixes(self, cfg) -> tuple[str, ...]:
        """Both losses reach the video path up to z_v,va, plus, in `ma`, the shared backbone."""
        return (
            "video.",
            "agg.video",
            "head_v_va.",
            "backbone." if cfg.architecture == "ma" else "encoders.video.",
        )

    def validity(self, flags: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"va": flags["has_video"] & flags["has_audio"], "vt": flags["has_video"] & flags["has_text"]}

    def loss_terms(
        self, out: dict[str, torch.Tensor], valid: dict[str, torch.Tensor], own: bool = False
    ) -> dict[str, torch.Tensor]:
        return {
            "va": nce_terms(out["v_va"], out["a_va"], valid["va"], self.tau, own),
            "vt": mil_nce_terms(out["v_vt"], out["t_vt"], valid["vt"], None, self.tau, own),
        }


OBJECTIVE = VATT
