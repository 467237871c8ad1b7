"""Binormal ML AUC per reader as an MRMC figure of merit, against MRMCaov's published Van Dyke analysis.

Reference: Smith, Hillis & Pesce, MRMCaov JSS manuscript (github.com/brian-j-smith/MRMCaov,
docs/jss/MRMCaov.tex, section "ROC curve metrics"):
``mrmc(binormal_auc(truth, rating), treatment, reader, case, data = VanDyke)`` with jackknife
covariance prints per-reader AUCs 0.933 0.890 0.929 0.970 0.833 / 0.951 0.935 0.928 1 0.945,
Error 0.0010790449, Cov1 0.0003125019, Cov2 0.0003116050, Cov3 0.0001937700,
F = 2.67666 on (1, 10.51789) df, p = 0.1313682, difference 1 - 2 = -0.04056698,
treatment estimates 0.9109867 and 0.9515536.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.mrmc import or_hillis
from breastlab.evaluate.mrmc._binormal import _counts, _negloglik, _start, binormal_auc

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def vd():
    return pd.read_csv(DATA / "vandyke.csv", comment="#")


@pytest.fixture(scope="module")
def result(vd):
    return or_hillis(vd, fom="binormal_auc", cov="jackknife")


def test_per_reader_binormal_aucs_match_mrmcaov(result):
    published = [[0.933, 0.890, 0.929, 0.970, 0.833], [0.951, 0.935, 0.928, 1.0, 0.945]]
    np.testing.assert_allclose(result.foms, published, atol=5e-4)  # printed to 3 decimals
    assert result.foms[1, 3] == 1.0  # perfect separation: AUC 1, as MRMCaov


def test_or_analysis_matches_mrmcaov(result):
    c = result.components
    assert result.differences.estimate.iloc[0] == pytest.approx(-0.04056698, abs=5e-8)
    np.testing.assert_allclose(result.treatment_foms.estimate, [0.9109867, 0.9515536], atol=5e-8)
    # the jackknife refits each left-out sample; one (reader 4, treatment 1, case 107 left out) has no finite
    # maximum (b -> 0), where MRMCaov's trust-region optimiser stops early: agreement to ~4 digits
    assert c.var_error == pytest.approx(0.0010790449, rel=2e-4)
    assert c.cov1 == pytest.approx(0.0003125019, rel=2e-4)
    assert c.cov2 == pytest.approx(0.0003116050, rel=2e-3)
    assert c.cov3 == pytest.approx(0.0001937700, rel=2e-3)
    assert result.test.statistic == pytest.approx(2.67666, rel=1e-3)
    assert result.test.df2 == pytest.approx(10.51789, rel=1e-3)
    assert result.test.p_value == pytest.approx(0.1313682, abs=1e-4)


def test_binormal_mle_recovers_the_model_and_gradient_is_exact():
    rng = np.random.default_rng(0)
    a, b = 1.2, 0.8
    truth = np.r_[np.zeros(4000, bool), np.ones(4000, bool)]
    latent = np.where(truth, (rng.standard_normal(8000) + a) / b, rng.standard_normal(8000))
    rating = np.digitize(latent, [-0.5, 0.3, 1.0, 1.8])  # five ordinal categories
    assert binormal_auc(truth, rating) == pytest.approx(stats.norm.cdf(a / np.sqrt(1 + b * b)), abs=0.01)
    ev, ne = _counts(truth, rating)
    x0 = _start(ev, ne)
    err = optimize.check_grad(lambda x: _negloglik(x, ev, ne)[0], lambda x: _negloglik(x, ev, ne)[1], x0)
    assert err < 1e-4 * np.abs(_negloglik(x0, ev, ne)[1]).max()


def test_degenerate_readers_and_delong_refused(vd):
    truth = np.array([0, 0, 1, 1], bool)
    assert binormal_auc(truth, [1, 2, 3, 4]) == 1.0
    assert binormal_auc(truth, [4, 3, 2, 1]) == 0.0
    assert binormal_auc(truth, [2, 2, 2, 2]) == 0.5
    with pytest.raises(BreastlabInputError, match="use cov='jackknife'"):
        or_hillis(vd, fom="binormal_auc", cov="delong")
