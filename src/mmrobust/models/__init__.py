"""Models: VATT-style encoders (vatt.py) on timm's ViT block written out (block.py), built by
`create_model` from a named preset (config.py). Kept import-free, so that config validation never
loads torch."""
