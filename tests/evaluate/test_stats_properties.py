"""Property tests (hypothesis) of the ROC statistics."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from breastlab.evaluate.stats import (
    DegenerateCIWarning,
    auc,
    bootstrap_ci,
    ci_auc,
    cohen_kappa,
    delong_test,
    roc_curve,
    var_auc,
    youden,
)


@st.composite
def labelled_scores(draw, max_n=40):
    n = draw(st.integers(4, max_n))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    y[:2], y[2:4] = [0, 0], [1, 1]
    s = draw(st.lists(st.integers(-20, 20), min_size=n, max_size=n))  # small range: many ties
    return np.array(y), np.array(s, dtype=float)


SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(labelled_scores())
def test_auc_invariant_under_monotone_transforms(data):
    y, s = data
    a = auc(y, s)
    assert auc(y, s**3 + 2 * s) == a  # strictly increasing on integers
    assert auc(y, np.exp(s / 7.0)) == a
    assert auc(y, 3.0 * s - 11.0) == a
    assert auc(y, -s, direction=">") == a
    assert abs(auc(y, -s) - (1.0 - a)) < 1e-12


@SETTINGS
@given(labelled_scores())
def test_delong_variance_nonnegative_and_cis_contain_estimate(data):
    y, s = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateCIWarning)
        assert var_auc(y, s) >= 0.0
        ci = ci_auc(y, s)
        assert 0.0 <= ci.lower <= ci.auc <= ci.upper <= 1.0
        b = bootstrap_ci(y, s, n_boot=50, seed=0)
        assert b.lower <= b.estimate + 1e-12 and b.estimate <= b.upper + 1e-12 or b.lower == b.upper


@SETTINGS
@given(labelled_scores())
def test_roc_curve_is_monotone_and_youden_on_it(data):
    y, s = data
    roc = roc_curve(y, s)
    assert roc.sensitivities[0] == 1.0 and roc.specificities[0] == 0.0
    assert roc.sensitivities[-1] == 0.0 and roc.specificities[-1] == 1.0
    assert np.all(np.diff(roc.sensitivities) <= 0) and np.all(np.diff(roc.specificities) >= 0)
    assert np.all(np.diff(roc.thresholds) > 0)
    # trapezoid area under the curve equals the Mann-Whitney AUC
    assert abs(np.trapezoid(roc.sensitivities[::-1], roc.fpr[::-1]) - auc(y, s)) < 1e-12
    p = youden(y, s)
    assert p.youden_index == (roc.sensitivities + roc.specificities).max() - 1.0
    pred = s >= p.threshold
    assert pred[y == 1].mean() == p.sensitivity and (~pred)[y == 0].mean() == p.specificity


@SETTINGS
@given(labelled_scores(), st.integers(0, 2**31))
def test_paired_delong_antisymmetric(data, seed):
    y, s = data
    s2 = s + np.random.default_rng(seed).integers(-5, 6, s.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateCIWarning)
        a, b = delong_test(y, s, s2), delong_test(y, s2, s)
        assert a.statistic == -b.statistic and a.p_two_sided == b.p_two_sided
        assert 0.0 <= a.p_two_sided <= 1.0
        assert abs(a.p_greater + a.p_less - 1.0) < 1e-12


@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)), min_size=5, max_size=40))
def test_kappa_bounds_and_symmetry(pairs):
    a, b = np.array(pairs).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateCIWarning)
        k, k2 = cohen_kappa(a, b), cohen_kappa(b, a)
    if np.isfinite(k.kappa):
        assert -1.0 - 1e-12 <= k.kappa <= 1.0 + 1e-12
        assert abs(k.kappa - k2.kappa) < 1e-12 and k.se >= 0 and k.lower <= k.kappa <= k.upper
