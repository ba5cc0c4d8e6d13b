"""Source `local`: a user's folder of clips or a manifest CSV (format: config/README.md).

Folder layout: `<root>/<split>/<id>.mp4` (or .wav etc. for audio-only clips), an optional
`<id>.txt` caption and an optional `<id>.json` sidecar `{"labels": [...], "start": s, "end": s}`.
Files directly under `<root>` get `default_split`. Media are copied (hard-linked where possible)
into the dataset folder, so the dataset stays valid if the user's folder moves.

A manifest can name any path, and a folder's symlink can point anywhere, so those media are
checked before they are placed (and later packed and published): a regular file with a media
extension that PyAV opens as a container with a video or audio stream, and (with `allowed_roots`)
under one of those folders, symlinks followed. Anything else is a `dropped_clip` row with the reason.
"""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import stat
from pathlib import Path
from typing import Callable, Sequence

from ...errors import MmrobustError
from ...fileio import sha256_file
from ..manifest import LABEL_SEP, ManifestRow, _number
from ..skipped import DROPPED_CLIP, Skip

VIDEO_EXT = (".mp4", ".mkv", ".webm", ".mov", ".avi")
AUDIO_EXT = (".wav", ".flac", ".m4a", ".mp3", ".ogg")
STAGE = "download"


def place(src: Path, dst: Path) -> None:
    """Hard-link (same inode, same mode) or copy with no wider permissions than `src`."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    src = src.resolve()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
        os.chmod(dst, stat.S_IMODE(src.stat().st_mode) & 0o666)


def allowed_roots(spec: dict) -> list[Path]:
    """`local.allowed_roots`, resolved (relative ones: from where Snakemake runs); [] = no confinement."""
    roots = [Path(r).resolve() for r in spec.get("allowed_roots") or []]
    for given, root in zip(spec.get("allowed_roots") or [], roots):
        if not root.is_dir():
            raise MmrobustError(f"{given}: local.allowed_roots: not a folder")
    return roots


def outside(src: Path, roots: Sequence[Path]) -> str | None:
    """The reason `src` (symlinks followed) is not under one of `roots`, or None."""
    if roots and not any(src.resolve().is_relative_to(root) for root in roots):
        return "outside local.allowed_roots"
    return None


def media_problem(src: Path, roots: Sequence[Path]) -> str | None:
    """Why a manifest's `src` cannot be a clip's media, or None. Probing reads the container header only."""
    from ..decode import DecodeError, probe  # PyAV: only when a manifest is read

    if not src.exists():
        return "media file not found"
    if not src.resolve().is_file():
        return "not a regular file"
    problem = outside(src, roots)
    if problem:
        return problem
    if src.suffix.lower() not in VIDEO_EXT + AUDIO_EXT:
        return f"not a media file (extension {src.suffix!r}, want one of {' '.join(VIDEO_EXT + AUDIO_EXT)})"
    try:
        streams = probe(src.resolve())
    except DecodeError as exc:
        return f"not a media file: {exc}"
    if not (streams.has_video or streams.has_audio):
        return "not a media file: no video or audio stream"
    return None


def read_caption(path: Path, clip_id: str, skips: list[Skip], shown: str) -> str:
    """Caption text with whitespace collapsed; '' (a missing text modality) if absent or not UTF-8."""
    if not path.exists():
        return ""
    try:
        return " ".join(path.read_text(encoding="utf-8").split())
    except UnicodeDecodeError as exc:
        skips.append(Skip(clip_id, shown, STAGE, "dropped_text", f"caption is not UTF-8 ({exc.reason} at byte {exc.start})"))
        return ""


def _json_type(value: object) -> str:
    return {type(None): "null", bool: "true/false", str: "a string", dict: "an object", list: "a list"}.get(
        type(value), type(value).__name__)


def _check_sidecar(data: dict, shown: str) -> dict:
    """Types the JSON parser does not check: a string would otherwise become its letters as labels."""
    labels = data.get("labels", [])
    if not isinstance(labels, list):
        raise MmrobustError(f"{shown}: labels: expected a list of strings (e.g. [\"dog\"]), got {_json_type(labels)}")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            got = repr(label) if isinstance(label, str) else _json_type(label)
            raise MmrobustError(f"{shown}: labels[{i}]: expected a non-empty string, got {got}")
        if LABEL_SEP in label:
            raise MmrobustError(f"{shown}: labels[{i}]: {label!r} contains {LABEL_SEP!r} (the manifest's separator)")
        if label in labels[:i]:
            raise MmrobustError(f"{shown}: labels[{i}]: {label!r} is listed twice")
    for key in ("start", "end"):
        value = data.get(key)  # null = unset (whole file); `mmrobust pack` writes that
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value < 0):
            got = repr(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _json_type(value)
            raise MmrobustError(f"{shown}: {key}: expected a number of seconds >= 0 or null, got {got}")
    return data


def read_sidecar(path: Path, shown: str) -> dict:
    """The sidecar's keys, type-checked: labels a list of non-empty strings, start/end numbers or null."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MmrobustError(f"{shown}: not valid UTF-8 JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MmrobustError(f"{shown}: <top level>: expected an object {{\"labels\": [...], \"start\": s, \"end\": s}}, got {_json_type(data)}")
    unknown = sorted(set(data) - {"labels", "start", "end"})
    if unknown:
        raise MmrobustError(f"{shown}: {unknown[0]}: unknown key (allowed: end, labels, start)")
    return _check_sidecar(data, shown)


def scan_folder(root: Path, default_split: str, out: Path, roots: Sequence[Path] = (),
                shown_as: Callable[[str], str] | None = None) -> tuple[list[ManifestRow], list[Skip]]:
    """`shown_as(<split>/<file>)` is how errors name a file (the http source names the shard it came from)."""
    shown_as = shown_as or (lambda rel: f"{root}/{rel}")
    if not root.is_dir():
        raise MmrobustError(f"{root}: local.path: not a folder")
    stems: dict[tuple[str, str], dict[str, Path]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if len(rel.parts) > 2:
            raise MmrobustError(f"{root}: {rel}: nested too deep (use <split>/<id>.<ext>)")
        split = rel.parts[0] if len(rel.parts) == 2 else default_split
        stems.setdefault((split, path.stem), {})[path.suffix.lower()] = path
    rows, skips, seen = [], [], {}
    for (split, clip_id), files in sorted(stems.items()):
        shown = f"{split}/{clip_id}"
        media = [files[e] for e in VIDEO_EXT + AUDIO_EXT if e in files]
        if not media:
            if ".txt" in files or ".json" in files:
                skips.append(Skip(clip_id, shown, STAGE, DROPPED_CLIP, "no media file (.mp4/.wav/...) beside the caption"))
            continue
        if len(media) > 1:
            raise MmrobustError(f"{shown_as(shown)}: several media files ({', '.join(p.name for p in media)}); keep one")
        if clip_id in seen:
            raise MmrobustError(f"{shown_as(shown)}: id {clip_id!r} also in split {seen[clip_id]}")
        seen[clip_id] = split
        # A symlink may point anywhere (/etc/passwd): checked like a manifest row. The folder's own files
        # are checked by the features stage, which reports empty or undecodable ones in more detail.
        inside = media[0].resolve().is_relative_to(root.resolve())
        problem = outside(media[0], roots) if inside else media_problem(media[0], roots)
        if problem:
            skips.append(Skip(clip_id, f"{shown}{media[0].suffix}", STAGE, DROPPED_CLIP, problem))
            continue
        side = read_sidecar(files[".json"], shown_as(f"{shown}.json")) if ".json" in files else {}
        text = read_caption(files.get(".txt", root / "__absent__"), clip_id, skips, f"{shown}.txt")
        rel_media = f"media/{split}/{clip_id}{media[0].suffix.lower()}"
        place(media[0], out / rel_media)
        rows.append(ManifestRow(clip_id, split, rel_media, side.get("start"), side.get("end"), text,
                                tuple(side.get("labels", ())), sha256_file(out / rel_media)).validate(shown_as(shown)))
    return rows, skips


def read_user_manifest(path: Path, default_split: str, out: Path, roots: Sequence[Path] = ()) -> tuple[list[ManifestRow], list[Skip]]:
    """A CSV with columns id, media (required) and split, start, end, text, labels (optional)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("id", "media") if c not in (reader.fieldnames or [])]
            if missing:
                raise MmrobustError(f"{path}: header: missing column(s) {', '.join(missing)}")
            unknown = sorted(set(reader.fieldnames) - {"id", "media", "split", "start", "end", "text", "labels"})
            if unknown:
                raise MmrobustError(f"{path}: header: unknown column {unknown[0]!r}")
            records = list(enumerate(reader, start=2))
    except FileNotFoundError:
        raise MmrobustError(f"{path}: local.manifest: file not found") from None
    except UnicodeDecodeError as exc:
        raise MmrobustError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    rows, skips, lines = [], [], {}
    for line, rec in records:
        source = f"{path}:{line}"
        clip_id, split = rec["id"], (rec.get("split") or default_split)
        if clip_id in lines:  # before any file is placed: the second row would overwrite the first's media
            raise MmrobustError(f"{path}: duplicate id {clip_id!r} at lines {lines[clip_id]} and {line}")
        lines[clip_id] = line
        src = Path(rec["media"])
        src = src if src.is_absolute() else path.parent / src
        problem = media_problem(src, roots)
        if problem:
            skips.append(Skip(clip_id, rec["media"], STAGE, DROPPED_CLIP, problem))
            continue
        rel_media = f"media/{split}/{clip_id}{src.suffix.lower()}"
        row = ManifestRow(clip_id, split, rel_media, _number(rec.get("start") or "", source, "start"),
                          _number(rec.get("end") or "", source, "end"), " ".join((rec.get("text") or "").split()),
                          tuple(l for l in (rec.get("labels") or "").split(LABEL_SEP) if l), "0" * 64).validate(source)
        place(src, out / rel_media)
        rows.append(ManifestRow(**{**row.__dict__, "sha256": sha256_file(out / rel_media)}))
    return rows, skips


def fetch(dataset: dict, seed: int, out: Path, workers: int) -> tuple[list[ManifestRow], list[Skip]]:
    spec = dataset["local"]
    roots = allowed_roots(spec)
    if "manifest" in spec:
        return read_user_manifest(Path(spec["manifest"]), spec["default_split"], out, roots)
    return scan_folder(Path(spec["path"]), spec["default_split"], out, roots)
