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
from ..safeload import load_tensors
from .build import from_dict


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
    """A checkpoint's payload, loaded weights-only: a file from elsewhere cannot run code."""
    try:
        payload = load_tensors(Path(path))
    except FileNotFoundError:
        raise MmrobustError(f"{path}: checkpoint not found") from None
    if not isinstance(payload, dict):
        raise MmrobustError(
            f"{path}: not an mmrobust checkpoint (holds a {type(payload).__name__}, not a dict)"
        )
    return payload


def load_model(path: str | os.PathLike):
    """(model, payload) from a checkpoint written by `save(model_payload(...))`."""
    payload = read(path)
    if "model_config" not in payload or "state_dict" not in payload:
        raise MmrobustError(f"{path}: model_config / state_dict missing (not an mmrobust checkpoint)")
    model = from_dict(payload["model_config"])  # VATT, or AV-MAE for objective mae
    model.load_state_dict(payload["state_dict"])
    return model, payload
