"""Realignment in Gram form: harmonize.py's PCGrad and GradVac on per-triplet Gram matrices (ghost.py).

Every rule of harmonize.py builds g_i' from g_i by adding multiples of the original g_j, with
coefficients that depend only on inner products. So g_i' = sum_l C[i, l] g_l, and C follows from the
triplet's Gram matrix G (G[a, b] = <g_a, g_b>): <g_i', g_j> = (C G)[i, j], |g_i'|^2 = (C G C^T)[i, i].
The update's correction, sum over triplets and terms of (g_k' - g_k), is then the gradient of
sum_i sum_l w_il l_i^l(own) with constant weights w_il = sum_k C_i[k, l] - 1: one more term in the
step's loss before its one backward, no per-triplet gradient materialised (not wired into
train/step.py: see the issue's report).
"""

from __future__ import annotations

import torch

from ..harmonize import _pair_targets, pairs

_EPS = 1e-12


def _dot(c: torch.Tensor, gram: torch.Tensor, j: int) -> torch.Tensor:
    """<sum_l c_l g_l, g_j> per row: c (B, K), gram (B, K, K)."""
    return (c[:, None, :] @ gram[:, :, j : j + 1])[:, 0, 0]


def _norm(c: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
    return (c[:, None, :] @ gram @ c[:, :, None])[:, 0, 0].clamp_min(0).sqrt()


def pcgrad_coefficients(gram: torch.Tensor) -> torch.Tensor:
    """(B, K, K) C with g_i' = sum_l C[i, l] g_l, harmonize.pcgrad's rule."""
    size, k = gram.shape[:2]
    eye = torch.eye(k, dtype=gram.dtype, device=gram.device)
    rows = []
    for i in range(k):
        c = eye[i].expand(size, k)
        for j in range(k):
            if j == i:
                continue
            dot = _dot(c, gram, j)
            projected = c - (dot / gram[:, j, j].clamp_min(_EPS))[:, None] * eye[j]
            c = torch.where((dot < 0)[:, None], projected, c)
        rows.append(c)
    return torch.stack(rows, dim=1)


def gradvac_coefficients(gram: torch.Tensor, target) -> torch.Tensor:
    """(B, K, K) C of harmonize.gradvac's rule; `target` one per pair i < j, or one for all."""
    size, k = gram.shape[:2]
    eye = torch.eye(k, dtype=gram.dtype, device=gram.device)
    index = {p: n for n, p in enumerate(pairs(k))}
    targets = _pair_targets(target, len(index))
    norms = gram.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt()
    rows = []
    for i in range(k):
        c = eye[i].expand(size, k)
        for j in range(k):
            if j == i:
                continue
            n1, n2 = _norm(c, gram), norms[:, j]
            phi = (_dot(c, gram, j) / (n1 * n2).clamp_min(_EPS)).clamp(-1.0, 1.0)
            hat = targets[index[(min(i, j), max(i, j))]].to(gram).expand_as(phi).clamp(-0.999999, 0.999999)
            gain = hat * torch.sqrt(1 - phi**2) - phi * torch.sqrt(1 - hat**2)
            coef = n1 * gain / (n2 * torch.sqrt(1 - hat**2)).clamp_min(_EPS)
            c = torch.where((phi < hat)[:, None], c + coef[:, None] * eye[j], c)
        rows.append(c)
    return torch.stack(rows, dim=1)


def correction_weights(coefficients: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, K) w with sum_k (g_k' - g_k) = sum_l w_l g_l per triplet; zero outside `mask`."""
    w = coefficients.sum(1) - 1
    return w if mask is None else torch.where(mask[:, None], w, torch.zeros_like(w))
