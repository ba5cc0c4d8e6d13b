"""Named model sizes (timm / open_clip style): plain data, read by config validation without torch."""

from __future__ import annotations

# tiny: CPU and tests. base: ViT-B/16 encoders as in the papers (VATT's 4x16x16 video tubelets,
# seed 003's 16x16 spectrogram patches).
PRESETS: dict[str, dict] = {
    # tiny hashes CLIP's 49408 BPE ids into 4096 rows: the full table was 79% of its parameters
    # (a 16 MB checkpoint per fine-tuned model); the synthetic captions use a few hundred ids.
    "tiny": {
        "width": 64,
        "depth": 2,
        "heads": 2,
        "tubelet": [4, 14, 14],
        "audio_patch": [32, 32],
        "vocab_size": 4096,
    },
    "base": {"width": 768, "depth": 12, "heads": 12, "tubelet": [4, 16, 16], "audio_patch": [16, 16]},
}

# AV-MAE's decoder (models/avmae.py), merged over PRESETS for an MAE model; kept apart so that the
# VATT presets, and so every VATT config, are unchanged. base: Gong et al.'s 512 wide, 8 blocks, 16 heads.
MAE_PRESETS: dict[str, dict] = {
    "tiny": {"decoder_width": 32, "decoder_depth": 2, "decoder_heads": 2},
    "base": {"decoder_width": 512, "decoder_depth": 8, "decoder_heads": 16},
}
