"""Throughput of the per-clip feature path, as ratios from one run (the machines are noisy).

Clips: 320x240 H.264 at 25 fps, 10 s, a keyframe every 2 s (5 GOPs), AAC 16 kHz, with moving
grain so the bitrate resembles real footage. All decoders single-threaded. Measured:
  path    our features stage per clip: probe, decord decode of 8 sampled frames resized while
          decoding, eval crop, audio decode + log-mel, tokenize;
  naive   the same outputs with a straightforward PyAV loop: decode every frame, convert each
          to RGB, keep the sampled ones; audio through PyAV's resampler;
  floor   decode every video and audio frame once with PyAV, no conversion at all: no sampler
          can beat this when the sampled frames span every GOP;
  scaling the features stage over all clips with 1 and with 2 worker processes.
Goals (issue 3): path <= 1.3x floor, 2 workers >= 1.7x one.

Usage: python benchmarks/feature_throughput.py [--clips N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from common import machine

from mmrobust.data.decode import frame_indices
from mmrobust.data.manifest import ManifestRow, write_manifest
from mmrobust.data.mp4 import write_mp4
from mmrobust.features.audio import log_mel
from mmrobust.features.extract import clip_features, extract
from mmrobust.features.text import tokenize
from mmrobust.features.video import eval_transform, resize_short_side, to_float
from mmrobust.fileio import sha256_file

SPEC = {
    "video": {
        "num_frames": 8,
        "stored_short_side": 256,
        "train_short_side": [256, 320],
        "eval_short_side": 256,
        "crop_size": 224,
    },
    "audio": {"sample_rate": 16000, "seconds": 8.0, "n_mels": 128, "win_ms": 25, "hop_ms": 10},
    "text": {"context_length": 77},
    "shard_size": 64,
    "max_skipped_fraction": 0.0,
}
CAPTION = "someone filmed a lantern and a violin in the evening"


def make_clips(folder: Path, count: int) -> list[ManifestRow]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(count):
        n, h, w = 250, 240, 320
        grad = np.linspace(40, 200, w)[None, :, None] * np.ones((h, 1, 3))
        frames = np.empty((n, h, w, 3), np.uint8)
        for t in range(n):
            frames[t] = np.clip(np.roll(grad, 3 * t, axis=1) + rng.normal(0, 10, (h, w, 1)), 0, 255)
            frames[t, 60:140, (4 * t) % 240 : (4 * t) % 240 + 80] = (220, 40, 40)
        audio = (0.2 * np.sin(2 * np.pi * 440 * np.arange(160000) / 16000)).astype(np.float32)
        media = f"media/clip{i:03d}.mp4"
        write_mp4(folder / media, frames, 25, 50, audio, 16000)
        rows.append(
            ManifestRow(f"clip{i:03d}", "bench", media, None, None, CAPTION, (), sha256_file(folder / media))
        )
    write_manifest(folder / "manifest.csv", rows)
    return rows


def ours(path: Path, row: ManifestRow) -> None:
    sample, _ = clip_features(row, path.parent.parent, SPEC)
    eval_transform(sample.arrays["video"], 256, 224)


def naive(path: Path, row: ManifestRow) -> None:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        total = stream.frames
        wanted = set(frame_indices(total, 25.0, 8, None, None))
        kept = []
        for i, frame in enumerate(container.decode(stream)):
            rgb = frame.to_ndarray(format="rgb24")  # the straightforward loop converts every frame
            if i in wanted:
                kept.append(rgb)
        frames = np.stack(kept)
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        chunks = [r.to_ndarray()[0] for f in container.decode(audio=0) for r in resampler.resample(f)]
    wave = np.concatenate(chunks)[:128000]
    log_mel(np.pad(wave, (0, 128000 - len(wave))))
    x = resize_short_side(to_float(frames), 256)
    eval_transform((x.permute(0, 2, 3, 1) * 255).byte(), 256, 224)
    tokenize(row.text, 77)


def floor(path: Path, row: ManifestRow) -> None:
    with av.open(str(path)) as container:
        container.streams.video[0].thread_count = 1
        for _ in container.decode(video=0, audio=0):
            pass


def per_clip(fn, folder: Path, rows: list[ManifestRow]) -> float:
    fn(folder / rows[0].media, rows[0])  # warm-up: imports, caches
    start = time.perf_counter()
    for row in rows:
        fn(folder / row.media, row)
    return (time.perf_counter() - start) / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--out", default="benchmarks/results/feature_throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "bench"
        rows = make_clips(folder, args.clips)
        t = {
            name: per_clip(fn, folder, rows)
            for name, fn in (("path", ours), ("naive", naive), ("floor", floor))
        }
        scaling = {}
        for workers in (1, 2):
            start = time.perf_counter()
            extract(folder, Path(tmp) / f"out{workers}", SPEC, workers)
            scaling[workers] = time.perf_counter() - start
    result = {
        "machine": machine(),
        "clips": args.clips,
        "ms_per_clip": {k: round(v * 1000, 1) for k, v in t.items()},
        "path_over_floor": round(t["path"] / t["floor"], 2),
        "naive_over_path": round(t["naive"] / t["path"], 2),
        "two_workers_speedup": round(scaling[1] / scaling[2], 2),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
