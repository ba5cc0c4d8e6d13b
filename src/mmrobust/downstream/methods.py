"""The fine-tuning methods of the study, registered once (timm / open_clip style). Plain data and
string manipulation, no torch: config validation, the CLI, the Snakemake rules and the report read
it; a method's training and evaluation are named by "module:function" and imported when a job runs.

A method is trained (finetune stage) on each of the 7 training sets M_T of a task, then evaluated
(evaluate stage) into the 7 x 7 matrix p(M_E, M_T). Its entry says

- `train`: "module:function", function(job, train_set) -> the checkpoint's method-specific entries
  and `selection` (one row per candidate, the selected one marked); `job` is stages.Job;
- `settings`: the parts of config `study` its finetune job reads, and only those (dotted: `wiseft.alpha`
  is that key alone): they are its spec, so that another setting's change does not retrain it;
- `starts_from`: the methods whose models it reads (ft starts from lp's heads; wiseft interpolates
  lp and masd); the CLI takes each one's folder as --<name>;
- `clips`: it reads the task's clips (--features); otherwise only the cached embeddings;
- `distill`: it reads D_SD's clips (--distill-features);
- `evaluated_on`: "embeddings", a linear head on the cached embeddings (its checkpoints hold `head`),
  or "clips", a whole downstream model (model.Classifier) encoding the evaluation split;
- `sweep`: a Sweep when its evaluation also writes sweep.csv, a matrix per value of one setting;
- `color`: its colour in the figures (None: matplotlib's next).

Adding a method: docs/study.md, "Adding a fine-tuning method".
"""

from __future__ import annotations

import importlib
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..errors import MmrobustError
from ..modalities import SUBSETS

EVALUATED_ON = ("embeddings", "clips")
# Names of the finetune and evaluate jobs' other inputs: a method may not be called so.
_RESERVED = {"model", "models", "embeddings", "index", "shards", "distill_index", "distill_shards"}


@dataclass(frozen=True)
class Sweep:
    """The evaluation at several values of one setting (rows alpha, train_set, eval_set, value).

    `run`: "module:function", function(job, matrix, evaluate) -> {value: matrix} in increasing value,
    where `matrix` is the one just computed for the configured models and `evaluate(model, train_set)`
    encodes the evaluation split with a model.Classifier into its column of the matrix.
    `settings`: the `study` settings it reads (in the evaluate and the report spec)."""

    run: str
    settings: tuple[str, ...]
    axis: str  # the figure's x label
    title: str  # the figure's title, before ", <task>: P and R"


@dataclass(frozen=True)
class Method:
    name: str
    train: str
    settings: tuple[str, ...] = ()
    starts_from: tuple[str, ...] = ()
    clips: bool = False
    distill: bool = False
    evaluated_on: str = "clips"
    sweep: Sweep | None = None
    color: str | None = None


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add `method` (after the methods it starts from: they are trained first)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", method.name) or method.name in _RESERVED:
        raise ValueError(
            f"method name {method.name!r}: a lower-case identifier, not one of {sorted(_RESERVED)}"
        )
    if method.name in REGISTRY:
        raise ValueError(f"method {method.name!r} is registered already")
    unknown = [m for m in method.starts_from if m not in REGISTRY]
    if unknown:
        raise ValueError(f"method {method.name!r} starts from {unknown}, not registered before it")
    if method.evaluated_on not in EVALUATED_ON:
        raise ValueError(f"method {method.name!r}: evaluated_on is one of {EVALUATED_ON}")
    if method.sweep is not None and method.evaluated_on != "clips":
        raise ValueError(f"method {method.name!r}: a sweep evaluates whole models (evaluated_on clips)")
    REGISTRY[method.name] = method
    return method


def names() -> tuple[str, ...]:
    """The registered methods, in registration order (that of the figures' panels)."""
    return tuple(REGISTRY)


def get(name: str) -> Method:
    if name not in REGISTRY:
        raise MmrobustError(f"config: method {name!r}: not one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def swept() -> tuple[str, ...]:
    """The methods whose evaluation also writes a sweep."""
    return tuple(name for name, m in REGISTRY.items() if m.sweep is not None)


def dependencies() -> tuple[str, ...]:
    """The methods some method starts from (each a CLI option --<name>)."""
    return tuple(name for name in REGISTRY if any(name in m.starts_from for m in REGISTRY.values()))


def alternatives(names: tuple[str, ...]) -> str:
    """A wildcard constraint matching exactly these names (none: a pattern that matches nothing)."""
    return "|".join(names) if names else "(?!)"


def load(ref: str) -> Callable:
    """The function named "module:function"."""
    module, _, function = ref.partition(":")
    return getattr(importlib.import_module(module), function)


def pick(study: dict, paths: tuple[str, ...]) -> dict[str, Any]:
    """The `study` settings named by dotted paths:
    ("ft", "wiseft.alpha") -> {"ft": study["ft"], "wiseft": {"alpha": study["wiseft"]["alpha"]}}."""
    out: dict[str, Any] = {}
    for path in paths:
        section, _, key = path.partition(".")
        if key:
            out.setdefault(section, {})[key] = study[section][key]
        else:
            out[section] = study[section]
    return out


def _sections(paths) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.partition(".")[0] for p in paths))


def _sweep_settings() -> tuple[str, ...]:
    return tuple(p for m in REGISTRY.values() if m.sweep for p in m.sweep.settings)


def sections() -> tuple[str, ...]:
    """Every `study` section some method's finetune or evaluate spec holds."""
    return _sections([*(p for m in REGISTRY.values() for p in m.settings), *_sweep_settings()])


def report_settings(study: dict) -> dict[str, Any]:
    """The settings the report reads besides the matrices: those of the sweeps it draws."""
    return pick(study, _sweep_settings())


def report_sections() -> tuple[str, ...]:
    """The `study` sections of the report spec."""
    return _sections(_sweep_settings())


# --- the workflow's files (the Snakemake input functions and the CLI flags they become) ---


def models(experiment: str, task: str, method: str) -> list[str]:
    return [f"checkpoints/{experiment}/{task}/{method}/{t}.pt" for t in SUBSETS]


def _features(dataset: str, prefix: str = "") -> dict[str, str]:
    return {
        f"{prefix}index": f"features/{dataset}/index.csv",
        f"{prefix}shards": f"features/{dataset}/shards",
    }


def finetune_inputs(config: dict, experiment: str, task: str, method: str) -> dict[str, Any]:
    """The pretrained model and the task's embeddings; the task's clips (`clips`), D_SD's (`distill`)
    and the models of the methods it starts from."""
    m, study = get(method), config["study"]
    inputs: dict[str, Any] = {
        "model": f"checkpoints/{experiment}/model.pt",
        "embeddings": f"embeddings/{experiment}/{task}.pt",
    }
    if m.clips:
        inputs.update(_features(study["tasks"][task]["dataset"]))
    if m.distill:
        inputs.update(_features(study["distill"]["dataset"], "distill_"))
    inputs.update({dep: models(experiment, task, dep) for dep in m.starts_from})
    return inputs


def finetune_flags(method: str, inputs: Mapping[str, Any]) -> str:
    """The CLI flags of those inputs that are not named on the rule's command line."""
    flags = []
    if "index" in inputs:
        flags.append(f"--features {posixpath.dirname(inputs['index'])}")
    if "distill_index" in inputs:
        flags.append(f"--distill-features {posixpath.dirname(inputs['distill_index'])}")
    flags += [f"--{dep} {posixpath.dirname(inputs[dep][0])}" for dep in get(method).starts_from]
    return " ".join(flags)


def sweep_inputs(config: dict, experiment: str, task: str, method: str) -> dict[str, Any]:
    """A sweep's evaluation: the task's clips and embeddings, the method's models, and what it is
    rebuilt from at each value (the pretrained model, the models of the methods it starts from)."""
    return {
        **_features(config["study"]["tasks"][task]["dataset"]),
        "embeddings": f"embeddings/{experiment}/{task}.pt",
        "model": f"checkpoints/{experiment}/model.pt",
        "models": models(experiment, task, method),
        **{dep: models(experiment, task, dep) for dep in get(method).starts_from},
    }


def sweep_flags(method: str, inputs: Mapping[str, Any]) -> str:
    return " ".join(
        f"--{name} {posixpath.dirname(inputs[name][0])}" for name in ("models", *get(method).starts_from)
    )


# --- seed 003's four methods ---

register(
    Method(
        "lp",
        train="mmrobust.downstream.linear_probe:train",
        settings=("lp",),
        evaluated_on="embeddings",
        color="tab:blue",
    )
)
register(
    Method(
        "ft",
        train="mmrobust.downstream.finetune:train",
        settings=("ft",),
        starts_from=("lp",),
        clips=True,
        color="tab:orange",
    )
)
# masd trains as ft does, plus the self-distillation on D_SD.
register(
    Method(
        "masd",
        train="mmrobust.downstream.finetune:train",
        settings=("ft", "masd", "distill"),
        starts_from=("lp",),
        clips=True,
        distill=True,
        color="tab:green",
    )
)
register(
    Method(
        "wiseft",
        train="mmrobust.downstream.wiseft:train",
        settings=("wiseft.alpha",),
        starts_from=("lp", "masd"),
        sweep=Sweep(
            run="mmrobust.downstream.wiseft:sweep",
            settings=("wiseft",),
            axis="α (0: lp, 1: masd)",
            title="WiSE-FT sweep",
        ),
        color="tab:red",
    )
)
