"""Realignment: conflicts removed, aligned pairs untouched, GradVac toward its target, exact = per-sample
autograd."""

import pytest
import torch

from mmrobust.harmonize import Harmonizer, cosine, gradvac, pcgrad
from mmrobust.models.config import model_config
from mmrobust.models.vatt import create_model
from mmrobust.train.step import LossSpec, parameter_gradients, weighted_terms

FEATURES = {
    "video": {"num_frames": 4, "crop_size": 28},
    "audio": {"sample_rate": 16000, "seconds": 1.0, "n_mels": 32, "win_ms": 25, "hop_ms": 10},
    "text": {"context_length": 8},
}


def pairs(n=200, dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g)


def test_pcgrad_removes_every_conflict_and_keeps_aligned_pairs():
    g1, g2 = pairs()
    n1, n2 = pcgrad(g1, g2)
    conflict = cosine(g1, g2) < 0
    assert conflict.any() and (~conflict).any()
    assert (cosine(n1, n2) >= -1e-6).all()
    assert torch.equal(n1[~conflict], g1[~conflict]) and torch.equal(n2[~conflict], g2[~conflict])
    # each projected gradient is orthogonal to the other's original
    assert torch.allclose((n1[conflict] * g2[conflict]).sum(-1), torch.zeros(int(conflict.sum())), atol=1e-4)


def test_gradvac_reaches_the_target_similarity():
    g1, g2 = pairs(seed=1)
    target = 0.3
    n1, _ = gradvac(g1, g2, target)
    below = cosine(g1, g2) < target
    assert torch.allclose(cosine(n1[below], g2[below]), torch.full((int(below.sum()),), target), atol=1e-4)
    assert torch.equal(n1[~below], g1[~below])


def test_gradvac_target_is_an_ema_and_is_state():
    h = Harmonizer("gradvac", beta=0.5)
    g1, g2 = pairs(seed=2)
    h(g1, g2)
    assert h.target == pytest.approx(0.5 * float(cosine(g1, g2).mean()))
    other = Harmonizer("gradvac", beta=0.5)
    other.load_state_dict(h.state_dict())
    assert other.target == h.target


def test_none_changes_nothing_but_reports():
    g1, g2 = pairs(seed=3)
    n1, n2, stats = Harmonizer("none")(g1, g2)
    assert torch.equal(n1, g1) and torch.equal(n2, g2)
    assert stats["cos_before"] == stats["cos_after"]
    assert stats["conflict_fraction"] == pytest.approx(float((cosine(g1, g2) < 0).float().mean()))


def tiny_batch(batch=4):
    g = torch.Generator().manual_seed(0)
    return {
        "video": torch.rand(batch, 3, 4, 28, 28, generator=g),
        "audio": torch.randn(batch, 1, 32, 98, generator=g) - 4,
        "text": torch.randint(1, 1000, (batch, 8), generator=g),
        "has_video": torch.ones(batch, dtype=torch.bool),
        "has_audio": torch.tensor([1, 1, 1, 0], dtype=torch.bool),
        "has_text": torch.ones(batch, dtype=torch.bool),
    }


@pytest.mark.parametrize("architecture", ["ms", "ma"])
def test_exact_per_triplet_gradients_equal_per_sample_autograd(architecture):
    torch.manual_seed(0)
    model = create_model(
        model_config(
            {"preset": "tiny", "architecture": architecture, "width": 32, "audio_patch": [16, 16]}, FEATURES
        )
    )
    batch = tiny_batch()
    keep = model.sample_keep([torch.Generator().manual_seed(i) for i in range(4)])
    out = model(batch, keep)
    g_va, g_vt, names = parameter_gradients(model, batch, keep, out, LossSpec())
    params = dict(model.named_parameters())
    own_va, own_vt = weighted_terms(out, batch, LossSpec(), own=True)
    for i in range(4):
        for got, terms in ((g_va, own_va), (g_vt, own_vt)):
            grads = torch.autograd.grad(
                terms[i], [params[n] for n in names], retain_graph=True, allow_unused=True
            )
            want = torch.cat(
                [
                    (g if g is not None else torch.zeros_like(params[n])).reshape(-1)
                    for g, n in zip(grads, names)
                ]
            )
            assert torch.allclose(got[i], want, atol=1e-5)
    assert torch.count_nonzero(g_va[3]) == 0  # clip 3 has no audio: no video-audio term
