"""Clips of one split as model-ready batches, augmented per step from a seeded generator.

The split is held in memory as the stored uint8 frames, float16 log-mel and int32 tokens (the
default pretraining split is ~210 MB); a batch applies seed 003's train transform (random short
side, random crop) or the eval transform. Each clip of a training batch draws from its own
generator, so any slice of a batch (a process's share of it) is augmented as the whole batch would be. A missing modality becomes a neutral input with its
`has_<modality>` flag off, which the losses read.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import MmrobustError
from .audio import AUDIO_MEAN, n_frames
from .shards import iter_shard
from .video import eval_transform, train_transform


def read_index(features_dir: Path) -> list[dict]:
    """The rows of a features folder's index.csv (written by extract beside the shards)."""
    index = Path(features_dir) / "index.csv"
    try:
        with open(index, encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        raise MmrobustError(f"{index}: not found (run the features stage first)") from None


class ClipSet:
    def __init__(self, features_dir: Path, split: str, features: dict, ids: set[str] | None = None):
        rows = [r for r in read_index(features_dir) if r["split"] == split and (ids is None or r["id"] in ids)]
        if not rows:
            raise MmrobustError(f"{Path(features_dir) / 'index.csv'}: split {split!r} has no clips")
        wanted = {r["id"] for r in rows}
        samples = {}
        for shard in sorted({r["shard"] for r in rows}):
            for sample in iter_shard(Path(features_dir) / "shards" / shard):
                if sample.id in wanted:
                    samples[sample.id] = sample
        self.features_dir = Path(features_dir)
        self.ids = sorted(samples)
        self.samples = [samples[i] for i in self.ids]
        self.labels = [s.labels for s in self.samples]
        self.video, self.audio, self.text = features["video"], features["audio"], features["text"]
        self._eval_clips: dict[int, torch.Tensor] = {}  # the eval transform is deterministic: done once per clip

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, indices, generators: Sequence[torch.Generator] | None, train: bool) -> dict[str, torch.Tensor]:
        """Model inputs for `indices`: video (B, 3, T, S, S), audio (B, 1, mels, frames), text (B, L), flags.
        `generators`: one per clip, for the train transform."""
        v, crop = self.video, self.video["crop_size"]
        videos, audios, texts, flags = [], [], [], {m: [] for m in ("video", "audio", "text")}
        for j, i in enumerate(indices):
            arrays = self.samples[int(i)].arrays
            frames = arrays.get("video")
            if frames is None:
                clip = torch.zeros(v["num_frames"], 3, crop, crop)
            elif train:
                clip = train_transform(frames, tuple(v["train_short_side"]), crop, generators[j])
            else:
                clip = self._eval_clips.get(int(i))
                if clip is None:
                    clip = self._eval_clips[int(i)] = eval_transform(frames, v["eval_short_side"], crop)
            videos.append(clip.permute(1, 0, 2, 3))
            mel = arrays.get("audio")
            audios.append(torch.full((1, self.audio["n_mels"], self._frames()), AUDIO_MEAN) if mel is None
                          else torch.as_tensor(mel).float()[None])  # exact, and ~15x numpy's float16 cast
            tokens = arrays.get("text")
            texts.append(torch.zeros(self.text["context_length"], dtype=torch.long) if tokens is None
                         else torch.as_tensor(tokens).long())
            for m in flags:
                flags[m].append(m in arrays)
        return {"video": torch.stack(videos), "audio": torch.stack(audios), "text": torch.stack(texts),
                **{f"has_{m}": torch.tensor(f, dtype=torch.bool) for m, f in flags.items()}}

    def _frames(self) -> int:
        return n_frames(self.audio)
