"""Initialise a VATT model from a CLIP checkpoint file (open_clip format), offline.

What is copied, where the shapes agree (the papers: CLIP ViT-B/16 into ViT-B/16 encoders):
  visual transformer blocks   -> the video and audio encoders (ms) or the shared backbone (ma)
  text transformer blocks     -> the text encoder (ms only; CLIP's text tower is narrower than its
                                 image tower)
  visual.ln_post / ln_final   -> the encoders' final norms
  visual.conv1 (W, 3, p, p)   -> video tubelets, inflated over time and divided by its length (I3D);
                                 audio patches, summed over RGB (AST)
  class_embedding             -> the video and audio [AGG] tokens
  token_embedding, text positions -> the text tokenizer
CLIP blocks map onto timm blocks one to one (ln_1 -> norm1, attn.in_proj -> attn.qkv,
attn.out_proj -> attn.proj, ln_2 -> norm2, mlp.c_fc -> mlp.fc1, mlp.c_proj -> mlp.fc2). Not
copied: ln_pre, position embeddings of images (other geometry), projections (but where the
objective maps them: pairwise's per-modality projections, objectives/pairwise.py). OpenAI's CLIP uses
QuickGELU where timm blocks use GELU, so copied MLPs are an approximation there.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import MmrobustError
from ..safeload import load_tensors

_BLOCK = {
    "ln_1": "norm1",
    "attn.in_proj_weight": "attn.qkv.weight",
    "attn.in_proj_bias": "attn.qkv.bias",
    "attn.out_proj": "attn.proj",
    "ln_2": "norm2",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}


def _block_key(clip_key: str) -> str:
    for old, new in _BLOCK.items():
        if clip_key.startswith(old):
            return new + clip_key[len(old) :]
    return clip_key


def clip_targets(model, clip: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state-dict key -> the tensor taken from the CLIP state dict (before shape checks)."""
    ma = model.cfg.architecture == "ma"
    towers = {
        "visual.transformer.resblocks.": ["backbone.blocks."]
        if ma
        else ["encoders.video.blocks.", "encoders.audio.blocks."]
    }
    if not ma:
        towers["transformer.resblocks."] = ["encoders.text.blocks."]
    out: dict[str, torch.Tensor] = {}
    for key, value in clip.items():
        for prefix, targets in towers.items():
            if key.startswith(prefix):
                index, _, rest = key[len(prefix) :].partition(".")
                for target in targets:
                    out[f"{target}{index}.{_block_key(rest)}"] = value
    norms = {"visual.ln_post": ["backbone.norm"] if ma else ["encoders.video.norm", "encoders.audio.norm"]}
    if not ma:
        norms["ln_final"] = ["encoders.text.norm"]
    for source, targets in norms.items():
        for target in targets:
            for part in ("weight", "bias"):
                if f"{source}.{part}" in clip:
                    out[f"{target}.{part}"] = clip[f"{source}.{part}"]
    if "visual.conv1.weight" in clip:
        conv = clip["visual.conv1.weight"]
        frames = model.cfg.tubelet[0]
        out["video.proj.weight"] = conv[:, :, None].repeat(1, 1, frames, 1, 1) / frames
        out["audio.proj.weight"] = conv.sum(dim=1, keepdim=True)
    if "visual.class_embedding" in clip:
        for modality in ("video", "audio"):
            out[f"agg.{modality}"] = clip["visual.class_embedding"].view(1, 1, -1)
    if "token_embedding.weight" in clip:
        out["text.embed.weight"] = clip["token_embedding.weight"]
    if "positional_embedding" in clip:
        out["text.pos"] = clip["positional_embedding"][: model.cfg.context_length][None]
    out.update(model.objective.clip_targets(model, clip))  # the objective's heads (pairwise: projections)
    return out


def read_clip(path: str | Path) -> dict[str, torch.Tensor]:
    """The CLIP state dict in the file, as open_clip's load_state_dict reads it (safetensors, a bare
    state dict, or {"state_dict": ...} with DataParallel's `module.` prefixes), but weights-only:
    a downloaded .pt cannot run code. TorchScript archives (OpenAI's original files) are refused."""
    try:
        if str(path).endswith(".safetensors"):
            from safetensors.torch import load_file

            clip = load_file(str(path), device="cpu")
        else:
            clip = load_tensors(path, "CLIP checkpoint")
    except FileNotFoundError:
        raise MmrobustError(f"{path}: init.path: CLIP checkpoint not found") from None
    except MmrobustError as exc:  # "<path>: refused ..." -> "<path>: init.path: refused ..."
        raise MmrobustError(f"{path}: init.path: {str(exc).removeprefix(f'{path}: ')}") from None
    except Exception as exc:  # a damaged safetensors file
        raise MmrobustError(
            f"{path}: init.path: not a readable CLIP checkpoint ({type(exc).__name__}: {exc})"
        ) from None
    if isinstance(clip, dict) and isinstance(clip.get("state_dict"), dict):
        clip = clip["state_dict"]
    if not isinstance(clip, dict) or not clip or not all(isinstance(v, torch.Tensor) for v in clip.values()):
        raise MmrobustError(f"{path}: init.path: not a CLIP state dict (expected names -> tensors)")
    return {(k[len("module.") :] if str(k).startswith("module.") else k): v for k, v in clip.items()}


def init_from_clip(model, path: str | Path) -> dict[str, list[str]]:
    """Copy every CLIP tensor whose shape fits; returns {"copied": [...], "skipped": [...]} (our keys)."""
    clip = read_clip(path)
    own = model.state_dict()
    copied, skipped = [], []
    with torch.no_grad():
        for key, value in clip_targets(model, clip).items():
            if key in own and own[key].shape == value.shape:
                own[key].copy_(value.to(own[key].dtype))
                copied.append(key)
            else:
                skipped.append(key)
    if not copied:
        raise MmrobustError(
            f"{path}: init.path: no CLIP tensor fits this model (CLIP width "
            f"{clip.get('visual.conv1.weight', torch.empty(0)).shape[:1]} vs model width {model.cfg.width})"
        )
    print(f"CLIP init from {Path(path).name}: {len(copied)} tensors copied, {len(skipped)} did not fit")
    return {"copied": sorted(copied), "skipped": sorted(skipped)}
