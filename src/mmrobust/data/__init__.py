"""Datasets: manifests, sources (where clips come from) and the skipped-items report."""
