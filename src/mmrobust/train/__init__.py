"""Training: data batches, one harmonized step, the pretraining loop, checkpoints."""
