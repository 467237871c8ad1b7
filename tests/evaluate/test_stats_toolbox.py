"""Partial AUC, smoothing, coords and PR area: identities, scikit-learn references and input errors (no R needed)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats import auc, best_threshold, coords, partial_auc, pr_auc, smooth_roc, var_auc


def _data(seed=0, n=300, ties=True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = y * 0.9 + rng.normal(size=n)
    return y, (np.round(s, 1) if ties else s)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_average_precision_matches_sklearn(seed):
    y, s = _data(seed)
    assert pr_auc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert pr_auc(y, -s, direction=">") == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_partial_auc_full_range_is_the_auc_and_ranges_add_up():
    y, s = _data(3)
    assert partial_auc(y, s, (0, 1)) == pytest.approx(auc(y, s), abs=1e-12)
    assert partial_auc(y, s, (0, 1), focus="sensitivity") == pytest.approx(auc(y, s), abs=1e-12)
    parts = partial_auc(y, s, (0, 0.37)) + partial_auc(y, s, (0.37, 1))
    assert parts == pytest.approx(auc(y, s), abs=1e-12)
    # McClish: the full range maps the AUC onto itself
    assert partial_auc(y, s, (1, 0), correct=True) == pytest.approx(auc(y, s), abs=1e-12)


def test_binormal_auc_close_to_empirical_on_binormal_data():
    rng = np.random.default_rng(5)
    y = np.r_[np.ones(4000, int), np.zeros(4000, int)]
    s = np.r_[rng.normal(1.0, 1, 4000), rng.normal(0, 1, 4000)]
    sm = smooth_roc(y, s, "binormal")
    # true AUC of N(1,1) vs N(0,1): Phi(1 / sqrt(2)) = 0.7602
    assert sm.auc == pytest.approx(0.7602499, abs=0.01)
    assert smooth_roc(y, s, "density").auc == pytest.approx(0.7602499, abs=0.01)


def test_best_weights_move_the_threshold_towards_sensitivity():
    y, s = _data(7, ties=False)
    default = best_threshold(y, s)
    costly_fn = best_threshold(y, s, best_weights=(10, 0.5))  # missing a cancer costs 10 false alarms
    assert costly_fn["sensitivity"].max() >= default["sensitivity"].max()


@pytest.mark.parametrize(
    "call",
    [
        lambda y, s: partial_auc(y, s, (0.8, 0.8)),
        lambda y, s: partial_auc(y, s, (0.8, 1.2)),
        lambda y, s: partial_auc(y, s, (0.8, 1), focus="fpr"),
        lambda y, s: smooth_roc(y, s, "loess"),
        lambda y, s: coords(y, s, "best", best_weights=(1, 1.5)),
        lambda y, s: coords(y, s, "best", best_method="nearest"),
        lambda y, s: coords(y, s, [0.5], input="ppv"),
        lambda y, s: var_auc(y, s, method="delong", partial=(0.8, 1)),
        lambda y, s: var_auc(y, s, method="obuchowski", partial=(0.8, 1), focus="sensitivity"),
        lambda y, s: var_auc(y, s, method="jackknife"),
    ],
)
def test_bad_arguments_raise_clear_errors(call):
    y, s = _data(1)
    with pytest.raises(BreastlabInputError):
        call(y, s)


def test_binormal_needs_two_points():
    y = np.array([0, 0, 1, 1])
    with pytest.raises(BreastlabInputError, match="not smoothable"):
        smooth_roc(y, np.array([0.0, 0.0, 1.0, 1.0]), "binormal")
