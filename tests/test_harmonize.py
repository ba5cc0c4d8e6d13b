"""Realignment: conflicts removed, aligned pairs untouched, GradVac toward its target, exact = per-sample
autograd; the K-term forms, and at K = 2 the former two-gradient code bit for bit."""

from dataclasses import dataclass
from typing import Callable

import pytest
import torch

from mmrobust.harmonize import Harmonizer, cosine, gradvac, pcgrad, triplet_score
from mmrobust.models.config import model_config
from mmrobust.models.vatt import create_model
from mmrobust.objectives import create
from mmrobust.train.step import parameter_gradients, weighted_terms

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
    n1, n2 = pcgrad([g1, g2])
    conflict = cosine(g1, g2) < 0
    assert conflict.any() and (~conflict).any()
    assert (cosine(n1, n2) >= -1e-6).all()
    assert torch.equal(n1[~conflict], g1[~conflict]) and torch.equal(n2[~conflict], g2[~conflict])
    # each projected gradient is orthogonal to the other's original
    assert torch.allclose((n1[conflict] * g2[conflict]).sum(-1), torch.zeros(int(conflict.sum())), atol=1e-4)


def test_gradvac_reaches_the_target_similarity():
    g1, g2 = pairs(seed=1)
    target = 0.3
    n1, _ = gradvac([g1, g2], target)
    below = cosine(g1, g2) < target
    assert torch.allclose(cosine(n1[below], g2[below]), torch.full((int(below.sum()),), target), atol=1e-4)
    assert torch.equal(n1[~below], g1[~below])


def test_gradvac_target_is_an_ema_and_is_state():
    h = Harmonizer("gradvac", beta=0.5)
    g1, g2 = pairs(seed=2)
    h([g1, g2])
    assert float(h.target) == pytest.approx(0.5 * float(cosine(g1, g2).mean()))
    other = Harmonizer("gradvac", beta=0.5)
    other.load_state_dict(h.state_dict())
    assert other.target == h.target


def test_none_changes_nothing_but_reports():
    g1, g2 = pairs(seed=3)
    (n1, n2), stats = Harmonizer("none")([g1, g2])
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
    vatt = create("vatt")
    (g_va, g_vt), names = parameter_gradients(model, batch, keep, out, vatt)
    params = dict(model.named_parameters())
    own = weighted_terms(vatt, out, batch, own=True)
    own_va, own_vt = own["va"], own["vt"]
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


# The two-gradient code before objectives had K terms (commit 6928e7f), kept as the reference.
_EPS = 1e-12


def old_pcgrad(g1, g2):
    dot = (g1 * g2).sum(-1, keepdim=True)
    conflict = dot < 0
    new1 = g1 - dot / (g2 * g2).sum(-1, keepdim=True).clamp_min(_EPS) * g2
    new2 = g2 - dot / (g1 * g1).sum(-1, keepdim=True).clamp_min(_EPS) * g1
    return torch.where(conflict, new1, g1), torch.where(conflict, new2, g2)


def old_gradvac(g1, g2, target):
    phi = cosine(g1, g2)[:, None].clamp(-1.0, 1.0)
    hat = (
        torch.as_tensor(target, dtype=phi.dtype, device=phi.device).expand_as(phi).clamp(-0.999999, 0.999999)
    )
    n1, n2 = g1.norm(dim=-1, keepdim=True), g2.norm(dim=-1, keepdim=True)
    gain = hat * torch.sqrt(1 - phi**2) - phi * torch.sqrt(1 - hat**2)
    denom = torch.sqrt(1 - hat**2)
    new1 = g1 + n1 * gain / (n2 * denom).clamp_min(_EPS) * g2
    new2 = g2 + n2 * gain / (n1 * denom).clamp_min(_EPS) * g1
    below = phi < hat
    return torch.where(below, new1, g1), torch.where(below, new2, g2)


@dataclass
class OldHarmonizer:
    method: str = "none"
    beta: float = 0.01
    target: float | torch.Tensor = 0.0

    def __call__(self, g1, g2, mask=None, reduce: Callable = lambda s: s):
        mask = torch.ones(len(g1), dtype=torch.bool, device=g1.device) if mask is None else mask
        before = cosine(g1, g2)
        if self.method == "pcgrad":
            n1, n2 = old_pcgrad(g1, g2)
        elif self.method == "gradvac":
            n1, n2 = old_gradvac(g1, g2, self.target)
        else:
            n1, n2 = g1, g2
        n1, n2 = torch.where(mask[:, None], n1, g1), torch.where(mask[:, None], n2, g2)
        after = cosine(n1, n2)
        zero = torch.zeros_like(before)
        sums = reduce(
            torch.stack(
                [
                    torch.where(mask, before, zero).sum(),
                    torch.where(mask, after, zero).sum(),
                    (mask & (before < 0)).sum().to(before.dtype),
                    mask.sum().to(before.dtype),
                ]
            )
        )
        mean_before, mean_after, conflicts = sums[:3] / sums[3]
        if self.method == "gradvac":
            target = torch.as_tensor(self.target, dtype=torch.float64, device=g1.device)
            self.target = torch.where(
                sums[3] > 0, (1 - self.beta) * target + self.beta * mean_before.double(), target
            )
        return n1, n2, {"cos_before": mean_before, "cos_after": mean_after, "conflict_fraction": conflicts}


@pytest.mark.parametrize("method", ["none", "pcgrad", "gradvac"])
def test_two_terms_equal_the_former_two_gradient_code_bit_for_bit(method):
    new, old = Harmonizer(method, beta=0.3), OldHarmonizer(method, beta=0.3)
    for step in range(4):  # GradVac's target moves from step to step
        g1, g2 = pairs(n=300, dim=64, seed=10 + step)
        g2[:50] = -g1[:50] + 0.1 * g2[:50]  # strong conflicts as well
        mask = torch.rand(300, generator=torch.Generator().manual_seed(step)) > 0.1
        (n1, n2), stats = new([g1, g2], mask)
        o1, o2, old_stats = old(g1, g2, mask)
        assert torch.equal(n1, o1) and torch.equal(n2, o2)
        assert all(torch.equal(stats[k], old_stats[k]) for k in old_stats)
        assert torch.equal(torch.as_tensor(new.target), torch.as_tensor(old.target))
    assert new.state_dict() == {"target": float(old.target)}


def test_pcgrad_three_terms_by_hand():
    # One triplet, K = 3, in 2-D: g1 = (1, 0), g2 = (-1, 1), g3 = (0, -1).
    g = [torch.tensor([[1.0, 0.0]]), torch.tensor([[-1.0, 1.0]]), torch.tensor([[0.0, -1.0]])]
    n1, n2, n3 = pcgrad(g)
    # g1: with g2 (dot -1): g1 - (-1/2) g2 = (0.5, 0.5); then with g3 (dot -0.5): + 0.5 g3 = (0.5, 0)
    assert torch.allclose(n1, torch.tensor([[0.5, 0.0]]))
    # g2: with g1 (dot -1): g2 + g1 = (0, 1); with g3 (dot -1): (0, 1) + g3 = (0, 0)
    assert torch.allclose(n2, torch.tensor([[0.0, 0.0]]))
    # g3: with g1 (dot 0): unchanged; with g2 (dot -1): g3 + (1/2) g2 = (-0.5, -0.5)
    assert torch.allclose(n3, torch.tensor([[-0.5, -0.5]]))


def test_pcgrad_k_terms_end_orthogonal_to_the_last_conflicting_term_and_keep_aligned_rows():
    g = list(torch.randn(3, 500, 8, generator=torch.Generator().manual_seed(5)))
    new = pcgrad(g)
    # the last projection of each g_i leaves it with g_i'.g_j >= 0 against the last j != i
    for i, last in ((0, 2), (1, 2), (2, 1)):
        assert ((new[i] * g[last]).sum(-1) >= -1e-5).all()
    aligned = ((g[0] * g[1]).sum(-1) >= 0) & ((g[0] * g[2]).sum(-1) >= 0) & ((g[1] * g[2]).sum(-1) >= 0)
    assert aligned.any() and all(torch.equal(n[aligned], x[aligned]) for n, x in zip(new, g))


def test_gradvac_k_terms_reach_each_pairs_target_and_keep_one_ema_per_pair():
    g = list(torch.randn(3, 400, 8, generator=torch.Generator().manual_seed(6)))
    targets = [0.1, 0.2, 0.3]  # pairs (0, 1), (0, 2), (1, 2)
    new = gradvac(g, targets)
    # each g_i' ends with its last step, against the last j != i: at or above that pair's target
    for i, j, t in ((0, 2, 0.2), (1, 2, 0.3), (2, 1, 0.3)):
        assert (cosine(new[i], g[j]) >= t - 1e-4).all()
    # the first step of g_1 (against g_2) is the two-term rule with pair (0, 1)'s target
    first = gradvac(g[:2], targets[0])[0]
    below = cosine(g[0], g[1]) < 0.1
    assert below.any() and torch.allclose(cosine(first, g[1])[below], torch.tensor(0.1), atol=1e-4)
    h = Harmonizer("gradvac", beta=0.5)
    h(g)
    want = [0.5 * float(cosine(g[i], g[j]).mean()) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert torch.allclose(h.target.float(), torch.tensor(want), atol=1e-6)
    state = h.state_dict()
    assert len(state["target"]) == 3
    other = Harmonizer("gradvac", beta=0.5)
    other.load_state_dict(state)
    assert torch.equal(torch.as_tensor(other.target, dtype=torch.float64), h.target.cpu())


def test_k_term_scores_and_statistics():
    g = list(torch.randn(3, 100, 8, generator=torch.Generator().manual_seed(7)))
    pair = [cosine(g[i], g[j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert torch.allclose(triplet_score(g), (pair[0] + pair[1] + pair[2]) / 3)
    _, stats = Harmonizer("none")(g)
    conflicting = (pair[0] < 0) | (pair[1] < 0) | (pair[2] < 0)
    assert float(stats["conflict_fraction"]) == pytest.approx(float(conflicting.float().mean()))
    assert float(stats["cos_before"]) == pytest.approx(float(triplet_score(g).mean()), abs=1e-6)
