"""Entry points of the embed, finetune and evaluate stages (called by the CLI).

A finetune or evaluate job covers one (experiment, task, method) and its 7 training sets: a job per
set would pay the ~3.5 s Python + torch + timm start 224 times in the default study. Finished
training sets are kept in a hidden folder beside the outputs, so a killed job resumes with the
next set; the folder is keyed on the settings and the input files and removed on success.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

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
from .data import class_names, distill_ids, targets, validation_split
from .embed import split_embeddings
from .finetune import finetune
from .linear_probe import fit
from .model import Classifier, column, load_classifier
from .wiseft import interpolate

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


def run_finetune(
    spec: dict,
    pretrained: Path,
    embeddings: Path,
    out: Path,
    selection: Path,
    features_dir: Path | None = None,
    distill_dir: Path | None = None,
    lp_dir: Path | None = None,
    masd_dir: Path | None = None,
    world: World = World(),
) -> None:
    """Write out/<M_T>.pt for the 7 training sets of `spec["method"]`, and the selection table
    (ft and masd train data-parallel over `world`; rank 0 writes)."""
    method = spec["method"]
    needed = {
        "ft": [features_dir, lp_dir],
        "masd": [features_dir, distill_dir, lp_dir],
        "wiseft": [lp_dir, masd_dir],
        "lp": [],
    }[method]
    if any(path is None for path in needed):
        raise MmrobustError(
            f"finetune {method}: needs --features, --lp (ft, masd), --distill-features (masd), --masd "
            "(wiseft)"
        )
    cache = _read_cache(embeddings)
    inputs = (
        [pretrained, embeddings]
        + [lp_dir / f"{t}.pt" for t in SUBSETS if lp_dir]
        + [masd_dir / f"{t}.pt" for t in SUBSETS if masd_dir]
    )
    store = CellStore(out.parent / f".{out.name}.cells", spec, inputs, writer=world.main)
    train_cells = _train_cells(spec, cache, pretrained, features_dir, distill_dir, lp_dir, masd_dir, world)
    rows = []
    for subset in tqdm(SUBSETS, desc=f"{method} training sets", unit="set", disable=not world.main):
        cell = store.get(subset)
        if cell is None:
            cell = train_cells(subset)
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


def _train_cells(spec, cache, pretrained, features_dir, distill_dir, lp_dir, masd_dir, world):
    """A function training set -> checkpoint payload (with its selection rows) for the method."""
    method, kind, seed = spec["method"], cache["kind"], spec["seed"]
    meta = {"method": method, "classes": cache["classes"], "kind": kind}
    split = validation_split(len(cache["train"]["ids"]), spec["validation_fraction"], seed)
    if method == "lp":

        def train(subset):
            head, rows = fit(cache, subset, split[0], split[1], spec["lp"])
            return {**meta, "train_set": subset, "head": head.state_dict(), "selection": rows}

        return train
    if method == "wiseft":
        alpha = spec["wiseft"]["alpha"]

        def train(subset):
            lp = _lp_classifier(pretrained, lp_dir / f"{subset}.pt")
            theta = interpolate(
                lp.state_dict(), checkpoint.read(masd_dir / f"{subset}.pt")["state_dict"], alpha
            )
            return {
                **meta,
                "train_set": subset,
                "model_config": lp.cfg.to_dict(),
                "state_dict": theta,
                "alpha": alpha,
                "selection": [{"train_set": subset, "candidate": f"alpha={alpha:g}", "selected": 1}],
            }

        return train
    clips = ClipSet(features_dir, spec["task"]["train"], spec["features"])
    if clips.ids != cache["train"]["ids"]:
        raise MmrobustError(
            f"{features_dir}: the clips of split {spec['task']['train']!r} differ from the embeddings' "
            "(rerun embed)"
        )
    distill = None
    if method == "masd":
        d = spec["distill"]
        ids = distill_ids(read_index(distill_dir), d["split"], d["size"], seed, f"{distill_dir}/index.csv")
        distill = ClipSet(distill_dir, d["split"], spec["features"], ids)

    def train(subset):
        model = _lp_classifier(pretrained, lp_dir / f"{subset}.pt")
        state, rows = finetune(
            model, clips, cache["train"]["targets"], kind, subset, split, spec, distill, world
        )
        return {
            **meta,
            "train_set": subset,
            "model_config": model.cfg.to_dict(),
            "state_dict": state,
            "selection": rows,
        }

    return train


def _lp_classifier(pretrained: Path, head_path: Path) -> Classifier:
    """θ_lp: the pretrained encoders and the linear probe's head."""
    encoder, _ = load_model(pretrained)
    lp = checkpoint.read(head_path)
    model = Classifier(encoder, len(lp["classes"]))
    model.head.load_state_dict(lp["head"])
    return model


def run_evaluate(
    spec: dict,
    embeddings: Path,
    models_dir: Path,
    out: Path,
    features_dir: Path | None = None,
    sweep: Path | None = None,
    pretrained: Path | None = None,
    lp_dir: Path | None = None,
    masd_dir: Path | None = None,
) -> None:
    """The 7 x 7 matrix of one method; for wiseft also the α sweep."""
    cache = _read_cache(embeddings)
    y, kind, method = cache["eval"]["targets"], cache["kind"], spec["method"]
    matrix = {}
    if method == "lp":
        for subset in SUBSETS:
            head = torch.nn.Linear(cache["eval"]["embeddings"]["video"].shape[1], len(cache["classes"]))
            head.load_state_dict(checkpoint.read(models_dir / f"{subset}.pt")["head"])
            matrix |= column(head, cache["eval"]["embeddings"], cache["eval"]["has"], y, kind, subset)
        write_matrix(out, matrix)
        return
    if features_dir is None:
        raise MmrobustError(
            f"evaluate {method}: needs --features (the eval split is encoded by each fine-tuned model)"
        )
    clips = ClipSet(features_dir, spec["task"]["eval"], spec["features"])
    if clips.ids != cache["eval"]["ids"]:
        raise MmrobustError(
            f"{features_dir}: the clips of split {spec['task']['eval']!r} differ from the embeddings' "
            "(rerun embed)"
        )

    def evaluate(model: Classifier, subset: str) -> dict:
        embeddings, has = split_embeddings(
            model.encoder, clips, spec["batch_size"], desc=f"{method} {subset}"
        )
        return column(model.head, embeddings, has, y, kind, subset)

    for subset in SUBSETS:
        matrix |= evaluate(load_classifier(models_dir / f"{subset}.pt")[0], subset)
    if method == "wiseft":
        if None in (sweep, pretrained, lp_dir, masd_dir):
            raise MmrobustError("evaluate wiseft: needs --sweep, --pretrained, --lp and --masd")
        _sweep(
            spec["wiseft"]["sweep"],
            {spec["wiseft"]["alpha"]: matrix},
            evaluate,
            sweep,
            pretrained,
            lp_dir,
            masd_dir,
        )
    write_matrix(out, matrix)


def _sweep(alphas, known: dict, evaluate, out: Path, pretrained: Path, lp_dir: Path, masd_dir: Path) -> None:
    """p(M_E, M_T) of the interpolated model at each α of the sweep, α = 0 and 1 included: they are
    not copied from the lp and masd matrices, so that agreeing with them checks the interpolation and
    the two evaluation paths (lp's reads cached embeddings). Only the job's own α, whose models were
    just evaluated, comes from `known`."""
    rows = []
    for alpha in sorted(set(alphas)):
        if alpha in known:
            result = known[alpha]
        else:
            result = {}
            for subset in SUBSETS:
                model = _lp_classifier(pretrained, lp_dir / f"{subset}.pt")
                model.load_state_dict(
                    interpolate(
                        model.state_dict(), checkpoint.read(masd_dir / f"{subset}.pt")["state_dict"], alpha
                    )
                )
                result |= evaluate(model, subset)
        rows += [[f"{alpha:g}", t, e, f"{result[e, t]:.6f}"] for t in SUBSETS for e in SUBSETS]
    atomic_write_text(out, csv_text(["alpha", "train_set", "eval_set", "value"], rows))
