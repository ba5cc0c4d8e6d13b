"""Shared fixtures: the tiny config, one tiny synthetic dataset per session, mp4 helpers."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmrobust.config import load_config, stage_spec
from mmrobust.data.mp4 import write_mp4
from mmrobust.data.sources import download

REPO = Path(__file__).resolve().parents[1]
TINY = [REPO / "config" / "config.yaml", REPO / "config" / "tiny.yaml"]


@pytest.fixture(scope="session")
def tiny_config() -> dict:
    return load_config(TINY)


@pytest.fixture()
def config(tiny_config) -> dict:
    return copy.deepcopy(tiny_config)


@pytest.fixture(scope="session")
def tiny_dataset(tiny_config, tmp_path_factory) -> Path:
    """data/synthetic of the tiny config, generated once (read-only for tests)."""
    out = tmp_path_factory.mktemp("tiny") / "synthetic"
    download(stage_spec("download", tiny_config, "synthetic"), out, workers=2)
    return out


def make_clip(
    path: Path, seconds: float = 2.0, audio: bool = True, fps: int = 8, size=(64, 48), tone_hz=440.0
) -> Path:
    """A real H.264 (+ AAC) mp4: a bright square moving over grey, and a sine tone."""
    n = int(fps * seconds)
    frames = np.full((n, size[1], size[0], 3), 90, np.uint8)
    for t in range(n):
        frames[t, 8:24, t % (size[0] - 16) : t % (size[0] - 16) + 16] = 230
    wave = None
    if audio:
        wave = (0.3 * np.sin(2 * np.pi * tone_hz * np.arange(int(16000 * seconds)) / 16000)).astype(
            np.float32
        )
    write_mp4(path, frames, fps, 8, wave, 16000)
    return path


def run_cli(*args: str, cwd: Path | None = None, processes: int = 1) -> subprocess.CompletedProcess:
    """`mmrobust ARGS`; with processes > 1 under torchrun (gloo on CPU, a free local port)."""
    launcher = (
        []
        if processes == 1
        else ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    )
    return subprocess.run(
        [sys.executable, *launcher, "-m", "mmrobust", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root."""
    from mmrobust.fileio import sha256_file

    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def dump_config(path: Path, config: dict) -> Path:
    path.write_text(json.dumps(config))
    return path


def snakemake_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def copy_workflow(dest: Path) -> Path:
    """The workflow files (Snakefile, workflow/, profiles/, config/) in a fresh folder, as a clone has
    them."""
    shutil.copy(REPO / "Snakefile", dest / "Snakefile")
    shutil.copytree(REPO / "workflow", dest / "workflow")
    shutil.copytree(REPO / "profiles", dest / "profiles")
    shutil.copytree(REPO / "config", dest / "config")
    return dest


GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@localhost",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@localhost",
}


def sh(cwd: Path, *args: str, timeout: int = 900, env: dict | None = None) -> str:
    """Run a command in `cwd` with the venv first on PATH; fail the test with its output if it fails."""
    result = subprocess.run(
        list(args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**snakemake_env(), **GIT_ENV, **(env or {})},
    )
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def make_project(dest: Path) -> Path:
    """A git + DVC repository of the project as a clone has it, with config/config.yaml replaced by
    the tiny config (merged), so that `dvc repro` and plain `snakemake` run the tiny study."""
    import yaml

    copy_workflow(dest)
    for name in (
        "dvc.yaml",
        ".dvcignore",
        ".gitignore",
        "requirements.lock",
        "pyproject.toml",
    ):  # dvc.yaml's deps too
        shutil.copy(REPO / name, dest / name)
    for folder in ("scripts", "src"):
        shutil.copytree(
            REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    (dest / ".dvc").mkdir()
    for name in ("config", ".gitignore"):
        shutil.copy(REPO / ".dvc" / name, dest / ".dvc" / name)
    shutil.copytree(REPO / ".dvc" / "plots", dest / ".dvc" / "plots")
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(load_config(TINY), sort_keys=True))
    sh(dest, "git", "init", "-q", "-b", "main")
    sh(dest, "git", "add", "-A")
    sh(dest, "git", "commit", "-qm", "project")
    return dest


@pytest.fixture(scope="session")
def projects(tmp_path_factory) -> list[Path]:
    """Two projects, each run from scratch once with `dvc repro`, the results committed."""
    dirs = [make_project(tmp_path_factory.mktemp(name)) for name in ("first", "second")]
    for d in dirs:
        sh(d, "dvc", "repro", "--quiet")
        sh(d, "git", "add", "-A")
        sh(d, "git", "commit", "-qm", "run")
    return dirs


@pytest.fixture(scope="session")
def tiny_features(tiny_config, tiny_dataset, tmp_path_factory) -> Path:
    """features/synthetic of the tiny config (read-only for tests)."""
    from mmrobust.features.extract import extract

    out = tmp_path_factory.mktemp("tinyfeat") / "synthetic"
    extract(tiny_dataset, out, stage_spec("features", tiny_config, "synthetic")["features"], workers=2)
    return out
