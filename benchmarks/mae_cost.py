"""What AV-MAE costs next to VATT: wall-clock ratios from one run on this machine at the default
config's size, and count-only FLOPs and memory per sample at the papers' size.

Timed (default config, tiny preset, one real batch of the default pretraining split; each a
forward + loss + backward, the variants interleaved round by round, see common.timed_interleaved):
  vatt_step      VATT (the default model, its DropToken setting): both contrastive losses;
  pairwise_step  seed 003's contrastive model (per-modality encoders, InfoNCE on the three pairs);
  mae_step       AV-MAE: encoder on the visible tokens, decoder, the three reconstruction terms;
  encoder_25     AV-MAE's encoder alone (output summed, backward) on the visible video / audio
                 tokens at mask ratio 0.75 (captions always keep their length: see models/avmae.py);
  encoder_full   the same encoder on every token (mask ratio 0).
Anchor: MAE (He et al. 2022) and MAE-ST (Feichtenhofer et al. 2022) report 3-4x wall-clock
speed-ups of the encoder from running it on the visible 25% (10% for MAE-ST's video).

Counted (config/paper.yaml's inputs, base preset: ViT-B/16 encoders, 32 frames of 224 px in 4x16x16
tubelets, 8 s of 128-bin log-mel in 16x16 patches, 77 text tokens), on the meta device, nothing
timed: torch.utils.flop_counter.FlopCounterMode over forward + backward of a batch of 2 (per
sample = half); activations = bytes of the tensors autograd saves for the backward (float32, no
checkpointing; a tensor saved twice counts twice, so an upper bound); training state = parameters,
gradients and AdamW's two moments (16 bytes per parameter).

Usage: python benchmarks/mae_cost.py [--config FILE ...] [--features DIR] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from common import machine, timed_interleaved
from torch.utils.flop_counter import FlopCounterMode

from mmrobust.config import load_config, stage_spec
from mmrobust.curriculum import batch_indices
from mmrobust.models.avmae import AVMAE, batch_loss, sample_masks
from mmrobust.models.config import mae_config, model_config
from mmrobust.models.vatt import create_model
from mmrobust.objectives import create, from_settings
from mmrobust.seeding import clip_generators
from mmrobust.train.stages import clips_for
from mmrobust.train.step import weighted_terms


def vatt_step(model, batch, keep, objective) -> torch.Tensor:
    parts = weighted_terms(objective, model(batch, keep), batch)
    return sum(part.sum() for part in parts.values())


def mae_step(model: AVMAE, batch, masks) -> torch.Tensor:
    encoded, _, visible = model.encode_visible(batch, masks)
    return batch_loss(model.terms(batch, masks, model.decode(batch, encoded, visible)))


def encoder_only(model: AVMAE, batch, masks) -> torch.Tensor:
    return model.encode_visible(batch, masks)[0].sum()


def full_masks(model: AVMAE, batch, gens):
    return sample_masks(model.token_counts(), 0.0, 0.0, batch["text"], gens)


def timed(args) -> dict:
    spec = stage_spec("pretrain", load_config(args.config), "vatt")
    pre = spec["pretrain"]
    clips = clips_for(spec, Path(args.features))
    torch.manual_seed(0)
    vatt = create_model(model_config(pre["model"], spec["features"]))
    pairwise = create_model(
        model_config({**pre["model"], "architecture": "ms"}, spec["features"], "pairwise")
    )
    mae = AVMAE(mae_config(pre["model"], spec["features"]))
    idx = batch_indices(0, 1, len(clips), pre["batch_size"], spec["seed"])
    gens = clip_generators(spec["seed"], 0, 2, range(len(idx)))
    batch = clips.batch(idx, gens, train=True)
    keep = vatt.sample_keep(clip_generators(spec["seed"], 0, 3, range(len(idx))))
    masks = mae.sample_masks(batch["text"], clip_generators(spec["seed"], 0, 3, range(len(idx))))
    full = full_masks(mae, batch, clip_generators(spec["seed"], 0, 3, range(len(idx))))
    loss = from_settings(pre)
    pairwise_loss = create("pairwise")
    pairwise_keep = pairwise.sample_keep(clip_generators(spec["seed"], 0, 3, range(len(idx))))

    def run(model, fn):
        def step():
            model.zero_grad(set_to_none=True)
            fn().backward()

        return step

    steps = timed_interleaved(
        {
            "vatt_step": run(vatt, lambda: vatt_step(vatt, batch, keep, loss)),
            "pairwise_step": run(pairwise, lambda: vatt_step(pairwise, batch, pairwise_keep, pairwise_loss)),
            "mae_step": run(mae, lambda: mae_step(mae, batch, masks)),
        },
        args.repeats,
    )
    encoders = timed_interleaved(
        {
            "encoder_25": run(mae, lambda: encoder_only(mae, batch, masks)),
            "encoder_full": run(mae, lambda: encoder_only(mae, batch, full)),
        },
        args.repeats,
    )
    counts = mae.token_counts()
    return {
        "config": " + ".join(args.config),
        "model": f"{pre['model']['preset']}: VATT {vatt.cfg.architecture} (drop_token {vatt.cfg.drop_token}) "
        f"vs AV-MAE (decoder {mae.cfg.decoder_width} x {mae.cfg.decoder_depth})",
        "batch": len(idx),
        "tokens_per_clip": {
            "full": {**counts, "text": mae.cfg.context_length},
            "encoder_25": {m: masks.keep[m].shape[1] for m in counts} | {"text": mae.cfg.context_length},
        },
        "ms": {k: round(v * 1000, 1) for k, v in {**steps, **encoders}.items()},
        "mae_step_over_vatt_step": round(steps["mae_step"] / steps["vatt_step"], 2),
        "mae_step_over_pairwise_step": round(steps["mae_step"] / steps["pairwise_step"], 2),
        "encoder_full_over_encoder_25": round(encoders["encoder_full"] / encoders["encoder_25"], 2),
    }


class SavedBytes:
    """Bytes of the tensors autograd saves for the backward (meta tensors have sizes, no data)."""

    def __init__(self):
        self.total = 0

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        self.total += t.numel() * t.element_size()
        return t


def count(model: torch.nn.Module, fn, batch_size: int) -> dict:
    saved = SavedBytes()
    with FlopCounterMode(display=False) as forward:
        with torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
            out = fn()
    with FlopCounterMode(display=False) as backward:
        out.backward()
    params = sum(p.numel() for p in model.parameters())
    return {
        "gflops_forward_per_sample": round(forward.get_total_flops() / batch_size / 1e9, 1),
        "gflops_train_per_sample": round(
            (forward.get_total_flops() + backward.get_total_flops()) / batch_size / 1e9, 1
        ),
        "activation_mb_per_sample": round(saved.total / batch_size / 2**20, 1),
        "parameters_m": round(params / 1e6, 1),
        "training_state_mb": round(16 * params / 2**20, 1),
    }


def counted(args) -> dict:
    features = load_config(["config/paper.yaml"])["features"]
    meta, size = torch.device("meta"), 2
    text = torch.zeros(size, features["text"]["context_length"], dtype=torch.long)
    text[:, :20] = torch.arange(1, 21)  # a 20-token caption (CLIP BPE ids are all non-zero)
    batch = {
        "video": torch.empty(size, 3, features["video"]["num_frames"], 224, 224, device=meta),
        "text": text.to(meta),
        **{f"has_{m}": torch.ones(size, dtype=torch.bool, device=meta) for m in ("video", "audio", "text")},
    }
    gens = lambda: clip_generators(0, 0, 3, range(size))  # noqa: E731
    out = {}
    with meta:
        mae = AVMAE(mae_config({"preset": "base"}, features))
        vatts = {
            drop: create_model(
                model_config({"preset": "base", "architecture": "ms", "drop_token": drop}, features)
            )
            for drop in (0.5, 0.0)  # VATT's DropToken (paper.yaml: 0.5), and none
        }
        pairwise = create_model(
            model_config({"preset": "base", "architecture": "ms", "drop_token": 0.5}, features, "pairwise")
        )
    batch["audio"] = torch.empty(size, 1, mae.cfg.n_mels, mae.cfg.audio_frames, device=meta)
    masks = sample_masks(mae.token_counts(), mae.cfg.mask_ratio, mae.cfg.text_mask_ratio, text, gens()).to(
        meta
    )
    full = full_masks(mae, {"text": text}, gens()).to(meta)
    out["avmae"] = count(mae, lambda: mae_step(mae, batch, masks), size)
    out["avmae_encoder_25"] = count(mae, lambda: encoder_only(mae, batch, masks), size)
    out["avmae_encoder_full"] = count(mae, lambda: encoder_only(mae, batch, full), size)
    loss = create("vatt")
    for drop, vatt in vatts.items():
        keep = vatt.sample_keep(gens())
        keep = None if keep is None else {m: k.to(meta) for m, k in keep.items()}
        out[f"vatt_ms_drop_token_{drop}"] = count(vatt, lambda: vatt_step(vatt, batch, keep, loss), size)
    keep = pairwise.sample_keep(gens())
    keep = None if keep is None else {m: k.to(meta) for m, k in keep.items()}
    out["pairwise_ms_drop_token_0.5"] = count(
        pairwise, lambda: vatt_step(pairwise, batch, keep, create("pairwise")), size
    )
    out["tokens_per_clip"] = {**mae.token_counts(), "text": mae.cfg.context_length}
    ratio = (
        out["avmae_encoder_full"]["gflops_train_per_sample"]
        / out["avmae_encoder_25"]["gflops_train_per_sample"]
    )
    out["encoder_full_over_encoder_25_flops"] = round(ratio, 2)
    for drop in (0.5, 0.0):
        out[f"avmae_over_vatt_drop_token_{drop}_flops"] = round(
            out["avmae"]["gflops_train_per_sample"]
            / out[f"vatt_ms_drop_token_{drop}"]["gflops_train_per_sample"],
            2,
        )
    out["avmae_over_pairwise_drop_token_0.5_flops"] = round(
        out["avmae"]["gflops_train_per_sample"]
        / out["pairwise_ms_drop_token_0.5"]["gflops_train_per_sample"],
        2,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--features", default="features/synthetic")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/mae_cost.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    result = {"machine": machine(), "timed": timed(args), "counted_paper_size": counted(args)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
