"""Publish a dataset folder as the tar shards + SHA256SUMS that the `http` source reads."""
from __future__ import annotations

import functools
import json
import operator
import os
import stat
import tarfile
from pathlib import Path

from ..errors import MmrobustError
from ..fileio import atomic_path, atomic_write_text, sha256_file, tar_add_bytes
from .manifest import read_manifest


PUBLIC = 0o644  # the widest mode a member or shard gets; a more private source keeps its narrower one


def pack(dataset_dir: Path, out_dir: Path, shard_size: int, prefix: str = "shard") -> list[Path]:
    if shard_size < 1:
        raise MmrobustError(f"--shard-size: {shard_size} is not a positive number of clips")
    rows = read_manifest(dataset_dir / "manifest.csv")
    shards, sums = [], []
    for first in range(0, len(rows), shard_size):
        path = out_dir / f"{prefix}-{first // shard_size:06d}.tar"
        chunk = rows[first:first + shard_size]
        # A clip's members (media, caption, labels) are no more readable than its media file, nor is the shard.
        modes = [stat.S_IMODE(os.stat(dataset_dir / row.media).st_mode) & PUBLIC for row in chunk]
        with atomic_path(path, mode=functools.reduce(operator.and_, modes, PUBLIC)) as tmp, \
                tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for row, mode in zip(chunk, modes):
                base = f"{row.split}/{row.id}"
                tar_add_bytes(tar, base + Path(row.media).suffix, (dataset_dir / row.media).read_bytes(), mode)
                if row.text:
                    tar_add_bytes(tar, base + ".txt", row.text.encode("utf-8"), mode)
                side = {"labels": list(row.labels), "start": row.start, "end": row.end}
                tar_add_bytes(tar, base + ".json", json.dumps(side, sort_keys=True).encode("utf-8"), mode)
        shards.append(path)
        sums.append(f"{sha256_file(path)}  {path.name}\n")
    atomic_write_text(out_dir / "SHA256SUMS", "".join(sums))
    return shards
