"""Every preset builds from its named config; tiny models run forward and backward on CPU."""

import pytest
import torch

from mmrobust.config import stage_spec
from mmrobust.models.checkpoint import load_model, model_payload, save
from mmrobust.models.config import PRESETS, model_config
from mmrobust.models.vatt import create_model


def inputs(cfg, batch=3):
    g = torch.Generator().manual_seed(0)
    return {
        "video": torch.rand(batch, 3, cfg.num_frames, cfg.crop_size, cfg.crop_size, generator=g),
        "audio": torch.randn(batch, 1, cfg.n_mels, cfg.audio_frames, generator=g),
        "text": torch.randint(1, 1000, (batch, cfg.context_length), generator=g),
    }


@pytest.mark.parametrize("architecture", ["ms", "ma"])
def test_tiny_runs_forward_and_backward(tiny_config, architecture):
    spec = stage_spec("pretrain", tiny_config, "vatt")
    cfg = model_config({**spec["pretrain"]["model"], "architecture": architecture}, spec["features"])
    model = create_model(cfg)
    batch = inputs(cfg)
    batch["text"][:, 5:] = 0  # padding
    out = model(batch, model.sample_keep([torch.Generator().manual_seed(i) for i in range(3)]))
    assert out["v_va"].shape == out["a_va"].shape == (3, 512) and out["v_vt"].shape == out["t_vt"].shape == (
        3,
        256,
    )
    for key in ("v_va", "a_va", "v_vt", "t_vt"):
        assert torch.allclose(out[key].norm(dim=-1), torch.ones(3), atol=1e-5)
    sum(o.sum() for o in out.values()).backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith("text.embed"))


def test_padding_does_not_change_the_text_embedding(tiny_config):
    spec = stage_spec("pretrain", tiny_config, "vatt")
    model = create_model(model_config(spec["pretrain"]["model"], spec["features"])).eval()
    batch = inputs(model.cfg, batch=1)
    batch["text"][:, 6:] = 0
    longer = {**batch, "text": batch["text"].clone()}
    model.text.embed.weight.data[0] += 5.0  # what padding embeds must not matter
    a = model(batch)["t_vt"]
    assert torch.allclose(a, model(longer)["t_vt"], atol=1e-6)


def test_shared_parameters_are_where_both_losses_meet(tiny_config):
    spec = stage_spec("pretrain", tiny_config, "vatt")
    for arch, expect in (("ma", "backbone."), ("ms", "encoders.video.")):
        model = create_model(
            model_config({**spec["pretrain"]["model"], "architecture": arch}, spec["features"])
        )
        names = model.shared_parameter_names()
        assert any(n.startswith(expect) for n in names) and any(n.startswith("head_v_va") for n in names)
        assert not any(
            n.startswith(("encoders.audio", "encoders.text", "head_a_va", "head_t_vt", "head_va_vt"))
            for n in names
        )


def test_base_preset_is_vit_b16():
    features = {
        "video": {"num_frames": 8, "crop_size": 224},
        "text": {"context_length": 32},
        "audio": {"sample_rate": 16000, "seconds": 8.0, "n_mels": 128, "win_ms": 25, "hop_ms": 10},
    }
    cfg = model_config({"preset": "base", "architecture": "ma"}, features)
    assert (
        (cfg.width, cfg.depth, cfg.heads, cfg.audio_patch)
        == (768, 12, 12, [16, 16])
        == (768, 12, 12, PRESETS["base"]["audio_patch"])
    )
    model = create_model(cfg)
    backbone = sum(p.numel() for p in model.backbone.parameters())
    assert 84e6 < backbone < 86e6  # twelve ViT-B blocks
    assert model.token_counts() == {"video": 2 * 14 * 14, "audio": 8 * 49}


def test_checkpoint_round_trip(tiny_config, tmp_path):
    spec = stage_spec("pretrain", tiny_config, "vatt")
    model = create_model(model_config(spec["pretrain"]["model"], spec["features"]))
    save(tmp_path / "m.pt", model_payload(model, step=3))
    back, payload = load_model(tmp_path / "m.pt")
    assert payload["step"] == 3 and back.cfg == model.cfg
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k


def test_block_equals_timms_bit_for_bit():
    # models/block.py writes out timm's Block so that jobs skip timm's import: same names, same
    # initial draws, same outputs and gradients (checkpoints made with timm blocks load and rerun).
    timm_vit = pytest.importorskip("timm.models.vision_transformer")
    from mmrobust.models.block import Block

    torch.manual_seed(0)
    theirs = timm_vit.Block(48, 3, 2.0, qkv_bias=True)
    torch.manual_seed(0)
    ours = Block(48, 3, 2.0, qkv_bias=True)
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(4, 9, 48)
    mask = torch.rand(4, 1, 1, 9, generator=torch.Generator().manual_seed(1)) > 0.3
    mask[..., 0] = True
    for m in (None, mask):
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = theirs(xa, attn_mask=m), ours(xb, attn_mask=m)
        assert torch.equal(ya, yb)
        ya.sum().backward()
        yb.sum().backward()
        assert torch.equal(xa.grad, xb.grad)
        assert all(torch.equal(p.grad, q.grad) for p, q in zip(theirs.parameters(), ours.parameters()))
        theirs.zero_grad()
        ours.zero_grad()


def test_jobs_do_not_import_timm():
    # timm's package import pulls in torchvision and torch._dynamo (~1.5 s of a 4 s evaluate job).
    import subprocess
    import sys

    code = (
        "import sys, mmrobust.downstream.stages; "
        "print(sorted(m for m in ('timm', 'torchvision') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
