"""Step time of the harmonized step over the plain VATT step, on the same batch (ratios from one run,
the variants interleaved round by round so that the machine's noise falls on all of them).

Steps, each forward + loss + backward + AdamW update of the default config's model on one real
batch of the default pretraining split (batch size from the config):
  plain            VATT: no per-triplet gradients at all;
  cheap (repr.)    PCGrad on per-triplet gradients w.r.t. the shared video representation;
  exact (params)   PCGrad on per-triplet gradients w.r.t. every shared parameter (torch.func).
Goal (issue 4): the default (cheap) harmonized step at most 1.3x the plain one.

Usage: python benchmarks/harmonization_cost.py [--config FILE ...] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from common import machine, timed_interleaved

from mmrobust.config import load_config, stage_spec
from mmrobust.curriculum import batch_indices
from mmrobust.harmonize import Harmonizer
from mmrobust.objectives import from_settings
from mmrobust.seeding import clip_generators
from mmrobust.train.pretrain import build_model
from mmrobust.train.stages import clips_for
from mmrobust.train.step import train_step, weighted_terms


def plain_step(model, batch, keep, objective) -> None:
    out = model(batch, keep)
    sum(part.sum() for part in weighted_terms(objective, out, batch).values()).backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--features", default="features/synthetic")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/harmonization_cost.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    spec = stage_spec("pretrain", load_config(args.config), "vatt")
    pre = spec["pretrain"]
    clips = clips_for(spec, Path(args.features))
    model = build_model(spec)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    idx = batch_indices(0, 1, len(clips), pre["batch_size"], spec["seed"])
    gens = clip_generators(spec["seed"], 0, 2, range(len(idx)))
    batch = clips.batch(idx, gens, train=True)
    keep = model.sample_keep(gens)
    loss = from_settings(pre)

    def step(fn):
        def run():
            optimizer.zero_grad(set_to_none=True)
            fn()
            optimizer.step()

        return run

    plain = step(lambda: plain_step(model, batch, keep, loss))
    variants = {
        "cheap": step(lambda: train_step(model, batch, keep, loss, Harmonizer("pcgrad"), "representation")),
        "exact": step(lambda: train_step(model, batch, keep, loss, Harmonizer("pcgrad"), "parameters")),
    }
    # Each ratio from its own interleaved pair: the exact step's large vmap buffers change the
    # timing of whatever runs next, so it is kept out of the plain-vs-cheap rotation.
    pairs = {
        name: timed_interleaved({"plain": plain, name: fn}, args.repeats) for name, fn in variants.items()
    }
    shared = sum(p.numel() for n, p in model.named_parameters() if n in set(model.shared_parameter_names()))
    result = {
        "machine": machine(),
        "model": f"{pre['model']['preset']} {model.cfg.architecture}, {shared} shared parameters",
        "batch": len(idx),
        "ms_per_step": {name: {k: round(v * 1000, 1) for k, v in t.items()} for name, t in pairs.items()},
        **{f"{name}_over_plain": round(t[name] / t["plain"], 2) for name, t in pairs.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
