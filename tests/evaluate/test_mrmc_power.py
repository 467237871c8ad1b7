"""MRMC power and sample size (Hillis, Obuchowski & Berbaum 2011) and the shared column vocabulary.

Reference values: RJafroc's tests (github.com/dpc10ster/RJafroc, tests/testthat/test-SsSampleSizeRoc.R),
``SsPowerGivenJK(dataset02, FOM = "Wilcoxon", method = "OR", effectSize = -0.043800322, J = 10, K = ...)``
on the Van Dyke data (RJafroc's dataset02 = tests/evaluate/data/vandyke.csv) with jackknife OR
components: RRRC K = 165 -> 0.80541995, FRRC K = 131 -> 0.80091813, RRFC K = 53 -> 0.80496663.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.mrmc import or_hillis
from breastlab.evaluate.mrmc.power import PilotVariance, mrmc_power, mrmc_sample_size, power_table
from breastlab.evaluate.stats import simulate_reader_study

DATA = Path(__file__).parent / "data"
EFFECT = -0.043800322  # the Van Dyke treatment 1 - 2 difference of reader-averaged AUCs


@pytest.fixture(scope="module")
def vd_pilot():
    res = or_hillis(pd.read_csv(DATA / "vandyke.csv", comment="#"), cov="jackknife")
    assert res.differences.estimate.iloc[0] == pytest.approx(EFFECT, abs=1e-9)
    return PilotVariance.from_result(res)


@pytest.mark.parametrize(
    ("analysis", "cases", "expected"),
    [("rrrc", 165, 0.80541995), ("frrc", 131, 0.80091813), ("rrfc", 53, 0.80496663)],
)
def test_power_matches_rjafroc_on_van_dyke(vd_pilot, analysis, cases, expected):
    assert mrmc_power(vd_pilot, EFFECT, 10, cases, analysis=analysis) == pytest.approx(expected, abs=1e-8)


def test_sample_size_is_the_smallest_reaching_the_target(vd_pilot):
    for analysis, expected in (("frrc", 131), ("rrfc", 53)):  # RJafroc's K for 80% power with 10 readers
        k, pw = mrmc_sample_size(vd_pilot, EFFECT, 10, analysis=analysis)
        assert k == expected and pw >= 0.8
        assert mrmc_power(vd_pilot, EFFECT, 10, k - 1, analysis=analysis) < 0.8
    k, pw = mrmc_sample_size(vd_pilot, EFFECT, 10)
    assert pw >= 0.8 > mrmc_power(vd_pilot, EFFECT, 10, k - 1) and k <= 165


def test_power_is_the_noncentral_f_by_hand(vd_pilot):
    p, j, k = vd_pilot, 7, 200
    c = p.cov2 - p.cov3
    den = p.var_tr + p.n_cases / k * (p.var_error - p.cov1 + (j - 1) * c)
    ddf = den**2 * (j - 1) / (p.var_tr + p.n_cases / k * (p.var_error - p.cov1 - c)) ** 2
    crit = stats.f.ppf(0.95, 1, ddf)
    expected = stats.ncf.sf(crit, 1, ddf, j * 0.05**2 / 2 / den)
    assert mrmc_power(p, 0.05, j, k) == pytest.approx(expected, rel=1e-12)


def test_grid_and_monotonicity(vd_pilot):
    tab = power_table(vd_pilot, 0.05, [3, 5, 10], [50, 100, 400])
    assert len(tab) == 9 and list(tab.columns) == ["readers", "cases", "power_rrrc", "power_frrc", "power_rrfc"]
    wide = tab.pivot(index="readers", columns="cases", values="power_rrrc").to_numpy()
    assert np.all(np.diff(wide, axis=0) > 0) and np.all(np.diff(wide, axis=1) > 0)
    assert np.all(tab.power_frrc >= tab.power_rrrc)  # fixed readers ignore reader variability


def test_unreachable_power_and_bad_arguments(vd_pilot):
    big_tr = PilotVariance(0.01, vd_pilot.var_error, vd_pilot.cov1, vd_pilot.cov2, vd_pilot.cov3, 114)
    k, pw = mrmc_sample_size(big_tr, 0.01, 3, max_cases=5000)
    assert k is None and pw < 0.8
    with pytest.raises(BreastlabInputError, match="analysis must be one of"):
        mrmc_power(vd_pilot, 0.05, 5, 100, analysis="dbm")
    with pytest.raises(BreastlabInputError, match="at least 2 readers"):
        mrmc_power(vd_pilot, 0.05, 1, 100)
    with pytest.raises(BreastlabInputError, match="error variance > 0"):
        PilotVariance(0.0, 0.0, 0.0, 0.0, 0.0, 100)


def test_one_table_feeds_reader_study_and_mrmc():
    """The reader-study long table (case_id, condition, score) goes to or_hillis without naming columns."""
    df = simulate_reader_study(n_cases=60, readers_per_group=2, seed=3)
    res = or_hillis(df, treatments=["aided", "unaided"])
    renamed = df.rename(columns={"case_id": "case", "condition": "treatment", "score": "rating"})
    ref = or_hillis(renamed, treatments=["aided", "unaided"])
    assert res.differences.comparison.iloc[0] == "aided - unaided"
    assert res.test.statistic == pytest.approx(ref.test.statistic)
    with pytest.raises(BreastlabInputError, match=r"lacks column\(s\) \['rating/score'\]"):
        or_hillis(df.drop(columns="score"))


def test_cli_mrmc_power(tmp_path, capsys):
    import json

    from breastlab.cli import main

    out = tmp_path / "power.json"
    args = ["stats", "mrmc-power", str(DATA / "vandyke.csv"), "--readers", "10", "--cases", "165", "--json", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "0.8054" in text
    result = json.loads(out.read_text())
    assert result["rows"][0]["cases_frrc"] == 131 and result["rows"][0]["cases_rrfc"] == 53
    assert result["effect"] == pytest.approx(EFFECT, abs=1e-9)


def test_predicted_power_agrees_with_roe_metz_simulation():
    from breastlab.evaluate.mrmc.simulate import ROE_METZ_1997, pilot_and_rejection, true_auc

    params = ROE_METZ_1997["HL"].with_delta(0.75, 1.0)
    diff = float(true_auc(params)[0] - true_auc(params)[1])
    pilot, _ = pilot_and_rejection(5, 50, 50, params, n_studies=800, seed=1)
    _, simulated = pilot_and_rejection(8, 100, 100, params, n_studies=800, seed=2)
    assert mrmc_power(pilot, diff, 8, 200) == pytest.approx(simulated, abs=0.06)  # MC SE about 0.018


def test_cli_mrmc_reads_the_reader_study_csv_without_flags(tmp_path, capsys):
    from breastlab.cli import main

    df = simulate_reader_study(n_cases=60, readers_per_group=2, seed=4)
    df.to_csv(tmp_path / "rs.csv", index=False)
    assert main(["stats", "mrmc", str(tmp_path / "rs.csv"), "--treatments", "aided,unaided"]) == 0
    assert "Differences are first minus second treatment in the order aided, unaided" in capsys.readouterr().out


def test_cli_mrmc_power_from_a_froc_pilot(capsys):
    from breastlab.cli import main

    pilot = str(DATA / "rjafroc_dataset04")
    assert main(["stats", "mrmc-power", pilot, "--treatments", "4,5", "--readers", "4,8", "--cases", "200"]) == 0
    text = capsys.readouterr().out
    assert "Pilot: wAFROC, 4 readers, 200 cases, treatments 4 - 5 = +0.0549" in text
