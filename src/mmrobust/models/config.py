"""Model configs: named size presets (timm / open_clip style) plus the input shapes from `features`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..objectives import DEFAULT as DEFAULT_OBJECTIVE
from .presets import MAE_PRESETS, PRESETS  # noqa: F401  (re-exported: the presets' home is plain data)


@dataclass(frozen=True)
class ModelConfig:
    width: int
    depth: int
    heads: int
    tubelet: list[int]  # frames, height, width of one video token
    audio_patch: list[int]  # mel bins, time frames of one audio token
    num_frames: int
    crop_size: int
    n_mels: int
    audio_frames: int
    context_length: int
    architecture: str = "ms"  # ms: one encoder per modality; ma: one modality-agnostic backbone (VATT-MA)
    mlp_ratio: float = 4.0
    va_dim: int = 512
    vt_dim: int = 256
    drop_token: float = 0.5
    vocab_size: int = 49408  # CLIP's BPE; fewer rows hash the ids (id mod vocab_size)
    preset: str = field(default="custom", compare=False)
    objective: str = DEFAULT_OBJECTIVE  # its heads (src/mmrobust/objectives/)

    def to_dict(self) -> dict:
        """As saved in checkpoints: the default objective is left out, so that a vatt checkpoint's
        bytes are what they were before objectives were named (absent reads as vatt)."""
        out = asdict(self)
        if out["objective"] == DEFAULT_OBJECTIVE:
            del out["objective"]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class MAEConfig(ModelConfig):
    """AV-MAE (models/avmae.py): ModelConfig's encoder and input sizes plus masking and the decoder.
    A subclass rather than new ModelConfig fields, so that a VATT config's to_dict(), saved in every
    checkpoint, keeps its keys. `architecture` names the model; ModelConfig.from_dict of an MAE dict
    keeps "avmae" there, which VATT refuses, so an MAE checkpoint never loads as a VATT one."""

    architecture: str = "avmae"
    objective: str = "mae"
    mask_ratio: float = 0.75  # video and audio tokens hidden from the encoder (AV-MAE)
    text_mask_ratio: float = 0.5  # of a caption's tokens (M3AE's language ratio; ours)
    decoder_width: int = 512
    decoder_depth: int = 8
    decoder_heads: int = 16
    norm_pix_loss: bool = True  # targets: each patch normalised by its own mean and variance (MAE)

    def __post_init__(self):
        # The embeddings E_m are `width` wide; vt_dim is what downstream.Classifier sizes its head by.
        object.__setattr__(self, "vt_dim", self.width)


def config_from_dict(data: dict) -> ModelConfig:
    """A checkpoint's model_config dict as the config class that wrote it."""
    return (MAEConfig if data.get("architecture") == "avmae" else ModelConfig).from_dict(data)


def _config(cls: type, settings: dict, model: dict, features: dict, **extra):
    from ..features.audio import n_frames

    return cls(
        num_frames=features["video"]["num_frames"],
        crop_size=features["video"]["crop_size"],
        n_mels=features["audio"]["n_mels"],
        audio_frames=n_frames(features["audio"]),
        context_length=features["text"]["context_length"],
        preset=model["preset"],
        **extra,
        **{**settings, **{k: v for k, v in model.items() if k != "preset"}},
    )


def model_config(model: dict, features: dict, objective: str = DEFAULT_OBJECTIVE) -> ModelConfig:
    """The model section of a pretrain spec (preset + overrides), the feature shapes it reads and the
    objective whose heads it carries."""
    return _config(ModelConfig, PRESETS[model["preset"]], model, features, objective=objective)


def mae_config(model: dict, features: dict) -> MAEConfig:
    """model_config for AV-MAE: the preset's encoder sizes, its MAE_PRESETS decoder, the overrides.
    The section's `architecture` (VATT's ms / ma, set for every experiment) does not apply."""
    preset = model["preset"]
    overrides = {k: v for k, v in model.items() if k != "architecture"}
    return _config(MAEConfig, {**PRESETS[preset], **MAE_PRESETS[preset]}, overrides, features)
