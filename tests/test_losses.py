"""NCE and MIL-NCE against direct hand-written computations; the `own` terms' gradient property."""

import math

import torch

from mmrobust.losses import mil_nce_terms, nce_terms

TAU = 0.07


def unit(*shape, seed=0):
    return torch.nn.functional.normalize(
        torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1
    )


def hand_nce(q, k, valid):
    idx = [i for i in range(len(q)) if valid[i]]
    out = []
    for i in range(len(q)):
        if not valid[i]:
            out.append(0.0)
            continue
        row = -math.log(
            math.exp(float(q[i] @ k[i]) / TAU) / sum(math.exp(float(q[i] @ k[j]) / TAU) for j in idx)
        )
        col = -math.log(
            math.exp(float(k[i] @ q[i]) / TAU) / sum(math.exp(float(k[i] @ q[j]) / TAU) for j in idx)
        )
        out.append(0.5 * (row + col))
    return torch.tensor(out)


def test_nce_matches_hand_computation_with_invalid_clips():
    q, k = unit(6, 8), unit(6, 8, seed=1)
    valid = torch.tensor([1, 1, 0, 1, 1, 0], dtype=torch.bool)
    assert torch.allclose(nce_terms(q, k, valid), hand_nce(q, k, valid), atol=1e-5)


def test_mil_nce_matches_hand_computation():
    B, K = 4, 3
    v, t = unit(B, 8, seed=2), unit(B, K, 8, seed=3)
    cand = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    valid = torch.ones(B, dtype=torch.bool)

    def e(i, j, c):
        return math.exp(float(v[i] @ t[j, c]) / TAU)

    want = []
    for i in range(B):
        pos = sum(e(i, i, c) for c in range(K) if cand[i, c])
        row = -math.log(pos / sum(e(i, j, c) for j in range(B) for c in range(K) if cand[j, c]))
        col = -math.log(pos / sum(e(j, i, c) for j in range(B) for c in range(K) if cand[i, c]))
        want.append(0.5 * (row + col))
    assert torch.allclose(mil_nce_terms(v, t, valid, cand), torch.tensor(want), atol=1e-5)


def test_mil_nce_with_one_candidate_is_nce():
    v, t = unit(5, 8, seed=4), unit(5, 8, seed=5)
    valid = torch.ones(5, dtype=torch.bool)
    assert torch.allclose(mil_nce_terms(v, t[:, None], valid), nce_terms(v, t, valid), atol=1e-6)


def test_fewer_than_two_valid_clips_give_no_loss():
    q, k = unit(3, 4), unit(3, 4, seed=1)
    assert torch.equal(nce_terms(q, k, torch.tensor([1, 0, 0], dtype=torch.bool)), torch.zeros(3))


def test_own_terms_same_values_and_rows_are_per_triplet_gradients():
    q = unit(5, 8, seed=6).requires_grad_()
    k = unit(5, 8, seed=7).requires_grad_()
    valid = torch.ones(5, dtype=torch.bool)
    own = nce_terms(q, k, valid, own=True)
    assert torch.allclose(own, nce_terms(q, k, valid))
    (rows,) = torch.autograd.grad(own.sum(), q, retain_graph=True)
    for i in range(5):  # row i of the summed gradient = gradient of term i with the others' embeddings fixed
        fixed_k = k.detach().clone()
        fixed_q = q.detach().clone()
        qi = q[i : i + 1]
        ki = k[i : i + 1]
        qq = torch.cat([fixed_q[:i], qi, fixed_q[i + 1 :]])
        kk = torch.cat([fixed_k[:i], ki, fixed_k[i + 1 :]])
        (gi,) = torch.autograd.grad(nce_terms(qq, kk, valid)[i], q)
        assert torch.allclose(rows[i], gi[i], atol=1e-5)
        assert torch.count_nonzero(gi.abs().sum(-1)) == 1
