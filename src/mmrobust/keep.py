"""Nothing computed is lost: output locks, and the last good outputs of every stage kept as hard links.

Snakemake deletes a job's declared outputs before the job starts and again when it fails, so a
stage's own atomic writes cannot keep the previous outputs of a failed or killed rerun. Each stage
therefore hard-links its outputs, once they are complete, into `.mmrobust/kept/<key>/data` (no
bytes are copied: outputs are only ever replaced by rename, never written in place). A stage marks
its entries `pending` when it starts and clears them when it has kept the new outputs. When a
workflow fails, its `onerror` hook puts back every pending output that is missing, with the
Snakemake metadata record it had when the workflow started (workflow/rules/keep.smk), so the
previous outputs are the same bytes, and Snakemake judges them exactly as before the failed run.
`mmrobust restore` does the same by hand after Snakemake itself was killed.

A lock beside each stage's output (`.<name>.lock`, holding pid and host) makes a second run on the
same output fail at once. It is a POSIX record lock: the kernel releases it when its holder dies
(forked workers do not inherit it), so a stale lock file is taken over.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import MmrobustError

KEPT = Path(".mmrobust") / "kept"
DIR_TIMESTAMP = ".snakemake_timestamp"  # Snakemake's mtime carrier of a directory output


def _key(path: Path) -> str:
    return hashlib.sha256(os.path.normpath(path).encode()).hexdigest()[:24]


def _entry(path: Path, root: Path) -> Path:
    return root / _key(path)


# --- locks ---------------------------------------------------------------------------------

def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


@contextmanager
def output_lock(out: str | os.PathLike) -> Iterator[None]:
    """Hold `.<name>.lock` beside `out` for the block; fail at once, naming the holder, if another
    process holds it."""
    path = lock_path(Path(out))
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EAGAIN or EACCES: held
            holder = ""
            for _ in range(20):  # the holder writes its name just after it takes the lock
                holder = os.pread(fd, 256, 0).decode(errors="replace").strip()
                if holder:
                    break
                time.sleep(0.05)
            os.close(fd)
            holder = holder or "another process"
            raise MmrobustError(f"{out}: in use by {holder} (lock {path}); wait for it to finish or stop it") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else the holder removed the file between our open and lock: try again
            break
        os.close(fd)
    stale = os.pread(fd, 256, 0).decode(errors="replace").strip()
    if stale:
        print(f"mmrobust: taking over the lock {path} left by {stale}, which is gone", file=sys.stderr)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
    try:
        yield
    finally:
        os.unlink(path)
        os.close(fd)


def is_locked(out: Path) -> bool:
    path = lock_path(out)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


# --- kept outputs --------------------------------------------------------------------------

def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link `src` (a file, or a folder's files) at `dst`, which must not exist."""
    if not src.is_dir():
        os.link(src, dst)
        return
    dst.mkdir()
    for root, dirs, files in os.walk(src):
        target = dst / Path(root).relative_to(src)
        for d in sorted(dirs):
            (target / d).mkdir()
        for f in sorted(files):
            os.link(Path(root) / f, target / f)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _data(entry: Path) -> Path | None:
    """The entry's kept outputs; `data.old` if a keep was interrupted between its two renames."""
    for name in ("data", "data.old"):
        if (entry / name).exists():
            return entry / name
    return None


def _files(path: Path) -> dict[str, int]:
    """Relative file path -> inode, Snakemake's timestamp marker left out."""
    if not path.is_dir():
        return {"": path.stat().st_ino}
    return {str(p.relative_to(path)): p.stat().st_ino for p in path.rglob("*")
            if p.is_file() and p.name != DIR_TIMESTAMP}


def mark_pending(outputs: Iterable[Path], root: Path = KEPT) -> None:
    for out in outputs:
        entry = _entry(out, root)
        entry.mkdir(parents=True, exist_ok=True)
        (entry / "path").write_text(os.path.normpath(out) + "\n", encoding="utf-8")
        (entry / "pending").write_text(f"pid {os.getpid()}\n")


def keep(outputs: Iterable[Path], root: Path = KEPT) -> None:
    """Make the complete outputs of this run the kept ones (hard links) and clear `pending`."""
    for out in outputs:
        entry = _entry(out, root)
        entry.mkdir(parents=True, exist_ok=True)
        (entry / "path").write_text(os.path.normpath(out) + "\n", encoding="utf-8")
        if out.exists():
            new = entry / "data.new"
            _remove(new)
            try:
                _link_tree(out, new)
            except OSError as exc:
                _remove(new)
                if exc.errno != errno.EXDEV:
                    raise
                print(f"mmrobust: warning: {out} is on another file system than {root}: not kept, so a failed "
                      f"rerun will lose it (the stage recomputes it)", file=sys.stderr)
                continue
            if (entry / "data").exists():
                _remove(entry / "data.old")
                os.rename(entry / "data", entry / "data.old")
            os.rename(new, entry / "data")
            _remove(entry / "data.old")
            _remove(entry / "record.json")
        (entry / "pending").unlink(missing_ok=True)


@contextmanager
def guarded(outputs: list[Path], lock: Path, enabled: bool = True) -> Iterator[None]:
    """A stage's run: its output locked, its kept entries pending, and its complete outputs kept."""
    if not enabled:  # a distributed job's other ranks: rank 0 writes, locks and keeps
        yield
        return
    # Snakemake deletes outputs in its working directory, where the store lives; elsewhere a stage's
    # own atomic writes already leave the previous outputs of a failed run in place.
    here = Path.cwd().resolve()
    outputs = [Path(os.path.relpath(o.resolve(), here)) for o in outputs if o.resolve().is_relative_to(here)]
    with output_lock(lock):
        mark_pending(outputs)
        yield
        keep(outputs)


def entries(root: Path = KEPT) -> Iterator[tuple[Path, Path]]:
    """(output path, entry folder) of every kept entry, sorted by output path."""
    found = []
    for entry in sorted(root.glob("*")) if root.is_dir() else []:
        try:
            found.append((Path((entry / "path").read_text(encoding="utf-8").strip()), entry))
        except FileNotFoundError:
            continue
    yield from sorted(found)


def snapshot(record_of: Callable[[Path], dict | None], root: Path = KEPT) -> int:
    """At a workflow's start: for every output that exists and is the kept one, keep Snakemake's record
    of it (and a directory's timestamp marker), so that a failed job's restore has them. Returns how many."""
    count = 0
    for out, entry in entries(root):
        data = _data(entry)
        _remove(entry / "record.json")
        if data is None or not out.exists() or _files(out) != _files(data):
            continue
        marker = out / DIR_TIMESTAMP
        if out.is_dir() and marker.exists():
            _remove(data / DIR_TIMESTAMP)
            os.link(marker, data / DIR_TIMESTAMP)
        (entry / "record.json").write_text(json.dumps({"record": record_of(out)}, sort_keys=True), encoding="utf-8")
        count += 1
    return count


def restore(put_record: Callable[[Path, dict | None], None] | None = None, root: Path = KEPT) -> list[Path]:
    """Put back every kept output that is missing, and that existed when the last workflow started
    (snapshotted) or whose stage began a rerun (pending), unless its stage is still running. With
    `put_record` (the onerror hook), also the Snakemake record it had then."""
    restored = []
    for out, entry in entries(root):
        data = _data(entry)
        snapped, pending = (entry / "record.json").exists(), (entry / "pending").exists()
        if data is None or not (snapped or pending) or out.exists() or out.is_symlink():
            continue
        if is_locked(out) or any(is_locked(parent) for parent in out.parents):
            print(f"mmrobust: {out}: its stage is still running; not restored", file=sys.stderr)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = out.parent / f".{out.name}.restore"
        _remove(staging)
        _link_tree(data, staging)
        os.rename(staging, out)
        if put_record is not None and snapped:
            put_record(out, json.loads((entry / "record.json").read_text(encoding="utf-8"))["record"])
        (entry / "pending").unlink(missing_ok=True)
        restored.append(out)
    return restored
