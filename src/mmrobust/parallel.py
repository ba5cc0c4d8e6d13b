"""Ordered parallel map with a progress bar: results come back in input order whatever the worker count."""

from __future__ import annotations

import multiprocessing as mp
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    desc: str,
    initializer: Callable[..., None] | None = None,
    initargs: Iterable = (),
    recycle_after: int | None = None,
) -> Iterator[R]:
    """`map(fn, items)` over `workers` processes, in order, with a tqdm bar on stderr.

    With `recycle_after`, every worker is replaced after about that many items (bounding a
    library's per-call leak), and the work always runs in worker processes, even for one worker.
    Without it, one worker runs inline.
    """
    bar = tqdm(total=len(items), desc=desc, unit="clip", mininterval=1.0, dynamic_ncols=True)
    try:
        if recycle_after is None and (workers <= 1 or len(items) <= 1):
            if initializer is not None:
                initializer(*initargs)
            for item in items:
                yield fn(item)
                bar.update()
            return
        chunk = max(1, min(16, len(items) // (8 * workers)))
        max_tasks = max(1, recycle_after // chunk) if recycle_after else None
        # fork is cheap here and inherits the parent's imports; the workers share nothing mutable.
        with mp.get_context("fork").Pool(
            workers, initializer, tuple(initargs), maxtasksperchild=max_tasks
        ) as pool:
            for result in pool.imap(fn, items, chunksize=chunk):
                yield result
                bar.update()
    finally:
        bar.close()
