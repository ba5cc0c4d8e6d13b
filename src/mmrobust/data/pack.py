"""Publish a dataset folder as the tar shards + SHA256SUMS that the `http` source reads."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

from ..fileio import atomic_path, atomic_write_text, sha256_file, tar_add_bytes
from .manifest import read_manifest


def pack(dataset_dir: Path, out_dir: Path, shard_size: int, prefix: str = "shard") -> list[Path]:
    rows = read_manifest(dataset_dir / "manifest.csv")
    shards, sums = [], []
    for first in range(0, len(rows), shard_size):
        path = out_dir / f"{prefix}-{first // shard_size:06d}.tar"
        with atomic_path(path) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for row in rows[first:first + shard_size]:
                base = f"{row.split}/{row.id}"
                tar_add_bytes(tar, base + Path(row.media).suffix, (dataset_dir / row.media).read_bytes())
                if row.text:
                    tar_add_bytes(tar, base + ".txt", row.text.encode("utf-8"))
                side = {"labels": list(row.labels), "start": row.start, "end": row.end}
                tar_add_bytes(tar, base + ".json", json.dumps(side, sort_keys=True).encode("utf-8"))
        shards.append(path)
        sums.append(f"{sha256_file(path)}  {path.name}\n")
    atomic_write_text(out_dir / "SHA256SUMS", "".join(sums))
    return shards
