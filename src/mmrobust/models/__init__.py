"""Models: VATT-style encoders on timm ViT blocks (vatt.py), built by `create_model` from a
named preset (config.py). Kept import-free, so that config validation never loads torch."""
