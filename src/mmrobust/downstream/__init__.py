"""Downstream study (seed 003): embeddings, the four methods (lp, ft, masd, wiseft), the 7 x 7 matrix."""
