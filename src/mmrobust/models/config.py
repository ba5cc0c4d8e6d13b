"""Model configs: named size presets (timm / open_clip style) plus the input shapes from `features`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..objectives import DEFAULT as DEFAULT_OBJECTIVE
from .presets import PRESETS  # noqa: F401  (re-exported: the presets' home is plain data)


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


def model_config(model: dict, features: dict, objective: str = DEFAULT_OBJECTIVE) -> ModelConfig:
    """The model section of a pretrain spec (preset + overrides), the feature shapes it reads and the
    objective whose heads it carries."""
    from ..features.audio import n_frames

    settings = {**PRESETS[model["preset"]], **{k: v for k, v in model.items() if k != "preset"}}
    return ModelConfig(
        num_frames=features["video"]["num_frames"],
        crop_size=features["video"]["crop_size"],
        n_mels=features["audio"]["n_mels"],
        audio_frames=n_frames(features["audio"]),
        context_length=features["text"]["context_length"],
        preset=model["preset"],
        objective=objective,
        **settings,
    )
