"""Render a clip plan to frames, a waveform and a caption."""
from __future__ import annotations

import numpy as np

from .world import COLORS, Concept, ClipPlan, _rng


def _sprite(shape: str, size: int) -> np.ndarray:
    """Boolean mask of `shape` in a size x size box."""
    y, x = np.mgrid[0:size, 0:size] + 0.5
    u, v = (x / size) * 2 - 1, (y / size) * 2 - 1
    r = np.hypot(u, v)
    masks = {
        "circle": r <= 0.95,
        "ring": (r <= 0.95) & (r >= 0.55),
        "square": (abs(u) <= 0.85) & (abs(v) <= 0.85),
        "diamond": abs(u) + abs(v) <= 0.95,
        "cross": ((abs(u) <= 0.3) | (abs(v) <= 0.3)) & (abs(u) <= 0.95) & (abs(v) <= 0.95),
        "triangle": (v >= -0.9) & (v <= 0.9) & (abs(u) <= (v + 0.9) / 1.8 * 0.95),
        "bar": (abs(u) <= 0.95) & (abs(v) <= 0.3),
    }
    return masks[shape]


def render_frames(plan: ClipPlan, world: dict[str, Concept], width: int, height: int, n_frames: int) -> np.ndarray:
    """(n_frames, height, width, 3) uint8: a textured background with each shown concept's shape moving on it."""
    rng = _rng(*plan.seed, 1)
    base = rng.uniform(60, 140, size=3)
    gy, gx = np.mgrid[0:height, 0:width]
    slope = rng.uniform(-0.4, 0.4, size=(2, 3))
    background = base + gx[..., None] * slope[0] * 64 / width + gy[..., None] * slope[1] * 64 / height
    background += rng.normal(0, 6, size=(height, width, 1))
    frames = np.repeat(np.clip(background, 0, 255).astype(np.uint8)[None], n_frames, axis=0)
    for name in plan.shown["V"]:
        concept = world[name]
        size = int(rng.uniform(0.22, 0.32) * height)
        mask = _sprite(concept.shape, size)
        color = np.clip(np.array(COLORS[concept.color]) + rng.normal(0, 10, 3), 0, 255).astype(np.uint8)
        pos = rng.uniform([0, 0], [width - size, height - size])
        vel = rng.uniform(-1, 1, 2) * np.array([width, height]) / max(n_frames, 1) * 0.8
        for t in range(n_frames):
            x, y = (pos + vel * t).astype(int)
            # Bounce off the borders so the shape stays fully visible.
            x = int(abs((x + (width - size)) % (2 * (width - size)) - (width - size)))
            y = int(abs((y + (height - size)) % (2 * (height - size)) - (height - size)))
            frames[t, y:y + size, x:x + size][mask] = color
    return frames


def render_audio(plan: ClipPlan, world: dict[str, Concept], sample_rate: int, seconds: float) -> np.ndarray:
    """Mono float32 waveform: low background noise plus each shown concept's (pulsed) tone."""
    rng = _rng(*plan.seed, 2)
    n = int(round(sample_rate * seconds))
    t = np.arange(n) / sample_rate
    wave = rng.normal(0, rng.uniform(0.005, 0.02), n)
    for name in plan.shown["A"]:
        concept = world[name]
        freq = concept.tone_hz * rng.uniform(0.985, 1.015)
        tone = rng.uniform(0.12, 0.25) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
        if concept.pulse_hz:
            envelope = 0.5 * (1 + np.tanh(8 * np.sin(2 * np.pi * concept.pulse_hz * t + rng.uniform(0, 2 * np.pi))))
            tone *= envelope
        wave += tone
    peak = np.abs(wave).max()
    return (wave * (0.9 / peak if peak > 0.9 else 1.0)).astype(np.float32)
