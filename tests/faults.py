"""Fault injection for the reliability tests and benchmarks/fault_injection.py: run Snakemake and kill
one stage's process (every process of it: forked workers too) with SIGKILL while it runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import snakemake_env


def stage_pids(stage: str, cwd: Path) -> list[int]:
    """The processes running `mmrobust <stage>` in `cwd` (the stage and its forked workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            here = os.readlink(entry / "cwd")
        except OSError:
            continue
        names = [os.path.basename(a.decode(errors="replace")) for a in argv]
        if (
            "mmrobust" in names
            and names.index("mmrobust") + 1 < len(names)
            and names[names.index("mmrobust") + 1] == stage
            and Path(here) == cwd.resolve()
        ):
            pids.append(int(entry.name))
    return pids


def kill(pids: list[int]) -> bool:
    """SIGKILL each of `pids`; whether any was still there to kill."""
    hit = False
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            hit = True
        except ProcessLookupError:
            pass
    return hit


def snakemake_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", "2", *args]  # profiles/default comes by itself


def run_and_kill(
    cwd: Path,
    stage: str,
    args: list[str],
    delay: float,
    started: str | None = None,
    log: Path | None = None,
    timeout: float = 600,
) -> tuple[int, bool, str]:
    """Run `snakemake ARGS`; `delay` seconds after `stage` started (and, with `started`, after its log
    shows that text), SIGKILL every process of it. Returns (Snakemake's exit code, whether a kill
    happened before the stage ended, Snakemake's output)."""
    proc = subprocess.Popen(
        snakemake_cmd(*args),
        cwd=cwd,
        env=snakemake_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    killed, deadline, seen_at = False, time.monotonic() + timeout, None
    while proc.poll() is None and time.monotonic() < deadline and not killed:
        pids = stage_pids(stage, cwd)
        ready = pids and (
            started is None
            or (log is not None and log.exists() and started in log.read_text(errors="replace"))
        )
        if ready and seen_at is None:
            seen_at = time.monotonic()
        if seen_at is not None and time.monotonic() - seen_at >= delay and pids:
            killed = kill(pids)
        time.sleep(0.02)
    if killed:  # a worker forked just before the kill would live on as an orphan: kill those too
        until = time.monotonic() + 1.0
        while time.monotonic() < until:
            kill(stage_pids(stage, cwd))
            time.sleep(0.05)
    output, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    return proc.returncode, killed, output
