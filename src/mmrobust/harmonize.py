"""Cross-modality gradient realignment (seed 001, technique i), row-wise on per-triplet gradients.

g_1 .. g_K: the gradients of one triplet's K compared loss terms (the objective's `compare`;
vatt: g_va, g_vt; pairwise: g_va, g_vt, g_at; see losses.py for what a triplet's gradient is).
Each g_i is modified against the *original* g_j of the others, j != i, taken in the fixed order
j = 1 .. K (Yu et al. draw the order at random; a fixed one keeps runs deterministic).

  pcgrad   (Yu et al. 2020, its multi-task form)  g_i' = g_i; for each j != i:
               if g_i'.g_j < 0:  g_i' <- g_i' - (g_i'.g_j / |g_j|^2) g_j
           (g_i' is projected onto the normal plane of every g_j it conflicts with in turn.)
           K = 2 is the two-task form: afterwards g1'.g2' = -g1.g2 (1 - cos^2) >= 0, the conflict
           is gone. For K > 2 the last projection of g_i' leaves it at g_i'.g_j >= 0 with that g_j,
           an earlier one may conflict again (as in PCGrad).
  gradvac  (Wang et al. 2021) one target phi_hat_ij per pair i < j, an EMA of the batch's mean
           cos(g_i, g_j): phi_hat_ij <- (1 - beta) phi_hat_ij + beta mean(phi_ij); g_i' = g_i, then
           for each j != i: phi = cos(g_i', g_j); if phi < phi_hat_ij:
               g_i' <- g_i' + |g_i'| (phi_hat sqrt(1 - phi^2) - phi sqrt(1 - phi_hat^2))
                                   / (|g_j| sqrt(1 - phi_hat^2)) g_j
  none     plain training: gradients unchanged (their cosines are still measured).
With K = 2 both are exactly the two-gradient rules (tests/test_harmonize.py compares them bit for
bit with the former two-gradient code).

The update is the plain batch gradient plus, per triplet, sum_i (g_i' - g_i): with no conflict it
is exactly the objective's. Which space g lives in (the shared parameters, exactly, or the
representations where the compared terms meet, cheaply) is the caller's choice: see train/step.py.

A triplet's score (the logged cosines and the curriculum, curriculum.py): cos(g_1, g_2) for K = 2;
for K > 2, our choice, the mean of the K (K - 1) / 2 pairwise cosines. A triplet is conflicting
when any pair's cosine is negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Callable, Sequence

import torch

METHODS = ("none", "pcgrad", "gradvac")
_EPS = 1e-12


def cosine(g1: torch.Tensor, g2: torch.Tensor) -> torch.Tensor:
    return (g1 * g2).sum(-1) / (g1.norm(dim=-1) * g2.norm(dim=-1)).clamp_min(_EPS)


def pairs(k: int) -> list[tuple[int, int]]:
    """The pairs i < j of K terms, in the order of GradVac's targets."""
    return list(combinations(range(k), 2))


def pair_cosines(grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [cosine(grads[i], grads[j]) for i, j in pairs(len(grads))]


def triplet_score(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per row: cos(g_1, g_2) for K = 2, the mean pairwise cosine for K > 2."""
    cos = pair_cosines(grads)
    return cos[0] if len(cos) == 1 else torch.stack(cos).mean(0)


def pcgrad(grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    out = []
    for i, g in enumerate(grads):
        new = g
        for j, other in enumerate(grads):
            if j == i:
                continue
            dot = (new * other).sum(-1, keepdim=True)
            projected = new - dot / (other * other).sum(-1, keepdim=True).clamp_min(_EPS) * other
            new = torch.where(dot < 0, projected, new)
        out.append(new)
    return out


def _toward(g: torch.Tensor, other: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """One GradVac step: g's cosine with `other` raised to `target` where it is below."""
    phi = cosine(g, other)[:, None].clamp(-1.0, 1.0)
    hat = target.to(dtype=phi.dtype, device=phi.device).expand_as(phi).clamp(-0.999999, 0.999999)
    n1, n2 = g.norm(dim=-1, keepdim=True), other.norm(dim=-1, keepdim=True)
    gain = hat * torch.sqrt(1 - phi**2) - phi * torch.sqrt(1 - hat**2)
    denom = torch.sqrt(1 - hat**2)
    new = g + n1 * gain / (n2 * denom).clamp_min(_EPS) * other
    return torch.where(phi < hat, new, g)


def _pair_targets(target: float | Sequence[float] | torch.Tensor, count: int) -> torch.Tensor:
    """One float64 target per pair (a single value serves every pair)."""
    t = torch.as_tensor(target, dtype=torch.float64).reshape(-1)
    return t.expand(count) if t.numel() == 1 else t


def gradvac(
    grads: Sequence[torch.Tensor], target: float | Sequence[float] | torch.Tensor
) -> list[torch.Tensor]:
    """`target`: one per pair i < j (pairs()), or one for all."""
    index = {p: n for n, p in enumerate(pairs(len(grads)))}
    targets = _pair_targets(target, len(index))
    out = []
    for i, g in enumerate(grads):
        new = g
        for j, other in enumerate(grads):
            if j != i:
                new = _toward(new, other, targets[index[(min(i, j), max(i, j))]])
        out.append(new)
    return out


def _no_reduce(sums: torch.Tensor) -> torch.Tensor:
    return sums


@dataclass
class Harmonizer:
    """Applies one method to a batch of triplets' K gradients; keeps GradVac's targets across steps.

    Rows outside `mask` (triplets lacking a compared term) pass unchanged and count nowhere. The
    statistics stay on the device (no host sync in the step); `reduce` sums them over processes,
    so that GradVac's targets and the logged means are those of the global batch. `target` is one
    value for K = 2, one per pair (pairs()) for K > 2 once a step has run.
    """

    method: str = "none"
    beta: float = 0.01
    target: float | torch.Tensor = 0.0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"harmonization method must be one of {METHODS}, not {self.method!r}")

    def __call__(
        self,
        grads: Sequence[torch.Tensor],
        mask: torch.Tensor | None = None,
        reduce: Callable[[torch.Tensor], torch.Tensor] = _no_reduce,
    ) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        """Realign rows of K (N, P) gradients; returns the new ones and the step's statistics (0-d)."""
        grads = list(grads)
        if len(grads) < 2:
            raise ValueError(f"realignment compares at least 2 terms, not {len(grads)}")
        first = grads[0]
        mask = torch.ones(len(first), dtype=torch.bool, device=first.device) if mask is None else mask
        cos = pair_cosines(grads)
        before = cos[0] if len(cos) == 1 else torch.stack(cos).mean(0)
        conflicting = cos[0] < 0 if len(cos) == 1 else (torch.stack(cos) < 0).any(0)
        if self.method == "pcgrad":
            new = pcgrad(grads)
        elif self.method == "gradvac":
            new = gradvac(grads, self.target)
        else:
            new = grads
        new = [torch.where(mask[:, None], n, g) for n, g in zip(new, grads)]
        after = triplet_score(new)
        zero = torch.zeros_like(before)
        per_pair = [torch.where(mask, c, zero).sum() for c in cos] if len(cos) > 1 else []
        sums = reduce(
            torch.stack(
                [
                    torch.where(mask, before, zero).sum(),
                    torch.where(mask, after, zero).sum(),
                    (mask & conflicting).sum().to(before.dtype),
                    mask.sum().to(before.dtype),
                    *per_pair,
                ]
            )
        )
        mean_before, mean_after, conflicts = sums[:3] / sums[3]  # NaN when no triplet has every term
        if self.method == "gradvac":
            means = mean_before[None] if len(cos) == 1 else sums[4:] / sums[3]
            target = _pair_targets(self.target, len(cos)).to(first.device)
            updated = torch.where(sums[3] > 0, (1 - self.beta) * target + self.beta * means.double(), target)
            self.target = updated[0] if len(cos) == 1 else updated
        stats = {"cos_before": mean_before, "cos_after": mean_after, "conflict_fraction": conflicts}
        return new, stats

    def state_dict(self) -> dict:
        values = torch.as_tensor(self.target, dtype=torch.float64).reshape(-1).tolist()
        return {"target": values[0] if len(values) == 1 else values}

    def load_state_dict(self, state: dict) -> None:
        target = state["target"]
        self.target = float(target) if isinstance(target, (int, float)) else list(target)
