"""WiSE-FT (Eq. 9) between the MASD and the linear-probe models:

    θ_wise = α θ_masd + (1 - α) θ_lp     over every state-dict entry, buffers included.

Written as torch.lerp(θ_lp, θ_masd, α), which returns the endpoints exactly at α = 0 and 1. Entries
that are not floating point (integer counters) cannot be interpolated and come from the nearer end.
"""

from __future__ import annotations

import torch

from ..errors import MmrobustError


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
