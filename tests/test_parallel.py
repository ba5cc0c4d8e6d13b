"""ordered_map: input order whatever the worker count; recycled workers (the decord leak guard)."""

import os

from mmrobust.parallel import ordered_map


def square(x):
    return x * x


def pid(_):
    return os.getpid()


def test_order_is_kept_for_any_worker_count():
    items = list(range(50))
    for workers in (1, 2, 3):
        assert list(ordered_map(square, items, workers, "t")) == [x * x for x in items]


def test_recycling_replaces_workers_and_never_runs_inline():
    pids = list(ordered_map(pid, list(range(40)), 1, "t", recycle_after=4))
    assert os.getpid() not in pids
    # Recycling works at the granularity of imap's chunks (5 items here): 8 processes, where a
    # pool without it would use 1.
    assert len(set(pids)) >= 6
    assert len(set(list(ordered_map(pid, list(range(40)), 2, "t")))) <= 2
