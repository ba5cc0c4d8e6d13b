"""Step time of the harmonized step over the plain VATT step, on the same batch (ratios from one run).

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
import statistics
import time
from pathlib import Path

import torch
from common import machine

from mmrobust.config import load_config, stage_spec
from mmrobust.curriculum import batch_indices, step_generator
from mmrobust.harmonize import Harmonizer
from mmrobust.train.pretrain import build_model, loss_spec
from mmrobust.train.stages import clips_for
from mmrobust.train.step import train_step, weighted_terms


def plain_step(model, batch, keep, loss) -> None:
    out = model(batch, keep)
    part_va, part_vt = weighted_terms(out, batch, loss)
    (part_va.sum() + part_vt.sum()).backward()


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--features", default="features/synthetic")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results/harmonization_cost.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    spec = stage_spec("pretrain", load_config(args.config), "vatt")
    pre = spec["pretrain"]
    clips = clips_for(spec, Path(args.features))
    model = build_model(spec)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    idx = batch_indices(0, 1, len(clips), pre["batch_size"], spec["seed"])
    gen = step_generator(spec["seed"], 0, 2)
    batch = clips.batch(idx, gen, train=True)
    keep = model.sample_keep(len(idx), gen)
    loss = loss_spec(pre)

    def step(fn):
        def run():
            optimizer.zero_grad(set_to_none=True)
            fn()
            optimizer.step()
        return run

    t = {
        "plain": timed(step(lambda: plain_step(model, batch, keep, loss)), args.repeats),
        "cheap": timed(step(lambda: train_step(model, batch, keep, loss, Harmonizer("pcgrad"), "representation")), args.repeats),
        "exact": timed(step(lambda: train_step(model, batch, keep, loss, Harmonizer("pcgrad"), "parameters")), args.repeats),
    }
    shared = sum(p.numel() for n, p in model.named_parameters() if n in set(model.shared_parameter_names()))
    result = {"machine": machine(), "model": f"{pre['model']['preset']} {model.cfg.architecture}, {shared} shared parameters",
              "batch": len(idx), "ms_per_step": {k: round(v * 1000, 1) for k, v in t.items()},
              "cheap_over_plain": round(t["cheap"] / t["plain"], 2), "exact_over_plain": round(t["exact"] / t["plain"], 2)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
