"""Exact per-triplet gradient cosines from ghost Gram matrices (train/ghost.py) next to a plain step
and to today's exact level (torch.func, train/step.py parameter_gradients): equality, wall-clock
ratios from one run at the default config's size, FLOPs and memory counted at the paper's size.

Timed (default config: tiny preset, VATT-MA, its DropToken setting, batch 16 of the default
pretraining split; every step is forward + loss + backward + AdamW update, the variants
interleaved round by round, see common.timed_interleaved):
  plain         the objective's step, no per-triplet gradients;
  ghost         plus every triplet's (K, K) Gram matrix over the shared parameters and its cosines
                (one activation-only backward per compared term, then per layer the cheaper form);
  ghost_pairs / ghost_materialised   the same with every weight forced into one form;
  ghost_batched the K backwards as one, vmapped over the terms (autograd's is_grads_batched);
  ghost_fused   the step's backward and the K as one, vmapped over K + 1 directions
                (ghost.gram_and_backward: the terms' batch parameter gradients are computed and dropped);
  exact         train_step at level `parameters` with realignment `none` (vmap(jacrev), cosines).
The exact step runs in its own interleaved pair (its large vmap buffers slow whatever follows it,
as in harmonization_cost.py). Pairwise (K = 3, `ms`) is timed the same way, ghost only.
Goal (issue 17 item 4): ghost / plain <= 1.5 with cosines equal to the exact ones within 1e-4.

Counted (config/paper.yaml's inputs, base preset, DropToken 0.5; VATT-MA and pairwise `ms`), on the
meta device, nothing timed: FlopCounterMode (matmuls, convolutions, attention) per sample over a
batch of 2 for the plain step's forward + backward, the ghost Gram's extra (its K activation-only
backwards and per-layer products; GhostGram.costs gives each weight's form) and the exact level's
extra counted as K full backwards of the per-triplet terms (what vmap(jacrev) computes per sample;
its memory is K x shared parameters x 4 bytes per triplet); ghost memory: the K per-term output
gradients it holds plus its largest per-weight transient.

Usage: python benchmarks/ghost_cost.py [--config FILE ...] [--features DIR] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch
from common import machine, timed_interleaved
from torch.utils.flop_counter import FlopCounterMode

from mmrobust.config import load_config, stage_spec
from mmrobust.curriculum import batch_indices
from mmrobust.harmonize import Harmonizer, triplet_score
from mmrobust.models.config import model_config
from mmrobust.models.vatt import create_model
from mmrobust.objectives import create, from_settings
from mmrobust.seeding import clip_generators
from mmrobust.train.ghost import GhostGram, gram_and_backward, gram_score, triplet_gram
from mmrobust.train.pretrain import build_model
from mmrobust.train.stages import clips_for
from mmrobust.train.step import parameter_gradients, train_step, weighted_terms


def plain_step(model, batch, keep, objective) -> None:
    out = model(batch, keep)
    sum(part.sum() for part in weighted_terms(objective, out, batch).values()).backward()


def ghost_step(model, batch, keep, objective, ghost: GhostGram) -> torch.Tensor:
    gram, out = triplet_gram(model, batch, keep, objective, ghost=ghost)
    sum(part.sum() for part in weighted_terms(objective, out, batch).values()).backward()
    return gram_score(gram)


def equality(model, batch, keep, objective) -> dict:
    """Ghost Gram matrices and cosines against those of parameter_gradients on the same batch."""
    gram, out = triplet_gram(model, batch, keep, objective)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*batching rule.*")
        grads, _ = parameter_gradients(model, batch, keep, out, objective)
    stacked = torch.stack(grads, dim=1).double()
    want = stacked @ stacked.transpose(1, 2)
    scale = want.diagonal(dim1=1, dim2=2).amax(-1).clamp_min(1e-30)[:, None, None]
    diff = (gram.double() - want).abs()
    cos = (gram_score(gram).double() - triplet_score([g.double() for g in grads])).abs()
    return {
        "gram_max_abs_diff": float(diff.max()),
        "gram_max_rel_diff": float((diff / scale).max()),
        "cosine_max_abs_diff": float(cos.max()),
    }


def timed(args) -> dict:
    spec = stage_spec("pretrain", load_config(args.config), "vatt")
    pre = spec["pretrain"]
    clips = clips_for(spec, Path(args.features))
    model = build_model(spec)
    idx = batch_indices(0, 1, len(clips), pre["batch_size"], spec["seed"])
    gens = clip_generators(spec["seed"], 0, 2, range(len(idx)))
    batch = clips.batch(idx, gens, train=True)
    keep = model.sample_keep(gens)
    loss = from_settings(pre)
    torch.manual_seed(spec["seed"])
    pairwise = create_model(
        model_config({**pre["model"], "architecture": "ms"}, spec["features"], "pairwise")
    )
    pairwise_loss = create("pairwise")
    pairwise_keep = pairwise.sample_keep(gens)

    def step(net, fn):
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)

        def run():
            optimizer.zero_grad(set_to_none=True)
            fn()
            optimizer.step()

        return run

    shared = model.shared_parameter_names()
    forms = {mode: GhostGram(model, shared, mode) for mode in ("auto", "ghost", "materialise")}
    forms["batched"] = GhostGram(model, shared, "auto", batched=True)
    ghosts = timed_interleaved(
        {
            "plain": step(model, lambda: plain_step(model, batch, keep, loss)),
            "ghost": step(model, lambda: ghost_step(model, batch, keep, loss, forms["auto"])),
            "ghost_pairs": step(model, lambda: ghost_step(model, batch, keep, loss, forms["ghost"])),
            "ghost_materialised": step(
                model, lambda: ghost_step(model, batch, keep, loss, forms["materialise"])
            ),
            "ghost_batched": step(model, lambda: ghost_step(model, batch, keep, loss, forms["batched"])),
            "ghost_fused": step(
                model, lambda: gram_score(gram_and_backward(model, batch, keep, loss, forms["auto"])[0])
            ),
        },
        args.repeats,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*batching rule.*")
        exact = timed_interleaved(
            {
                "plain": step(model, lambda: plain_step(model, batch, keep, loss)),
                "exact": step(
                    model, lambda: train_step(model, batch, keep, loss, Harmonizer("none"), "parameters")
                ),
            },
            args.repeats,
        )
    pw_ghost = GhostGram(pairwise, pairwise.shared_parameter_names())
    pw = timed_interleaved(
        {
            "plain": step(pairwise, lambda: plain_step(pairwise, batch, pairwise_keep, pairwise_loss)),
            "ghost": step(
                pairwise, lambda: ghost_step(pairwise, batch, pairwise_keep, pairwise_loss, pw_ghost)
            ),
        },
        args.repeats,
    )
    count = lambda net: sum(  # noqa: E731
        p.numel() for n, p in net.named_parameters() if n in set(net.shared_parameter_names())
    )
    return {
        "config": " + ".join(args.config),
        "model": f"{pre['model']['preset']} {model.cfg.architecture} (drop_token {model.cfg.drop_token}), "
        f"{count(model)} shared parameters; pairwise ms, {count(pairwise)}",
        "batch": len(idx),
        "equality": {
            "vatt": equality(model, batch, keep, loss),
            "pairwise": equality(pairwise, batch, pairwise_keep, pairwise_loss),
        },
        "forms_chosen": {c["name"]: c["form"] for c in forms["auto"].costs},
        "ms": {
            "vatt_ghost_rotation": {k: round(v * 1000, 1) for k, v in ghosts.items()},
            "vatt_exact_rotation": {k: round(v * 1000, 1) for k, v in exact.items()},
            "pairwise_rotation": {k: round(v * 1000, 1) for k, v in pw.items()},
        },
        "ghost_over_plain": round(ghosts["ghost"] / ghosts["plain"], 2),
        "ghost_pairs_over_plain": round(ghosts["ghost_pairs"] / ghosts["plain"], 2),
        "ghost_materialised_over_plain": round(ghosts["ghost_materialised"] / ghosts["plain"], 2),
        "ghost_batched_over_plain": round(ghosts["ghost_batched"] / ghosts["plain"], 2),
        "ghost_fused_over_plain": round(ghosts["ghost_fused"] / ghosts["plain"], 2),
        "exact_over_plain": round(exact["exact"] / exact["plain"], 2),
        "pairwise_ghost_over_plain": round(pw["ghost"] / pw["plain"], 2),
    }


def count_paper(model, objective, batch, keep, size: int) -> dict:
    """Per sample: FLOPs of the plain step, of the ghost Gram's extra, of the exact level's extra; the
    memory of each."""
    shared = model.shared_parameter_names()
    ghost = GhostGram(model, shared)
    params = dict(model.named_parameters())
    with FlopCounterMode(display=False) as forward:
        with ghost.record():
            out = model(batch, keep)
        total = sum(part.sum() for part in weighted_terms(objective, out, batch).values())
    own = weighted_terms(objective, out, batch, own=True)
    with FlopCounterMode(display=False) as extra:
        ghost.gram([own[t] for t in objective.compare])
    with FlopCounterMode(display=False) as exact:
        for t in objective.compare:
            torch.autograd.grad(
                own[t].sum(), [params[n] for n in shared], retain_graph=True, allow_unused=True
            )
    with FlopCounterMode(display=False) as backward:
        total.backward()
    plain = forward.get_total_flops() + backward.get_total_flops()
    k, count = len(objective.compare), sum(params[n].numel() for n in shared)
    largest = max(ghost.costs, key=lambda c: c["bytes"])
    forms = {}
    for c in ghost.costs:
        forms[c["form"]] = forms.get(c["form"], 0) + 1
    return {
        "k": k,
        "shared_parameters_m": round(count / 1e6, 1),
        "gflops_plain_step_per_sample": round(plain / size / 1e9, 1),
        "gflops_ghost_extra_per_sample": round(extra.get_total_flops() / size / 1e9, 1),
        "gflops_exact_extra_per_sample": round(exact.get_total_flops() / size / 1e9, 1),
        "ghost_step_over_plain_flops": round((plain + extra.get_total_flops()) / plain, 2),
        "exact_step_over_plain_flops": round((plain + exact.get_total_flops()) / plain, 2),
        "ghost_weights_by_form": forms,
        "ghost_output_gradients_mb_per_sample": round(ghost.delta_bytes / size / 2**20, 1),
        "ghost_largest_transient_mb_per_sample": round(largest["bytes"] / 2**20, 1),
        "ghost_largest_transient_weight": f"{largest['name']} ({largest['form']}, T {largest['tokens']})",
        "exact_gradients_mb_per_triplet": round(k * count * 4 / 2**20, 1),
    }


def counted() -> dict:
    features = load_config(["config/paper.yaml"])["features"]
    meta, size = torch.device("meta"), 2
    text = torch.zeros(size, features["text"]["context_length"], dtype=torch.long)
    text[:, :20] = torch.arange(1, 21)  # a 20-token caption
    out = {}
    for name, arch in (("vatt", "ma"), ("pairwise", "ms")):
        with meta:
            model = create_model(
                model_config({"preset": "base", "architecture": arch, "drop_token": 0.5}, features, name)
            )
        batch = {
            "video": torch.empty(size, 3, features["video"]["num_frames"], 224, 224, device=meta),
            "audio": torch.empty(size, 1, model.cfg.n_mels, model.cfg.audio_frames, device=meta),
            "text": text.to(meta),
            **{
                f"has_{m}": torch.ones(size, dtype=torch.bool, device=meta)
                for m in ("video", "audio", "text")
            },
        }
        keep = model.sample_keep(clip_generators(0, 0, 3, range(size)))
        keep = {m: k.to(meta) for m, k in keep.items()}
        out[f"{name}_{arch}_drop_token_0.5"] = count_paper(model, create(name), batch, keep, size)
    out["tokens_per_clip"] = {**model.token_counts(), "text": model.cfg.context_length}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--features", default="features/synthetic")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/ghost_cost.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    result = {"machine": machine(), "timed": timed(args), "counted_paper_size": counted()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
