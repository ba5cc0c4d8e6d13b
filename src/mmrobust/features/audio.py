"""Log-mel spectrogram (seed 003: 16 kHz mono, 128 bins, 25 ms Hamming window, 10 ms hop).

Framing follows Kaldi (the convention of AST / CAV-MAE, which seed 003 cites): each 25 ms frame is
windowed, zero-padded to the next power of two for the FFT, and only frames that fit entirely
are kept. The mel filters are HTK-scale triangles from torchaudio; log of the power with a
float32-epsilon floor. At 128 bins over a 512-point FFT the lowest filter falls between two FFT
bins and stays at log(eps), exactly as in Kaldi's fbank (tests/test_audio.py compares the two).
"""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import torch
import torchaudio.functional as AF

# AST's AudioSet statistics of the same log-mel features (Gong et al. 2021): the model normalises
# with them, and a clip without audio is fed the mean (a neutral input).
AUDIO_MEAN, AUDIO_STD = -4.27, 4.57


@lru_cache(maxsize=8)
def _kernels(sample_rate: int, n_mels: int, win: int, n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    window = torch.zeros(n_fft)
    window[:win] = torch.hamming_window(win, periodic=False, dtype=torch.float64).float()
    with warnings.catch_warnings():  # the one empty low filter, documented above
        warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero values")
        mel = AF.melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate, norm=None, mel_scale="htk")
    return window, mel


def frame_params(sample_rate: int, win_ms: float, hop_ms: float) -> tuple[int, int, int]:
    win = int(round(sample_rate * win_ms / 1000))
    hop = int(round(sample_rate * hop_ms / 1000))
    return win, hop, 1 << (win - 1).bit_length()


def log_mel(wave: np.ndarray, sample_rate: int = 16000, n_mels: int = 128,
            win_ms: float = 25.0, hop_ms: float = 10.0) -> np.ndarray:
    """(n_mels, frames) float32, frames = 1 + (len(wave) - win) // hop."""
    win, hop, n_fft = frame_params(sample_rate, win_ms, hop_ms)
    window, mel = _kernels(sample_rate, n_mels, win, n_fft)
    signal = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    signal = torch.nn.functional.pad(signal, (0, n_fft - win))  # the last full 25 ms frame gets its FFT padding
    power = AF.spectrogram(signal, pad=0, window=window, n_fft=n_fft, hop_length=hop, win_length=n_fft,
                           power=2.0, normalized=False, center=False)
    mels = mel.T @ power
    return torch.log(mels.clamp_min(torch.finfo(torch.float32).eps)).numpy()


def n_frames(audio: dict) -> int:
    """Log-mel frames of the `audio` config's window (798 for 8 s at 25/10 ms)."""
    win, hop, _ = frame_params(audio["sample_rate"], audio["win_ms"], audio["hop_ms"])
    return 1 + (int(round(audio["seconds"] * audio["sample_rate"])) - win) // hop
