"""Models: VATT-style encoders on timm ViT blocks, built by `create_model` from a named preset."""
from .config import PRESETS, ModelConfig, model_config
from .vatt import VATT, create_model

__all__ = ["PRESETS", "ModelConfig", "model_config", "VATT", "create_model"]
