"""Nothing computed is lost: output locks, and the outputs of the jobs a workflow reruns kept as hard links.

Snakemake deletes a job's declared outputs before the job starts and again when it fails, so a
stage's own atomic writes cannot keep the previous outputs of a failed or killed rerun. So the
workflow's `onstart` hook (workflow/rules/keep.smk) hard-links the existing outputs of every job
it is about to run into `.mmrobust/kept/<key>/data`, with the Snakemake metadata record each had
(no bytes are copied: outputs are only ever replaced by rename, never written in place, so a link
stays the old bytes). When the workflow fails, `onerror` puts back every kept output that is
missing, with its record, so the previous outputs are the same bytes and Snakemake judges them
exactly as before the failed run. After either hook the links are dropped again (DVC takes a file
with more than one link for one of its cache links and re-copies it at checkout). `mmrobust restore`
puts outputs back by hand after Snakemake itself was killed.

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
            raise MmrobustError(
                f"{out}: in use by {holder} (lock {path}); wait for it to finish or stop it"
            ) from None
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


def _key(path: Path) -> str:
    return hashlib.sha256(os.path.normpath(path).encode()).hexdigest()[:24]


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


def entries(root: Path = KEPT) -> list[tuple[Path, Path]]:
    """(output path, entry folder) of every kept output, sorted by output path."""
    found = []
    for entry in sorted(root.glob("*")) if root.is_dir() else []:
        try:
            found.append((Path((entry / "path").read_text(encoding="utf-8").strip()), entry))
        except FileNotFoundError:
            _remove(entry)  # a keep interrupted before it wrote the path: nothing usable
    return sorted(found)


def release(root: Path = KEPT) -> None:
    """Drop the entries whose output is in place; those of missing outputs stay restorable."""
    for out, entry in entries(root):
        if out.exists():
            _remove(entry)


def keep(outputs: Iterable[Path], record_of: Callable[[Path], dict | None], root: Path = KEPT) -> int:
    """Before a workflow runs its jobs: hard-link each existing output of theirs, with its Snakemake
    record. Returns how many were kept."""
    release(root)
    count = 0
    for out in sorted(set(outputs)):
        if not out.exists():
            continue
        entry = root / _key(out)
        _remove(entry)
        entry.mkdir(parents=True)
        try:
            _link_tree(out, entry / "data")
        except OSError as exc:
            _remove(entry)
            if exc.errno != errno.EXDEV:
                raise
            print(
                f"mmrobust: warning: {out} is on another file system than {root}: not kept, so a failed "
                f"rerun loses it",
                file=sys.stderr,
            )
            continue
        (entry / "record.json").write_text(
            json.dumps({"record": record_of(out)}, sort_keys=True), encoding="utf-8"
        )
        (entry / "path").write_text(
            os.path.normpath(out) + "\n", encoding="utf-8"
        )  # last: the entry is complete
        count += 1
    return count


def restore(put_record: Callable[[Path, dict | None], None] | None = None, root: Path = KEPT) -> list[Path]:
    """Put back every kept output that is missing, unless its stage is still running (with `put_record`,
    the onerror hook, also its Snakemake record); then drop the entries of outputs in place."""
    restored = []
    for out, entry in entries(root):
        if out.exists() or out.is_symlink():
            continue
        if is_locked(out) or any(is_locked(parent) for parent in out.parents):
            print(f"mmrobust: {out}: its stage is still running; not restored", file=sys.stderr)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = out.parent / f".{out.name}.restore"
        _remove(staging)
        _link_tree(entry / "data", staging)
        os.rename(staging, out)
        if put_record is not None:
            put_record(out, json.loads((entry / "record.json").read_text(encoding="utf-8"))["record"])
        restored.append(out)
    release(root)
    return restored
