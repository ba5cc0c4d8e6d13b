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

Data parallel (distributed.World): each process embeds its slice of the global batch and gathers
the others' embeddings as constants, so L, its negatives and its normalisation are the global
batch's; its backward reaches the parameters through the local embeddings only, and the sum of
those gradients over processes is the gradient of L (DDP averages, hence the factor world.size).
A triplet's gradients and their realignment stay on the process that holds the triplet.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch.func import functional_call, jacrev, vmap

from ..distributed import World
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


def weighted_terms(
    out: dict, batch: dict, loss: LossSpec, own: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-clip terms already scaled so that they sum to the two parts of L: (B,), (B,)."""
    valid_va, valid_vt = validity(batch)
    l_va = nce_terms(out["v_va"], out["a_va"], valid_va, loss.tau, own)
    l_vt = mil_nce_terms(out["v_vt"], out["t_vt"], valid_vt, None, loss.tau, own)
    return (loss.w_va * l_va / valid_va.sum().clamp_min(1), loss.w_vt * l_vt / valid_vt.sum().clamp_min(1))


def representation_gradients(out: dict, batch: dict, loss: LossSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, width) each: triplet i's gradients w.r.t. its own r_video."""
    own_va, own_vt = weighted_terms(out, batch, loss, own=True)
    (g_va,) = torch.autograd.grad(own_va.sum(), out["r_video"], retain_graph=True, allow_unused=True)
    (g_vt,) = torch.autograd.grad(own_vt.sum(), out["r_video"], retain_graph=True, allow_unused=True)
    zero = torch.zeros_like(out["r_video"])
    return (zero if g_va is None else g_va), (zero if g_vt is None else g_vt)


def parameter_gradients(
    model,
    batch: dict,
    keep: dict | None,
    out: dict,
    loss: LossSpec,
    flags: dict | None = None,
    offset: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(B, P) each, exact: triplet i's gradients w.r.t. the P shared parameters, other clips' embeddings
    fixed.

    `batch` and `keep` hold the B local clips; `out`'s embeddings and `flags` (default: the batch's)
    may be the global batch's, with the local clips at rows offset .. offset + B."""
    names = model.shared_parameter_names()
    params = {n: p.detach() for n, p in model.named_parameters()}
    shared = {n: params.pop(n) for n in names}
    buffers = dict(model.named_buffers())
    fixed = {k: out[k].detach() for k in ("v_va", "a_va", "v_vt", "t_vt")}
    valid_va, valid_vt = validity(batch if flags is None else flags)
    n_va, n_vt = valid_va.sum().clamp_min(1), valid_vt.sum().clamp_min(1)
    size, rows = batch["video"].shape[0], fixed["v_va"].shape[0]
    dummy = torch.zeros(size, 1, dtype=torch.long, device=batch["video"].device)  # vmap needs a tensor
    keep_v, keep_a = (keep["video"], keep["audio"]) if keep else (dummy, dummy)

    def terms(shared_params, video, audio, text, kv, ka, index):
        sample = {"video": video[None], "audio": audio[None], "text": text[None]}
        o = functional_call(
            model,
            ({**params, **shared_params}, buffers),
            (sample, {"video": kv[None], "audio": ka[None]} if keep else None),
        )
        hot = (torch.arange(rows, device=video.device) == index)[:, None]
        emb = {k: torch.where(hot, o[k], fixed[k]) for k in fixed}  # clip i live, the others constant
        pick = hot[:, 0].to(video.dtype)
        l_va = (nce_terms(emb["v_va"], emb["a_va"], valid_va, loss.tau) * pick).sum() * loss.w_va / n_va
        l_vt = (
            (mil_nce_terms(emb["v_vt"], emb["t_vt"], valid_vt, None, loss.tau) * pick).sum()
            * loss.w_vt
            / n_vt
        )
        return torch.stack([l_va, l_vt])

    with warnings.catch_warnings():  # SDPA's backward has no batching rule yet: a slower fallback
        warnings.filterwarnings("ignore", message=".*batching rule.*")
        jac = vmap(jacrev(terms), in_dims=(None, 0, 0, 0, 0, 0, 0))(
            shared, batch["video"], batch["audio"], batch["text"], keep_v, keep_a, offset + torch.arange(size)
        )
    flat = torch.cat([jac[n].reshape(size, 2, -1) for n in names], dim=-1)
    return flat[:, 0], flat[:, 1], names


def triplet_gradients(
    model,
    batch: dict,
    keep: dict | None,
    out: dict,
    loss: LossSpec,
    level: str,
    flags: dict | None = None,
    offset: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every local triplet's (g_va, g_vt) at `level`: rows of (B, width) or (B, shared parameters)."""
    if level == "representation":
        return representation_gradients(out, batch if flags is None else flags, loss)
    if level == "parameters":
        g_va, g_vt, _ = parameter_gradients(model, batch, keep, out, loss, flags, offset)
        return g_va, g_vt
    raise ValueError(f"harmonization level must be one of {LEVELS}, not {level!r}")


EMBEDDINGS = ("v_va", "a_va", "v_vt", "t_vt")
FLAGS = ("has_video", "has_audio", "has_text")


def train_step(
    net,
    batch: dict,
    keep: dict | None,
    loss: LossSpec,
    harmonizer: Harmonizer,
    level: str,
    world: World = World(),
    engine=None,
) -> dict[str, torch.Tensor]:
    """Forward, realigned backward (gradients left in .grad); returns the step's losses and cosines
    as 0-d tensors (reading them is the caller's host sync). `engine` runs the forward: the model
    itself (default), its DDP wrapper or its compiled form."""
    local = (engine or net)(batch, keep)
    out = {"r_video": local["r_video"], **{k: world.gather(local[k]) for k in EMBEDDINGS}}
    flags = {k: world.gather(batch[k]) for k in FLAGS}
    part_va, part_vt = weighted_terms(out, flags, loss)
    total = part_va.sum() + part_vt.sum()
    local_va, local_vt = validity(batch)
    pair = local_va & local_vt
    offset = world.rank * len(pair)
    g_va, g_vt = triplet_gradients(net, batch, keep, out, loss, level, flags, offset)
    new_va, new_vt, stats = harmonizer(g_va, g_vt, pair, world.sum)
    delta = (new_va - g_va) + (new_vt - g_vt)  # per triplet; zero outside `pair`
    realign = harmonizer.method != "none"
    if realign and level == "representation":
        out["r_video"].register_hook(lambda grad: grad + world.size * delta)
    (total * world.size).backward()
    if realign and level == "parameters":
        correction = world.sum(delta.sum(0))
        named = dict(net.named_parameters())
        offset = 0
        for name in net.shared_parameter_names():  # the order parameter_gradients flattens in
            param = named[name]
            param.grad.add_(correction[offset : offset + param.numel()].view_as(param))
            offset += param.numel()
    return {
        "loss": total.detach(),
        "loss_va": part_va.detach().sum() / max(loss.w_va, 1e-12),
        "loss_vt": part_vt.detach().sum() / max(loss.w_vt, 1e-12),
        **stats,
    }
