"""Frame sampling, stored size and the train / eval transforms (seed 003)."""

import decord
import numpy as np
import pytest
import torch
from conftest import make_clip

from mmrobust.data.decode import decode_frames, decode_frames_av, frame_indices, probe, scaled_size
from mmrobust.features.video import eval_transform, resize_short_side, train_transform


@pytest.mark.parametrize(
    "w, h, side, out", [(320, 240, 256, (342, 256)), (240, 320, 80, (80, 106)), (128, 96, 80, (106, 80))]
)
def test_scaled_size_keeps_aspect(w, h, side, out):
    assert scaled_size(w, h, side) == out


def test_frame_indices_are_centred_and_inside_the_clip():
    assert frame_indices(64, 8.0, 8, None, None) == [4, 12, 20, 28, 36, 44, 52, 60]
    assert frame_indices(64, 8.0, 4, 2.0, 4.0) == [18, 22, 26, 30]
    assert frame_indices(3, 8.0, 5, None, None) == [0, 0, 1, 2, 2]  # short clips repeat frames
    assert frame_indices(64, 8.0, 2, 100.0, None) == [63, 63]


def test_decoded_frames_have_stored_short_side(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", size=(96, 64))
    frames = decode_frames(clip, probe(clip), 6, 40)
    assert frames.shape == (6, 40, 60, 3) and frames.dtype == np.uint8


# Stored (height, width) worked out by hand: the short side set, the long side scaled and rounded to
# even. decord 0.6.0 failed on every output width of 48 or 72 (issue 13, item 8): 16:9 at short side 40 among
# them.
@pytest.mark.parametrize(
    "size, side, stored",
    [
        ((72, 40), 40, (40, 72)),
        ((48, 32), 40, (40, 60)),
        ((72, 48), 40, (40, 60)),
        ((40, 72), 40, (72, 40)),
        ((72, 40), 32, (32, 58)),
        ((48, 32), 32, (32, 48)),
        ((72, 48), 32, (32, 48)),
        ((40, 72), 32, (58, 32)),
        ((72, 40), 48, (48, 86)),
        ((48, 32), 48, (48, 72)),
        ((72, 48), 48, (48, 72)),
        ((40, 72), 48, (86, 48)),
    ],
)
def test_every_aspect_ratio_decodes(tmp_path, size, side, stored):
    clip = make_clip(tmp_path / "c.mp4", size=size, seconds=1.0)
    frames = decode_frames(clip, probe(clip), 4, side)
    assert frames.shape == (4, *stored, 3) and frames.dtype == np.uint8
    # the picture, not just its shape: grey 90 background and the bright (230) square of make_clip
    assert 85 <= np.median(frames) <= 95 and frames.max() >= 215


@pytest.mark.parametrize(
    "size, side, start, end",
    [((64, 48), 40, None, None), ((96, 64), 40, 0.5, 1.5), ((160, 90), 56, None, 1.0)],
)
def test_pyav_frames_equal_decords_where_decord_works(tmp_path, size, side, start, end):
    """The fallback scales as decord does (ffmpeg's bilinear scale filter), byte for byte."""
    clip = make_clip(tmp_path / "c.mp4", size=size, seconds=2.0, fps=12)
    width, height = scaled_size(*size, side)
    reader = decord.VideoReader(str(clip), width=width, height=height, num_threads=1)
    indices = frame_indices(len(reader), reader.get_avg_fps(), 5, start, end)
    expected = reader.get_batch(indices).asnumpy()
    assert np.array_equal(decode_frames_av(clip, indices, width, height), expected)


def test_eval_transform_is_short_side_then_centre_crop():
    frames = np.zeros((4, 80, 106, 3), np.uint8)
    frames[:, 30:50, 43:63] = 255  # a centred square survives the centre crop
    out = eval_transform(frames, 64, 56)
    assert out.shape == (4, 3, 56, 56) and out.dtype == torch.float32
    assert out.max() <= 1.0 and out[:, :, 28, 28].min() > 0.9


def test_train_transform_random_but_seeded():
    frames = np.random.default_rng(0).integers(0, 255, (4, 80, 106, 3), dtype=np.uint8)
    a = train_transform(frames, (64, 80), 56, torch.Generator().manual_seed(1))
    b = train_transform(frames, (64, 80), 56, torch.Generator().manual_seed(1))
    assert a.shape == (4, 3, 56, 56) and torch.equal(a, b)
    outs = {
        train_transform(frames, (64, 80), 56, torch.Generator().manual_seed(s)).sum().item() for s in range(6)
    }
    assert len(outs) > 1  # augmentation differs between draws (epochs)


def test_resize_short_side_never_below_target():
    x = torch.rand(2, 3, 50, 201)
    assert resize_short_side(x, 64).shape[-2:] == (64, 257)


def test_resize_to_the_same_short_side_is_an_exact_identity():
    # resize_short_side skips the interpolation then; this is what interpolation would give.
    x = torch.rand(2, 3, 64, 85)
    full = torch.nn.functional.interpolate(
        x, size=(64, 85), mode="bilinear", antialias=True, align_corners=False
    )
    assert torch.equal(resize_short_side(x, 64), full)
