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


def test_roc_test_delong_is_delong_test_and_monte_carlo_is_seeded():
    from breastlab.evaluate.stats import delong_test, roc_test

    y, s = _data(11)
    s2 = s + np.random.default_rng(12).normal(size=s.size)
    t = roc_test(y, s, s2, method="delong")
    ref = delong_test(y, s, s2)
    assert (t.statistic, t.p_value, t.difference) == (ref.statistic, ref.p_value, ref.difference)
    for method in ("bootstrap", "venkatraman"):
        a = roc_test(y, s, s2, method=method, n_boot=300, seed=7)
        b = roc_test(y, s, s2, method=method, n_boot=300, seed=7)
        c = roc_test(y, s, s2, method=method, n_boot=300, seed=8)
        assert a.p_value == b.p_value and a.statistic == b.statistic and a.n_boot == 300
        if method == "bootstrap":  # D depends on the replicates' SD
            assert a.statistic != c.statistic
        else:  # E is a property of the data; only the permutation p-value is random
            assert a.statistic == c.statistic


def test_venkatraman_vectorised_permutations_match_procs_scheme_in_distribution():
    """The counting-sort permutations against pROC's jitter-swap-rank scheme run one at a time."""
    from scipy.stats import ks_2samp, rankdata

    from breastlab.evaluate.stats.venkatraman import _first_ranks, paired_permutations, paired_statistic

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s1 = np.round(y + rng.normal(size=300), 1)
    s2 = np.round(0.6 * y + rng.normal(size=300), 1)
    r, s = _first_ranks(s1), _first_ranks(s2)
    c = np.where(y == 1, 1, -1)
    fast = paired_permutations(r, s, c, 2000, np.random.default_rng(1))
    ref = np.empty(2000)
    g = np.random.default_rng(2)
    for k in range(ref.size):
        q = 1 - np.round(g.random(300))
        r3 = (r + g.random(300) - 0.5) * q + (1 - q) * s
        s3 = (s + g.random(300) - 0.5) * q + (1 - q) * r
        ref[k] = paired_statistic(rankdata(r3, method="ordinal") - 1, rankdata(s3, method="ordinal") - 1, c)
    assert ks_2samp(fast, ref).pvalue > 0.001


@pytest.mark.parametrize(
    "kw",
    [
        dict(method="cusum"),
        dict(method="specificity"),  # level missing
        dict(method="sensitivity", level=1.5),
        dict(method="venkatraman", alternative="greater"),
        dict(method="venkatraman", partial=(0.8, 1)),
        dict(method="delong", partial=(0.8, 1)),
        dict(method="bootstrap", n_boot=1),
    ],
)
def test_roc_test_bad_arguments(kw):
    from breastlab.evaluate.stats import roc_test

    y, s = _data(2)
    with pytest.raises(BreastlabInputError):
        roc_test(y, s, s[::-1].copy(), **kw)
