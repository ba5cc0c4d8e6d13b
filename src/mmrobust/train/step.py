"""One pretraining step for any objective (src/mmrobust/objectives/): its loss, per-triplet gradients,
realignment, backward. The engine knows an objective only through its interface (objectives/base.py).

Loss: L = sum_t w_t * mean_i l_i^t over the clips each term t is valid for (vatt: va, vt).
Per-triplet gradients of the K compared terms (vatt: g_va, g_vt), at one of two levels:
  representation  w.r.t. the objective's `representations`, concatenated: where the compared terms
                  meet (vatt: r_video, in either architecture; pairwise: r_video, r_audio, r_text):
                  the rows of one backward pass per term of the summed `own` terms (cheap).
  parameters      w.r.t. every shared parameter (model.shared_parameter_names(): those two compared
                  terms reach), exactly, with torch.func: vmap over triplets of the Jacobian of the
                  K terms of triplet i (memory: batch x K x shared parameters).
The update is the plain gradient of L plus sum_i sum_k (g_k' - g_k); at the representation level
the correction is added by hooks to the gradients flowing into the representations.

Data parallel (distributed.World): each process embeds its slice of the global batch and gathers
the others' embeddings as constants, so L, its negatives and its normalisation are the global
batch's; its backward reaches the parameters through the local embeddings only, and the sum of
those gradients over processes is the gradient of L (DDP averages, hence the factor world.size).
A triplet's gradients and their realignment stay on the process that holds the triplet.
"""

from __future__ import annotations

import operator
import warnings
from functools import reduce

import torch
from torch.func import functional_call, jacrev, vmap

from ..distributed import World
from ..harmonize import Harmonizer
from ..objectives import Objective

LEVELS = ("representation", "parameters")
FLAGS = ("has_video", "has_audio", "has_text")


def comparable(objective: Objective, flags: dict) -> torch.Tensor:
    """(B,) bool: the clips every compared term is valid for (vatt: those with all three modalities)."""
    valid = objective.validity(flags)
    return reduce(operator.and_, (valid[t] for t in objective.compare))


def weighted_terms(
    objective: Objective, out: dict, batch: dict, own: bool = False
) -> dict[str, torch.Tensor]:
    """Per-clip terms already scaled so that they sum to the parts of L: {term: (B,)}."""
    valid = objective.validity(batch)
    raw = objective.loss_terms(out, valid, own)
    return {t: objective.weights[t] * raw[t] / valid[t].sum().clamp_min(1) for t in objective.terms}


def representation_gradients(objective: Objective, out: dict, batch: dict) -> list[torch.Tensor]:
    """K tensors (B, sum of the representations' widths): triplet i's gradients w.r.t. its own
    representations, one per compared term."""
    own = weighted_terms(objective, out, batch, own=True)
    reps = [out[k] for k in objective.representations]
    grads = []
    for term in objective.compare:
        parts = torch.autograd.grad(own[term].sum(), reps, retain_graph=True, allow_unused=True)
        parts = [torch.zeros_like(r) if g is None else g for g, r in zip(parts, reps)]
        grads.append(parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1))
    return grads


def parameter_gradients(
    model,
    batch: dict,
    keep: dict | None,
    out: dict,
    objective: Objective,
    flags: dict | None = None,
    offset: int = 0,
) -> tuple[list[torch.Tensor], list[str]]:
    """K tensors (B, P), exact: triplet i's gradients w.r.t. the P shared parameters, one per compared
    term, other clips' embeddings fixed.

    `batch` and `keep` hold the B local clips; `out`'s embeddings and `flags` (default: the batch's)
    may be the global batch's, with the local clips at rows offset .. offset + B."""
    names = model.shared_parameter_names()
    params = {n: p.detach() for n, p in model.named_parameters()}
    shared = {n: params.pop(n) for n in names}
    buffers = dict(model.named_buffers())
    fixed = {k: out[k].detach() for k in objective.embeddings}
    valid = objective.validity(batch if flags is None else flags)
    count = {t: valid[t].sum().clamp_min(1) for t in objective.compare}
    size, rows = batch["video"].shape[0], fixed[objective.embeddings[0]].shape[0]
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
        raw = objective.loss_terms(emb, valid)
        return torch.stack(
            [(raw[t] * pick).sum() * objective.weights[t] / count[t] for t in objective.compare]
        )

    with warnings.catch_warnings():  # SDPA's backward has no batching rule yet: a slower fallback
        warnings.filterwarnings("ignore", message=".*batching rule.*")
        jac = vmap(jacrev(terms), in_dims=(None, 0, 0, 0, 0, 0, 0))(
            shared, batch["video"], batch["audio"], batch["text"], keep_v, keep_a, offset + torch.arange(size)
        )
    k = len(objective.compare)
    flat = torch.cat([jac[n].reshape(size, k, -1) for n in names], dim=-1)
    return [flat[:, t] for t in range(k)], names


def triplet_gradients(
    model,
    batch: dict,
    keep: dict | None,
    out: dict,
    objective: Objective,
    level: str,
    flags: dict | None = None,
    offset: int = 0,
) -> list[torch.Tensor]:
    """Every local triplet's K gradients at `level`: rows of (B, width) or (B, shared parameters)."""
    if level == "representation":
        return representation_gradients(objective, out, batch if flags is None else flags)
    if level == "parameters":
        return parameter_gradients(model, batch, keep, out, objective, flags, offset)[0]
    raise ValueError(f"harmonization level must be one of {LEVELS}, not {level!r}")


def train_step(
    net,
    batch: dict,
    keep: dict | None,
    objective: Objective,
    harmonizer: Harmonizer,
    level: str,
    world: World = World(),
    engine=None,
) -> dict[str, torch.Tensor]:
    """Forward, realigned backward (gradients left in .grad); returns the step's losses (`loss`, one
    `loss_<term>` per term, unweighted) and cosines as 0-d tensors (reading them is the caller's host
    sync). `engine` runs the forward: the model itself (default), its DDP wrapper or its compiled form."""
    local = (engine or net)(batch, keep)
    out = {
        **{k: local[k] for k in objective.representations},
        **{k: world.gather(local[k]) for k in objective.embeddings},
    }
    flags = {k: world.gather(batch[k]) for k in FLAGS}
    parts = weighted_terms(objective, out, flags)
    total = reduce(operator.add, (parts[t].sum() for t in objective.terms))
    losses = {
        "loss": total.detach(),
        **{f"loss_{t}": parts[t].detach().sum() / max(objective.weights[t], 1e-12) for t in objective.terms},
    }
    if not objective.compare:  # nothing to compare (mae): no per-triplet gradients, no cosines
        (total * world.size).backward()
        nan = torch.full((), float("nan"), device=total.device)
        return {**losses, **{k: nan for k in ("cos_before", "cos_after", "conflict_fraction")}}
    pair = comparable(objective, batch)
    offset = world.rank * len(pair)
    grads = triplet_gradients(net, batch, keep, out, objective, level, flags, offset)
    new, stats = harmonizer(grads, pair, world.sum)
    delta = reduce(operator.add, ((n - g) for n, g in zip(new, grads)))  # per triplet; zero outside `pair`
    realign = harmonizer.method != "none"
    if realign and level == "representation":
        reps = [out[k] for k in objective.representations]
        for rep, part in zip(reps, delta.split([r.shape[-1] for r in reps], dim=-1)):
            rep.register_hook(lambda grad, part=part: grad + world.size * part)
    (total * world.size).backward()
    if realign and level == "parameters":
        correction = world.sum(delta.sum(0))
        named = dict(net.named_parameters())
        offset = 0
        for name in net.shared_parameter_names():  # the order parameter_gradients flattens in
            param = named[name]
            param.grad.add_(correction[offset : offset + param.numel()].view_as(param))
            offset += param.numel()
    return {**losses, **stats}
