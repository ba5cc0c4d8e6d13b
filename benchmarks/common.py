"""What every benchmark reports about the machine it ran on."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("model name")), platform.processor())
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{model}, {os.cpu_count()} cores, {device}, Python {platform.python_version()}, torch {torch.__version__}"
