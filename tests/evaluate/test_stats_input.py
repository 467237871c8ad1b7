"""Bad input raises BreastlabInputError naming the argument; degenerate input gives the right answer + warning."""

from __future__ import annotations

import numpy as np
import pytest

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats import (
    DegenerateCIWarning,
    auc,
    bootstrap_ci,
    ci_auc,
    cohen_kappa,
    delong_test,
    multiclass_auc,
    roc_curve,
    var_auc,
    wilcoxon_signed_rank,
    youden,
)

Y = np.array([0, 0, 0, 1, 1, 1])
S = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.3])


@pytest.mark.parametrize("fn", [auc, roc_curve, var_auc, ci_auc, youden, bootstrap_ci])
@pytest.mark.parametrize(
    "y,s,match",
    [
        (Y, np.r_[S[:-1], np.nan], r"y_score .*non-finite.*NaN"),
        (Y, np.r_[S[:-1], np.inf], r"y_score .*infinite"),
        (np.ones(6), S, r"y_true holds a single class"),
        (Y, S[:-1], r"y_score has length 5 but y_true has length 6"),
        (np.array([0, 1, 1, 1, 1, 1]), S, r"y_true has 5 positive\(s\) and 1 negative\(s\); need at least 2"),
        (np.array([0, 1, 2, 0, 1, 2]), S, r"y_true must hold only 0 and 1 \(non-binary values: \[2.0\]\)"),
        (np.array(["a", "b", "a", "b", "a", "b"]), S, r"y_true must hold only 0 and 1"),
        (np.array([0, 1, np.nan, 0, 1, 1]), S, r"y_true holds 1 missing"),
        (Y, np.array(list("abcdef")), r"y_score must be numeric"),
    ],
)
def test_bad_input_names_the_argument(fn, y, s, match):
    with pytest.raises(BreastlabInputError, match=match):
        fn(y, s)


def test_bad_arguments():
    with pytest.raises(BreastlabInputError, match="direction"):
        auc(Y, S, direction="up")
    with pytest.raises(BreastlabInputError, match="conf_level"):
        ci_auc(Y, S, conf_level=95)
    with pytest.raises(BreastlabInputError, match="score2 has length"):
        delong_test(Y, S, S[:4])
    with pytest.raises(BreastlabInputError, match="alternative"):
        delong_test(Y, S, S, alternative="bigger")
    with pytest.raises(BreastlabInputError, match="y_true2 holds a single class"):
        delong_test(Y, S, S, y_true2=np.ones(6))
    with pytest.raises(BreastlabInputError, match="cluster has length"):
        bootstrap_ci(Y, S, cluster=[1, 2])
    with pytest.raises(BreastlabInputError, match="metrics must be among"):
        bootstrap_ci(Y, S, "f1")
    with pytest.raises(BreastlabInputError, match="y_pred must hold 0/1"):
        bootstrap_ci(Y, S, "sensitivity")
    with pytest.raises(BreastlabInputError, match="n_boot"):
        bootstrap_ci(Y, S, n_boot=1)
    with pytest.raises(BreastlabInputError, match="rater1 has 3 ratings but rater2 has 2"):
        cohen_kappa([1, 2, 3], [1, 2])
    with pytest.raises(BreastlabInputError, match="weights"):
        cohen_kappa([1, 2, 3], [1, 2, 2], weights="cubic")
    with pytest.raises(BreastlabInputError, match="y_score must have one column per class"):
        multiclass_auc([0, 1, 2, 0], np.ones((4, 2)))
    with pytest.raises(BreastlabInputError, match="identical in every pair"):
        wilcoxon_signed_rank([1, 2, 3], [1, 2, 3])


def test_all_ties_gives_half_with_degenerate_warning():
    s = np.full(6, 0.3)
    assert auc(Y, s) == 0.5
    with pytest.warns(DegenerateCIWarning, match="zero variance"):
        ci = ci_auc(Y, s)
    assert (ci.lower, ci.auc, ci.upper, ci.p_value) == (0.5, 0.5, 0.5, 1.0)
    roc = roc_curve(Y, s)
    np.testing.assert_array_equal(roc.thresholds, [-np.inf, np.inf])


def test_perfect_separation_gives_one_with_degenerate_warning():
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert auc(Y, s) == 1.0
    with pytest.warns(DegenerateCIWarning):
        ci = ci_auc(Y, s)
    assert (ci.lower, ci.upper) == (1.0, 1.0)
    p = youden(Y, s)
    assert (p.sensitivity, p.specificity, p.threshold) == (1.0, 1.0, 0.5)
    with pytest.warns(DegenerateCIWarning, match="degenerate"):
        b = bootstrap_ci(Y, s, n_boot=50)
    assert b.lower == b.upper == 1.0
    with pytest.warns(DegenerateCIWarning):
        t = delong_test(Y, s, s)
    assert (t.statistic, t.p_two_sided) == (0.0, 1.0)


def test_kappa_single_category_is_undefined_with_warning():
    with pytest.warns(DegenerateCIWarning, match="undefined"):
        k = cohen_kappa([2, 2, 2, 2], [2, 2, 2, 2])
    assert np.isnan(k.kappa) and k.strength == "undefined"
