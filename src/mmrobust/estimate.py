"""`mmrobust estimate`: what a config's catalog datasets cost, from the catalogs alone (nothing fetched).

Per split: clips, clips with a title/caption, hours of media (clips with a time span), and the
features' size, exactly as the features stage writes it if every clip decodes: uncompressed
.npy members (frames x stored short side x its long side x 3 bytes, mel bins x frames x 2 bytes,
context length x 4 bytes) in tar shards of `features.shard_size`. The frame size of a video is not
known before download: YouTube videos are taken as 16:9, ILSVRC images as 4:3 (500 x 375).
Compute: hours of media to decode, and the pretraining steps of every experiment.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter, defaultdict

import numpy as np
from tabulate import tabulate

from .config import experiment_settings
from .data.catalog import ClipRequest, catalog_settings, requests
from .data.decode import scaled_size
from .errors import MmrobustError
from .features.audio import n_frames
from .features.shards import ARRAY_KEYS

BLOCK, RECORD = 512, 512 * 20  # tar blocks; tarfile pads an archive to whole records
FRAME = {"imagenet_captions": (500, 375)}  # assumed source frame (width, height); YouTube: 16:9
YOUTUBE_FRAME = (1280, 720)
STILL = {"imagenet_captions"}  # single images: no audio track
TABLE = {"tablefmt": "github", "disable_numparse": True}


def npy_bytes(shape: tuple[int, ...], dtype: str) -> int:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    )
    return len(header.getvalue()) + math.prod(shape) * np.dtype(dtype).itemsize


def member_bytes(size: int) -> int:
    return BLOCK + -(-size // BLOCK) * BLOCK


def array_layout(features: dict, frame: tuple[int, int]) -> dict[str, tuple[tuple[int, ...], str]]:
    """(shape, dtype) of each modality's array, as the features stage stores it."""
    video, audio = features["video"], features["audio"]
    width, height = scaled_size(*frame, video["stored_short_side"])
    return {
        "video": ((video["num_frames"], height, width, 3), "uint8"),
        "audio": ((audio["n_mels"], n_frames(audio)), "float16"),
        "text": ((features["text"]["context_length"],), "int32"),
    }


def array_members(layout: dict[str, tuple[tuple[int, ...], str]]) -> dict[str, int]:
    """Tar bytes of each modality's .npy member (the same for every clip)."""
    return {key: member_bytes(npy_bytes(*shape_dtype)) for key, shape_dtype in layout.items()}


def sample_bytes(request: ClipRequest, members: dict[str, int], modalities: list[str]) -> int:
    """The clip's tar members: its JSON header (id, split, labels, modalities) and its arrays."""
    header = {
        "id": request.id,
        "split": request.split,
        "labels": list(request.labels),
        "modalities": modalities,
    }
    return member_bytes(len(json.dumps(header, sort_keys=True).encode())) + sum(
        members[key] for key in modalities
    )


def shard_bytes(samples: list[int], shard_size: int) -> int:
    """Tar shards of `shard_size` samples: members, the two end blocks, padding to whole records."""
    chunks = [samples[i : i + shard_size] for i in range(0, len(samples), shard_size)]
    return sum(-(-(sum(chunk) + 2 * BLOCK) // RECORD) * RECORD for chunk in chunks)


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


def arrays_of(fmt: str) -> list[str]:
    """The arrays a decoded clip of the format has: images have no audio track."""
    return [key for key in ARRAY_KEYS if not (key == "audio" and fmt in STILL)]


def split_rows(found: list[ClipRequest], features: dict, fmt: str) -> list[list]:
    members, keys = array_members(array_layout(features, FRAME.get(fmt, YOUTUBE_FRAME))), arrays_of(fmt)
    per_split: dict[str, list[ClipRequest]] = defaultdict(list)
    for request in found:
        per_split[request.split].append(request)
    rows = []
    for split, clips in sorted(per_split.items()):
        spans = [r.end - r.start for r in clips if r.start is not None and r.end is not None]
        rows.append(
            [
                split,
                len(clips),
                sum(bool(r.text) for r in clips),
                len(spans),
                sum(spans) / 3600,
                -(-len(clips) // features["shard_size"]),
                shard_bytes(
                    [sample_bytes(r, members, [k for k in keys if k != "text" or r.text]) for r in clips],
                    features["shard_size"],
                ),
            ]
        )
    rows.append(["total", *(sum(column) for column in list(zip(*rows))[1:])])
    return [
        [name, clips, text, span, f"{hours:.2f}", shards, human(size)]
        for name, clips, text, span, hours, shards, size in rows
    ]


def estimate(config: dict, dataset: str | None = None) -> str:
    """The report as text (Markdown tables); the same config and catalogs give the same bytes."""
    features = config["features"]
    if dataset is not None and dataset not in config["datasets"]:
        raise MmrobustError(
            f"config: datasets.{dataset}: no such dataset (configured: "
            f"{', '.join(sorted(config['datasets']))})"
        )
    names = [dataset] if dataset else sorted(n for n, d in config["datasets"].items() if "catalog" in d)
    blocks, counts = [], {}
    for name in names:
        fmt = catalog_settings(config["datasets"][name], f"datasets.{name}.catalog")["format"]
        found = requests(config["datasets"][name])
        counts[name] = Counter(r.split for r in found)
        layout = array_layout(features, FRAME.get(fmt, YOUTUBE_FRAME))
        per_clip = ", ".join(
            f"{key} {'x'.join(map(str, layout[key][0]))} {layout[key][1]} = {human(npy_bytes(*layout[key]))}"
            for key in arrays_of(fmt)
        )
        blocks.append(
            f"## {name} (catalog {fmt})\n\nper clip: {per_clip}\n\n"
            + tabulate(
                split_rows(found, features, fmt),
                ["split", "clips", "with text", "with span", "hours", "shards", "features"],
                colalign=("left",) + ("right",) * 6,
                **TABLE,
            )
        )
    return "\n\n".join([*blocks, _pretrain_steps(config, counts)]).rstrip() + "\n"


def _pretrain_steps(config: dict, counts: dict[str, Counter]) -> str:
    """Steps = ceil(epochs x clips / batch_size), as pretrain counts them, for a catalog pretraining split."""
    rows = []
    for name in sorted(config["experiments"]):
        pre = experiment_settings(config, name)["pretrain"]
        clips = counts.get(pre["dataset"], {}).get(pre["split"])
        if clips is not None:
            rows.append(
                [
                    name,
                    f"{pre['dataset']}/{pre['split']}",
                    clips,
                    pre["epochs"],
                    pre["batch_size"],
                    math.ceil(pre["epochs"] * clips / pre["batch_size"]),
                ]
            )
    if not rows:
        return ""
    return "## pretraining\n\n" + tabulate(
        rows,
        ["experiment", "data", "clips", "epochs", "batch", "steps"],
        colalign=("left", "left") + ("right",) * 4,
        **TABLE,
    )
