"""Decode with decord: the sampled video frames (resized while decoding) and the audio track
(PyAV decodes the frame sizes decord cannot copy out, see decode_frames_av).

A stream probe (PyAV reads only the container header) tells a missing modality, which is kept,
from a file that cannot be decoded, which is skipped. A still image (ImageNet-Captions' JPEGs)
is a video of one frame without audio: decord cannot read images, so PyAV decodes it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import av
import decord
import numpy as np


class DecodeError(Exception):
    """The file or one of its streams cannot be decoded; the message is the report's reason."""


TRUNCATION_SLACK_S = 0.1  # AAC priming and frame rounding; anything shorter is a cut-off track
_DECORD_PREFIX = re.compile(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ")


def _reason(what: str, exc: Exception, path: Path) -> str:
    """decord's first message line without its wall-clock stamp and source path, nor our absolute path:
    the report must be byte-identical from run to run."""
    text = _DECORD_PREFIX.sub("", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return f"{what} failed ({text.replace(str(path), path.name)[:160]})"


@dataclass(frozen=True)
class Streams:
    width: int
    height: int
    has_video: bool
    has_audio: bool
    audio_seconds: float | None = None  # what the container declares; a shorter decode means truncation
    still: bool = False                 # an image (ffmpeg's image demuxers: image2, jpeg_pipe, png_pipe, ...)


def probe(path: Path) -> Streams:
    if not path.exists():
        raise DecodeError("file not found")
    if path.stat().st_size == 0:
        raise DecodeError("empty file (0 bytes)")
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0] if container.streams.video else None
            width, height = (video.codec_context.width, video.codec_context.height) if video else (0, 0)
            audio = container.streams.audio[0] if container.streams.audio else None
            declared = float(audio.duration * audio.time_base) if audio is not None and audio.duration else None
            still = container.format.name == "image2" or container.format.name.endswith("_pipe")
            return Streams(width, height, video is not None and width > 0, audio is not None, declared, still)
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise DecodeError(_reason("opening the container", exc, path)) from None


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side set to `short_side`, aspect kept, both even."""
    scale = short_side / min(width, height)
    return max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2))


def frame_indices(n_frames: int, fps: float, num: int, start: float | None, end: float | None) -> list[int]:
    """`num` frame indices at the centres of equal segments of [start, end) (whole clip if unset)."""
    first = 0 if start is None else min(n_frames - 1, max(0, int(math.floor(start * fps))))
    last = n_frames if end is None else max(first + 1, min(n_frames, int(math.ceil(end * fps))))
    step = (last - first) / num
    return [min(last - 1, first + int(step * (i + 0.5))) for i in range(num)]


def decode_frames(path: Path, streams: Streams, num: int, short_side: int,
                  start: float | None = None, end: float | None = None) -> np.ndarray:
    """(num, H, W, 3) uint8, short side = `short_side`; frames are converted only where sampled."""
    width, height = scaled_size(streams.width, streams.height, short_side)
    if streams.still:
        return decode_image(path, num, width, height)
    try:
        reader = decord.VideoReader(str(path), width=width, height=height, num_threads=1)
        if len(reader) == 0:
            raise DecodeError("video stream has no frames")
        indices = frame_indices(len(reader), reader.get_avg_fps() or 1.0, num, start, end)
        try:
            return reader.get_batch(indices).asnumpy()
        except decord.DECORDError as exc:
            if _DECORD_ROW_BUG not in str(exc):
                raise
        return decode_frames_av(path, indices, width, height)
    except (decord.DECORDError, RuntimeError) as exc:
        raise DecodeError(_reason("video decode", exc, path)) from None


# decord 0.6.0 fails to copy out frames of some output widths (8, 12, 16, 24, 48, 72 px: it copies
# 4 bytes a pixel into a 3-byte buffer); 72x40 is 16:9 at short side 40. Those frames come from PyAV.
_DECORD_ROW_BUG = "DECORDArrayCopyFromTo"


def decode_frames_av(path: Path, indices: list[int], width: int, height: int) -> np.ndarray:
    """The frames at `indices` (decord's numbering: decoded order) scaled as decord scales them:
    ffmpeg's scale filter, bilinear, then rgb24; byte-identical to decord where decord works (tested)."""
    wanted, frames = set(indices), {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            graph = av.filter.Graph()
            chain = [graph.add_buffer(template=stream), graph.add("scale", f"{width}:{height}:flags=bilinear"),
                     graph.add("format", "rgb24"), graph.add("buffersink")]
            for a, b in zip(chain, chain[1:]):
                a.link_to(b)
            graph.configure()
            for i, frame in enumerate(container.decode(stream)):
                if i in wanted:
                    graph.push(frame)
                    frames[i] = graph.pull().to_ndarray()
                if i >= max(indices):
                    break
    except (av.FFmpegError, OSError) as exc:
        raise DecodeError(_reason("video decode", exc, path)) from None
    if len(frames) < len(wanted):
        raise DecodeError(f"video stream ended before frame {max(indices)}")
    return np.stack([frames[i] for i in indices])


def decode_image(path: Path, num: int, width: int, height: int) -> np.ndarray:
    """The image as `num` equal frames (num, height, width, 3) uint8; bicubic, as ffmpeg's scaler in decord."""
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0), None)
            if frame is None:
                raise DecodeError("image has no frame")
            rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="BICUBIC").to_ndarray()
    except (av.FFmpegError, OSError) as exc:
        raise DecodeError(_reason("image decode", exc, path)) from None
    return np.repeat(rgb[None], num, axis=0)


def decode_audio(path: Path, streams: Streams, sample_rate: int, seconds: float,
                 start: float | None = None, end: float | None = None) -> np.ndarray:
    """Mono float32 at `sample_rate`: the centred `seconds` window of [start, end), zero-padded."""
    try:
        reader = decord.AudioReader(str(path), sample_rate=sample_rate, mono=True)
        total = reader.shape[1]
        if streams.audio_seconds and total < (streams.audio_seconds - TRUNCATION_SLACK_S) * sample_rate:
            raise DecodeError(f"audio track truncated (decoded {total / sample_rate:.2f} s of {streams.audio_seconds:.2f} s)")
        lo = 0 if start is None else min(total, int(start * sample_rate))
        hi = total if end is None else max(lo, min(total, int(end * sample_rate)))
        want = int(round(seconds * sample_rate))
        offset = lo + max(0, (hi - lo - want) // 2)
        take = min(want, hi - lo)
        # decord (pinned 0.6.0) decodes the whole track into `_array` when the reader is built; its
        # public slicing re-validates every sample index in Python (~22 ms for 8 s), so slice the array.
        wave = reader._array[0, offset:offset + take] if take > 0 else np.zeros(0, np.float32)
    except (decord.DECORDError, RuntimeError, IndexError) as exc:
        raise DecodeError(_reason("audio decode", exc, path)) from None
    if take <= 0:
        raise DecodeError("audio stream has no samples in [start, end)")
    if not np.all(np.isfinite(wave)):
        raise DecodeError("audio decoded to non-finite samples")
    return np.pad(wave.astype(np.float32), (0, want - len(wave)))
