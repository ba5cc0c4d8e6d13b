"""mmrobust: harmonized multimodal pretraining and the missing-modality robustness study."""

__version__ = "0.1.0"

MODALITIES = ("video", "audio", "text")
