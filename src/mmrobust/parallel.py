"""Ordered parallel map with a progress bar: results come back in input order whatever the worker count."""
from __future__ import annotations

import multiprocessing as mp
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Sequence[T], workers: int, desc: str,
                initializer: Callable[..., None] | None = None, initargs: Iterable = ()) -> Iterator[R]:
    """`map(fn, items)` over `workers` processes (inline when 1), in order, with a tqdm bar on stderr."""
    bar = tqdm(total=len(items), desc=desc, unit="clip", mininterval=1.0, dynamic_ncols=True)
    try:
        if workers <= 1 or len(items) <= 1:
            if initializer is not None:
                initializer(*initargs)
            for item in items:
                yield fn(item)
                bar.update()
            return
        # fork is cheap here and inherits the parent's imports; the workers share nothing mutable.
        with mp.get_context("fork").Pool(workers, initializer, tuple(initargs)) as pool:
            for result in pool.imap(fn, items, chunksize=max(1, min(16, len(items) // (8 * workers)))):
                yield result
                bar.update()
    finally:
        bar.close()
