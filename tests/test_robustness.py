"""Task metrics against sklearn, and seed 003's P/R metrics on hand-made matrices (strata edge cases
included)."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from mmrobust.errors import MmrobustError
from mmrobust.evaluate import robustness as rb
from mmrobust.evaluate.metrics import average_precision, mean_average_precision, top1
from mmrobust.modalities import SUBSETS, complement, modalities


def test_modality_sets():
    assert modalities("VT") == ("video", "text")
    assert complement("VA") == "T" and complement("VAT") == "" and complement("T") == "VA"
    with pytest.raises(ValueError, match="TV"):
        modalities("TV")


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, 200).astype(float)  # many ties
    positive = rng.random(200) < 0.3
    assert average_precision(scores, positive) == pytest.approx(
        average_precision_score(positive, scores), abs=1e-12
    )


def test_map_skips_classes_without_positives():
    rng = np.random.default_rng(0)
    scores, targets = rng.random((50, 4)), rng.random((50, 4)) < 0.4
    targets[:, 2] = False
    value, skipped = mean_average_precision(scores, targets)
    expected = np.mean([average_precision_score(targets[:, c], scores[:, c]) for c in (0, 1, 3)])
    assert skipped == 1 and value == pytest.approx(expected, abs=1e-12)
    with pytest.raises(MmrobustError, match="no class has a positive"):
        mean_average_precision(scores, np.zeros((50, 4), bool))


def test_top1():
    assert top1(np.array([[0.1, 0.9], [0.8, 0.2], [0.5, 0.5]]), np.array([1, 1, 0])) == pytest.approx(2 / 3)


def by_eval_size():
    """p(M_E, M_T) = |M_E| / 3: more modalities at test are better, whatever was trained."""
    return {(e, t): len(e) / 3 for e in SUBSETS for t in SUBSETS}


def test_overall_metrics_by_hand():
    s = rb.summary(by_eval_size(), rb.STRATA["overall"])
    # every M_T: mean over the 7 M_E of |M_E|/3 = (3 + 2 + 2 + 2 + 1 + 1 + 1) / 21, min 1/3
    assert s == pytest.approx({"P": 12 / 21, "R": 1 / 3, "P_best": 12 / 21, "R_best": 1 / 3})


def test_strata_by_hand_and_training_sets_that_drop_out():
    m = by_eval_size()
    missing = rb.per_train_set(m, rb.STRATA["missing"])
    assert set(missing) == {"VAT", "VA", "VT", "AT"}  # a single modality has no strict subset to lose
    assert missing["VAT"] == pytest.approx((0.5, 1 / 3)) and missing["VA"] == pytest.approx((1 / 3, 1 / 3))
    assert rb.summary(m, rb.STRATA["missing"]) == pytest.approx(
        {"P": (0.5 + 1) / 4, "R": 1 / 3, "P_best": 0.5, "R_best": 1 / 3}
    )
    added = rb.per_train_set(m, rb.STRATA["added"])
    assert (
        "VAT" not in added
        and added["VA"] == pytest.approx((1, 1))
        and added["V"] == pytest.approx((7 / 9, 2 / 3))
    )
    assert rb.summary(m, rb.STRATA["added"]) == pytest.approx(
        {"P": 8 / 9, "R": 5 / 6, "P_best": 1, "R_best": 1}
    )
    transfer = rb.per_train_set(m, rb.STRATA["transfer"])
    assert "VAT" not in transfer and transfer["V"] == pytest.approx((4 / 9, 1 / 3))
    assert rb.summary(m, rb.STRATA["transfer"]) == pytest.approx(
        {"P": 7 / 18, "R": 1 / 3, "P_best": 4 / 9, "R_best": 1 / 3}
    )


def test_figure_aggregates_and_table2():
    m = by_eval_size()
    assert rb.same_sets(m) == pytest.approx({1: 1 / 3, 2: 2 / 3, 3: 1.0})
    shared = rb.shared(m)
    assert shared[3] == pytest.approx({"P": 1, "R": 1, "P_best": 1, "R_best": 1})  # only (VAT, VAT)
    assert shared[0] == pytest.approx(rb.summary(m, rb.STRATA["transfer"]))  # k = 0 is Transferability
    assert rb.best_eval_sets(m) == {t: "VAT" for t in SUBSETS}
    diagonal = {(e, t): float(e == t) for e in SUBSETS for t in SUBSETS}
    assert rb.best_eval_sets(diagonal) == {t: t for t in SUBSETS}
    assert rb.summary(diagonal, rb.STRATA["overall"]) == pytest.approx(
        {"P": 1 / 7, "R": 0, "P_best": 1 / 7, "R_best": 0}
    )
    assert rb.summary(diagonal, rb.STRATA["missing"])["P"] == 0  # the diagonal is never a strict subset


def test_tables_round_once():
    # Every cell 0.18348: P overall is 18.348 %. Rounded once: 18.35 in the CSV, 18.3 in Markdown
    # (rounding the CSV's 18.35 again would print 18.4, where the read-out says 18.3).
    from mmrobust.report import tables

    matrix = {(e, t): 0.18348 for e in SUBSETS for t in SUBSETS}
    header, rows = tables.table1({("vatt", "lp"): matrix}, {"columns": [], "values": []}, {"vatt": "vatt"})
    column = header.index("overall_P")
    assert tables.csv_cells(rows)[0][column] == "18.35"
    markdown_row = tables.markdown(header, rows).splitlines()[2].split("|")
    assert markdown_row[column + 1].strip() == "18.3"
