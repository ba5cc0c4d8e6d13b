"""The features stage: manifest + media -> shards, index.csv, skipped.csv, summary.json.

Per clip: probe the streams, decode the sampled frames at the stored short side, the audio
window, the log-mel, and the caption's tokens. A missing modality is kept as missing; a clip none
of whose modalities decode is dropped and reported. Workers return samples in manifest order, so
the shards do not depend on the worker count.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ..data.manifest import LABEL_SEP, ManifestRow, read_manifest
from ..data.skipped import DROPPED_CLIP, Skip, print_skips, read_report, write_report
from ..errors import MmrobustError
from ..fileio import atomic_write_text, csv_text, staged_dir
from ..parallel import ordered_map
from .audio import log_mel, n_frames
from ..data.decode import DecodeError, decode_audio, decode_frames, probe
from .shards import ARRAY_KEYS, Sample, ShardWriter
from .text import tokenize, tokenizer

STAGE = "features"
# decord's AudioReader leaks its decoded track (~0.5 MB per clip, measured with 0.6.0), so decoding
# always runs in worker processes that are replaced after this many clips: memory stays bounded.
RECYCLE_AFTER = 256
_STATE: dict = {}


def _init(root: Path, spec: dict) -> None:
    torch.set_num_threads(1)  # one core per worker: scaling comes from processes
    _STATE.update(root=root, spec=spec)


def clip_features(row: ManifestRow, root: Path, spec: dict) -> tuple[Sample | None, list[Skip]]:
    """One clip's sample (None if nothing decodes) and its report entries."""
    video_cfg, audio_cfg = spec["video"], spec["audio"]
    path = root / row.media
    sample, skips = Sample(row.id, row.split, list(row.labels)), []

    def skip(action: str, reason: str) -> None:
        skips.append(Skip(row.id, row.media, STAGE, action, reason))

    try:
        streams = probe(path)
    except DecodeError as exc:
        skip(DROPPED_CLIP, str(exc))
        return None, skips
    if streams.has_video:
        try:
            sample.arrays["video"] = decode_frames(path, streams, video_cfg["num_frames"],
                                                   video_cfg["stored_short_side"], row.start, row.end)
        except DecodeError as exc:
            skip("dropped_video", str(exc))
    if streams.has_audio:
        try:
            wave = decode_audio(path, streams, audio_cfg["sample_rate"], audio_cfg["seconds"], row.start, row.end)
            mel = log_mel(wave, audio_cfg["sample_rate"], audio_cfg["n_mels"], audio_cfg["win_ms"], audio_cfg["hop_ms"])
            sample.arrays["audio"] = mel.astype(np.float16)
        except DecodeError as exc:
            skip("dropped_audio", str(exc))
    if not sample.arrays:
        reason = "; ".join(s.reason for s in skips) or "no video or audio stream"
        return None, [Skip(row.id, row.media, STAGE, DROPPED_CLIP, reason)]
    if row.text:
        sample.arrays["text"] = tokenize(row.text, spec["text"]["context_length"])
    return sample, skips


def _work(row: ManifestRow) -> tuple[Sample | None, list[Skip]]:
    return clip_features(row, _STATE["root"], _STATE["spec"])


class IndexEntry(NamedTuple):
    """What index.csv keeps of a sample (not its arrays: memory stays flat however many clips)."""
    id: str
    split: str
    shard: str
    present: tuple[int, ...]  # per ARRAY_KEYS
    labels: tuple[str, ...]


def _index_csv(entries: list[IndexEntry]) -> str:
    return csv_text(["id", "split", "shard", *ARRAY_KEYS, "labels"],
                    ([e.id, e.split, e.shard, *e.present, LABEL_SEP.join(e.labels)] for e in entries))


def extract(dataset_dir: Path, out: Path, spec: dict, workers: int) -> dict:
    """Build `out`; fail (keeping any earlier `out`) past `max_skipped_fraction` dropped clips, or
    past that fraction of one modality lost (dropped_<modality>) among the clips that have it."""
    rows = read_manifest(dataset_dir / "manifest.csv")
    if not rows:  # download refuses this too; a hand-made or older manifest may still be empty
        raise MmrobustError(f"{dataset_dir / 'manifest.csv'}: no clips to extract features from; earlier features were kept")
    earlier = read_report(dataset_dir / "skipped.csv") if (dataset_dir / "skipped.csv").exists() else []
    tokenizer(spec["text"]["context_length"])  # load once here; forked workers inherit it
    with staged_dir(out) as stage:
        writers: dict[str, ShardWriter] = {}
        entries, skips = [], list(earlier)
        for sample, clip_skips in ordered_map(_work, rows, workers, f"features {dataset_dir.name}", _init, (dataset_dir, spec),
                                              recycle_after=RECYCLE_AFTER):
            skips += clip_skips
            if sample is not None:
                writer = writers.setdefault(sample.split, ShardWriter(stage / "shards", sample.split, spec["shard_size"]))
                entries.append(IndexEntry(sample.id, sample.split, writer.write(sample),
                                          tuple(int(k in sample.arrays) for k in ARRAY_KEYS), tuple(sample.labels)))
        for writer in writers.values():
            writer.close()
        (stage / "shards").mkdir(exist_ok=True)
        dropped = [s for s in skips if s.action == DROPPED_CLIP]
        total = len(rows) + sum(s.action == DROPPED_CLIP for s in earlier)
        write_report(stage / "skipped.csv", skips)
        atomic_write_text(stage / "index.csv", _index_csv(entries))
        summary = _summary(entries, skips, total, spec)
        atomic_write_text(stage / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
        manifest = dataset_dir / "manifest.csv"
        # an empty features folder is no result even with max_skipped_fraction = 1
        if total and (len(dropped) / total > spec["max_skipped_fraction"] or not entries):
            print_skips(dropped)
            raise MmrobustError(
                f"{manifest}: {len(dropped)} of {total} clips ({len(dropped) / total:.1%}) could not be used, "
                + (f"above features.max_skipped_fraction = {spec['max_skipped_fraction']}" if entries else "none is left")
                + f" (most common: {_most_common(dropped)}); they are listed above; earlier features were kept")
        _check_modalities(entries, skips, spec["max_skipped_fraction"], manifest)
    return summary


def _most_common(skips: list[Skip]) -> str:
    return Counter(s.reason.split(" (")[0] for s in skips).most_common(1)[0][0]


def _check_modalities(entries: list[IndexEntry], skips: list[Skip], limit: float, manifest: Path) -> None:
    """Fail when a modality was lost (its stream is there but did not decode) in more than `limit` of
    the kept clips that carry it: a dataset that silently lost most of its video is not a result."""
    kept = {e.id for e in entries}
    for column, key in enumerate(ARRAY_KEYS):
        lost = sorted(s for s in skips if s.action == f"dropped_{key}" and s.id in kept)
        n_lost = len({s.id for s in lost})
        carried = sum(e.present[column] for e in entries) + n_lost
        if carried and n_lost / carried > limit:
            print_skips(lost, "lost")
            raise MmrobustError(
                f"{manifest}: {key}: lost in {n_lost} of {carried} clips that have it ({n_lost / carried:.1%}), "
                f"above features.max_skipped_fraction = {limit} (most common: {_most_common(lost)}); "
                f"they are listed above; earlier features were kept")


def _summary(entries: list[IndexEntry], skips: list[Skip], total: int, spec: dict) -> dict:
    per_split: dict[str, Counter] = {}
    for e in entries:
        counts = per_split.setdefault(e.split, Counter())
        counts["clips"] += 1
        for key, present in zip(ARRAY_KEYS, e.present):
            counts[f"with_{key}"] += present
    return {
        "clips_in": total,
        "clips_out": len(entries),
        "report": dict(sorted(Counter(f"{s.stage}:{s.action}" for s in skips).items())),
        "splits": {split: dict(sorted(c.items())) for split, c in sorted(per_split.items())},
        "audio_shape": [spec["audio"]["n_mels"], n_frames(spec["audio"])],
        "video_frames": spec["video"]["num_frames"],
        "video_short_side": spec["video"]["stored_short_side"],
        "text_context_length": spec["text"]["context_length"],
    }
