"""CLIP initialisation through open_clip from a local file: a small CLIP saved here, loaded into VATT."""

import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

from mmrobust.errors import MmrobustError
from mmrobust.models.clip_init import init_from_clip
from mmrobust.models.config import model_config
from mmrobust.models.vatt import create_model

FEATURES = {
    "video": {"num_frames": 4, "crop_size": 32},
    "text": {"context_length": 16},
    "audio": {"sample_rate": 16000, "seconds": 1.0, "n_mels": 32, "win_ms": 25, "hop_ms": 10},
}


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    torch.manual_seed(0)
    clip = CLIP(
        embed_dim=32,
        vision_cfg=CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=16, image_size=32),
        text_cfg=CLIPTextCfg(context_length=16, vocab_size=49408, width=64, heads=2, layers=2),
    )
    path = tmp_path_factory.mktemp("clip") / "tiny_clip.pt"
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in clip.state_dict().items()}}, path
    )  # as training scripts save it
    return path, clip.state_dict()


def model(architecture):
    return create_model(
        model_config(
            {
                "preset": "tiny",
                "architecture": architecture,
                "tubelet": [2, 16, 16],
                "audio_patch": [16, 16],
                "vocab_size": 49408,
            },
            FEATURES,
        )
    )


def test_ms_takes_both_towers(clip_file):
    path, clip = clip_file
    vatt = model("ms")
    report = init_from_clip(vatt, path)
    sd = vatt.state_dict()
    for tower in ("video", "audio"):
        assert torch.equal(
            sd[f"encoders.{tower}.blocks.1.attn.qkv.weight"],
            clip["visual.transformer.resblocks.1.attn.in_proj_weight"],
        )
        assert torch.equal(
            sd[f"encoders.{tower}.blocks.0.mlp.fc2.bias"],
            clip["visual.transformer.resblocks.0.mlp.c_proj.bias"],
        )
    assert torch.equal(sd["encoders.text.blocks.0.norm1.weight"], clip["transformer.resblocks.0.ln_1.weight"])
    assert torch.equal(sd["text.embed.weight"], clip["token_embedding.weight"])
    assert torch.allclose(
        sd["video.proj.weight"].sum(dim=2), clip["visual.conv1.weight"], atol=1e-6
    )  # inflation keeps the response to a still frame
    assert torch.equal(sd["audio.proj.weight"][:, 0], clip["visual.conv1.weight"].sum(1))
    assert "encoders.audio.blocks.0.attn.qkv.weight" in report["copied"]


def test_ma_backbone_takes_the_visual_tower(clip_file):
    path, clip = clip_file
    vatt = model("ma")
    init_from_clip(vatt, path)
    assert torch.equal(
        vatt.state_dict()["backbone.blocks.0.attn.proj.weight"],
        clip["visual.transformer.resblocks.0.attn.out_proj.weight"],
    )


def test_mismatched_width_and_missing_file_are_clear_errors(clip_file, tmp_path):
    path, _ = clip_file
    wide = create_model(
        model_config(
            {"preset": "tiny", "width": 96, "heads": 2, "tubelet": [2, 16, 16], "audio_patch": [16, 16]},
            FEATURES,
        )
    )
    with pytest.raises(MmrobustError, match="no CLIP tensor fits this model"):
        init_from_clip(wide, path)
    with pytest.raises(MmrobustError, match="CLIP checkpoint not found"):
        init_from_clip(model("ma"), tmp_path / "absent.pt")


def test_pairwise_takes_the_projections_into_its_joint_space(clip_file):
    path, clip = clip_file
    pairwise = create_model(
        model_config(
            {
                "preset": "tiny",
                "architecture": "ms",
                "tubelet": [2, 16, 16],
                "audio_patch": [16, 16],
                "vocab_size": 49408,
                "va_dim": 32,  # the small CLIP's embedding width
            },
            FEATURES,
            "pairwise",
        )
    )
    report = init_from_clip(pairwise, path)
    sd = pairwise.state_dict()
    for modality in ("video", "audio"):
        assert torch.equal(sd[f"head_{modality}.weight"], clip["visual.proj"].T)
    assert torch.equal(sd["head_text.weight"], clip["text_projection"].T)
    assert {"head_video.weight", "head_audio.weight", "head_text.weight"} <= set(report["copied"])
