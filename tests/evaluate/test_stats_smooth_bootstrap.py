"""Bootstrap of smoothed AUCs: each replicate equals smooth_roc on that resampled data set.

The reference rebuilds every replicate as a plain data set (cases repeated by their bootstrap
weights, drawn from the same generator) and smooths it with ``smooth_roc``; the replicates of
``smooth_auc_statistic`` (vectorised for the binormal line) must agree to rounding. pROC's
figures are compared in test_stats_proc_smooth.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats._validate import DegenerateCIWarning, orient
from breastlab.evaluate.stats.bootstrap import _auc_replicates, _chunks, _Resampler, _rng
from breastlab.evaluate.stats.delong import ci_auc
from breastlab.evaluate.stats.roc_test import roc_test
from breastlab.evaluate.stats.smooth import smooth_auc_statistic, smooth_roc

N_BOOT = 150


def _data(seed=4, m=25, n=35):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.r_[np.ones(m, int), np.zeros(n, int)]).astype(bool)
    return y, np.round(y + rng.normal(0, 1, y.size), 1)


@pytest.mark.parametrize("direction", ["<", ">"])
@pytest.mark.parametrize("stratified", [True, False])
@pytest.mark.parametrize(("method", "bw"), [("binormal", "nrd0"), ("density", "nrd0"), ("density", 0.4)])
def test_replicates_equal_smooth_roc_on_each_resample(direction, stratified, method, bw):
    y, s = _data()
    s = s if direction == "<" else -s
    stat = smooth_auc_statistic(method, 256, bw, direction)
    est, reps, _ = _auc_replicates(y, orient(s, direction)[:, None], N_BOOT, stratified, None, _rng(3), stat)
    assert est[0] == pytest.approx(smooth_roc(y, s, method, 256, bw, direction).auc, abs=1e-14)
    order = np.lexsort((orient(s, direction), ~y))
    ys, ss = y[order], s[order]
    resampler, rng = _Resampler(ys, stratified, None), _rng(3)
    weights = np.concatenate([resampler.weights(rng, size) for size in _chunks(N_BOOT, y.size)])
    for i, w in enumerate(weights):
        idx = np.repeat(np.arange(y.size), w.astype(int))
        ref = smooth_roc(ys[idx], ss[idx], method, 256, bw, direction).auc
        assert reps[i, 0] == pytest.approx(ref, abs=1e-14), i


def test_unsmoothable_replicates_are_left_out_with_a_warning():
    y = np.array([1, 1, 1, 0, 0, 0], bool)
    s = np.array([0.9, 0.5, 0.3, 0.6, 0.4, 0.1])  # three inner points; many replicates keep fewer than two
    with pytest.warns(DegenerateCIWarning, match="replicates not smoothable, left out"):
        ci = ci_auc(y, s, method="bootstrap", smooth="binormal", n_boot=200, seed=1)
    assert ci.auc == smooth_roc(y, s).auc and ci.lower <= ci.upper


def test_smoothing_needs_the_bootstrap_and_the_full_curve():
    y, s = _data()
    for kw in ({"method": "delong"}, {"method": "venkatraman"}, {"method": "bootstrap", "partial": (0.8, 1.0)}):
        with pytest.raises(BreastlabInputError, match="method='bootstrap'"):
            roc_test(y, s, s + 1, smooth="binormal", **kw)
    with pytest.raises(BreastlabInputError, match="pass method='bootstrap' and no partial range"):
        ci_auc(y, s, smooth="binormal")
    with pytest.raises(BreastlabInputError, match="smoothing method must be one of"):
        ci_auc(y, s, method="bootstrap", smooth="logcondens")
    with pytest.raises(BreastlabInputError, match="bw must be positive"):
        roc_test(y, s, s + 1, method="bootstrap", smooth="density", smooth_bw=0)
