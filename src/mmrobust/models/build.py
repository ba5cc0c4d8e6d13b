"""Which model class an objective trains, and a model from a checkpoint's config.

VATT's encoders carry the heads of every contrastive objective (vatt, pairwise: objectives/);
objective mae trains AV-MAE (avmae.py), a model of its own (`Objective.model == "avmae"`). This
dispatch is the one-time cost of the first objective that is not VATT's heads.
"""

from __future__ import annotations

from torch import nn

from ..objectives import DEFAULT, objective_class
from .avmae import AVMAE
from .config import MAEConfig, ModelConfig, config_from_dict, mae_config, model_config
from .vatt import create_model


def config_for(model: dict, features: dict, objective: str = DEFAULT) -> ModelConfig:
    """The model config of a pretrain spec's model section for `objective`."""
    if objective_class(objective).model == "avmae":
        return mae_config(model, features)
    return model_config(model, features, objective)


def build(cfg: ModelConfig) -> nn.Module:
    return AVMAE(cfg) if isinstance(cfg, MAEConfig) else create_model(cfg)


def from_dict(data: dict) -> nn.Module:
    """An untrained model of the class and config a checkpoint's `model_config` names."""
    return build(config_from_dict(data))
