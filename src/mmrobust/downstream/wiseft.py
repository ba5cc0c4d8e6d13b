"""WiSE-FT (Eq. 9) between the MASD and the linear-probe models:

    θ_wise = α θ_masd + (1 - α) θ_lp     over every state-dict entry, buffers included.

Written as torch.lerp(θ_lp, θ_masd, α), which returns the endpoints exactly at α = 0 and 1. Entries
that are not floating point (integer counters) cannot be interpolated and come from the nearer end.
"""

from __future__ import annotations

import torch

from ..errors import MmrobustError
from ..modalities import SUBSETS
from ..models import checkpoint
from .model import lp_classifier


def interpolate(
    lp: dict[str, torch.Tensor], masd: dict[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    if lp.keys() != masd.keys():
        raise MmrobustError(
            f"wiseft: the state dicts differ in their entries ({sorted(lp.keys() ^ masd.keys())[:3]} ...)"
        )
    if not 0.0 <= alpha <= 1.0:
        raise MmrobustError(f"wiseft: alpha {alpha} is outside [0, 1]")
    out = {}
    for key, a in lp.items():
        b = masd[key]
        if a.is_floating_point():
            out[key] = torch.lerp(a, b.to(a.dtype), alpha)
        else:
            out[key] = (b if alpha >= 0.5 else a).clone()
    return out


def _theta(job, subset: str, alpha: float) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """θ_lp as a model, and θ_wise at α for training set `subset`."""
    lp = lp_classifier(job.pretrained, job.models["lp"] / f"{subset}.pt")
    masd = checkpoint.read(job.models["masd"] / f"{subset}.pt")["state_dict"]
    return lp, interpolate(lp.state_dict(), masd, alpha)


def train(job, subset: str) -> dict:
    """The method's training set `subset` (downstream.methods): θ_wise at the configured α."""
    alpha = job.spec["wiseft"]["alpha"]
    lp, theta = _theta(job, subset, alpha)
    return {
        "model_config": lp.cfg.to_dict(),
        "state_dict": theta,
        "alpha": alpha,
        "selection": [{"train_set": subset, "candidate": f"alpha={alpha:g}", "selected": 1}],
    }


def sweep(job, matrix: dict, evaluate) -> dict[float, dict]:
    """p(M_E, M_T) of the interpolated model at each α of the sweep, α = 0 and 1 included: they are
    not copied from the lp and masd matrices, so that agreeing with them checks the interpolation and
    the two evaluation paths (lp's reads cached embeddings). Only the job's own α, whose models were
    just evaluated (`matrix`), is not evaluated again."""
    settings = job.spec["wiseft"]
    out = {}
    for alpha in sorted(set(settings["sweep"])):
        if alpha == settings["alpha"]:
            out[alpha] = matrix
            continue
        out[alpha] = {}
        for subset in SUBSETS:
            model, theta = _theta(job, subset, alpha)
            model.load_state_dict(theta)
            out[alpha] |= evaluate(model, subset)
    return out
