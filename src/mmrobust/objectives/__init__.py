"""Pretraining objectives behind one interface, found by name (a registry, as timm's and open_clip's
models are).

An objective owns its heads and its loss (the MAE way: the model owns its loss). The engine
(train/step.py), the harmonizer, the curriculum, the curves and the checkpoint's model config know
an objective only through `Objective` (base.py): its named per-clip terms, which of them
realignment and the curriculum compare, the model outputs the loss reads, and where the compared
terms meet. The registry is this package's modules: `<name>.py` defines `OBJECTIVE`, the class.

Adding an objective touches two files: a module here and, in workflow/schemas/config.schema.yaml,
its name in `pretrain.objective` and one `if`/`then` block with its terms' weights.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import DEFAULT, Objective

__all__ = ["DEFAULT", "Objective", "create", "from_settings", "names", "objective_class"]


def names() -> tuple[str, ...]:
    """Every registered objective: the modules of this package but `base`."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"))


def objective_class(name: str) -> type[Objective]:
    if name not in names():
        raise ValueError(f"objective must be one of {names()}, not {name!r}")
    return importlib.import_module(f"{__name__}.{name}").OBJECTIVE


def create(name: str = DEFAULT, weights: dict | None = None, temperature: float | None = None) -> Objective:
    """An objective with its loss settings (weights per term: default 1 each)."""
    cls = objective_class(name)
    return cls(weights) if temperature is None else cls(weights, temperature)


def from_settings(pre: dict) -> Objective:
    """The objective of a validated `pretrain` section (no `objective` key: the default, vatt)."""
    return create(pre.get("objective", DEFAULT), pre["loss_weights"], pre["temperature"])
