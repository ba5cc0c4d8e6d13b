"""Objectives: the registry agrees with the config schema; pairwise's terms by hand, clips missing a
modality drop out of exactly the pairs that need it; per-triplet gradients of K = 3 terms."""

import math

import pytest
import torch
from test_harmonize import tiny_batch  # the same 4-clip batch, one clip without audio

from mmrobust.config import load_schema
from mmrobust.models.config import ModelConfig, model_config
from mmrobust.models.vatt import create_model
from mmrobust.objectives import create, names, objective_class
from mmrobust.train.step import comparable, parameter_gradients, representation_gradients, weighted_terms

FEATURES = {
    "video": {"num_frames": 4, "crop_size": 28},
    "audio": {"sample_rate": 16000, "seconds": 1.0, "n_mels": 32, "win_ms": 25, "hop_ms": 10},
    "text": {"context_length": 8},
}
TAU = 0.07


def test_every_objective_is_in_the_schema_with_its_terms():
    pretrain = load_schema("config.schema.yaml")["$defs"]["pretrain"]
    assert set(pretrain["properties"]["objective"]["enum"]) == set(names()) >= {"vatt", "pairwise", "mae"}
    blocks = {b["if"]["properties"]["objective"]["const"]: b["then"] for b in pretrain["allOf"]}
    for name in names():
        cls = objective_class(name)
        weights = blocks[name]["properties"]["loss_weights"]
        assert cls.name == name and tuple(weights["properties"]) == cls.terms
        assert weights["default"] == create(name).weights
        assert set(cls.compare) <= set(cls.terms) and len(cls.compare) != 1
        if not cls.compare:  # nothing to compare: its block refuses realignment and the curriculum
            refused = blocks[name]["properties"]
            assert refused["harmonization"]["properties"]["method"]["const"] == "none"
            assert refused["curriculum"]["properties"]["enabled"]["const"] is False


def test_unknown_objective_and_wrong_weights_are_clear_errors():
    with pytest.raises(ValueError, match="objective must be one of"):
        create("byol")
    with pytest.raises(ValueError, match="pairwise: loss_weights needs exactly the terms va, vt, at"):
        create("pairwise", {"va": 1.0, "vt": 1.0})


def test_model_config_names_the_objective_unless_it_is_the_default():
    pairwise = model_config({"preset": "tiny"}, FEATURES, "pairwise")
    assert pairwise.to_dict()["objective"] == "pairwise"
    assert ModelConfig.from_dict(pairwise.to_dict()) == pairwise
    vatt = model_config({"preset": "tiny"}, FEATURES)
    assert "objective" not in vatt.to_dict() and ModelConfig.from_dict(vatt.to_dict()).objective == "vatt"


def unit(rows, dim, seed):
    return torch.nn.functional.normalize(
        torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed)), dim=-1
    )


def by_hand(q, k, valid):
    """Symmetric InfoNCE of every valid clip, with loops over the valid clips only."""
    idx = [i for i in range(len(valid)) if valid[i]]
    out = torch.zeros(len(valid), dtype=torch.float64)
    for i in idx:
        s = {j: float(q[i] @ k[j]) / TAU for j in idx}
        r = {j: float(q[j] @ k[i]) / TAU for j in idx}
        q_to_k = -s[i] + math.log(sum(math.exp(v) for v in s.values()))
        k_to_q = -r[i] + math.log(sum(math.exp(v) for v in r.values()))
        out[i] = 0.5 * (q_to_k + k_to_q)
    return out


def flags(audio=(1, 1, 1, 1, 1), text=(1, 1, 1, 1, 1), video=(1, 1, 1, 1, 1)):
    return {
        "has_video": torch.tensor(video, dtype=torch.bool),
        "has_audio": torch.tensor(audio, dtype=torch.bool),
        "has_text": torch.tensor(text, dtype=torch.bool),
    }


def test_pairwise_terms_equal_a_hand_computation():
    out = {"z_video": unit(5, 16, 0), "z_audio": unit(5, 16, 1), "z_text": unit(5, 16, 2)}
    objective = create("pairwise", temperature=TAU)
    f = flags()
    terms = objective.loss_terms(out, objective.validity(f))
    assert tuple(terms) == ("va", "vt", "at")
    for term, (a, b) in {"va": ("video", "audio"), "vt": ("video", "text"), "at": ("audio", "text")}.items():
        want = by_hand(out[f"z_{a}"].double(), out[f"z_{b}"].double(), [True] * 5)
        assert torch.allclose(terms[term].double(), want, atol=1e-4), term
    weighted = weighted_terms(create("pairwise", {"va": 1.0, "vt": 2.0, "at": 0.5}, TAU), out, f)
    assert torch.allclose(weighted["vt"].sum(), 2.0 * terms["vt"].mean()) and torch.allclose(
        weighted["at"].sum(), 0.5 * terms["at"].mean()
    )


def test_a_clip_missing_a_modality_drops_out_of_exactly_the_pairs_that_need_it():
    out = {"z_video": unit(5, 16, 3), "z_audio": unit(5, 16, 4), "z_text": unit(5, 16, 5)}
    objective = create("pairwise", temperature=TAU)
    f = flags(audio=(1, 1, 0, 1, 1), text=(1, 1, 1, 1, 0))  # clip 2 lacks audio, clip 4 text
    valid = objective.validity(f)
    terms = objective.loss_terms(out, valid)
    has = {"va": [1, 1, 0, 1, 1], "vt": [1, 1, 1, 1, 0], "at": [1, 1, 0, 1, 0]}
    for term, (a, b) in {"va": ("video", "audio"), "vt": ("video", "text"), "at": ("audio", "text")}.items():
        assert valid[term].tolist() == [bool(x) for x in has[term]]
        assert (terms[term][~valid[term]] == 0).all()
        # neither anchor nor negative: the pair's terms are those of the batch without the clip
        want = by_hand(out[f"z_{a}"].double(), out[f"z_{b}"].double(), valid[term].tolist())
        assert torch.allclose(terms[term].double(), want, atol=1e-4), term
    # clip 2 still counts in video-text, clip 4 in video-audio
    assert terms["vt"][2] > 0 and terms["va"][4] > 0
    assert comparable(objective, f).tolist() == [True, True, False, True, False]


def tiny_model(objective, architecture="ms"):
    torch.manual_seed(0)
    cfg = {"preset": "tiny", "architecture": architecture, "width": 32, "audio_patch": [16, 16], "va_dim": 24}
    return create_model(model_config(cfg, FEATURES, objective))


def test_pairwise_model_has_one_projection_per_modality_and_embeds_in_one_space():
    model = tiny_model("pairwise")
    heads = {n for n, _ in model.named_parameters() if n.startswith("head_")}
    assert heads == {"head_video.weight", "head_audio.weight", "head_text.weight"}
    out = model(tiny_batch())
    for m in ("video", "audio", "text"):
        assert out[f"z_{m}"].shape == (4, 24) and torch.allclose(out[f"z_{m}"].norm(dim=-1), torch.ones(4))
    embedded = model.eval().embed(tiny_batch(), ("video", "text"))
    assert torch.allclose(embedded["video"], model(tiny_batch())["z_video"], atol=1e-6)
    assert model.shared_parameter_names() == [n for n, _ in model.named_parameters()]
    assert model.embed_dim() == 24 and tiny_model("vatt").embed_dim() == 256


def test_pairwise_per_triplet_gradients_of_three_terms_equal_per_sample_autograd():
    model = tiny_model("pairwise")
    objective = create("pairwise")
    batch = tiny_batch()
    out = model(batch)
    grads, names = parameter_gradients(model, batch, None, out, objective)
    assert len(grads) == 3
    params = dict(model.named_parameters())
    own = weighted_terms(objective, out, batch, own=True)
    for i in (0, 3):
        for got, term in zip(grads, objective.compare):
            parts = torch.autograd.grad(
                own[term][i], [params[n] for n in names], retain_graph=True, allow_unused=True
            )
            want = torch.cat(
                [
                    (g if g is not None else torch.zeros_like(params[n])).reshape(-1)
                    for g, n in zip(parts, names)
                ]
            )
            assert torch.allclose(got[i], want, atol=1e-5), (i, term)
    assert torch.count_nonzero(grads[0][3]) == 0 and torch.count_nonzero(grads[2][3]) == 0  # no audio
    # the cheap level: rows over (r_video, r_audio, r_text); va reaches no text, vt no audio, at no video
    rows = representation_gradients(objective, out, batch)
    width = 32
    assert all(r.shape == (4, 3 * width) for r in rows)
    assert torch.count_nonzero(rows[0][:, 2 * width :]) == 0
    assert torch.count_nonzero(rows[1][:, width : 2 * width]) == 0
    assert torch.count_nonzero(rows[2][:, :width]) == 0


def test_a_pairwise_encoder_feeds_the_downstream_linear_head():
    from mmrobust.downstream.model import Classifier

    classifier = Classifier(tiny_model("pairwise"), 3)
    assert classifier.head.in_features == 24
    assert classifier(tiny_batch(), "VA").shape == (4, 3)


def test_mae_is_avmae_per_clip_terms_and_its_loss_is_cav_maes():
    """Objective mae through the step: the model is AV-MAE, the terms are its per-clip reconstruction
    terms, L is CAV-MAE's sum of the modalities' means (avmae.batch_loss) and its gradient that of
    batch_loss; nothing is compared (no cosines)."""
    from mmrobust.harmonize import Harmonizer
    from mmrobust.models.avmae import AVMAE, batch_loss
    from mmrobust.models.build import build, config_for
    from mmrobust.train.step import train_step

    cls = objective_class("mae")
    assert (cls.model, cls.terms, cls.compare) == ("avmae", ("video", "audio", "text"), ())
    torch.manual_seed(0)
    model = build(
        config_for({"preset": "tiny", "architecture": "ma", "tubelet": [2, 14, 14]}, FEATURES, "mae")
    )
    assert isinstance(model, AVMAE) and model.cfg.objective == "mae" and model.cfg.mask_ratio == 0.75
    with pytest.raises(ValueError, match="AV-MAE"):
        create_model(model_config({"preset": "tiny"}, FEATURES, "mae"))  # no heads on VATT's encoders
    b = 4
    g = torch.Generator().manual_seed(1)
    batch = {
        "video": torch.rand(b, 3, 4, 28, 28, generator=g),
        "audio": torch.randn(b, 1, 32, 98, generator=g),
        "text": torch.cat(
            [torch.randint(1, 500, (b, 5), generator=g), torch.zeros(b, 3, dtype=torch.long)], 1
        ),
        "has_video": torch.tensor([True, True, True, False]),
        "has_audio": torch.tensor([True, False, True, True]),
        "has_text": torch.tensor([True, True, False, True]),
    }
    gens = [torch.Generator().manual_seed(10 + i) for i in range(b)]
    masks = model.mask_sampler()(batch, gens)
    objective = create("mae", {"video": 1.0, "audio": 1.0, "text": 1.0})
    stats = train_step(model, batch, masks, objective, Harmonizer("none"), "representation")
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    reference = batch_loss(
        model.forward_loss(batch, [torch.Generator().manual_seed(10 + i) for i in range(b)])
    )
    reference.backward()
    assert float(stats["loss"]) == pytest.approx(float(reference.detach()), rel=1e-6)
    for m in ("video", "audio", "text"):
        assert math.isfinite(float(stats[f"loss_{m}"]))
    assert all(math.isnan(float(stats[k])) for k in ("cos_before", "cos_after", "conflict_fraction"))
    for n, p in model.named_parameters():
        if p.grad is not None:
            assert torch.allclose(grads[n], p.grad, atol=1e-6), n
    assert set(grads) == {n for n, p in model.named_parameters() if p.grad is not None}
