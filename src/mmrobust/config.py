"""Config loading and validation: one schema (workflow/schemas/config.schema.yaml) for Snakemake and the CLI.

Errors are one line naming the file and the dotted key, raised before any work starts.
"""

from __future__ import annotations

import copy
import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from .downstream.methods import get as get_method
from .downstream.methods import names as method_names
from .downstream.methods import pick, report_sections, report_settings
from .downstream.methods import sections as method_sections
from .errors import MmrobustError
from .models.presets import PRESETS

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / "workflow" / "schemas"


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    with open(SCHEMA_DIR / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _with_defaults(validator_class):
    """A validator that fills in `default`s while it validates (the jsonschema FAQ recipe)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _error_line(error: jsonschema.ValidationError, source: str) -> str:
    path = [str(p) for p in error.absolute_path]
    message = error.message
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unexpected = sorted(set(error.instance) - set(allowed))
        path.append(unexpected[0] if unexpected else "?")
        message = "unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    elif error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        path.append(missing[0])
        message = "missing key"
    elif error.validator == "oneOf" and error.schema.get("oneOf") and "required" in error.schema["oneOf"][0]:
        options = " or ".join(s["required"][0] for s in error.schema["oneOf"])
        message = f"give exactly one of {options}"
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if custom:  # the schema's own wording for this rule; {value}: the offending value, as YAML writes it
        value = error.instance
        message = custom.format(value=str(value).lower() if isinstance(value, bool) else value)
    key = ".".join(path) if path else "<top level>"
    return f"{source}: {key}: {message}"


# A float in exponent notation without a dot or without a signed exponent (3e-4, 1.0e4): YAML 1.2
# reads a number, but PyYAML (YAML 1.1, as Snakemake and load_config use it) reads text.
_EXPONENT_FLOAT = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")


def _text_numbers(errors: Iterable[jsonschema.ValidationError]) -> Iterable[jsonschema.ValidationError]:
    """The type errors of strings written as exponent floats where the schema wants a number
    (oneOf/anyOf branches included: their errors are in `context`)."""
    for error in errors:
        yield from _text_numbers(error.context or [])
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        if (
            error.validator == "type"
            and "number" in wanted
            and isinstance(error.instance, str)
            and _EXPONENT_FLOAT.fullmatch(error.instance)
            and math.isfinite(float(error.instance))
        ):
            yield error


def _read_text_numbers(instance: dict, schema: dict) -> None:
    """Turn those strings into floats in place, so that `lr: 3e-4` means what it says (before
    Snakemake's own validate sees the config: check_config runs first). A config whose numbers are
    already numbers is left as it is: only a value that would fail validation changes."""
    while found := [e for e in _text_numbers(_Validator(schema).iter_errors(instance)) if e.absolute_path]:
        for error in found:
            *parents, key = error.absolute_path
            node = instance
            for part in parents:
                node = node[part]
            node[key] = float(error.instance)


def validate(instance: dict, schema: dict, source: str) -> dict:
    """Validate `instance` in place (filling defaults, reading exponent floats written as text);
    raise MmrobustError with one line on failure."""
    _read_text_numbers(instance, schema)
    errors = sorted(_Validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        raise MmrobustError(_error_line(jsonschema.exceptions.best_match(errors), source))
    return instance


def _check_relations(config: dict, source: str) -> None:
    """Constraints between keys that JSON schema cannot express."""

    def fail(key: str, message: str) -> None:
        raise MmrobustError(f"{source}: {key}: {message}")

    video = config.get("features", {}).get("video")
    if video:
        lo, hi = video["train_short_side"]
        if lo > hi:
            fail("features.video.train_short_side", f"min {lo} is above max {hi}")
        if video["crop_size"] > min(lo, video["eval_short_side"]):
            fail(
                "features.video.crop_size",
                f"{video['crop_size']} does not fit in the short sides {lo} (train) and "
                f"{video['eval_short_side']} (eval)",
            )
    for name, overrides in config.get("experiments", {}).items():
        merged = experiment_settings(config, name, source)
        pre = merged["pretrain"]
        if "datasets" in config and pre["dataset"] not in config["datasets"]:
            fail(
                f"experiments.{name}.dataset" if "dataset" in overrides else "pretrain.dataset",
                f"{pre['dataset']!r} is not a configured dataset ({', '.join(sorted(config['datasets']))})",
            )
        if "features" in config:
            _check_patches(pre["model"], config["features"], f"experiments.{name}.model", fail)
        init = pre["init"]
        if init["from"] == "clip" and not init.get("path"):
            fail(f"experiments.{name}.init.path", "init from clip needs the checkpoint file's path")
    study = config.get("study")
    if study and "datasets" in config:
        uses = [(f"study.tasks.{name}.dataset", task["dataset"]) for name, task in study["tasks"].items()]
        for key, dataset in [*uses, ("study.distill.dataset", study["distill"]["dataset"])]:
            if dataset not in config["datasets"]:
                fail(
                    key, f"{dataset!r} is not a configured dataset ({', '.join(sorted(config['datasets']))})"
                )
    for name, dataset in config.get("datasets", {}).items():
        synthetic = dataset.get("synthetic")
        if dataset["source"] != "synthetic" or synthetic is None:
            continue
        key = f"datasets.{name}.synthetic"
        low, high = synthetic["concepts_per_clip"]
        if low > high:
            fail(f"{key}.concepts_per_clip", f"min {low} is above max {high}")
        if synthetic["pretrain_anchor"] and not sum(c.get("VAT", 0) for c in synthetic["concepts"].values()):
            fail(f"{key}.pretrain_anchor", "needs at least one concept carried by VAT")
        for task, carriers in synthetic["concepts"].items():
            total = sum(carriers.values())
            if total < max(2, high if task == "multilabel" else 2):
                fail(
                    f"{key}.concepts.{task}",
                    f"{total} concepts are too few (need at least 2 and at least concepts_per_clip max)",
                )


def _check_patches(model: dict, features: dict, key: str, fail) -> None:
    sizes = {**PRESETS[model["preset"]], **model}
    t, h, w = sizes["tubelet"]
    video = features["video"]
    if video["num_frames"] % t or video["crop_size"] % h or video["crop_size"] % w:
        fail(
            f"{key}.tubelet",
            f"{sizes['tubelet']} does not tile the {video['num_frames']} frames x {video['crop_size']}px "
            "crop of features.video",
        )
    if features["audio"]["n_mels"] % sizes["audio_patch"][0]:
        fail(
            f"{key}.audio_patch",
            f"{sizes['audio_patch'][0]} mel rows do not tile features.audio.n_mels = "
            f"{features['audio']['n_mels']}",
        )


def load_config(paths: Iterable[str | Path]) -> dict:
    """Merge YAML files left to right (later keys win, dicts merge recursively, as Snakemake does) and
    validate."""
    merged: dict = {}
    names = []
    for path in paths:
        names.append(str(path))
        try:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh) or {}
        except FileNotFoundError:
            raise MmrobustError(f"{path}: config file not found") from None
        except yaml.YAMLError as exc:
            raise MmrobustError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise MmrobustError(f"{path}: <top level>: expected a mapping of keys")
        merged = deep_merge(merged, data)
    return validate_config(merged, "+".join(names))


def validate_config(config: dict, source: str) -> dict:
    validate(config, load_schema("config.schema.yaml"), source)
    _check_relations(config, source)
    return config


def experiment_settings(config: dict, name: str, source: str = "config") -> dict:
    """{"pretrain": pretrain merged with the experiment's overrides}, validated (defaults filled)."""
    if name not in config["experiments"]:
        known = ", ".join(sorted(config["experiments"]))
        raise MmrobustError(f"config: experiments.{name}: no such experiment (configured: {known})")
    overrides = config["experiments"][name]
    merged = deep_merge(config["pretrain"], overrides)
    if merged.get("objective", "vatt") != config["pretrain"].get("objective", "vatt"):
        # `pretrain`'s loss weights name its own objective's terms: another objective starts from its defaults
        merged["loss_weights"] = copy.deepcopy(overrides.get("loss_weights", {}))
    schema = {**load_schema("config.schema.yaml"), "$ref": "#/$defs/pretrain"}
    for key in ("properties", "required", "additionalProperties", "type"):
        schema.pop(key, None)
    settings = validate(merged, schema, f"{source}: experiments.{name} (merged over pretrain)")
    if settings.get("objective") == "vatt":  # the default is left out: its stage specs stay as they were
        del settings["objective"]
    return {"pretrain": settings}


def deep_merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# What each stage's output depends on. Snakemake passes exactly this as a param, so a change to
# any other part of the config does not rerun the stage. `key` is a dataset for download and
# features, an experiment for curriculum and pretrain.
def stage_spec(stage: str, config: dict, key: str) -> dict[str, Any]:
    if stage in ("pretrain", "curriculum"):
        spec = {
            "seed": config["seed"],
            "features": _model_features(config["features"]),
            **experiment_settings(config, key),
        }
        if stage == "curriculum":  # the warm-up trains without realignment: these settings do not change it
            spec["pretrain"] = {k: v for k, v in spec["pretrain"].items() if k != "harmonization"}
            spec["pretrain"]["curriculum"] = {
                k: v
                for k, v in spec["pretrain"]["curriculum"].items()
                if k not in ("enabled", "start_fraction", "full_at")
            }
        return spec
    dataset = key
    if dataset not in config["datasets"]:
        known = ", ".join(sorted(config["datasets"]))
        raise MmrobustError(f"config: datasets.{dataset}: no such dataset (configured: {known})")
    if stage == "download":
        return {"seed": config["seed"], "dataset": config["datasets"][dataset]}
    if stage == "features":
        # The worker count changes speed, not bytes: it is passed as --workers, outside the spec.
        return {"features": {k: v for k, v in config["features"].items() if k != "workers"}}
    raise ValueError(f"unknown stage {stage!r}")


def study_spec(
    stage: str, config: dict, task: str | None = None, method: str | None = None
) -> dict[str, Any]:
    """What an embed / finetune / evaluate / report job depends on (besides its input files). A
    method's jobs read the `study` settings its registry entry names (downstream.methods)."""
    study = config["study"]
    if stage == "report":
        return {
            "seed": config["seed"],
            "experiments": sorted(config["experiments"]),
            "objectives": {  # Table 1's objective column
                e: experiment_settings(config, e)["pretrain"].get("objective", "vatt")
                for e in sorted(config["experiments"])
            },
            "tasks": study["tasks"],
            **report_settings(study),
        }
    if task not in study["tasks"]:
        raise MmrobustError(
            f"config: study.tasks.{task}: no such task (configured: {', '.join(sorted(study['tasks']))})"
        )
    spec = {
        "seed": config["seed"],
        "features": _model_features(config["features"]),
        "task": study["tasks"][task],
        "batch_size": study["batch_size"],
    }
    if stage == "embed":
        return spec
    entry = get_method(method)
    spec["method"] = method
    if stage == "finetune":
        spec["validation_fraction"] = study["validation_fraction"]
        spec.update(pick(study, entry.settings))
        return spec
    if stage == "evaluate":
        if entry.sweep is not None:
            spec.update(pick(study, entry.sweep.settings))
        return spec
    raise ValueError(f"unknown stage {stage!r}")


def _model_features(features: dict) -> dict:
    """The feature settings a model reads (shapes and transforms), not how features are stored."""
    return {k: features[k] for k in ("video", "audio", "text")}


def _spec_schema(stage: str) -> dict:
    schema = copy.deepcopy(load_schema("config.schema.yaml"))
    study = {
        key: {"$ref": f"#/$defs/study/properties/{key}"}
        for key in (*method_sections(), "validation_fraction", "batch_size")
    }
    task = {"$ref": "#/$defs/study/properties/tasks/additionalProperties"}
    model_inputs = {
        "seed": {"$ref": "#/$defs/seed"},
        "features": {"$ref": "#/$defs/features"},
        "task": task,
        "batch_size": study["batch_size"],
    }
    if stage in ("embed", "finetune", "evaluate"):
        properties = {
            **model_inputs,
            **({} if stage == "embed" else {"method": {"enum": list(method_names())}}),
            **({k: v for k, v in study.items() if k != "batch_size"} if stage != "embed" else {}),
        }
        schema.update(properties=properties, required=sorted(model_inputs), additionalProperties=False)
        return schema
    if stage == "report":
        properties = {
            "seed": {"$ref": "#/$defs/seed"},
            "experiments": {"type": "array", "items": {"type": "string"}},
            "objectives": {"type": "object", "additionalProperties": {"type": "string"}},
            "tasks": {"$ref": "#/$defs/study/properties/tasks"},
            **{k: study[k] for k in report_sections()},
        }
        schema.update(properties=properties, required=sorted(properties), additionalProperties=False)
        return schema
    properties = {
        "download": {"seed": {"$ref": "#/$defs/seed"}, "dataset": {"$ref": "#/$defs/dataset"}},
        "features": {"features": {"$ref": "#/$defs/features"}},
        "pretrain": {
            "seed": {"$ref": "#/$defs/seed"},
            "features": {"$ref": "#/$defs/features"},
            "pretrain": {"$ref": "#/$defs/pretrain"},
        },
    }[stage if stage != "curriculum" else "pretrain"]
    schema.update(properties=properties, required=sorted(properties), additionalProperties=False)
    return schema


def parse_spec(stage: str, text: str) -> dict[str, Any]:
    """Parse and validate the JSON spec a Snakemake rule passes to the CLI."""
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MmrobustError(f"--spec: not valid JSON ({exc})") from None
    if not isinstance(spec, dict):
        raise MmrobustError("--spec: <top level>: expected a JSON object")
    validate(spec, _spec_schema(stage), "--spec")
    _check_relations(
        {
            "features": spec.get("features", {}),
            "datasets": {"spec": spec["dataset"]} if "dataset" in spec else {},
        },
        "--spec",
    )
    return spec


def spec_json(stage: str, config: dict, dataset: str) -> str:
    return json.dumps(stage_spec(stage, config, dataset), sort_keys=True, separators=(",", ":"))


def study_spec_json(stage: str, config: dict, task: str | None = None, method: str | None = None) -> str:
    return json.dumps(study_spec(stage, config, task, method), sort_keys=True, separators=(",", ":"))
