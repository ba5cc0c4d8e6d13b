"""The embedded default dataset: a deterministic tri-modal world rendered to real mp4 files."""
