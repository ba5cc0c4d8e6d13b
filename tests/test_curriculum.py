"""The curriculum's pacing formula, its sampler, and the scores table."""

import math

import numpy as np
import pytest

from mmrobust.curriculum import batch_indices, curriculum_order, pool_fraction, read_scores, write_scores
from mmrobust.errors import MmrobustError


def test_pool_fraction_formula():
    assert pool_fraction(0.0, 0.5, 0.6) == 0.5
    assert pool_fraction(0.3, 0.5, 0.6) == pytest.approx(0.75)
    assert pool_fraction(0.6, 0.5, 0.6) == 1.0 and pool_fraction(0.9, 0.5, 0.6) == 1.0


def test_sampler_starts_clean_and_widens_to_all():
    n, total, batch = 100, 50, 10
    order = np.arange(n)[::-1]  # pretend the cleanest are the highest indices
    seen_early = set()
    for step in range(5):
        idx = batch_indices(step, total, n, batch, 0, order, 0.5, 0.6)
        assert len(idx) == batch == len(set(idx))
        allowed = set(order[: math.ceil(n * pool_fraction(step / total, 0.5, 0.6))])
        assert set(idx) <= allowed
        seen_early |= set(idx)
    # the noisiest 43% (pool at step 4: 57%) are never drawn in the first steps
    assert min(seen_early) >= n - math.ceil(n * pool_fraction(4 / total, 0.5, 0.6))
    late = set().union(*(batch_indices(s, total, n, batch, 0, order, 0.5, 0.6) for s in range(30, 50)))
    assert min(late) < 20  # from full_at on, every triplet can be drawn


def test_sampler_is_a_function_of_seed_and_step():
    a = batch_indices(7, 20, 64, 8, seed=3)
    assert np.array_equal(a, batch_indices(7, 20, 64, 8, seed=3))
    assert not np.array_equal(a, batch_indices(8, 20, 64, 8, seed=3))
    assert not np.array_equal(a, batch_indices(7, 20, 64, 8, seed=4))


def test_order_puts_unscored_last_and_keeps_ties_in_id_order():
    scores = np.array([0.1, np.nan, 0.5, 0.1, -0.2])
    assert list(curriculum_order(scores)) == [2, 0, 3, 4, 1]


def test_scores_table_round_trip(tmp_path):
    ids = ["a", "b", "c"]
    write_scores(tmp_path / "s.csv", ids, np.array([0.2, np.nan, -0.1]))
    assert (tmp_path / "s.csv").read_text().splitlines() == [
        "id,cosine,rank",
        "a,0.200000,0",
        "b,,2",
        "c,-0.100000,1",
    ]
    back = read_scores(tmp_path / "s.csv", ids)
    assert back[0] == 0.2 and np.isnan(back[1])
    with pytest.raises(MmrobustError, match="no score for 1 clip"):
        read_scores(tmp_path / "s.csv", ids + ["d"])
