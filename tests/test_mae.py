"""AV-MAE (models/avmae.py): per-clip masks, an encoder that sees the visible tokens only, the loss
by hand, missing modalities, the study's embeddings, configs, and learning on the tiny features."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from mmrobust.config import stage_spec
from mmrobust.downstream.model import Classifier
from mmrobust.features.audio import AUDIO_MEAN, AUDIO_STD
from mmrobust.features.clips import ClipSet
from mmrobust.models.avmae import AVMAE, Masks, batch_loss, sample_masks
from mmrobust.models.config import MAEConfig, ModelConfig, config_from_dict, mae_config, model_config
from mmrobust.models.vatt import create_model
from mmrobust.seeding import clip_generators

MODALITIES = ("video", "audio", "text")


@pytest.fixture(scope="module")
def spec(tiny_config) -> dict:
    return stage_spec("pretrain", tiny_config, "vatt")


def tiny_model(spec, seed: int = 0, **overrides) -> AVMAE:
    torch.manual_seed(seed)
    return AVMAE(mae_config({**spec["pretrain"]["model"], **overrides}, spec["features"])).eval()


def inputs(cfg, batch: int = 3, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    text = torch.randint(1, 1000, (batch, cfg.context_length), generator=g)
    for i in range(batch):
        text[i, 6 + 2 * i :] = 0  # captions of 6, 8, 10 ... tokens
    return {
        "video": torch.rand(batch, 3, cfg.num_frames, cfg.crop_size, cfg.crop_size, generator=g),
        "audio": torch.randn(batch, 1, cfg.n_mels, cfg.audio_frames, generator=g) * 4 - 4,
        "text": text,
        **{f"has_{m}": torch.ones(batch, dtype=torch.bool) for m in MODALITIES},
    }


def gens(positions) -> list[torch.Generator]:
    return clip_generators(0, 5, 3, positions)


def video_region(cfg, token: int) -> tuple:
    """Index of the pixels of video token `token` (tokens are time-major, then rows, then columns)."""
    t, h, w = cfg.tubelet
    rows, cols = cfg.crop_size // h, cfg.crop_size // w
    ti, rest = divmod(token, rows * cols)
    hi, wi = divmod(rest, cols)
    return (
        slice(None),
        slice(ti * t, (ti + 1) * t),
        slice(hi * h, (hi + 1) * h),
        slice(wi * w, (wi + 1) * w),
    )


def audio_region(cfg, token: int) -> tuple:
    fh, fw = cfg.audio_patch
    fi, ti = divmod(token, cfg.audio_frames // fw)
    return (0, slice(fi * fh, (fi + 1) * fh), slice(ti * fw, (ti + 1) * fw))


def test_masks_are_per_clip_reproducible_and_independent_of_the_batch(spec):
    model = tiny_model(spec)
    batch = inputs(model.cfg, batch=4)
    masks = model.sample_masks(batch["text"], gens(range(4)))
    again = model.sample_masks(batch["text"], gens(range(4)))
    alone = model.sample_masks(batch["text"][2:3], gens(range(2, 3)))
    others = inputs(model.cfg, batch=4, seed=1)["text"]  # other companions, clip 2's own caption
    others[2] = batch["text"][2]
    mixed = model.sample_masks(others, gens(range(4)))
    counts = model.token_counts()
    for m in ("video", "audio"):
        assert masks.keep[m].shape == (4, round(counts[m] * 0.25))
        assert torch.equal(masks.keep[m], again.keep[m])
        assert torch.equal(masks.keep[m][2:3], alone.keep[m]) and torch.equal(
            masks.keep[m][2], mixed.keep[m][2]
        )
        assert len({tuple(k.tolist()) for k in masks.keep[m]}) > 1  # clips draw different masks
    assert torch.equal(masks.text_hidden, again.text_hidden)
    assert torch.equal(masks.text_hidden[2:3], alone.text_hidden)
    assert torch.equal(masks.text_hidden[2], mixed.text_hidden[2])
    # half of each caption's own tokens, never padding
    assert masks.text_hidden.sum(1).tolist() == [3, 4, 5, 6]
    assert not (masks.text_hidden & (batch["text"] == 0)).any()


def test_a_hidden_patch_changes_no_encoder_output_and_a_visible_one_does(spec):
    model = tiny_model(spec)
    cfg = model.cfg
    batch = inputs(cfg, batch=2)
    masks = model.sample_masks(batch["text"], gens(range(2)))
    with torch.no_grad():
        base = model.encode_visible(batch, masks)[0]
    counts = model.token_counts()
    for m, region in (("video", video_region), ("audio", audio_region)):
        hidden = masks.hidden(m, counts[m])[0].nonzero()[0, 0].item()
        shown = masks.keep[m][0, 0].item()
        for token, should_change in ((hidden, False), (shown, True)):
            changed = {k: v.clone() for k, v in batch.items()}
            changed[m][0][region(cfg, token)] += 3.0
            with torch.no_grad():
                out = model.encode_visible(changed, masks)[0]
            assert torch.equal(out[1], base[1])  # the other clip
            assert (not torch.equal(out[0], base[0])) == should_change, (m, token)
    hidden = masks.text_hidden[0].nonzero()[0, 0].item()
    shown = ((batch["text"][0] != 0) & ~masks.text_hidden[0]).nonzero()[0, 0].item()
    for token, should_change in ((hidden, False), (shown, True)):
        changed = {**batch, "text": batch["text"].clone()}
        changed["text"][0, token] = 4000
        with torch.no_grad():
            out = model.encode_visible(changed, masks)[0]
        assert (not torch.equal(out[0], base[0])) == should_change, ("text", token)


def test_patches_are_cut_in_the_tokenizers_order(spec):
    model = tiny_model(spec)
    cfg = model.cfg
    batch = inputs(cfg, batch=1)
    for m, region, token in (("video", video_region, 5), ("audio", audio_region, 13)):
        changed = {k: v.clone() for k, v in batch.items()}
        changed[m][0][region(cfg, token)] += 1.0
        with torch.no_grad():
            rows = (model.patches(changed, m) != model.patches(batch, m)).any(-1)[0]
            tok = (model.tokens(changed, m)[0] != model.tokens(batch, m)[0]).any(-1)[0]
        assert rows.nonzero().flatten().tolist() == tok.nonzero().flatten().tolist() == [token]


def test_the_loss_is_the_hand_computed_mean_over_hidden_patches(spec):
    model = tiny_model(spec)
    cfg = model.cfg
    batch = inputs(cfg, batch=2)
    batch["has_audio"][1] = False
    masks = model.sample_masks(batch["text"], gens(range(2)))
    with torch.no_grad():
        encoded, _, visible = model.encode_visible(batch, masks)
        pred = model.decode(batch, encoded, visible)
        terms = model.terms(batch, masks, pred)
    video = (batch["video"] - model.video_mean) / model.video_std
    audio = (batch["audio"] - AUDIO_MEAN) / AUDIO_STD
    hand = {m: [0.0, 0.0] for m in MODALITIES}
    for i in range(2):
        for m, x, region in (("video", video[i], video_region), ("audio", audio[i], audio_region)):
            if not batch[f"has_{m}"][i]:
                continue
            errors = []
            for j in range(model.token_counts()[m]):
                if j in masks.keep[m][i].tolist():
                    continue
                patch = x[region(cfg, j)].reshape(-1).double()
                target = (patch - patch.mean()) / (patch.var() + 1e-6).sqrt()
                errors.append(((pred[m][i, j].double() - target) ** 2).mean())
            hand[m][i] = sum(errors) / len(errors)
        picks = masks.text_hidden[i].nonzero().flatten().tolist()
        hand["text"][i] = sum(
            -F.log_softmax(pred["text"][i, j].double(), -1)[batch["text"][i, j] % cfg.vocab_size]
            for j in picks
        ) / len(picks)
    for m in MODALITIES:
        assert torch.allclose(terms[m].double(), torch.tensor(hand[m], dtype=torch.double), atol=1e-4), m
    assert terms["valid_audio"].tolist() == [True, False] and terms["audio"][1] == 0
    expected = sum(hand["video"]) / 2 + hand["audio"][0] + sum(hand["text"]) / 2
    assert abs(batch_loss(terms).item() - float(expected)) < 1e-4


def test_a_missing_modality_has_no_term_and_reaches_nothing(spec):
    model = tiny_model(spec)
    batch = inputs(model.cfg, batch=3)
    batch["has_audio"][1] = False
    batch["has_text"][2] = False
    batch["audio"].requires_grad_(True)
    terms = model.forward_loss(batch, gens(range(3)))
    assert terms["valid_audio"].tolist() == [True, False, True] and terms["audio"][1] == 0
    assert terms["valid_text"].tolist() == [True, True, False] and terms["text"][2] == 0
    (grad,) = torch.autograd.grad(batch_loss(terms), batch["audio"])
    assert grad[1].abs().max() == 0 and grad[0].abs().max() > 0
    # whatever the missing audio holds, every term of every clip stays the same
    noisy = {**batch, "audio": batch["audio"].detach().clone()}
    noisy["audio"][1] += 10.0
    with torch.no_grad():
        again = model.forward_loss(noisy, gens(range(3)))
    for m in MODALITIES:
        assert torch.allclose(again[m], terms[m].detach(), atol=1e-6), m
    empty = {**batch, "text": batch["text"].clone()}
    empty["text"][0] = 0  # present but no tokens: nothing to predict
    assert not model.forward_loss(empty, gens(range(3)))["valid_text"][0]


def test_embeddings_are_unmasked_per_modality_means_that_the_classifier_reads(spec):
    model = tiny_model(spec)
    batch = inputs(model.cfg, batch=2)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for norm in (m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)):  # all different
            norm.weight.copy_(torch.rand(norm.weight.shape, generator=g) + 0.5)
            norm.bias.copy_(torch.randn(norm.bias.shape, generator=g) * 0.1)
        emb = model.embed(batch, MODALITIES)
        other = {**batch, "audio": batch["audio"] + 1.0, "text": batch["text"].flip(0)}
        emb2 = model.embed(other, ["video"])
    assert all(emb[m].shape == (2, model.cfg.width) for m in MODALITIES)
    assert torch.equal(emb["video"], emb2["video"])  # a modality alone: no other input reaches it
    padded = {**batch, "text": batch["text"].clone()}
    model.text.embed.weight.data[0] += torch.randn(model.cfg.width, generator=g)  # padding must not count
    with torch.no_grad():
        assert torch.allclose(model.embed(padded, ["text"])["text"], emb["text"], atol=1e-6)
    # by hand: video tokens through its block, the shared block with its own norms, the final norm
    with torch.no_grad():
        x, _ = model.tokens(batch, "video")
        for block in model.blocks["video"]:
            x = block(x)
        b = model.shared.block
        x = x + b.attn(model.shared.norm1["video"](x))
        x = x + b.mlp(model.shared.norm2["video"](x))
        assert torch.allclose(model.norms["video"](x).mean(1), emb["video"], atol=1e-5)
    classifier = Classifier(model, num_classes=5)
    assert classifier(batch, "VAT").shape == (2, 5)


def test_configs_vatt_unchanged_mae_round_trips_and_refuses_vatt(spec):
    vatt = model_config(spec["pretrain"]["model"], spec["features"])
    # every field but the default objective, which a vatt checkpoint leaves out
    assert set(vatt.to_dict()) == {f.name for f in dataclasses.fields(ModelConfig)} - {"objective"}
    assert "mask_ratio" not in vatt.to_dict() and type(config_from_dict(vatt.to_dict())) is ModelConfig
    mae = mae_config(spec["pretrain"]["model"], spec["features"])  # its architecture: ma is VATT's
    assert (mae.architecture, mae.objective, mae.mask_ratio, mae.vt_dim) == ("avmae", "mae", 0.75, mae.width)
    assert config_from_dict(mae.to_dict()) == mae and isinstance(config_from_dict(mae.to_dict()), MAEConfig)
    with pytest.raises(ValueError, match="architecture"):
        create_model(ModelConfig.from_dict(mae.to_dict()))  # a VATT loader refuses an MAE checkpoint
    with pytest.raises(ValueError, match="MAEConfig"):
        AVMAE(vatt)
    features = {
        "video": {"num_frames": 16, "crop_size": 224},
        "text": {"context_length": 77},
        "audio": {"sample_rate": 16000, "seconds": 10.24, "n_mels": 128, "win_ms": 25, "hop_ms": 10},
    }
    base = mae_config({"preset": "base"}, features)
    with torch.device("meta"):
        model = AVMAE(base)
    assert len(model.decoder_blocks) == 8 and model.decoder_blocks[0].attn.num_heads == 16
    assert model.decoder_embed.out_features == 512 and len(model.blocks["audio"]) == 11
    assert model.token_counts() == {"video": 4 * 14 * 14, "audio": 8 * (base.audio_frames // 16)}


def test_masks_move_to_a_device():
    masks = sample_masks({"video": 8}, 0.75, 0.5, torch.tensor([[5, 6, 7, 0]]), gens(range(1)))
    moved = masks.to("meta")
    assert isinstance(moved, Masks) and moved.keep["video"].device.type == "meta"
    assert masks.keep["video"].shape == (1, 2) and masks.text_hidden.sum() == 2


def test_reconstruction_loss_falls_on_the_tiny_features(spec, tiny_features):
    model = tiny_model(spec).train()
    clips = ClipSet(tiny_features, spec["pretrain"]["split"], spec["features"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
    fixed = clips.batch(range(len(clips)), None, train=False)

    def held_out() -> dict:  # the same clips and masks before and after
        with torch.no_grad():
            terms = model.eval().forward_loss(fixed, gens(range(len(clips))))
        model.train()
        return {m: terms[m].sum().item() / terms[f"valid_{m}"].sum().item() for m in MODALITIES}

    before = held_out()
    for step in range(40):
        idx = torch.randperm(len(clips), generator=torch.Generator().manual_seed(step))[:8].tolist()
        batch = clips.batch(idx, clip_generators(0, step, 2, range(8)), train=True)
        loss = batch_loss(model.forward_loss(batch, clip_generators(0, step, 3, range(8))))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = held_out()
    for m in MODALITIES:
        assert after[m] < 0.92 * before[m], (m, before, after)
