"""Pretraining throughput and model FLOPs utilisation (MFU) of the paper config on one GPU.

For config/paper.yaml's model (VATT-MA on ViT-B/16, 32 x 224^2 video, 8 s of 128-bin log-mel,
77 text tokens, DropToken 0.5), one full training step (forward, loss, per-triplet gradients and
realignment, backward, fused AdamW) under bf16 autocast, on device-resident random inputs, for:
    plain                      harmonization none                (eager, and torch.compile'd)
    realign representation     pcgrad on the shared video representation (eager, compiled)
    realign parameters         pcgrad on every shared parameter (torch.func; small batch: memory)
FLOPs: torch.utils.flop_counter.FlopCounterMode over one plain eager step (matmuls, convolutions,
attention; forward + backward), per sample. MFU = those model FLOPs x samples/s / the GPU's dense
bf16 peak; the realigned variants are scored with the plain step's FLOPs (their extra work is
overhead, not model FLOPs). Host syncs: the step run once under torch.cuda.set_sync_debug_mode.
Feeding: clips/s one CPU core prepares with the train transform (stored short side 320 ->
random 256-320 -> 224 crop, 32 frames), hence the cores a GPU needs.

Run on a GPU machine: PYTHONPATH=src python benchmarks/gpu_pretrain.py. On a CPU: --count-only
(the paper model's FLOPs per sample from a batch-2 step, the loader's clips/s per core, and what
40% MFU would ask of both), or --smoke (tiny shapes: the whole script runs).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import torch
import yaml
from common import machine
from torch.utils.flop_counter import FlopCounterMode

from mmrobust.features.video import train_transform
from mmrobust.harmonize import Harmonizer
from mmrobust.models.config import model_config
from mmrobust.models.vatt import create_model
from mmrobust.objectives import create
from mmrobust.schedule import adamw
from mmrobust.seeding import clip_generators
from mmrobust.train.step import train_step

# Dense bf16 tensor-core peaks (NVIDIA data sheets, TFLOP/s); matched against the device name.
PEAKS = {"H100 80GB HBM3": 989.4, "H100 PCIe": 756.0, "H100": 989.4, "H200": 989.4, "A100": 312.0}


def peak_tflops(name: str) -> float | None:
    return next((v for k, v in PEAKS.items() if k in name), None)


def inputs(cfg, batch: int, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator(device=device).manual_seed(0)
    return {
        "video": torch.rand(
            batch, 3, cfg.num_frames, cfg.crop_size, cfg.crop_size, device=device, generator=g
        ),
        "audio": torch.randn(batch, 1, cfg.n_mels, cfg.audio_frames, device=device, generator=g) * 4.5 - 4.3,
        "text": torch.randint(1, cfg.vocab_size, (batch, cfg.context_length), device=device, generator=g),
        **{
            f"has_{m}": torch.ones(batch, dtype=torch.bool, device=device) for m in ("video", "audio", "text")
        },
    }


class Trainer:
    """One model + optimizer; `step()` is one pretraining step of the given realignment."""

    def __init__(self, cfg, batch: int, device: torch.device, method: str, level: str, compiled: bool):
        torch.manual_seed(0)
        self.net = create_model(cfg).to(device)
        self.engine = torch.compile(self.net) if compiled else self.net
        self.optimizer = adamw(self.net, 1e-4, 0.05)
        self.batch = inputs(cfg, batch, device)
        gens = clip_generators(0, 0, 2, range(batch))
        keep = self.net.sample_keep(gens)
        self.keep = None if keep is None else {k: v.to(device) for k, v in keep.items()}
        self.harmonizer, self.level = Harmonizer(method), level
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast:
            train_step(
                self.net, self.batch, self.keep, create(), self.harmonizer, self.level, engine=self.engine
            )
        self.optimizer.step()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds_per_step(trainer: Trainer, device: torch.device, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        trainer.step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    synchronize(device)
    return (time.perf_counter() - start) / steps


def flops_per_step(trainer: Trainer) -> int:
    with FlopCounterMode(display=False) as counter:
        trainer.step()
    return counter.get_total_flops()


def host_syncs(trainer: Trainer, device: torch.device) -> int | None:
    """Synchronising calls in one step, as CUDA's sync debug mode reports them."""
    if device.type != "cuda":
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        trainer.step()
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def loader_clips_per_core(features: dict, clips: int) -> float:
    """Train-transformed clips per second on one core (stored frames -> model-ready video)."""
    v = features["video"]
    torch.set_num_threads(1)
    stored = torch.randint(
        0,
        256,
        (v["num_frames"], v["stored_short_side"], v["stored_short_side"] * 16 // 9, 3),
        dtype=torch.uint8,
    ).numpy()
    gens = clip_generators(0, 0, 2, range(clips + 1))
    train_transform(stored, tuple(v["train_short_side"]), v["crop_size"], gens[-1])
    start = time.perf_counter()
    for g in gens[:clips]:
        train_transform(stored, tuple(v["train_short_side"]), v["crop_size"], g)
    return clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/paper.yaml")
    parser.add_argument(
        "--batch", type=int, default=64, help="per-GPU batch of the plain and representation variants"
    )
    parser.add_argument(
        "--exact-batch",
        type=int,
        default=8,
        help="batch of the parameter-level variant (memory batch x params)",
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny shapes on CPU: checks that the script runs"
    )
    parser.add_argument(
        "--count-only", action="store_true", help="FLOPs and loader rate only (no timing of the step)"
    )
    parser.add_argument("--out", default="benchmarks/results/gpu_pretrain.json")
    args = parser.parse_args()
    config = yaml.safe_load(Path(args.config).read_text())
    features, model = config["features"], config["pretrain"]["model"]
    if args.smoke:
        features = {
            **features,
            "video": {
                **features["video"],
                "num_frames": 4,
                "crop_size": 32,
                "stored_short_side": 40,
                "train_short_side": [32, 40],
            },
            "audio": {**features["audio"], "seconds": 1.0},
        }
        model = {**model, "preset": "tiny", "tubelet": [2, 16, 16], "audio_patch": [16, 16]}
        args.batch, args.exact_batch, args.steps, args.warmup = 4, 2, 1, 1
    cfg = model_config(model, features)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    variants = {  # name: (method, level, compiled, batch)
        "plain": ("none", "representation", False, args.batch),
        "plain_compiled": ("none", "representation", True, args.batch),
        "realign_representation": ("pcgrad", "representation", False, args.batch),
        "realign_representation_compiled": ("pcgrad", "representation", True, args.batch),
        "realign_parameters": ("pcgrad", "parameters", False, args.exact_batch),
    }
    if device.type == "cpu":
        variants = {
            k: v for k, v in variants.items() if not v[2]
        }  # compiling needs a C++ toolchain run; GPU only
    counted = 2 if args.count_only else args.batch
    plain = Trainer(cfg, counted, device, "none", "representation", False)
    flops_per_sample = flops_per_step(plain) / counted
    if args.count_only:
        variants = {}
    syncs = host_syncs(plain, device)
    del plain
    peak = peak_tflops(torch.cuda.get_device_name()) if device.type == "cuda" else None
    results = {}
    for name, (method, level, compiled, batch) in variants.items():
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        trainer = Trainer(cfg, batch, device, method, level, compiled)
        seconds = seconds_per_step(trainer, device, args.warmup + (3 if compiled else 0), args.steps)
        rate = batch / seconds
        results[name] = {
            "batch": batch,
            "step_ms": round(seconds * 1e3, 2),
            "samples_per_s": round(rate, 2),
            "mfu": None if peak is None else round(flops_per_sample * rate / (peak * 1e12), 4),
            "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
            if device.type == "cuda"
            else None,
        }
        print(name, json.dumps(results[name]), flush=True)
        del trainer
    per_core = loader_clips_per_core(features, 4 if args.smoke else 16)
    # 40% of an H100 SXM's dense bf16 peak: the goal, as a rate the loader must sustain
    goal_rate = 0.4 * PEAKS["H100 80GB HBM3"] * 1e12 / flops_per_sample
    fastest = max([r["samples_per_s"] for r in results.values()] + [goal_rate])
    report = {
        "machine": machine(),
        "config": args.config,
        "smoke": args.smoke,
        "model": cfg.to_dict(),
        "flops_per_sample": flops_per_sample,
        "flops_counted_by": "torch.utils.flop_counter.FlopCounterMode, one plain eager step",
        "peak_bf16_tflops": peak,
        "host_syncs_per_plain_step": syncs,
        "variants": results,
        "samples_per_s_at_40pct_mfu_h100": round(goal_rate, 1),
        "loader": {
            "train_clips_per_s_per_core": round(per_core, 2),
            "cores_to_feed_fastest_variant_or_goal": round(fastest / per_core, 1),
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(
        json.dumps(
            {
                k: report[k]
                for k in (
                    "flops_per_sample",
                    "samples_per_s_at_40pct_mfu_h100",
                    "host_syncs_per_plain_step",
                    "loader",
                )
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
