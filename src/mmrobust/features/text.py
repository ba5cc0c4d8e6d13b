"""Captions to tokens with CLIP's byte-pair encoding, as bundled with open_clip (works offline).

CLIP's vocabulary is what a CLIP-initialised text encoder expects. Importing the `open_clip`
package costs ~5.6 s (it builds every model config); its tokenizer module imports nothing from
the package, so it is loaded on its own, which every features job and worker start-up saves.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np


@lru_cache(maxsize=1)
def _tokenizer_module():
    package = importlib.util.find_spec("open_clip")
    path = Path(package.submodule_search_locations[0]) / "tokenizer.py"
    spec = importlib.util.spec_from_file_location("mmrobust._open_clip_tokenizer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=4)
def tokenizer(context_length: int):
    return _tokenizer_module().SimpleTokenizer(context_length=context_length)


def tokenize(caption: str, context_length: int) -> np.ndarray:
    """int32 ids, <start> ... <end>, zero-padded (truncated captions keep their <end>)."""
    return tokenizer(context_length)([caption])[0].numpy().astype(np.int32)
