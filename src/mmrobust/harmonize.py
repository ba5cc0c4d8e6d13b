"""Cross-modality gradient realignment (seed 001, technique i), row-wise on per-triplet gradients.

g1 = g_va, g2 = g_vt: the gradients of one triplet's video-audio and video-text terms (see
losses.py for what a triplet's gradient is). Both variants use the other gradient's original value.

  pcgrad   (Yu et al. 2020)   if g1.g2 < 0:  g1 <- g1 - (g1.g2 / |g2|^2) g2,   g2 <- g2 - (g1.g2 / |g1|^2) g1
           afterwards g1'.g2' = -g1.g2 (1 - cos^2) >= 0: the conflict is gone.
  gradvac  (Wang et al. 2021) phi = cos(g1, g2); target phi_hat <- (1 - beta) phi_hat + beta mean(phi)
           if phi < phi_hat:  g1 <- g1 + |g1| (phi_hat sqrt(1 - phi^2) - phi sqrt(1 - phi_hat^2))
                                         / (|g2| sqrt(1 - phi_hat^2)) g2      (and g2 symmetrically)
  none     plain VATT: gradients unchanged (their cosine is still measured).

The update is the plain batch gradient plus, per triplet, (g1' - g1) + (g2' - g2): with no
conflict it is exactly VATT's. Which space g lives in (the shared parameters, exactly, or the
shared video representation, cheaply) is the caller's choice: see train/step.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

METHODS = ("none", "pcgrad", "gradvac")
_EPS = 1e-12


def cosine(g1: torch.Tensor, g2: torch.Tensor) -> torch.Tensor:
    return (g1 * g2).sum(-1) / (g1.norm(dim=-1) * g2.norm(dim=-1)).clamp_min(_EPS)


def pcgrad(g1: torch.Tensor, g2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dot = (g1 * g2).sum(-1, keepdim=True)
    conflict = dot < 0
    new1 = g1 - dot / (g2 * g2).sum(-1, keepdim=True).clamp_min(_EPS) * g2
    new2 = g2 - dot / (g1 * g1).sum(-1, keepdim=True).clamp_min(_EPS) * g1
    return torch.where(conflict, new1, g1), torch.where(conflict, new2, g2)


def gradvac(g1: torch.Tensor, g2: torch.Tensor, target: float) -> tuple[torch.Tensor, torch.Tensor]:
    phi = cosine(g1, g2)[:, None].clamp(-1.0, 1.0)
    hat = torch.full_like(phi, target).clamp(-0.999999, 0.999999)
    n1, n2 = g1.norm(dim=-1, keepdim=True), g2.norm(dim=-1, keepdim=True)
    gain = hat * torch.sqrt(1 - phi**2) - phi * torch.sqrt(1 - hat**2)
    denom = torch.sqrt(1 - hat**2)
    new1 = g1 + n1 * gain / (n2 * denom).clamp_min(_EPS) * g2
    new2 = g2 + n2 * gain / (n1 * denom).clamp_min(_EPS) * g1
    below = phi < hat
    return torch.where(below, new1, g1), torch.where(below, new2, g2)


@dataclass
class Harmonizer:
    """Applies one method to a batch of triplet gradient pairs; keeps GradVac's target across steps."""

    method: str = "none"
    beta: float = 0.01
    target: float = 0.0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"harmonization method must be one of {METHODS}, not {self.method!r}")

    def __call__(self, g1: torch.Tensor, g2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """Realign rows of (N, P) pairs; returns new pairs and the step's statistics."""
        before = cosine(g1, g2)
        if self.method == "pcgrad":
            g1, g2 = pcgrad(g1, g2)
        elif self.method == "gradvac":
            g1, g2 = gradvac(g1, g2, self.target)
            if len(before):
                self.target = (1 - self.beta) * self.target + self.beta * float(before.mean())
        after = cosine(g1, g2)
        stats = {"cos_before": float(before.mean()) if len(before) else float("nan"),
                 "cos_after": float(after.mean()) if len(after) else float("nan"),
                 "conflict_fraction": float((before < 0).float().mean()) if len(before) else float("nan")}
        return g1, g2, stats

    def state_dict(self) -> dict:
        return {"target": self.target}

    def load_state_dict(self, state: dict) -> None:
        self.target = float(state["target"])
