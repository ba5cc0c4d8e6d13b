"""Reading .pt files without running code: torch.load(weights_only=True) only.

A pickle can call any Python function while it loads (os.system, ...), so a checkpoint from
elsewhere must never be read with weights_only=False. The project's own files hold tensors, dicts,
lists, tuples, str, int, float, bool and None only, which weights_only loads with no allow-list.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings

import torch

from .errors import MmrobustError


def load_tensors(path: str | os.PathLike, what: str = "checkpoint") -> object:
    """The unpickled contents of `path`, on CPU. FileNotFoundError passes through (callers name the
    missing file their own way); anything else that stops the load is one-line MmrobustError."""
    try:
        with warnings.catch_warnings():
            # The weights-only unpickler warns about pickle protocols other than torch.save's.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as exc:
        # torch's message is a paragraph; the refused global is the part that names the cause.
        found = re.search(r"GLOBAL (\S+)", str(exc))
        cause = (
            f"its pickle calls {found.group(1)}"
            if found
            else "its pickle holds more than tensors and plain data"
        )
        raise MmrobustError(
            f"{path}: refused to load this {what}: {cause} (only tensors, dicts, lists, "
            f"str, numbers, bool and None load; nothing in the file was run)"
        ) from None
    except Exception as exc:  # a truncated or foreign file, a TorchScript archive
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise MmrobustError(f"{path}: not a readable {what} ({type(exc).__name__}: {first})") from None
