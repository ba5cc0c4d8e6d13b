"""What every benchmark reports about the machine it ran on."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import torch


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor(),
    )
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    python = platform.python_version()
    return f"{model}, {os.cpu_count()} cores, {device}, Python {python}, torch {torch.__version__}"


def timed_interleaved(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call; the variants take turns each round, so load bursts hit all of them."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}
