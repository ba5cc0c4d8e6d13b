"""Checkpoints: a plain state dict saved with its model config; one loader for every stage.

Writes go to a temporary file renamed into place, so a kill never leaves a torn checkpoint.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from ..errors import MmrobustError
from ..fileio import atomic_write_bytes
from ..models.config import ModelConfig
from ..models.vatt import create_model


def save(path: str | os.PathLike, payload: dict) -> None:
    # Through memory: torch.save names the zip's inner folder after the file it writes to, and the
    # temporary file's random name would make identical checkpoints differ in their bytes.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def model_payload(model, **extra) -> dict:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {"model_config": model.cfg.to_dict(), "state_dict": state, **extra}


def read(path: str | os.PathLike) -> dict:
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise MmrobustError(f"{path}: checkpoint not found") from None
    except Exception as exc:  # a truncated or foreign file
        raise MmrobustError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None


def load_model(path: str | os.PathLike):
    """(model, payload) from a checkpoint written by `save(model_payload(...))`."""
    payload = read(path)
    if "model_config" not in payload or "state_dict" not in payload:
        raise MmrobustError(f"{path}: model_config / state_dict missing (not an mmrobust checkpoint)")
    model = create_model(ModelConfig.from_dict(payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    return model, payload
