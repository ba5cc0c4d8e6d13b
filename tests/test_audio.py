"""Log-mel against independent computations, and the 8 s pad/crop."""

import numpy as np
import torch
import torchaudio.compliance.kaldi as kaldi
from conftest import make_clip

from mmrobust.data.decode import decode_audio, probe
from mmrobust.features.audio import log_mel, n_frames

EPS = np.finfo(np.float32).eps


def numpy_log_mel(wave, sr=16000, n_mels=128, win=400, hop=160, n_fft=512):
    """Written from the definition: Hamming-windowed 25 ms frames, 512-point power FFT, HTK-mel triangles in
    Hz."""
    wave = wave.astype(np.float64)
    count = 1 + (len(wave) - win) // hop
    frames = np.stack([wave[i * hop : i * hop + win] for i in range(count)])
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(win) / (win - 1))
    power = np.abs(np.fft.rfft(frames * window, n=n_fft)) ** 2

    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    edges = 700 * (10 ** (np.linspace(mel(0), mel(sr / 2), n_mels + 2) / 2595) - 1)
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    filters = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return np.log(np.maximum(filters @ power.T, EPS))


def signal(seconds=1.0):
    rng = np.random.default_rng(0)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.2 * np.sin(2 * np.pi * 523 * t) + rng.normal(0, 0.05, t.size)).astype(np.float32)


def test_matches_numpy_reference_within_1e_3():
    """Tolerance 1e-3 (log units): float32 FFT against float64; same definition, written twice."""
    ours, ref = log_mel(signal()), numpy_log_mel(signal())
    assert ours.shape == ref.shape == (128, 98)
    live = ref > np.log(EPS) + 1  # the one empty low filter sits at the floor in both
    assert np.abs(ours - ref)[live].max() < 1e-3
    assert (~live).sum() <= ref.shape[1]


def test_close_to_kaldi_fbank_within_0_05():
    """Kaldi (the AST / CAV-MAE features) draws its triangles linear in mel, ours linear in Hz;
    everything else (framing, window, FFT size, log floor) is the same, so they agree to 0.05."""
    x = signal()
    theirs = kaldi.fbank(
        torch.from_numpy(x)[None],
        num_mel_bins=128,
        window_type="hamming",
        dither=0.0,
        preemphasis_coefficient=0.0,
        remove_dc_offset=False,
        low_freq=0.0,
        sample_frequency=16000,
        use_energy=False,
    ).T.numpy()
    ours = log_mel(x)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 0.05


def test_frame_count_formula():
    audio = {"sample_rate": 16000, "seconds": 8.0, "win_ms": 25, "hop_ms": 10}
    assert n_frames(audio) == log_mel(np.zeros(128000, np.float32)).shape[1] == 798


def test_short_clip_is_zero_padded_to_the_window(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", seconds=2.0)
    wave = decode_audio(clip, probe(clip), 16000, 8.0)
    assert wave.shape == (128000,)
    assert np.abs(wave[:30000]).max() > 0.1
    assert np.abs(wave[34000:]).max() == 0  # AAC priming may shift the end by a frame


def test_long_clip_is_centre_cropped_and_start_end_respected(tmp_path):
    clip = make_clip(tmp_path / "b.mp4", seconds=10.0)
    assert decode_audio(clip, probe(clip), 16000, 8.0).shape == (128000,)
    part = decode_audio(clip, probe(clip), 16000, 8.0, start=1.0, end=3.0)
    assert np.abs(part[:30000]).max() > 0.1 and np.abs(part[34000:]).max() == 0
