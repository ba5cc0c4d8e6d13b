"""Representation quality of each experiment's pretrained model (issue 17 item 2): zero-shot retrieval
in its contrastive joint spaces, collapse statistics, and a linear probe per single modality.

Per experiment and evaluation split (the study tasks' eval splits; `--splits` adds others, e.g. the
pretraining split as a seen-data reference):
  retrieval   video-to-text and video-to-audio R@1 / R@5 among the split's clips that have both
              modalities (N of them), chance k/N beside; ties count as a random order among the tied.
              The spaces are the objective's heads: vatt v_vt.t_vt and v_va.a_va (objectives/vatt.py),
              pairwise z_video.z_text and z_video.z_audio (objectives/pairwise.py); mae has none (n/a).
  oracle      the R@k of an ideal concept-level scorer (from data/<dataset>/meta/synthetic_truth.csv):
              a video can only tell captions (sounds) apart by the concepts both modalities can show
              (carriers with V and T; V and A); it ranks first the captions whose such concepts equal
              its own, at random among them. Many clips share a key (40-60% of eval clips share none),
              so R@1 over N clips is bounded far below 1.
  collapse    per embedding, the norm of the mean unit vector (1 = every clip on one point), the mean
              cosine of paired and of unpaired clips, and their gap in units of the unpaired cosines'
              standard deviation (how far a pair stands out of the crowd).
  probe       a ridge-regression linear probe on one modality's embedding E_m (the downstream study's,
              models/vatt.py `embed`), trained on the task's train split (L2 penalty chosen on its
              validation part), scored on the eval split with the task metric, beside chance
              (report/chance.py); plus, where the pipeline's lp matrix is there, its single-modality
              diagonal (train and test on the same modality).

Reads the default pipeline's outputs (`make run` first); forward passes only.
Usage: python benchmarks/retrieval.py [--root .] [--experiments vatt ...] [--checkpoint NAME=PATH ...]
       [--splits pretrain] [--out benchmarks/results/retrieval.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import Counter
from pathlib import Path

import torch
from common import machine

from mmrobust.config import load_config, study_spec
from mmrobust.downstream.data import class_names, targets, validation_split
from mmrobust.downstream.embed import eval_batches
from mmrobust.evaluate.metrics import task_metric
from mmrobust.features.clips import ClipSet, read_index
from mmrobust.models.checkpoint import load_model
from mmrobust.report.chance import chance_level, read_labels

# (query, gallery) outputs of each objective's heads, per retrieval direction
SPACES = {
    "vatt": {"v2t": ("v_vt", "t_vt"), "v2a": ("v_va", "a_va")},
    "pairwise": {"v2t": ("z_video", "z_text"), "v2a": ("z_video", "z_audio")},
}
GALLERY = {"v2t": "text", "v2a": "audio"}
KS = (1, 5)
RIDGE = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


@torch.no_grad()
def outputs(model, clips: ClipSet, batch_size: int = 64) -> tuple[dict, dict, dict]:
    """(head outputs, per-modality embeddings E_m, has_<modality> flags) of every clip, in order."""
    model.eval()
    joint = model.cfg.objective in SPACES
    heads: dict[str, list] = {}
    embeds: dict[str, list] = {}
    flags: dict[str, list] = {}
    for batch in eval_batches(clips, batch_size):
        if joint:
            for k, v in model.objective.heads(model, model.encode(batch)).items():
                heads.setdefault(k, []).append(v.float())
        for m, z in model.embed(batch, ("video", "audio", "text")).items():
            embeds.setdefault(m, []).append(z.float())
        for m in ("video", "audio", "text"):
            flags.setdefault(m, []).append(batch[f"has_{m}"])
    cat = lambda d: {k: torch.cat(v) for k, v in d.items()}  # noqa: E731
    return cat(heads), cat(embeds), cat(flags)


def recall_at(sim: torch.Tensor, ks=KS) -> dict[str, float]:
    """R@k of query i retrieving gallery i; tied candidates in a random order (expected value)."""
    diag = sim.diagonal()[:, None]
    greater = (sim > diag).sum(1).double()
    equal = (sim == diag).sum(1).double()  # includes the pair itself
    out = {f"R@{k}": float(((k - greater) / equal).clamp(0, 1).mean()) for k in ks}
    out["median_rank"] = float((greater + (equal + 1) / 2).median())
    return out


def collapse(q: torch.Tensor, g: torch.Tensor) -> dict[str, float]:
    sim = q @ g.T
    off = ~torch.eye(len(q), dtype=torch.bool)
    paired, unpaired = sim.diagonal(), sim[off]
    return {
        "mean_norm_query": float(q.mean(0).norm()),
        "mean_norm_gallery": float(g.mean(0).norm()),
        "cos_paired": float(paired.mean()),
        "cos_unpaired": float(unpaired.mean()),
        "gap_in_sd": float((paired.mean() - unpaired.mean()) / unpaired.std()),
    }


def truth(root: Path, dataset: str) -> tuple[dict, dict] | None:
    """({clip id: {modality: shown concepts}}, {concept: carriers}) of a synthetic dataset, if there."""
    meta = root / "data" / dataset / "meta"
    if not (meta / "synthetic_truth.csv").exists():
        return None
    with open(meta / "synthetic_truth.csv", encoding="utf-8", newline="") as fh:
        rows = {
            r["id"]: {
                m: frozenset(x for x in r[f"shown_{m}"].split(";") if x) for m in ("video", "audio", "text")
            }
            for r in csv.DictReader(fh)
        }
    world = json.loads((meta / "synthetic_world.json").read_text())
    return rows, {c["name"]: c["carriers"] for c in world["concepts"]}


def keys(ids: list[str], gallery: str, shown: dict, carriers: dict) -> tuple[list, list]:
    """Per clip, the concepts its video shows and its gallery modality shows, of those both can show."""
    both = {c for c, car in carriers.items() if "V" in car and gallery[0].upper() in car}
    return [shown[i]["video"] & both for i in ids], [shown[i][gallery] & both for i in ids]


def oracle(kq: list, kg: list) -> dict[str, float]:
    """Expected R@k of ranking first, at random among them, the gallery items whose keys equal the
    video's (`keys`)."""
    count = Counter(kg)
    out = {f"R@{k}": sum(min(1.0, k / count[a]) for a, b in zip(kq, kg) if a == b) / len(kq) for k in KS}
    out["share_without_shared_concept"] = sum(not a for a in kq) / len(kq)
    return out


def concept_recall(q: torch.Tensor, g: torch.Tensor, kq: list, kg: list) -> dict[str, float]:
    """Concept-level R@1: how often the top-1 item (ties: at random) has the video's key, beside the
    rate of a random pick; counts near misses that the clip-level R@1 cannot tell from misses. And,
    within each modality, how much closer clips with the same key are than clips with different keys
    (in standard deviations of the latter): whether each tower encodes the shared concepts at all."""
    sim = q @ g.T
    same = torch.tensor([[a == b for b in kg] for a in kq])
    top = sim == sim.max(1, keepdim=True).values
    hit = ((top & same).sum(1) / top.sum(1)).mean()
    out = {"concept_R@1": float(hit), "concept_chance": float(same.double().mean(1).mean())}
    for side, z, k in (("query", q, kq), ("gallery", g, kg)):
        inner = z @ z.T
        match = torch.tensor([[a == b for b in k] for a in k])
        off = ~torch.eye(len(k), dtype=torch.bool)
        diff = inner[off & ~match]
        out[f"same_concepts_gap_sd_{side}"] = float((inner[off & match].mean() - diff.mean()) / diff.std())
    return out


def ridge_probe(xtr, ytr, xev, yev, kind: str, seed: int) -> tuple[float, float]:
    """(eval metric, chosen L2 penalty) of a ridge probe, the penalty picked on a validation quarter."""

    def fit(x, y, lam):
        mean = x.mean(0, keepdim=True)
        xc = torch.cat([x - mean, torch.ones(len(x), 1, dtype=x.dtype)], 1)
        reg = lam * torch.eye(xc.shape[1], dtype=x.dtype)
        reg[-1, -1] = 0
        w = torch.linalg.solve(xc.T @ xc + reg, xc.T @ y)
        return lambda z: torch.cat([z - mean, torch.ones(len(z), 1, dtype=z.dtype)], 1) @ w

    classes = 0 if kind == "multilabel" else int(max(ytr.max(), yev.max())) + 1

    def onehot(t):
        return t.double() if kind == "multilabel" else torch.nn.functional.one_hot(t, classes).double()

    tr, va = validation_split(len(xtr), 0.25, seed)
    best = max(
        RIDGE,
        key=lambda lam: task_metric(
            kind, fit(xtr[tr], onehot(ytr[tr]), lam)(xtr[va]).numpy(), ytr[va].numpy()
        ),
    )
    score = task_metric(kind, fit(xtr, onehot(ytr), best)(xev).numpy(), yev.numpy())
    return score, best


def pipeline_lp(root: Path, experiment: str, task: str) -> dict[str, float] | None:
    path = root / "results" / experiment / task / "lp" / "matrix.csv"
    if not path.exists():
        return None
    with open(path, encoding="utf-8", newline="") as fh:
        rows = {r["eval_set"]: r for r in csv.DictReader(fh)}
    return {m: round(float(rows[m][m]), 4) for m in ("V", "A", "T")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="the pipeline's folder (checkpoints/, features/, data/)")
    parser.add_argument("--config", nargs="+", default=None, help="default: <root>/config/config.yaml")
    parser.add_argument("--experiments", nargs="*", default=None, help="default: every configured one")
    parser.add_argument("--checkpoint", nargs="*", default=[], metavar="NAME=PATH", help="extra models")
    parser.add_argument("--splits", nargs="*", default=[], help="splits besides the tasks' eval splits")
    parser.add_argument("--no-probe", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/retrieval.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.root)
    config = load_config(args.config or [root / "config" / "config.yaml"])
    tasks = config["study"]["tasks"]
    models = {
        e: root / "checkpoints" / e / "model.pt"
        for e in (config["experiments"] if args.experiments is None else args.experiments)
    }
    models.update(dict(spec.split("=", 1) for spec in args.checkpoint))
    first = next(iter(tasks))
    features = study_spec("embed", config, first)["features"]
    dataset = tasks[first]["dataset"]
    features_dir = root / "features" / dataset
    splits = [t["eval"] for t in tasks.values()] + list(args.splits)
    clips = {s: ClipSet(features_dir, s, features) for s in splits}
    if not args.no_probe:
        for t in tasks.values():
            clips.setdefault(t["train"], ClipSet(features_dir, t["train"], features))
    known = truth(root, dataset)
    labels = read_labels(features_dir / "index.csv")
    rows = read_index(features_dir)
    report: dict = {
        "machine": machine(),
        "root": str(root.resolve()),
        "features": str(features_dir),
        "splits": splits,
        "experiments": {},
    }
    for name, path in models.items():
        start = time.perf_counter()
        model, _ = load_model(path)
        objective = model.cfg.objective
        done = {s: outputs(model, c) for s, c in clips.items()}
        entry: dict = {"checkpoint": str(path), "objective": objective, "splits": {}}
        for split in splits:
            heads, _, has = done[split]
            ids = clips[split].ids
            out: dict = {}
            for direction, gallery in GALLERY.items():
                valid = has["video"] & has[gallery]
                n = int(valid.sum())
                cell: dict = {"N": n, "chance": {f"R@{k}": k / n for k in KS}}
                if objective in SPACES:
                    qk, gk = SPACES[objective][direction]
                    q, g = heads[qk][valid], heads[gk][valid]
                    cell.update(recall_at(q @ g.T))
                    cell["R@1_over_chance"] = cell["R@1"] * n
                    cell["collapse"] = collapse(q, g)
                else:
                    cell["R@1"] = cell["R@5"] = None  # no joint space (mae)
                if known:
                    kq, kg = keys([i for i, v in zip(ids, valid.tolist()) if v], gallery, *known)
                    cell["oracle"] = oracle(kq, kg)
                    if objective in SPACES:
                        cell.update(concept_recall(q, g, kq, kg))
                out[direction] = cell
            entry["splits"][split] = out
        if not args.no_probe:
            probe = {}
            for task_name, task in tasks.items():
                classes = class_names(rows, (task["train"], task["eval"]), "retrieval")
                chance = chance_level(task, labels)
                cell = {"metric": "mAP" if task["kind"] == "multilabel" else "top-1", "chance": chance}
                for m in ("video", "audio", "text"):
                    _, etr, htr = done[task["train"]]
                    _, eev, hev = done[task["eval"]]
                    ytr = targets(clips[task["train"]].labels, classes, task["kind"])
                    yev = targets(clips[task["eval"]].labels, classes, task["kind"])
                    score, lam = ridge_probe(
                        etr[m][htr[m]].double(),
                        ytr[htr[m]],
                        eev[m][hev[m]].double(),
                        yev[hev[m]],
                        task["kind"],
                        config["seed"],
                    )
                    cell[m] = {"ridge": round(score, 4), "l2": lam}
                lp = pipeline_lp(root, name, task_name)
                if lp:
                    cell["pipeline_lp_diagonal"] = lp
                probe[task_name] = cell
            entry["probe"] = probe
        entry["seconds"] = round(time.perf_counter() - start, 2)
        report["experiments"][name] = entry
        print(summary_line(name, entry, splits))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


def summary_line(name: str, entry: dict, splits: list[str]) -> str:
    parts = [f"{name:<14}"]
    for split in splits:
        for direction in GALLERY:
            c = entry["splits"][split][direction]
            if c["R@1"] is None:
                parts.append(f"{split} {direction} n/a")
                continue
            parts.append(
                f"{split} {direction} R@1 {100 * c['R@1']:.1f}% ({c['R@1_over_chance']:.1f}x) "
                f"R@5 {100 * c['R@5']:.1f}% |m| {c['collapse']['mean_norm_query']:.2f} "
                f"concept {100 * c.get('concept_R@1', float('nan')):.0f}%"
            )
    return "  ".join(parts)


if __name__ == "__main__":
    main()
