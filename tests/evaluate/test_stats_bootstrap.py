"""Vectorised bootstrap: replicate AUCs equal scikit-learn's on the resampled cases; clusters; tests."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from breastlab.evaluate.stats import DegenerateCIWarning, bootstrap_ci, bootstrap_metrics, bootstrap_test, delong_test
from breastlab.evaluate.stats.bootstrap import _AucPlan, _Resampler


def _data(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:3], y[3:6] = 0, 1
    return y, np.round(y + rng.normal(size=n), 1)


def test_weighted_auc_equals_sklearn_on_resampled_cases():
    """A replicate's AUC from count weights equals roc_auc_score on the cases it drew."""
    y, s = _data(80, 0)
    order = np.argsort(1 - y, kind="stable")
    yo, so = y[order].astype(bool), s[order]
    rng = np.random.default_rng(1)
    w = _Resampler(yo, stratified=True, cluster=None).weights(rng, 20)
    plan = _AucPlan(so, int(yo.sum()))
    got = plan(w)
    for b in range(20):
        idx = np.repeat(np.arange(y.size), w[b].astype(int))  # the drawn cases, with repeats
        assert got[b] == pytest.approx(roc_auc_score(yo[idx], so[idx]), abs=1e-14)
        # stratified: the class sizes never change
        assert w[b, yo].sum() == yo.sum() and w[b, ~yo].sum() == (~yo).sum()


def test_percentile_interval_and_reproducibility():
    y, s = _data(120, 2)
    a = bootstrap_ci(y, s, n_boot=500, seed=7)
    b = bootstrap_ci(y, s, n_boot=500, seed=7)
    assert (a.lower, a.upper) == (b.lower, b.upper)
    lo, hi = np.quantile(a.replicates, [(1 - 0.95) / 2, 1 - (1 - 0.95) / 2])  # R's type 7 = NumPy's default
    assert (a.lower, a.upper) == (lo, hi)
    assert a.lower <= a.estimate <= a.upper
    assert a.estimate == pytest.approx(roc_auc_score(y, s), abs=1e-15)
    assert a.n_valid == 500 and a.scheme == "stratified"


def test_prediction_metrics_and_threshold():
    y, s = _data(200, 3)
    res = bootstrap_metrics(
        y, y_score=s, threshold=0.5, metrics=["auc", "sensitivity", "specificity", "ppv", "npv", "accuracy"], n_boot=300
    )
    pred = s >= 0.5
    assert res["sensitivity"].estimate == pytest.approx(pred[y == 1].mean())
    assert res["specificity"].estimate == pytest.approx((~pred)[y == 0].mean())
    assert res["ppv"].estimate == pytest.approx(y[pred].mean())
    assert res["accuracy"].estimate == pytest.approx((pred == y).mean())
    for r in res.values():
        assert r.lower <= r.estimate <= r.upper
    # stratified bootstrap keeps the class sizes: sensitivity's replicates are multiples of 1/m
    m = y.sum()
    np.testing.assert_allclose(res["sensitivity"].replicates * m, np.round(res["sensitivity"].replicates * m))
    same = bootstrap_ci(y, pred.astype(int), "sensitivity", n_boot=300)
    assert same.estimate == res["sensitivity"].estimate


def test_cluster_bootstrap_accounts_for_repeated_cases():
    """Every case copied 6 times as one patient's slices: the clustered SE is the patient-level SE,
    the naive case-level SE is about sqrt(6) too small."""
    y, s = _data(150, 4)
    k = 6
    yy, ss, pid = np.repeat(y, k), np.repeat(s, k), np.repeat(np.arange(y.size), k)
    patient = bootstrap_ci(y, s, n_boot=1500, stratified=False, seed=1)
    clustered = bootstrap_ci(yy, ss, cluster=pid, n_boot=1500, seed=1)
    naive = bootstrap_ci(yy, ss, n_boot=1500, seed=1)
    assert clustered.scheme == "cluster"
    assert clustered.estimate == patient.estimate
    assert clustered.se == pytest.approx(patient.se, rel=0.12)
    assert naive.se == pytest.approx(patient.se / np.sqrt(k), rel=0.15)


def test_cluster_replicates_without_a_class_are_dropped_with_warning():
    y = np.array([1, 1, 0, 0, 1, 0])
    s = np.array([0.9, 0.2, 0.1, 0.3, 0.7, 0.25])
    pid = np.array([0, 0, 1, 1, 2, 3])  # a draw of patients {1, 3} only has no positive
    with pytest.warns(DegenerateCIWarning, match="undefined"):
        r = bootstrap_ci(y, s, cluster=pid, n_boot=400, seed=0)
    assert 0 < r.n_valid < 400


def test_bootstrap_test_agrees_with_delong():
    rng = np.random.default_rng(5)
    n = 400
    y = rng.integers(0, 2, n)
    latent = y + rng.normal(size=n)
    s1, s2 = latent, latent + rng.normal(0, 0.8, n)
    b = bootstrap_test(y, s1, s2, n_boot=1000, seed=2)
    d = delong_test(y, s1, s2)
    assert b.difference == pytest.approx(d.difference)
    assert b.se == pytest.approx(d.se, rel=0.15)
    assert b.ci_lower <= b.difference <= b.ci_upper
    y2 = rng.integers(0, 2, 300)
    s3 = y2 * 0.5 + rng.normal(size=300)
    bu = bootstrap_test(y, s1, s3, y_true2=y2, n_boot=1000, seed=3)
    du = delong_test(y, s1, s3, y_true2=y2)
    assert not bu.paired and bu.se == pytest.approx(du.se, rel=0.15)
