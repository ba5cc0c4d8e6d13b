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
from typing import Callable

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


def gradvac(
    g1: torch.Tensor, g2: torch.Tensor, target: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    phi = cosine(g1, g2)[:, None].clamp(-1.0, 1.0)
    hat = (
        torch.as_tensor(target, dtype=phi.dtype, device=phi.device).expand_as(phi).clamp(-0.999999, 0.999999)
    )
    n1, n2 = g1.norm(dim=-1, keepdim=True), g2.norm(dim=-1, keepdim=True)
    gain = hat * torch.sqrt(1 - phi**2) - phi * torch.sqrt(1 - hat**2)
    denom = torch.sqrt(1 - hat**2)
    new1 = g1 + n1 * gain / (n2 * denom).clamp_min(_EPS) * g2
    new2 = g2 + n2 * gain / (n1 * denom).clamp_min(_EPS) * g1
    below = phi < hat
    return torch.where(below, new1, g1), torch.where(below, new2, g2)


def _no_reduce(sums: torch.Tensor) -> torch.Tensor:
    return sums


@dataclass
class Harmonizer:
    """Applies one method to a batch of triplet gradient pairs; keeps GradVac's target across steps.

    Rows outside `mask` (triplets lacking audio or text) pass unchanged and count nowhere. The
    statistics stay on the device (no host sync in the step); `reduce` sums them over processes,
    so that GradVac's target and the logged means are those of the global batch.
    """

    method: str = "none"
    beta: float = 0.01
    target: float | torch.Tensor = 0.0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"harmonization method must be one of {METHODS}, not {self.method!r}")

    def __call__(
        self,
        g1: torch.Tensor,
        g2: torch.Tensor,
        mask: torch.Tensor | None = None,
        reduce: Callable[[torch.Tensor], torch.Tensor] = _no_reduce,
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Realign rows of (N, P) pairs; returns new pairs and the step's statistics (0-d tensors)."""
        mask = torch.ones(len(g1), dtype=torch.bool, device=g1.device) if mask is None else mask
        before = cosine(g1, g2)
        if self.method == "pcgrad":
            n1, n2 = pcgrad(g1, g2)
        elif self.method == "gradvac":
            n1, n2 = gradvac(g1, g2, self.target)
        else:
            n1, n2 = g1, g2
        n1, n2 = torch.where(mask[:, None], n1, g1), torch.where(mask[:, None], n2, g2)
        after = cosine(n1, n2)
        zero = torch.zeros_like(before)
        sums = reduce(
            torch.stack(
                [
                    torch.where(mask, before, zero).sum(),
                    torch.where(mask, after, zero).sum(),
                    (mask & (before < 0)).sum().to(before.dtype),
                    mask.sum().to(before.dtype),
                ]
            )
        )
        mean_before, mean_after, conflicts = sums[:3] / sums[3]  # NaN when no triplet has both pairs
        if self.method == "gradvac":
            target = torch.as_tensor(self.target, dtype=torch.float64, device=g1.device)
            self.target = torch.where(
                sums[3] > 0, (1 - self.beta) * target + self.beta * mean_before.double(), target
            )
        return n1, n2, {"cos_before": mean_before, "cos_after": mean_after, "conflict_fraction": conflicts}

    def state_dict(self) -> dict:
        return {"target": float(self.target)}

    def load_state_dict(self, state: dict) -> None:
        self.target = float(state["target"])
