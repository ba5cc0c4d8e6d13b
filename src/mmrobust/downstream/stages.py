"""Entry points of the embed, finetune and evaluate stages (called by the CLI). What a method reads,
how it trains a training set and how it is evaluated come from its entry in downstream.methods.

A finetune or evaluate job covers one (experiment, task, method) and its 7 training sets: a job per
set would pay the ~2-3.5 s Python + torch start 224 times in the default study. Finished
training sets are kept in a hidden folder beside the outputs, so a killed job resumes with the
next set; the folder is keyed on the settings and the input files and removed on success.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..distributed import World
from ..errors import MmrobustError
from ..evaluate.matrix import write_matrix
from ..features.clips import ClipSet, read_index
from ..fileio import atomic_write_text, csv_text, sha256_file
from ..modalities import SUBSETS
from ..models import checkpoint
from ..models.checkpoint import load_model
from . import methods
from .data import class_names, distill_ids, targets, validation_split
from .embed import SplitEncoder, split_embeddings
from .model import Classifier, column, load_classifier

SELECTION_FIELDS = ("train_set", "candidate", "val_metric", "selected")


def run_embed(spec: dict, pretrained: Path, features_dir: Path, out: Path) -> None:
    """The cache of a task: classes, and per split (train, eval) ids, targets, E_m and has_m."""
    task = spec["task"]
    encoder, _ = load_model(pretrained)
    classes = class_names(
        read_index(features_dir), (task["train"], task["eval"]), f"{features_dir}/index.csv"
    )
    payload = {"classes": classes, "kind": task["kind"]}
    for part in ("train", "eval"):
        clips = ClipSet(features_dir, task[part], spec["features"])
        embeddings, has = split_embeddings(encoder, clips, spec["batch_size"], desc=f"embed {task[part]}")
        payload[part] = {
            "ids": clips.ids,
            "targets": targets(clips.labels, classes, task["kind"]),
            "embeddings": embeddings,
            "has": has,
        }
    checkpoint.save(out, payload)


def _read_cache(path: Path) -> dict:
    cache = checkpoint.read(path)
    if not {"classes", "kind", "train", "eval"} <= cache.keys():
        raise MmrobustError(f"{path}: not an embeddings file of the embed stage")
    return cache


class CellStore:
    """Finished training sets of an interrupted job, valid only for the same settings and inputs.
    Every process of a distributed job reads it; only `writer` (rank 0) changes it."""

    def __init__(self, root: Path, spec: dict, inputs: list[Path], writer: bool = True):
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
        for path in inputs:
            digest.update(f"{path.name}:{sha256_file(path)}".encode())
        self.root, self.key, self.writer = root, digest.hexdigest(), writer
        self.stale = (root / "key").exists() and (root / "key").read_text() != self.key
        if self.stale and writer:
            shutil.rmtree(root)

    def get(self, name: str) -> dict | None:
        path = self.root / f"{name}.pt"
        if self.stale or not path.exists():
            return None
        print(f"reusing {name}: trained by an earlier, interrupted run ({path})")
        return checkpoint.read(path)

    def put(self, name: str, payload: dict) -> None:
        if not self.writer:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.root / "key", self.key)
        checkpoint.save(self.root / f"{name}.pt", payload)

    def clear(self) -> None:
        if self.writer:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Job:
    """What a method's `train` reads for one (experiment, task): the spec, the task's embeddings
    (`cache`), the validation split, and the inputs its registry entry asks for (else None)."""

    spec: dict
    cache: dict
    pretrained: Path
    split: tuple[np.ndarray, np.ndarray] | None = None  # (train, validation) indices of the training split
    clips: ClipSet | None = None  # the task's training clips (`clips`)
    distill: ClipSet | None = None  # D_SD (`distill`)
    models: dict[str, Path] = field(default_factory=dict)  # the folders of `starts_from`
    world: World = field(default_factory=World)


def _missing(method: methods.Method, stage: str, given: dict[str, object]) -> None:
    """One line naming the options a method needs and was not given."""
    absent = [flag for flag, value in given.items() if value is None]
    if absent:
        raise MmrobustError(f"{stage} {method.name}: needs {', '.join(absent)}")


def run_finetune(
    spec: dict,
    pretrained: Path,
    embeddings: Path,
    out: Path,
    selection: Path,
    features_dir: Path | None = None,
    distill_dir: Path | None = None,
    models: dict[str, Path | None] | None = None,
    world: World = World(),
) -> None:
    """Write out/<M_T>.pt for the 7 training sets of `spec["method"]`, and the selection table
    (a method that trains the encoders trains data-parallel over `world`; rank 0 writes).
    `models`: the folder of each method it starts from."""
    method = methods.get(spec["method"])
    models = models or {}
    _missing(
        method,
        "finetune",
        {
            **({"--features": features_dir} if method.clips else {}),
            **({"--distill-features": distill_dir} if method.distill else {}),
            **{f"--{dep}": models.get(dep) for dep in method.starts_from},
        },
    )
    cache = _read_cache(embeddings)
    job = Job(
        spec,
        cache,
        pretrained,
        validation_split(len(cache["train"]["ids"]), spec["validation_fraction"], spec["seed"]),
        _task_clips(spec, features_dir, cache, "train") if method.clips else None,
        _distill_clips(spec, distill_dir) if method.distill else None,
        {dep: models[dep] for dep in method.starts_from},
        world,
    )
    inputs = [pretrained, embeddings] + [job.models[dep] / f"{t}.pt" for dep in job.models for t in SUBSETS]
    store = CellStore(out.parent / f".{out.name}.cells", spec, inputs, writer=world.main)
    train = methods.load(method.train)
    meta = {"method": method.name, "classes": cache["classes"], "kind": cache["kind"]}
    rows = []
    for subset in tqdm(SUBSETS, desc=f"{method.name} training sets", unit="set", disable=not world.main):
        cell = store.get(subset)
        if cell is None:
            cell = {**meta, "train_set": subset, **train(job, subset)}
            store.put(subset, cell)
        rows += cell.pop("selection")
        if world.main:
            checkpoint.save(out / f"{subset}.pt", cell)
    if world.main:
        atomic_write_text(
            selection,
            csv_text(
                SELECTION_FIELDS,
                (
                    [
                        r["train_set"],
                        r["candidate"],
                        f"{r['val_metric']:.6f}" if "val_metric" in r else "",
                        r.get("selected", 0),
                    ]
                    for r in rows
                ),
            ),
        )
    world.barrier()
    store.clear()


def _task_clips(spec: dict, features_dir: Path, cache: dict, part: str) -> ClipSet:
    """The clips of the task's `part` split, checked against the embeddings' (the same ids, in order)."""
    clips = ClipSet(features_dir, spec["task"][part], spec["features"])
    if clips.ids != cache[part]["ids"]:
        split = spec["task"][part]
        raise MmrobustError(
            f"{features_dir}: the clips of split {split!r} differ from the embeddings' (rerun embed)"
        )
    return clips


def _distill_clips(spec: dict, distill_dir: Path) -> ClipSet:
    d = spec["distill"]
    ids = distill_ids(
        read_index(distill_dir), d["split"], d["size"], spec["seed"], f"{distill_dir}/index.csv"
    )
    return ClipSet(distill_dir, d["split"], spec["features"], ids)


def run_evaluate(
    spec: dict,
    embeddings: Path,
    models_dir: Path,
    out: Path,
    features_dir: Path | None = None,
    sweep: Path | None = None,
    pretrained: Path | None = None,
    models: dict[str, Path | None] | None = None,
) -> None:
    """The 7 x 7 matrix of one method; for a method with a sweep also the sweep (wiseft: α)."""
    method = methods.get(spec["method"])
    cache = _read_cache(embeddings)
    y, kind = cache["eval"]["targets"], cache["kind"]
    matrix = {}
    if method.evaluated_on == "embeddings":
        for subset in SUBSETS:
            head = torch.nn.Linear(cache["eval"]["embeddings"]["video"].shape[1], len(cache["classes"]))
            head.load_state_dict(checkpoint.read(models_dir / f"{subset}.pt")["head"])
            matrix |= column(head, cache["eval"]["embeddings"], cache["eval"]["has"], y, kind, subset)
        write_matrix(out, matrix)
        return
    if features_dir is None:
        raise MmrobustError(
            f"evaluate {method.name}: needs --features (the eval split is encoded by each fine-tuned model)"
        )
    clips = _task_clips(spec, features_dir, cache, "eval")
    encode = SplitEncoder(clips, spec["batch_size"])

    def evaluate(model: Classifier, subset: str) -> dict:
        embeddings, has = encode(model.encoder, desc=f"{method.name} {subset}")
        return column(model.head, embeddings, has, y, kind, subset)

    for subset in SUBSETS:
        matrix |= evaluate(load_classifier(models_dir / f"{subset}.pt")[0], subset)
    if method.sweep is not None:
        models = models or {}
        _missing(
            method,
            "evaluate",
            {
                "--sweep": sweep,
                "--pretrained": pretrained,
                **{f"--{dep}": models.get(dep) for dep in method.starts_from},
            },
        )
        job = Job(spec, cache, pretrained, clips=clips, models={d: models[d] for d in method.starts_from})
        rows = []
        for value, result in methods.load(method.sweep.run)(job, matrix, evaluate).items():
            rows += [[f"{value:g}", t, e, f"{result[e, t]:.6f}"] for t in SUBSETS for e in SUBSETS]
        atomic_write_text(sweep, csv_text(["alpha", "train_set", "eval_set", "value"], rows))
    write_matrix(out, matrix)
