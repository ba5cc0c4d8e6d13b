"""The http source against a server on 127.0.0.1: checksums, retries, resume, clear failures."""

import pytest
from conftest import tree_digest
from media_server import MediaServer

from mmrobust.data.manifest import read_manifest
from mmrobust.data.pack import pack
from mmrobust.data.sources import download
from mmrobust.errors import MmrobustError
from mmrobust.fileio import sha256_file


@pytest.fixture()
def server(tiny_dataset, tmp_path):
    root = tmp_path / "www"
    pack(tiny_dataset, root, shard_size=10)
    with MediaServer(root) as srv:
        yield srv


def http_spec(server, tmp_path, **changes):
    spec = {
        "url": server.url,
        "retries": 2,
        "timeout_s": 10,
        "backoff_s": 0.0,
        "cache_dir": str(tmp_path / "cache"),
    }
    spec.update(changes)
    return {"seed": 0, "dataset": {"source": "http", "http": spec}}


def test_shards_round_trip_to_the_same_manifest(server, tiny_dataset, tmp_path):
    download(http_spec(server, tmp_path), tmp_path / "data", workers=1)
    got = read_manifest(tmp_path / "data" / "manifest.csv")
    want = read_manifest(tiny_dataset / "manifest.csv")
    assert [(r.id, r.split, r.start, r.end, r.text, r.labels, r.sha256) for r in got] == [
        (r.id, r.split, r.start, r.end, r.text, r.labels, r.sha256) for r in want
    ]
    assert server.names() == ["SHA256SUMS"] + [f"shard-00000{i}.tar" for i in range(4)]
    # A second run finds verified shards in the cache and fetches only the list.
    server.log.clear()
    download(http_spec(server, tmp_path), tmp_path / "again", workers=1)
    assert server.requests() == [("SHA256SUMS", None)]
    assert tree_digest(tmp_path / "again") == tree_digest(tmp_path / "data")


def test_dropped_connection_resumes_with_range(server, tmp_path):
    server.truncate["shard-000001.tar"] = 1
    download(http_spec(server, tmp_path), tmp_path / "data", workers=1)
    requests = [r for n, r in server.requests() if n == "shard-000001.tar"]
    assert requests[0] is None and requests[1].startswith("bytes=") and requests[1] != "bytes=0-"
    assert not list((tmp_path / "cache").glob("*.part"))
    for name, digest in (
        line.split()[::-1] for line in (server.root / "SHA256SUMS").read_text().splitlines()
    ):
        assert sha256_file(tmp_path / "cache" / f"{digest}.tar") == digest


def test_part_file_from_an_earlier_run_is_resumed(server, tmp_path):
    name, digest = (server.root / "SHA256SUMS").read_text().splitlines()[0].split()[::-1]
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / f"{digest}.tar.part").write_bytes((server.root / name).read_bytes()[:3000])
    download(http_spec(server, tmp_path), tmp_path / "data", workers=1)
    assert (name, "bytes=3000-") in server.requests()


def test_checksum_mismatch_fails_after_retries_and_keeps_old_data(server, tmp_path):
    download(http_spec(server, tmp_path), tmp_path / "data", workers=1)
    before = tree_digest(tmp_path / "data")
    sums = server.root / "SHA256SUMS"
    lines = sums.read_text().splitlines()
    lines[2] = "0" * 64 + lines[2][64:]
    sums.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        MmrobustError, match=r"shard-000002.tar: failed after 3 attempts \(last error: sha256 mismatch"
    ):
        download(http_spec(server, tmp_path), tmp_path / "data", workers=1)
    assert tree_digest(tmp_path / "data") == before
    assert server.names().count("shard-000002.tar") == 3 + 1


def test_too_many_drops_give_up_with_the_reason(server, tmp_path):
    server.truncate["shard-000000.tar"] = 10
    with pytest.raises(MmrobustError, match=r"shard-000000.tar: failed after 2 attempts \(last error: "):
        download(http_spec(server, tmp_path, retries=1), tmp_path / "data", workers=1)
    assert not (tmp_path / "data").exists()


def test_missing_shard_is_a_404_without_retries(server, tmp_path):
    (server.root / "shard-000003.tar").unlink()
    with pytest.raises(MmrobustError, match=r"shard-000003.tar: HTTP 404"):
        download(http_spec(server, tmp_path), tmp_path / "data", workers=1)
    assert server.names().count("shard-000003.tar") == 1


def test_malformed_sums_line_names_the_line(server, tmp_path):
    (server.root / "SHA256SUMS").write_text("not a checksum line\n")
    with pytest.raises(MmrobustError, match=r"SHA256SUMS:1: expected '<sha256>  <name>.tar'"):
        download(http_spec(server, tmp_path), tmp_path / "data", workers=1)
