"""Tar shards in the webdataset layout: one sample = consecutive members `<id>.<key>`.

Keys: `json` (id, split, labels, which modalities are present), `video.npy` (T, H, W, 3 uint8),
`audio.npy` (n_mels, frames float16 log-mel), `text.npy` (int32 tokens). A missing modality is a
missing member. Tar metadata is fixed (mtime 0, root, 0644), so the same samples give the same bytes.
Shards stream sequentially (many nodes, millions of clips); `index.csv` says which shard holds a clip.
"""
from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import MmrobustError
from ..fileio import tar_add_bytes

ARRAY_KEYS = ("video", "audio", "text")


@dataclass
class Sample:
    id: str
    split: str
    labels: list[str]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def header(self) -> dict:
        return {"id": self.id, "split": self.split, "labels": self.labels,
                "modalities": [k for k in ARRAY_KEYS if k in self.arrays]}


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


class ShardWriter:
    """Writes `<split>-NNNNNN.tar` shards of at most `shard_size` samples into a (staged) folder."""

    def __init__(self, folder: Path, split: str, shard_size: int):
        self.folder, self.split, self.shard_size = folder, split, shard_size
        self.count, self.number = 0, 0
        self._tar: tarfile.TarFile | None = None

    @property
    def name(self) -> str:
        return f"{self.split}-{self.number:06d}.tar"

    def write(self, sample: Sample) -> str:
        """Append `sample`; returns the shard file name that holds it."""
        if self._tar is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._tar = tarfile.open(self.folder / self.name, "w", format=tarfile.USTAR_FORMAT)
        tar_add_bytes(self._tar, f"{sample.id}.json", json.dumps(sample.header(), sort_keys=True).encode())
        for key in ARRAY_KEYS:
            if key in sample.arrays:
                tar_add_bytes(self._tar, f"{sample.id}.{key}.npy", _npy(sample.arrays[key]))
        name = self.name
        self.count += 1
        if self.count == self.shard_size:
            self.close()
        return name

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar, self.count, self.number = None, 0, self.number + 1


MEMBER_KEYS = ("json",) + tuple(f"{k}.npy" for k in ARRAY_KEYS)


def split_member(name: str, shard: Path) -> tuple[str, str]:
    """`<id>.<key>` -> (id, key), matched by the known key suffixes: an id may hold dots (`clip.v2`)."""
    for key in MEMBER_KEYS:
        if name.endswith("." + key) and len(name) > len(key) + 1:
            return name[:-len(key) - 1], key
    raise MmrobustError(f"{shard}: {name}: unexpected member (want <id>.{', <id>.'.join(MEMBER_KEYS)})")


def iter_shard(path: Path) -> Iterator[Sample]:
    """Stream the samples of one shard in order."""
    current: Sample | None = None
    with tarfile.open(path) as tar:
        for member in tar:
            clip_id, key = split_member(member.name, path)
            data = tar.extractfile(member).read()
            if key == "json":
                if current is not None:
                    yield current
                head = json.loads(data)
                current = Sample(head["id"], head["split"], head["labels"])
            elif current is None or clip_id != current.id:
                raise MmrobustError(f"{path}: {member.name}: not after its sample's {clip_id}.json member")
            else:
                current.arrays[key.removesuffix(".npy")] = np.load(io.BytesIO(data), allow_pickle=False)
    if current is not None:
        yield current
