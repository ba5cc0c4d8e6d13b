"""Source `http`: tar shards listed with their sha256 in `<url>/SHA256SUMS` (what `mmrobust pack` writes).

Each shard holds `<split>/<id>.<media ext>`, `<split>/<id>.txt` and `<split>/<id>.json` members,
the folder layout of the `local` source, which reads them once extracted.
Shards are fetched into `cache_dir` (outside the dataset folder, so a failed run keeps them):
a `.part` file resumes with an HTTP Range request, every attempt that fails (connection
dropped, timeout, 5xx, checksum mismatch) is retried after an exponential backoff, and a shard
only counts once its sha256 matches.
"""
from __future__ import annotations

import http.client
import re
import shutil
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ...errors import MmrobustError
from ...fileio import sha256_file
from ..manifest import ManifestRow
from ..skipped import Skip
from .local import scan_folder

SUMS = "SHA256SUMS"
_SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *]?([A-Za-z0-9][A-Za-z0-9_.-]*\.tar)$")
_CHUNK = 1 << 16


class _Retryable(Exception):
    pass


def _get(url: str, timeout: float, offset: int = 0):
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise _Retryable(f"HTTP {exc.code}") from None
        raise MmrobustError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise _Retryable(str(getattr(exc, "reason", exc))) from None


def _copy_keeping_partial(response, fh) -> None:
    """Copy the body; if the connection drops, keep what arrived so the retry resumes after it.

    `read(n)` returns b"" on a dropped connection instead of raising, so count against Content-Length.
    """
    expected, received = response.length, 0
    while True:
        try:
            block = response.read(_CHUNK)
        except http.client.IncompleteRead as exc:
            fh.write(exc.partial)
            raise
        if not block:
            break
        fh.write(block)
        received += len(block)
    if expected is not None and received < expected:
        raise _Retryable(f"connection closed after {received} of {expected} bytes")


def _with_retries(what: str, spec: dict, attempt_fn):
    last = ""
    for attempt in range(spec["retries"] + 1):
        try:
            return attempt_fn()
        except _Retryable as exc:
            last = str(exc)
            if attempt < spec["retries"]:
                time.sleep(spec["backoff_s"] * 2 ** attempt)
    raise MmrobustError(f"{what}: failed after {spec['retries'] + 1} attempts (last error: {last})")


def read_sums(spec: dict) -> list[tuple[str, str]]:
    url = f"{spec['url'].rstrip('/')}/{SUMS}"

    def attempt() -> bytes:
        try:
            with _get(url, spec["timeout_s"]) as response:
                return response.read()
        except (http.client.HTTPException, TimeoutError, ConnectionError, OSError) as exc:
            raise _Retryable(str(exc)) from None

    entries = []
    for number, line in enumerate(_with_retries(url, spec, attempt).decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        match = _SUM_LINE.match(line.strip())
        if not match:
            raise MmrobustError(f"{url}:{number}: expected '<sha256>  <name>.tar', got {line[:80]!r}")
        entries.append((match.group(2), match.group(1)))
    if not entries:
        raise MmrobustError(f"{url}: lists no shards")
    return sorted(entries)


def fetch_shard(spec: dict, name: str, digest: str) -> Path:
    """Download one shard into the cache (resuming a .part), verify it, return its path."""
    cache = Path(spec["cache_dir"])
    cache.mkdir(parents=True, exist_ok=True)
    final, part = cache / f"{digest}.tar", cache / f"{digest}.tar.part"
    if final.exists() and sha256_file(final) == digest:
        return final
    url = f"{spec['url'].rstrip('/')}/{name}"

    def attempt() -> Path:
        offset = part.stat().st_size if part.exists() else 0
        try:
            with _get(url, spec["timeout_s"], offset) as response:
                mode = "ab" if offset and response.status == 206 else "wb"
                with open(part, mode) as fh:
                    _copy_keeping_partial(response, fh)
        except (http.client.HTTPException, TimeoutError, ConnectionError, OSError) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        got = sha256_file(part)  # also catches a server that ignored Range and a corrupted body
        if got != digest:
            part.unlink()
            raise _Retryable(f"sha256 mismatch (expected {digest}, got {got})")
        part.replace(final)
        return final

    return _with_retries(url, spec, attempt)


def _extract(shard: Path, name: str, dest: Path) -> list[str]:
    """Extract the shard under `dest`; returns its member names."""
    with tarfile.open(shard) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if not member.isfile() or member.name.startswith("/") or ".." in parts or len(parts) != 2:
                raise MmrobustError(f"{name}: {member.name}: unexpected member (want regular files <split>/<id>.<ext>)")
            if (dest / member.name).exists():
                raise MmrobustError(f"{name}: {member.name}: also in an earlier shard")
        tar.extractall(dest, filter="data")
        return [member.name for member in tar.getmembers()]


def fetch_shards(spec: dict, dest: Path) -> dict[str, str]:
    """Fetch every shard `<url>/SHA256SUMS` lists (cached and verified) and extract it under `dest`;
    returns member -> shard name, so that an error names the shard a bad file came in."""
    origin = {}
    for name, digest in tqdm(read_sums(spec), desc="http shards", unit="shard"):
        origin.update(dict.fromkeys(_extract(fetch_shard(spec, name, digest), name, dest), name))
    return origin


def fetch(dataset: dict, seed: int, out: Path, workers: int) -> tuple[list[ManifestRow], list[Skip]]:
    extracted = out / ".extracted"
    origin = fetch_shards(dataset["http"], extracted)
    url = dataset["http"]["url"].rstrip("/")
    try:
        return scan_folder(extracted, "train", out, shown_as=lambda rel: f"{url}/{origin.get(rel, '?')}: {rel}")
    finally:
        shutil.rmtree(extracted)
