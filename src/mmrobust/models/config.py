"""Model configs: named size presets (timm / open_clip style) plus the input shapes from `features`."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

# tiny: CPU and tests. base: ViT-B/16 encoders as in the papers (VATT's 4x16x16 video tubelets,
# seed 003's 16x16 spectrogram patches).
PRESETS: dict[str, dict] = {
    # tiny hashes CLIP's 49408 BPE ids into 4096 rows: the full table was 79% of its parameters
    # (a 16 MB checkpoint per fine-tuned model); the synthetic captions use a few hundred ids.
    "tiny": {"width": 64, "depth": 2, "heads": 2, "tubelet": [4, 14, 14], "audio_patch": [32, 32], "vocab_size": 4096},
    "base": {"width": 768, "depth": 12, "heads": 12, "tubelet": [4, 16, 16], "audio_patch": [16, 16]},
}


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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def model_config(model: dict, features: dict) -> ModelConfig:
    """The model section of a pretrain spec (preset + overrides) and the feature shapes it reads."""
    from ..features.audio import n_frames

    settings = {**PRESETS[model["preset"]], **{k: v for k, v in model.items() if k != "preset"}}
    return ModelConfig(
        num_frames=features["video"]["num_frames"], crop_size=features["video"]["crop_size"],
        n_mels=features["audio"]["n_mels"], audio_frames=n_frames(features["audio"]),
        context_length=features["text"]["context_length"], preset=model["preset"], **settings,
    )
