"""Tar shards: round trip, missing modalities as missing members, same samples give the same bytes."""

import numpy as np

from mmrobust.features.shards import Sample, ShardWriter, iter_shard


def samples():
    rng = np.random.default_rng(0)
    for i in range(5):
        arrays = {
            "video": rng.integers(0, 255, (2, 4, 6, 3), dtype=np.uint8),
            "audio": rng.normal(size=(8, 10)).astype(np.float16),
        }
        if i % 2 == 0:
            arrays["text"] = np.arange(6, dtype=np.int32)
        yield Sample(f"clip{i}", "train", ["a", "b"][: i % 3], arrays)


def write(folder):
    writer = ShardWriter(folder, "train", shard_size=2)
    names = [writer.write(s) for s in samples()]
    writer.close()
    return names


def test_round_trip_and_rotation(tmp_path):
    names = write(tmp_path)
    assert names == ["train-000000.tar"] * 2 + ["train-000001.tar"] * 2 + ["train-000002.tar"]
    back = [s for n in sorted(set(names)) for s in iter_shard(tmp_path / n)]
    for want, got in zip(samples(), back):
        assert (got.id, got.split, got.labels) == (want.id, want.split, want.labels)
        assert sorted(got.arrays) == sorted(want.arrays)
        for key in want.arrays:
            assert got.arrays[key].dtype == want.arrays[key].dtype
            assert np.array_equal(got.arrays[key], want.arrays[key])


def test_bytes_are_deterministic(tmp_path):
    write(tmp_path / "a")
    write(tmp_path / "b")
    for name in ("train-000000.tar", "train-000002.tar"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
