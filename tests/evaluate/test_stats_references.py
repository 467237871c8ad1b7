"""breastlab.evaluate.stats against scikit-learn, SciPy and published figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st
from sklearn.metrics import cohen_kappa_score, recall_score, roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from breastlab.evaluate.stats import (
    auc,
    ci_auc,
    cohen_kappa,
    delong_cov,
    kappa_from_table,
    landis_koch,
    multiclass_auc,
    roc_curve,
    shapiro_wilk,
    var_auc,
    wilcoxon_signed_rank,
)


def _data(n, seed, decimals=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2], y[2:4] = 0, 1
    return y, np.round(y * 0.8 + rng.normal(size=n), decimals)


@pytest.mark.parametrize("n,seed,decimals", [(10, 0, 0), (57, 1, 1), (400, 2, 1), (3000, 3, 6)])
def test_auc_and_curve_match_sklearn(n, seed, decimals):
    y, s = _data(n, seed, decimals)
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-15)
    assert auc(y, -s, direction=">") == pytest.approx(roc_auc_score(y, s), abs=1e-15)
    roc = roc_curve(y, s)
    fpr, tpr, _ = sk_roc_curve(y, s, drop_intermediate=False)
    # sklearn runs from (0, 0) upward; pROC's order runs from sensitivity 1 down.
    np.testing.assert_allclose(roc.fpr[::-1], fpr, atol=1e-15)
    np.testing.assert_allclose(roc.tpr[::-1], tpr, atol=1e-15)


def test_auc_columns_match_sklearn():
    y, s = _data(200, 5)
    cols = np.column_stack([s, s**3, -s, np.round(s)])
    np.testing.assert_allclose(auc(y, cols), [roc_auc_score(y, c) for c in cols.T], atol=1e-15)
    aucs, cov = delong_cov(y, cols)
    np.testing.assert_allclose(aucs, auc(y, cols))
    np.testing.assert_allclose(np.diag(cov), [var_auc(y, c) for c in cols.T], rtol=1e-12)


def test_delong_variance_against_brute_force_definition():
    """DeLong (1988) written out pairwise: V10_i = mean_j psi(X_i, Y_j), V01_j = mean_i psi(X_i, Y_j)."""
    y, s = _data(60, 7, 0)
    x, z = s[y == 1], s[y == 0]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    expected = v10.var(ddof=1) / x.size + v01.var(ddof=1) / z.size
    assert var_auc(y, s) == pytest.approx(expected, rel=1e-12)
    assert auc(y, s) == pytest.approx(psi.mean(), abs=1e-15)


def test_hanley_mcneil_formula():
    y, s = _data(120, 8)
    a, m, n = auc(y, s), int(y.sum()), int((1 - y).sum())
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    expected = (a * (1 - a) + (m - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (m * n)
    assert var_auc(y, s, method="hanley-mcneil") == pytest.approx(expected, rel=1e-12)
    # both estimate the same variance for binormal data
    assert var_auc(y, s, method="hanley-mcneil") == pytest.approx(var_auc(y, s), rel=0.35)


def test_multiclass_auc_matches_sklearn_ovo():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + 1.5 * np.eye(3)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    # snap to a grid of probability vectors (steps of 0.1, rows sum to 1) to create ties
    grid = np.array([(a, b, 10 - a - b) for a in range(11) for b in range(11 - a)]) / 10.0
    p = grid[np.argmin(((p[:, None, :] - grid[None]) ** 2).sum(-1), axis=1)]
    res = multiclass_auc(y, p)
    assert res.auc == pytest.approx(roc_auc_score(y, p, multi_class="ovo"), abs=1e-12)
    assert len(res.pairwise) == 3
    labels = np.array(["normal", "benign", "malignant"])[y]
    res2 = multiclass_auc(labels, p, labels=["normal", "benign", "malignant"])
    assert res2.auc == pytest.approx(res.auc, abs=1e-15)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_kappa_value_matches_sklearn(weights):
    rng = np.random.default_rng(1)
    a = rng.integers(1, 6, 150)
    b = np.clip(a + rng.integers(-1, 2, 150), 1, 5)
    assert cohen_kappa(a, b, weights=weights).kappa == pytest.approx(
        cohen_kappa_score(a, b, weights=weights), abs=1e-12
    )


def test_kappa_standard_errors_match_sas():
    """SAS PROC FREQ AGREE printout for the 3x3 table [[0,4,1],[0,8,0],[0,1,5]] (4 decimals)."""
    table = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]
    k = kappa_from_table(table)
    got = [k.kappa, k.se, k.lower, k.upper, k.se0, k.z, k.p_value]
    np.testing.assert_allclose(got, [0.4842, 0.1380, 0.2137, 0.7547, 0.1484, 3.2626, 0.0011], atol=6e-5)
    w = kappa_from_table(table, weights="linear")  # SAS's Cicchetti-Allison weights
    got = [w.kappa, w.se, w.lower, w.upper, w.se0, w.z, w.p_value]
    np.testing.assert_allclose(got, [0.4701, 0.1457, 0.1845, 0.7558, 0.1426, 3.2971, 0.0010], atol=6e-5)


def test_kappa_test_matches_r_irr():
    """R irr::kappa2 on raters 2 and 3 of irr's `anxiety` data (z and p under H0)."""
    r2 = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
    r3 = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]
    for weights, (kappa, z, p) in {
        None: (-0.006289308, -0.0604067, 0.9518317),
        "linear": (0.1459075, 1.282472, 0.1996772),
        "quadratic": (0.2520325, 1.437451, 0.1505898),
    }.items():
        k = cohen_kappa(r2, r3, weights=weights)
        assert k.kappa == pytest.approx(kappa, abs=1e-6)
        assert k.z == pytest.approx(z, abs=1e-5)
        assert k.p_value == pytest.approx(p, abs=1e-6)


@pytest.mark.parametrize(
    "kappa,label",
    [
        (-0.1, "poor"),
        (0.0, "slight"),
        (0.2, "slight"),
        (0.21, "fair"),
        (0.4, "fair"),
        (0.55, "moderate"),
        (0.61, "substantial"),
        (0.8, "substantial"),
        (0.81, "almost perfect"),
        (1.0, "almost perfect"),
    ],
)
def test_landis_koch(kappa, label):
    assert landis_koch(kappa) == label


def test_wilcoxon_matches_scipy_and_hand_values():
    # n = 5, all differences positive and distinct: exact two-sided p = 2 / 2**5
    w = wilcoxon_signed_rank([10, 12, 15, 20, 30], [9, 10, 12, 16, 25])
    assert w.method == "exact" and w.p_value == pytest.approx(2 / 32, abs=1e-15)
    rng = np.random.default_rng(3)
    x = np.round(rng.gamma(5, 12, 80), 0)
    y = np.round(x * 0.8 + rng.normal(0, 8, 80), 0)
    w = wilcoxon_signed_rank(x, y)
    ref = st.wilcoxon(x, y, method="asymptotic")
    assert w.method == "approx"
    assert w.statistic == ref.statistic and w.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert w.median_x == np.median(x) and w.min_y == y.min() and w.max_y == y.max()
    assert w.summary_x == f"{np.median(x):.3g} ({x.min():.3g}–{x.max():.3g})"
    small = rng.normal(size=12)
    w = wilcoxon_signed_rank(small, None, alternative="greater")
    assert w.p_value == pytest.approx(st.wilcoxon(small, alternative="greater", method="exact").pvalue, rel=1e-12)


def test_shapiro_matches_scipy():
    x = np.random.default_rng(4).normal(size=40)
    r = shapiro_wilk(x)
    ref = st.shapiro(x)
    assert (r.statistic, r.p_value) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue))
    assert r.normal == (ref.pvalue >= 0.05)


def test_ci_auc_bootstrap_close_to_delong():
    y, s = _data(400, 9, 3)
    d = ci_auc(y, s)
    b = ci_auc(y, s, method="bootstrap", n_boot=1000, seed=1)
    assert b.auc == d.auc
    assert b.se == pytest.approx(d.se, rel=0.15)
    assert b.lower == pytest.approx(d.lower, abs=0.02) and b.upper == pytest.approx(d.upper, abs=0.02)


def test_weighted_prediction_metric_matches_sklearn():
    from breastlab.evaluate.stats.bootstrap import _prediction_metric

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 50).astype(bool)
    pred = rng.integers(0, 2, 50).astype(bool)
    w = rng.integers(0, 4, size=(3, 50)).astype(float)
    got = _prediction_metric("sensitivity", w, y, pred)
    want = [recall_score(y, pred, sample_weight=wi) for wi in w]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    got = _prediction_metric("specificity", w, y, pred)
    want = [recall_score(~y, ~pred, sample_weight=wi) for wi in w]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert math.isfinite(got[0])
