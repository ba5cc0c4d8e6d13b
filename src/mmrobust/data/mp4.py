"""Write H.264/AAC mp4 files with PyAV (no ffmpeg binary needed), byte-deterministically."""
from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from ..fileio import atomic_path

AUDIO_FRAME = 1024  # samples per AAC frame


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: int, gop: int,
              audio: np.ndarray | None = None, sample_rate: int = 16000) -> None:
    """Encode (T, H, W, 3) uint8 frames and an optional mono float32 track to `path`, atomically.

    One encoder thread: x264's output depends on its thread count, and the bytes must not
    depend on the machine. moov goes first (faststart) as in files served for streaming.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            video = out.add_stream("libx264", rate=fps)
            video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            video.codec_context.thread_count = 1
            video.options = {"preset": "ultrafast", "crf": "20", "g": str(gop), "threads": "1"}
            track = None
            if audio is not None:
                track = out.add_stream("aac", rate=sample_rate)
                track.layout = "mono"
                track.bit_rate = 64000
            for i, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = i
                out.mux(video.encode(frame))
            out.mux(video.encode())
            if track is not None:
                for start in range(0, len(audio), AUDIO_FRAME):
                    chunk = av.AudioFrame.from_ndarray(audio[None, start:start + AUDIO_FRAME], format="fltp", layout="mono")
                    chunk.sample_rate, chunk.pts = sample_rate, start
                    out.mux(track.encode(chunk))
                out.mux(track.encode())
