"""Ghost Gram matrices (train/ghost.py) equal the Gram matrices of the exact per-triplet gradients of
step.parameter_gradients (torch.func), for the whole model and one layer type at a time."""

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from mmrobust.harmonize import gradvac, pcgrad, triplet_score
from mmrobust.models.block import LayerNorm
from mmrobust.models.config import model_config
from mmrobust.models.tokenizers import AudioPatches, TextTokens, VideoTubelets
from mmrobust.models.vatt import Encoder, create_model
from mmrobust.objectives import create
from mmrobust.train.ghost import GhostGram, gram_and_backward, gram_score, triplet_gram
from mmrobust.train.ghost_realign import correction_weights, gradvac_coefficients, pcgrad_coefficients
from mmrobust.train.step import parameter_gradients, weighted_terms

FEATURES = {
    "video": {"num_frames": 4, "crop_size": 28},
    "audio": {"sample_rate": 16000, "seconds": 1.0, "n_mels": 32, "win_ms": 25, "hop_ms": 10},
    "text": {"context_length": 8},
}
TOL = 1e-4
pytestmark = pytest.mark.filterwarnings("ignore:.*batching rule")


def tiny_batch(batch=4, missing=3):
    g = torch.Generator().manual_seed(0)
    text = torch.randint(1, 1000, (batch, 8), generator=g)
    text[:, 6:] = 0  # padding
    text[0, 2] = text[0, 4]  # a repeated id: the embedding's ghost form pairs them
    has_audio = torch.ones(batch, dtype=torch.bool)
    has_audio[missing] = False
    return {
        "video": torch.rand(batch, 3, 4, 28, 28, generator=g),
        "audio": torch.randn(batch, 1, 32, 98, generator=g) - 4,
        "text": text,
        "has_video": torch.ones(batch, dtype=torch.bool),
        "has_audio": has_audio,
        "has_text": torch.ones(batch, dtype=torch.bool),
    }


def reference_gram(grads: list[torch.Tensor]) -> torch.Tensor:
    stacked = torch.stack(grads, dim=1).double()  # (B, K, P)
    return stacked @ stacked.transpose(1, 2)


def assert_close_gram(got: torch.Tensor, want: torch.Tensor) -> None:
    scale = want.diagonal(dim1=1, dim2=2).abs().amax(-1).clamp_min(1e-30)[:, None, None]
    rel = ((got.double() - want) / scale).abs().max()
    assert rel < TOL, f"max relative difference {float(rel):.2e}"


@pytest.mark.parametrize(
    "objective, architecture, mode, batched",
    [
        ("vatt", "ma", "auto", False),
        ("vatt", "ma", "ghost", True),
        ("vatt", "ms", "materialise", False),
        ("pairwise", "ms", "auto", True),
        ("pairwise", "ma", "ghost", False),
    ],
)
def test_ghost_gram_equals_the_exact_per_triplet_gradients(objective, architecture, mode, batched):
    torch.manual_seed(0)
    cfg = {"preset": "tiny", "architecture": architecture, "width": 32, "audio_patch": [16, 16]}
    model = create_model(model_config({**cfg, "drop_token": 0.5}, FEATURES, objective))
    batch = tiny_batch()
    keep = model.sample_keep([torch.Generator().manual_seed(i) for i in range(4)])
    loss = create(objective)
    ghost = GhostGram(model, model.shared_parameter_names(), mode, batched)
    gram, out = triplet_gram(model, batch, keep, loss, ghost=ghost)
    grads, _ = parameter_gradients(model, batch, keep, out, loss)
    want = reference_gram(grads)
    assert_close_gram(gram, want)
    assert gram.shape == (4, len(loss.compare), len(loss.compare))
    cos_got, cos_want = gram_score(gram), triplet_score([g.double() for g in grads])
    assert torch.allclose(cos_got.double(), cos_want, atol=TOL)
    assert float(gram[3, 0, 0]) == 0  # clip 3 has no audio: no video-audio term


def test_the_graph_is_kept_for_the_step_backward():
    torch.manual_seed(0)
    model = create_model(
        model_config({"preset": "tiny", "architecture": "ma", "width": 32, "audio_patch": [16, 16]}, FEATURES)
    )
    _, out = triplet_gram(model, tiny_batch(), None, create("vatt"))
    out["v_va"].sum().backward()
    assert model.backbone.blocks[0].attn.qkv.weight.grad is not None


def test_an_uncovered_shared_parameter_is_refused():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    with pytest.raises(NotImplementedError, match="1.weight"):
        GhostGram(model)


class PerSample(nn.Module):
    """A layer, then two per-sample terms: sum of squares and a fixed random projection's cube."""

    def __init__(self, layer: nn.Module, first=lambda o: o):
        super().__init__()
        self.layer, self.first = layer, first

    def forward(self, x):
        return self.first(self.layer(x))


def per_sample_terms(out: torch.Tensor) -> list[torch.Tensor]:
    flat = out.reshape(out.shape[0], -1)
    w = torch.linspace(-1, 1, flat.shape[1])
    return [(flat**2).sum(-1), ((flat * w).sum(-1)) ** 3]


def check_layer(module: PerSample, x: torch.Tensor, mode: str = "auto") -> None:
    ghost = GhostGram(module, mode=mode)
    with ghost.record():
        out = module(x)
    got = ghost.gram(per_sample_terms(out))
    params = {n: p.detach() for n, p in module.named_parameters()}

    def term(p, xi, k):
        return per_sample_terms(functional_call(module, p, (xi[None],)))[k][0]

    grads = []
    for k in range(2):
        per = vmap(grad(term), in_dims=(None, 0, None))(params, x, k)
        grads.append(torch.cat([per[n].reshape(x.shape[0], -1) for n in params], dim=1))
    assert_close_gram(got, reference_gram(grads))


@pytest.mark.parametrize("mode", ["ghost", "materialise"])
def test_linear_on_tokens_and_on_vectors(mode):
    torch.manual_seed(0)
    check_layer(PerSample(nn.Linear(5, 7)), torch.randn(3, 6, 5), mode)
    check_layer(PerSample(nn.Linear(5, 7, bias=False)), torch.randn(3, 5), mode)


@pytest.mark.parametrize("mode", ["ghost", "materialise"])
def test_patch_convolutions(mode):
    torch.manual_seed(0)
    check_layer(PerSample(nn.Conv3d(3, 4, (2, 3, 3), stride=(2, 3, 3))), torch.randn(2, 3, 4, 7, 6), mode)
    check_layer(PerSample(nn.Conv2d(1, 4, (2, 4), stride=(2, 4))), torch.randn(2, 1, 6, 9), mode)


def test_layernorm():
    torch.manual_seed(0)
    norm = LayerNorm(6)
    nn.init.normal_(norm.weight)
    check_layer(PerSample(norm), torch.randn(3, 4, 6))


def test_embedding_with_repeated_ids():
    torch.manual_seed(0)
    ids = torch.tensor([[1, 2, 1, 0], [3, 3, 3, 4], [5, 6, 7, 8]])
    check_layer(PerSample(nn.Embedding(10, 4)), ids)


def test_tokenizer_positions():
    torch.manual_seed(0)
    check_layer(PerSample(VideoTubelets(4, [2, 3, 3], 4, 6)), torch.randn(2, 3, 4, 6, 6))
    check_layer(PerSample(AudioPatches(4, [2, 3], 4, 10)), torch.randn(2, 1, 4, 10))
    tokens = torch.tensor([[1, 5, 5, 0], [2, 3, 0, 0]])
    check_layer(PerSample(TextTokens(4, 9, 6), first=lambda o: o[0]), tokens)


class WithAgg(nn.Module):
    def __init__(self):
        super().__init__()
        enc = model_config({"preset": "tiny", "width": 8, "depth": 1, "heads": 2}, FEATURES)
        self.encoder = Encoder(enc)
        self.agg = nn.ParameterDict({"video": nn.Parameter(torch.randn(1, 1, 8))})

    def forward(self, x):
        return self.encoder(x, self.agg["video"])


def test_agg_token_and_a_whole_block():
    torch.manual_seed(0)
    check_layer(PerSample(WithAgg()), torch.randn(3, 5, 8))


@pytest.mark.parametrize("k", [2, 3])
def test_realignment_in_gram_form_equals_harmonize(k):
    g = torch.Generator().manual_seed(k)
    grads = [torch.randn(64, 10, generator=g, dtype=torch.float64) for _ in range(k)]
    stacked = torch.stack(grads, dim=1)
    gram = stacked @ stacked.transpose(1, 2)
    targets = 0.3 if k == 2 else [0.1, 0.3, -0.2]
    for coefficients, want in (
        (pcgrad_coefficients(gram), pcgrad(grads)),
        (gradvac_coefficients(gram, targets), gradvac(grads, targets)),
    ):
        got = coefficients @ stacked
        assert torch.allclose(got, torch.stack(want, dim=1), atol=1e-10)
        delta = sum(n - o for n, o in zip(want, grads))
        assert torch.allclose(
            (correction_weights(coefficients)[:, :, None] * stacked).sum(1), delta, atol=1e-10
        )


@pytest.mark.parametrize("objective, architecture", [("vatt", "ma"), ("pairwise", "ms")])
def test_fused_backward_gives_the_plain_gradient_and_the_gram(objective, architecture):
    torch.manual_seed(0)
    cfg = {"preset": "tiny", "architecture": architecture, "width": 32, "audio_patch": [16, 16]}
    model = create_model(model_config(cfg, FEATURES, objective))
    batch, loss = tiny_batch(), create(objective)
    out = model(batch, None)
    sum(p.sum() for p in weighted_terms(loss, out, batch).values()).backward()
    want = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    gram, _ = gram_and_backward(model, batch, None, loss)
    for n, p in model.named_parameters():
        assert torch.allclose(p.grad, want[n], atol=1e-6, rtol=1e-5), n
    grads, _ = parameter_gradients(model, batch, None, model(batch, None), loss)
    assert_close_gram(gram, reference_gram(grads))
