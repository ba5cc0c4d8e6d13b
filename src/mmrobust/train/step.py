"""One pretraining step: VATT's loss, per-triplet gradients, realignment, backward.

Loss: L = w_va * mean_i l_i^va + w_vt * mean_i l_i^vt over the clips that have both modalities.
Per-triplet gradients (pairs g_va, g_vt), at one of two levels:
  representation  w.r.t. r_video, the video [AGG] output, where both losses meet in either
                  architecture: the rows of one backward pass of the summed `own` terms (cheap).
  parameters      w.r.t. every shared parameter (model.shared_parameter_names()), exactly, with
                  torch.func: vmap over triplets of the Jacobian of (l_i^va, l_i^vt) (memory:
                  batch x shared parameters).
The update is the plain gradient of L plus sum_i [(g_va' - g_va) + (g_vt' - g_vt)]; at the
representation level the correction is added by a hook to the gradient flowing into r_video.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch.func import functional_call, jacrev, vmap

from ..harmonize import Harmonizer
from ..losses import TEMPERATURE, mil_nce_terms, nce_terms

LEVELS = ("representation", "parameters")


@dataclass(frozen=True)
class LossSpec:
    w_va: float = 1.0
    w_vt: float = 1.0
    tau: float = TEMPERATURE


def validity(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    return batch["has_video"] & batch["has_audio"], batch["has_video"] & batch["has_text"]


def weighted_terms(out: dict, batch: dict, loss: LossSpec, own: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-clip terms already scaled so that they sum to the two parts of L: (B,), (B,)."""
    valid_va, valid_vt = validity(batch)
    l_va = nce_terms(out["v_va"], out["a_va"], valid_va, loss.tau, own)
    l_vt = mil_nce_terms(out["v_vt"], out["t_vt"], valid_vt, None, loss.tau, own)
    return (loss.w_va * l_va / valid_va.sum().clamp_min(1), loss.w_vt * l_vt / valid_vt.sum().clamp_min(1))


def representation_gradients(out: dict, batch: dict, loss: LossSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, width) each: triplet i's gradients w.r.t. its own r_video."""
    own_va, own_vt = weighted_terms(out, batch, loss, own=True)
    g_va, = torch.autograd.grad(own_va.sum(), out["r_video"], retain_graph=True, allow_unused=True)
    g_vt, = torch.autograd.grad(own_vt.sum(), out["r_video"], retain_graph=True, allow_unused=True)
    zero = torch.zeros_like(out["r_video"])
    return (zero if g_va is None else g_va), (zero if g_vt is None else g_vt)


def parameter_gradients(model, batch: dict, keep: dict | None, out: dict, loss: LossSpec) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(B, P) each, exact: triplet i's gradients w.r.t. the P shared parameters, other clips' embeddings fixed."""
    names = model.shared_parameter_names()
    params = {n: p.detach() for n, p in model.named_parameters()}
    shared = {n: params.pop(n) for n in names}
    buffers = dict(model.named_buffers())
    fixed = {k: out[k].detach() for k in ("v_va", "a_va", "v_vt", "t_vt")}
    valid_va, valid_vt = validity(batch)
    n_va, n_vt = valid_va.sum().clamp_min(1), valid_vt.sum().clamp_min(1)
    size = batch["video"].shape[0]
    keep_v = keep["video"] if keep else torch.zeros(size, 1, dtype=torch.long)
    keep_a = keep["audio"] if keep else torch.zeros(size, 1, dtype=torch.long)

    def terms(shared_params, video, audio, text, kv, ka, index):
        sample = {"video": video[None], "audio": audio[None], "text": text[None]}
        o = functional_call(model, ({**params, **shared_params}, buffers),
                            (sample, {"video": kv[None], "audio": ka[None]} if keep else None))
        hot = (torch.arange(size, device=video.device) == index)[:, None]
        emb = {k: torch.where(hot, o[k], fixed[k]) for k in fixed}  # clip i live, the others constant
        pick = hot[:, 0].to(video.dtype)
        l_va = (nce_terms(emb["v_va"], emb["a_va"], valid_va, loss.tau) * pick).sum() * loss.w_va / n_va
        l_vt = (mil_nce_terms(emb["v_vt"], emb["t_vt"], valid_vt, None, loss.tau) * pick).sum() * loss.w_vt / n_vt
        return torch.stack([l_va, l_vt])

    with warnings.catch_warnings():  # SDPA's backward has no batching rule yet: a slower fallback
        warnings.filterwarnings("ignore", message=".*batching rule.*")
        jac = vmap(jacrev(terms), in_dims=(None, 0, 0, 0, 0, 0, 0))(
            shared, batch["video"], batch["audio"], batch["text"], keep_v, keep_a, torch.arange(size))
    flat = torch.cat([jac[n].reshape(size, 2, -1) for n in names], dim=-1)
    return flat[:, 0], flat[:, 1], names


def triplet_gradients(model, batch: dict, keep: dict | None, out: dict, loss: LossSpec, level: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every triplet's (g_va, g_vt) at `level`: rows of (B, width) or (B, shared parameters)."""
    if level == "representation":
        return representation_gradients(out, batch, loss)
    if level == "parameters":
        g_va, g_vt, _ = parameter_gradients(model, batch, keep, out, loss)
        return g_va, g_vt
    raise ValueError(f"harmonization level must be one of {LEVELS}, not {level!r}")


def train_step(model, batch: dict, keep: dict | None, loss: LossSpec, harmonizer: Harmonizer, level: str) -> dict[str, float]:
    """Forward, realigned backward (gradients left in .grad); returns the step's losses and cosines."""
    out = model(batch, keep)
    part_va, part_vt = weighted_terms(out, batch, loss)
    total = part_va.sum() + part_vt.sum()
    valid_va, valid_vt = validity(batch)
    pair = valid_va & valid_vt
    g_va, g_vt = triplet_gradients(model, batch, keep, out, loss, level)
    new_va, new_vt, stats = harmonizer(g_va[pair], g_vt[pair])
    delta = torch.zeros_like(g_va)  # per triplet: (g_va' - g_va) + (g_vt' - g_vt)
    delta[pair] = (new_va - g_va[pair]) + (new_vt - g_vt[pair])
    realign = harmonizer.method != "none"
    if realign and level == "representation":
        out["r_video"].register_hook(lambda grad: grad + delta)
    total.backward()
    if realign and level == "parameters":
        correction = delta.sum(0)
        named = dict(model.named_parameters())
        offset = 0
        for name in model.shared_parameter_names():  # the order parameter_gradients flattens in
            param = named[name]
            param.grad.add_(correction[offset:offset + param.numel()].view_as(param))
            offset += param.numel()
    return {"loss": total.item(), "loss_va": part_va.sum().item() / max(loss.w_va, 1e-12),
            "loss_vt": part_vt.sum().item() / max(loss.w_vt, 1e-12), **stats}
