"""VATT's contrastive losses, as per-triplet terms.

Scores s_ijk = q_i . k_jk / tau between clip i's query embedding and candidate k of clip j
(unit vectors, tau = 0.07). P(i) are clip i's candidates (MIL-NCE: its captions; NCE: K = 1).

    MIL-NCE, q -> k:  l_i = -log  sum_{k in P(i)} e^{s_iik}  /  sum_j sum_{k in P(j)} e^{s_ijk}
             k -> q:  l_i = -log  sum_{k in P(i)} e^{s_iik}  /  sum_{k in P(i)} sum_j e^{s_jik}
    triplet term      l_i = (l_i(q->k) + l_i(k->q)) / 2         (both directions, VATT)

With K = 1 this is the symmetric NCE used for video-audio. Clips missing either modality are
neither anchors nor negatives; a batch loss is the mean over valid clips.

A triplet's gradient. The batch loss couples clips through their negatives, so we define triplet
i's gradient as that of l_i with every *other* clip's embedding held constant (`own=True`):
the scores keep their values, but only s_ii* carries gradient back into both of its factors.
Then d/dq_i of sum_j l_j^own equals d l_i^own / dq_i, so one backward pass of the summed own
terms yields every triplet's gradient as a row (used by the realignment and the curriculum).
"""

from __future__ import annotations

import torch

TEMPERATURE = 0.07
NEG = -1e4  # masked logit: exp underflows to 0 in float32 and bfloat16


def _scores(q: torch.Tensor, k: torch.Tensor, tau: float, own_side: str | None) -> torch.Tensor:
    """s[i, j, c] = q_i . k_jc / tau; with own_side, off-diagonal clips are detached on the other side."""
    if own_side is None:
        return torch.einsum("id,jcd->ijc", q, k) / tau
    live = torch.einsum("id,icd->ic", q, k)
    if own_side == "q":  # gradient reaches q_i everywhere in row i, k_j only where j == i
        off = torch.einsum("id,jcd->ijc", q, k.detach())
        diag = live - torch.einsum("id,icd->ic", q, k.detach())
    else:  # gradient reaches k_j everywhere in column j, q_i only where i == j
        off = torch.einsum("id,jcd->ijc", q.detach(), k)
        diag = live - torch.einsum("id,icd->ic", q.detach(), k)
    eye = torch.eye(q.shape[0], dtype=q.dtype, device=q.device)[:, :, None]
    return (off + eye * diag[:, None, :]) / tau


def mil_nce_terms(
    q: torch.Tensor,
    k: torch.Tensor,
    valid: torch.Tensor,
    candidates: torch.Tensor | None = None,
    tau: float = TEMPERATURE,
    own: bool = False,
) -> torch.Tensor:
    """Per-clip terms l_i (B,), zero where invalid. q: (B, D); k: (B, K, D) or (B, D); candidates: (B, K)
    bool."""
    if k.dim() == 2:
        k = k[:, None, :]
    batch, count = k.shape[:2]
    cand = torch.ones(batch, count, dtype=torch.bool, device=q.device) if candidates is None else candidates
    cand = cand & valid[:, None]
    allowed = (
        valid[:, None, None] & cand[None, :, :]
    )  # [i, j, c]: query i valid, candidate c of clip j usable
    terms = []
    for side in ("q", "k"):
        s = _scores(q, k, tau, side if own else None).masked_fill(~allowed, NEG)
        positives = torch.logsumexp(
            s.diagonal(dim1=0, dim2=1).T.masked_fill(~cand, NEG), 1
        )  # s_iic, c in P(i)
        # q -> k: query i against every candidate of every clip; k -> q: clip i's candidates against every
        # query
        everything = s.flatten(1) if side == "q" else s.permute(1, 2, 0).flatten(1)
        terms.append(torch.logsumexp(everything, 1) - positives)
    out = 0.5 * (terms[0] + terms[1])
    return torch.where(valid & (valid.sum() > 1), out, torch.zeros_like(out))


def nce_terms(
    q: torch.Tensor, k: torch.Tensor, valid: torch.Tensor, tau: float = TEMPERATURE, own: bool = False
) -> torch.Tensor:
    """Symmetric NCE (VATT video-audio): MIL-NCE with one candidate per clip."""
    return mil_nce_terms(q, k, valid, None, tau, own)


def masked_mean(terms: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    return terms.sum() / valid.sum().clamp_min(1)
