"""FROC figures of merit and OR analysis against RJafroc / Windows JAFROC outputs and hand calculations.

References (data files and their sources: tests/evaluate/data/README.md):

* RJafroc's ``dataset04`` (Zanca et al. 2009; 5 modalities x 4 readers x 200 cases):
  wAFROC figures of merit printed by ``UtilFigureOfMerit(dataset04, FOM = "wAFROC")`` in
  Chakraborty's online book (RJafrocBook, chapter "Empirical plots", section on the wAFROC).
* ``jafroc_fed_roc.xlsx`` and the Windows JAFROC 4.2.1 report of its weighted-JAFROC analysis
  (RJafroc repository ``inst/JAFROC/FedRoc.xlsx`` and ``inst/JAFROC/FedRoc.txt``).
* ``rjafroc_frocCr.xlsx`` (RJafroc ``inst/extdata/toyFiles/FROC/frocCr.xlsx``, newer layout)
  and RJafroc's stored results for it (``tests/testthat/goodValues361/UtilPseudoValues/
  frocCr{wAFROC,wAFROC1,MaxLLF}.rds``, ``UtilVarComponents/frocCr.rds``, read with R's readRDS).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.froc import (
    FROC_FOMS,
    bootstrap_foms,
    froc_fom,
    froc_fom_and_covariance,
    froc_from_arrays,
    froc_from_tables,
    jackknife_foms,
    jafroc_tables,
    or_froc,
    read_jafroc,
    standalone_vs_readers,
    write_jafroc,
)
from breastlab.evaluate.froc.simulate import simulate_froc
from breastlab.evaluate.mrmc import or_moments

DATA = Path(__file__).parent / "data"
NINF = -np.inf


# ------------------------------------------------------------------ hand-computed
def _hand_study():
    """2 non-diseased (N1: NL 2 and 1; N2: none), D1 (NL 3; lesions 4 and unmarked, weights .75/.25), D2 (lesion 2)."""
    nl = np.full((1, 1, 4, 2), NINF)
    nl[0, 0, 0] = [2.0, 1.0]
    nl[0, 0, 2, 0] = 3.0
    ll = np.full((1, 1, 2, 2), NINF)
    ll[0, 0, 0, 0] = 4.0
    ll[0, 0, 1, 0] = 2.0
    weights = np.array([[0.75, 0.25], [1.0, 0.0]])
    return froc_from_arrays(nl, ll, np.array([2, 1]), weights)


# worked by hand: psi(x, y) = 1 if y > x, 1/2 if equal (also -inf vs -inf), 0 otherwise
HAND = {
    "wafroc": 3.125 / 4,  # N1: .75 + 0 + .5; N2: .75 + .125 + 1; over K1 K2 = 4
    "afroc": 4.0 / 6,  # N1: 1 + 0 + .5; N2: 1 + .5 + 1; over K1 L = 6
    "wafroc1": 5.75 / 8,  # plus D1 (FP 3): .75; D2 (FP -inf): .75 + .125 + 1; over K K2 = 8
    "afroc1": 7.5 / 12,  # plus D1: 1; D2: 1 + .5 + 1; over K L = 12
    "hrauc": 3.5 / 4,  # non-diseased 2, -inf; diseased max(3, 4) = 4, max(-inf, 2) = 2
    "hrse": 1.0,  # both diseased cases carry a mark
    "hrsp": 0.5,  # N2 has no mark
    "maxllf": 2.0 / 3,  # 2 of 3 lesions marked
    "maxnlf": 2.0 / 2,  # 2 NL marks on 2 non-diseased cases
    "maxnlfallcases": 3.0 / 4,
}


@pytest.mark.parametrize("fom", list(HAND))
def test_hand_computed_figures(fom):
    assert froc_fom(_hand_study(), fom)[0, 0] == pytest.approx(HAND[fom], abs=1e-12)


def test_fom_names_are_case_insensitive_and_checked():
    d = _hand_study()
    assert froc_fom(d, "wAFROC")[0, 0] == froc_fom(d, "wafroc")[0, 0]
    with pytest.raises(BreastlabInputError, match="unknown FROC figure of merit 'auc'"):
        froc_fom(d, "auc")


def _random_study(seed, t=2, r=3, k1=9, k2=8, max_les=3):
    rng = np.random.default_rng(seed)
    per = rng.integers(1, max_les + 1, size=k2)
    nl = np.where(rng.random((t, r, k1 + k2, 3)) < 0.4, rng.integers(1, 6, (t, r, k1 + k2, 3)), NINF)
    ll = np.where(rng.random((t, r, k2, max_les)) < 0.7, rng.integers(1, 6, (t, r, k2, max_les)) + 0.5, NINF)
    w = rng.random((k2, max_les)) * (np.arange(max_les)[None] < per[:, None])
    return froc_from_arrays(nl.astype(float), ll, per, w / w.sum(axis=1, keepdims=True))


def _drop_case(d, k):
    keep = np.delete(np.arange(d.nl.shape[2]), k)
    k1 = d.n_normal
    keep_d = [i - k1 for i in keep if i >= k1]
    return dataclasses.replace(
        d,
        nl=d.nl[:, :, keep],
        ll=d.ll[:, :, keep_d],
        lesions_per_case=d.lesions_per_case[keep_d],
        weights=d.weights[keep_d],
        lesion_ids=d.lesion_ids[keep_d],
        cases=tuple(d.cases[i] for i in keep),
    )


@pytest.mark.parametrize("fom", list(FROC_FOMS))
def test_jackknife_closed_form_equals_recomputation(fom):
    d = _random_study(3)
    theta, loo = jackknife_foms(d, fom)
    np.testing.assert_allclose(theta, froc_fom(d, fom).ravel(), atol=1e-12)
    k1, n_all = d.n_normal, d.nl.shape[2]
    group = {"hrsp": range(k1), "maxnlf": range(k1), "hrse": range(k1, n_all), "maxllf": range(k1, n_all)}
    cases = list(group.get(fom, range(n_all)))
    assert loo.shape[1] == len(cases)
    for col, k in enumerate(cases):
        np.testing.assert_allclose(loo[:, col], froc_fom(_drop_case(d, k), fom).ravel(), atol=1e-12)


@pytest.mark.parametrize("fom", ["wafroc", "afroc1", "hrauc", "maxllf"])
def test_bootstrap_equals_recomputation_on_the_same_samples(fom):
    d = _random_study(5, k1=6, k2=5)
    boots = bootstrap_foms(d, fom, n_boot=4, seed=11)
    rng = np.random.default_rng(11)  # the same draws: non-diseased then diseased cases
    n_all, k1 = d.nl.shape[2], d.n_normal
    a = rng.integers(0, k1, size=(4, k1))
    b = rng.integers(k1, n_all, size=(4, n_all - k1))
    for s in range(4):
        idx = np.concatenate([a[s], b[s]])
        dd = dataclasses.replace(
            d,
            nl=d.nl[:, :, idx],
            ll=d.ll[:, :, b[s] - k1],
            lesions_per_case=d.lesions_per_case[b[s] - k1],
            weights=d.weights[b[s] - k1],
            lesion_ids=d.lesion_ids[b[s] - k1],
            cases=tuple(str(i) for i in idx),
        )
        np.testing.assert_allclose(boots[s], froc_fom(dd, fom).ravel(), atol=1e-12)


# ------------------------------------------------------------ published: dataset04
def test_dataset04_wafroc_matches_rjafroc_book():
    d = read_jafroc(DATA / "rjafroc_dataset04")
    assert d.treatments == ("1", "2", "3", "4", "5") and d.readers == ("1", "3", "4", "5")
    assert (d.n_normal, d.n_diseased) == (100, 100)
    book = [
        [0.7792667, 0.7248917, 0.7036250, 0.8050917],
        [0.7870000, 0.7269000, 0.7226167, 0.8037833],
        [0.7296917, 0.7157583, 0.6723083, 0.7726583],
        [0.8101333, 0.7431167, 0.6943583, 0.8294083],
        [0.7488000, 0.6822750, 0.6551750, 0.7712500],
    ]
    np.testing.assert_allclose(froc_fom(d, "wAFROC"), book, atol=5e-8)


def test_dataset04_or_analysis_matches_rjafroc_book():
    """StSignificanceTesting(dataset04, FOM = "wAFROC", method = "OR") as printed in the RJafroc book
    (github.com/dpc10ster/RJafrocBook, chapter "Obuchowski Rockette Applications", section
    "Illustration with dataset04, FROC analysis")."""
    res = or_froc(read_jafroc(DATA / "rjafroc_dataset04"))
    c = res.components
    assert c.var_r == pytest.approx(0.00220864564, abs=5e-12)
    assert c.var_tr == pytest.approx(-0.00030459978, abs=5e-12)
    assert (c.cov1, c.cov2, c.cov3) == pytest.approx((0.00042203598, 0.00033615564, 0.00030431124), abs=5e-12)
    assert c.var_error == pytest.approx(0.00092808365, abs=5e-12)
    assert (c.ms_t, c.ms_r, c.ms_tr) == pytest.approx((0.00231654149, 0.01180145539, 0.00016960349), abs=5e-12)
    # random readers, random cases
    assert res.test.statistic == pytest.approx(7.8002997, abs=5e-8)
    assert res.test.df2 == pytest.approx(36.793343, abs=5e-7)
    assert res.test.p_value == pytest.approx(0.000117105, abs=5e-10)
    assert res.test.denominator == pytest.approx(0.00029698109, abs=5e-12)
    d = res.differences.set_index("comparison")
    assert d.loc["4 - 5", "se"] == pytest.approx(0.01218567, abs=5e-9)
    assert d.loc["4 - 5", "p_value"] == pytest.approx(6.5228142e-05, abs=5e-13)
    assert (d.loc["3 - 4", "ci_lower"], d.loc["3 - 4", "ci_upper"]) == pytest.approx(
        (-0.0713451939, -0.0219548061), abs=5e-11
    )
    t = res.treatment_foms.set_index("treatment")
    assert (t.loc["4", "se"], t.loc["4", "df"]) == pytest.approx((0.035719663, 5.2424244), abs=5e-8)
    assert (t.loc["4", "ci_lower"], t.loc["4", "ci_upper"]) == pytest.approx((0.67869638, 0.85981195), abs=5e-9)
    # fixed readers: chi-square 15.403026 on 4 df, p 0.0039343238; difference SE 0.017343311
    assert res.fixed_readers_test.statistic == pytest.approx(15.403026, abs=5e-7)
    assert res.fixed_readers_test.p_value == pytest.approx(0.0039343238, abs=5e-11)
    fr = res.fixed_readers_differences.set_index("comparison")
    assert (fr.loc["2 - 5", "se"], fr.loc["2 - 5", "p_value"]) == pytest.approx((0.017343311, 0.0084131912), abs=5e-10)
    # fixed cases: F 13.658572 on (4, 12), p 0.00020192224; treatment 1 CI (0.67840724, 0.82803026) on 3 df
    assert res.fixed_cases_test.statistic == pytest.approx(13.658572, abs=5e-7)
    assert res.fixed_cases_test.p_value == pytest.approx(0.00020192224, abs=5e-13)
    fc = res.fixed_cases_treatment_foms.set_index("treatment")
    assert (fc.loc["1", "ci_lower"], fc.loc["1", "ci_upper"]) == pytest.approx((0.67840724, 0.82803026), abs=5e-9)


# ------------------------------------------------ Windows JAFROC 4.2.1: FedRoc.xlsx
@pytest.fixture(scope="module")
def fed():
    return read_jafroc(DATA / "jafroc_fed_roc.xlsx")


def test_fed_workbook_foms_match_windows_jafroc(fed):
    assert fed.readers == ("1", "3", "4", "5") and fed.treatments == ("1", "2", "3", "4", "5")
    jafroc = [  # rows readers 1, 3, 4, 5; columns treatments 1..5 (report "Estimates")
        [0.90425003, 0.86425000, 0.81295002, 0.90235001, 0.84140003],
        [0.79820001, 0.84469998, 0.81634998, 0.83149999, 0.77300000],
        [0.81174999, 0.82050002, 0.75274998, 0.78864998, 0.77114999],
        [0.86645001, 0.87159997, 0.85729998, 0.87980002, 0.84799999],
    ]
    np.testing.assert_allclose(froc_fom(fed, "wafroc").T, jafroc, atol=1e-7)  # JAFROC prints single precision


def test_fed_or_analysis_matches_windows_jafroc(fed):
    res = or_froc(fed)  # wAFROC, jackknife
    c = res.components
    assert c.var_r == pytest.approx(0.00128372, abs=1e-8)  # printed to 8 decimals
    assert c.var_tr == pytest.approx(-0.00001092, abs=1e-8)  # printed to 8 decimals
    assert c.cov1 == pytest.approx(0.00029480, abs=1e-8)  # printed to 8 decimals
    assert c.cov2 == pytest.approx(0.00023331, abs=1e-8)  # printed to 8 decimals
    assert c.cov3 == pytest.approx(0.00021213, abs=1e-8)  # printed to 8 decimals
    assert c.var_error == pytest.approx(0.00078912, abs=1e-8)  # printed to 8 decimals
    assert res.test.statistic == pytest.approx(3.47, abs=0.005)
    assert res.test.df2 == pytest.approx(16.80, abs=0.005)
    assert res.test.p_value == pytest.approx(0.0305, abs=5e-5)
    diff = res.differences.set_index("comparison")
    assert diff.loc["1 - 3", "estimate"] == pytest.approx(0.03532499, abs=1e-7)
    assert diff.loc["1 - 3", "se"] == pytest.approx(0.01654, abs=5e-6)
    assert diff.loc["1 - 3", "p_value"] == pytest.approx(0.0477, abs=5e-5)
    assert (diff.loc["1 - 3", "ci_lower"], diff.loc["1 - 3", "ci_upper"]) == pytest.approx((0.00040, 0.07025), abs=5e-6)
    assert (diff.loc["3 - 4", "ci_lower"], diff.loc["3 - 4", "ci_upper"]) == pytest.approx(
        (-0.07566, -0.00582), abs=5e-6
    )
    trt = res.treatment_foms.set_index("treatment")
    assert trt.loc["1", "se"] == pytest.approx(0.02857825, abs=1e-8)  # printed to 8 decimals
    assert trt.loc["1", "df"] == pytest.approx(5.46, abs=0.005)
    assert (trt.loc["1", "ci_lower"], trt.loc["1", "ci_upper"]) == pytest.approx((0.77351390, 0.91681110), abs=5e-8)
    assert (trt.loc["2", "ci_lower"], trt.loc["2", "ci_upper"]) == pytest.approx((0.80942310, 0.89110188), abs=5e-8)
    # random readers, fixed cases: F(4, 12) = 4.10, p = 0.0253; fixed readers: F = chi2 / 4 = 3.40
    assert res.fixed_cases_test.statistic == pytest.approx(4.10, abs=0.005)
    assert res.fixed_cases_test.p_value == pytest.approx(0.0253, abs=5e-5)
    assert res.fixed_readers_test.statistic / 4 == pytest.approx(3.40, abs=0.005)
    fc = res.fixed_cases_differences.set_index("comparison")
    assert fc.loc["4 - 5", "se"] == pytest.approx(0.01520, abs=5e-6)
    assert fc.loc["4 - 5", "p_value"] == pytest.approx(0.0168, abs=5e-5)
    fr = res.fixed_readers_treatment_foms.set_index("treatment")
    assert fr.loc["3", "se"] == pytest.approx(0.02009507, abs=2e-7)  # JAFROC computes in single precision


def test_difference_order_follows_the_user(fed):
    res = or_froc(fed, treatments=["5", "1"])
    row = res.differences.iloc[0]
    assert row.comparison == "5 - 1"
    assert row.estimate == pytest.approx(0.80838750 - 0.84516250, abs=1e-7)
    assert "first minus second treatment in the order 5, 1" in res.summary()
    assert res.to_dict()["differences"].startswith("first minus second")


def test_bootstrap_covariance_is_close_to_the_jackknife(fed):
    jk = or_froc(fed.subset(["1", "2"]))
    bs = or_froc(fed.subset(["1", "2"]), cov="bootstrap", n_boot=400, seed=1)
    assert bs.cov_method.startswith("bootstrap")
    assert bs.components.var_error == pytest.approx(jk.components.var_error, rel=0.25)
    assert bs.foms == pytest.approx(jk.foms)


# -------------------------------------------- RJafroc's stored results: frocCr.xlsx
@pytest.fixture(scope="module")
def froc_cr():
    return read_jafroc(DATA / "rjafroc_frocCr.xlsx")


def test_newer_layout_workbook(froc_cr):
    d = froc_cr
    assert d.treatments == ("0", "1") and d.readers == ("0", "1", "2")
    assert d.cases == ("1", "2", "3", "70", "71", "72", "73", "74")
    assert d.lesions_per_case.tolist() == [2, 1, 3, 2, 1]
    np.testing.assert_allclose(d.weights.sum(axis=1), 1.0)


RJ_JK = {  # jkFomValues[trt, rdr, case] for the cases in order, rows trt, columns rdr
    "wafroc": [
        [[0.8666667, 0.68, 0.5466667], [0.5466667, 0.5466667, 0.63]],
        [[0.8666667, 0.68, 0.5466667], [0.5466667, 0.5466667, 0.63]],
        [[0.8666667, 0.68, 0.5466667], [0.5466667, 0.5466667, 0.63]],
        [[0.8333333, 0.775, 0.6083333], [0.6083333, 0.6083333, 0.625]],
        [[0.8333333, 0.6, 0.4333333], [0.4333333, 0.4333333, 0.5375]],
        [[1.0, 0.6, 0.6], [0.6, 0.6, 0.6625]],
        [[0.8333333, 0.825, 0.6583333], [0.6583333, 0.6583333, 0.6625]],
        [[0.8333333, 0.6, 0.4333333], [0.4333333, 0.4333333, 0.6625]],
    ],
    "wafroc1": [
        [[0.9142857, 0.7942857, 0.7085714], [0.6438095, 0.7085714, 0.4957143]],
        [[0.9142857, 0.7942857, 0.7085714], [0.6438095, 0.7085714, 0.4957143]],
        [[0.9142857, 0.7942857, 0.7085714], [0.6438095, 0.7085714, 0.4957143]],
        [[0.8809524, 0.8392857, 0.7202381], [0.6642857, 0.7202381, 0.4821429]],
        [[0.8809524, 0.7142857, 0.5952381], [0.5142857, 0.5952381, 0.4714286]],
        [[1.0, 0.7142857, 0.7142857], [0.6571429, 0.7142857, 0.5785714]],
        [[0.8809524, 0.875, 0.7559524], [0.7315476, 0.7559524, 0.5303571]],
        [[0.8809524, 0.7142857, 0.5952381], [0.5547619, 0.5952381, 0.5303571]],
    ],
    "maxllf": [  # diseased cases only
        [[0.7142857, 0.8571429, 0.5714286], [0.5714286, 0.5714286, 0.1428571]],
        [[0.75, 0.75, 0.5], [0.5, 0.5, 0.125]],
        [[1.0, 0.6666667, 0.6666667], [0.6666667, 0.6666667, 0.3333333]],
        [[0.7142857, 0.8571429, 0.5714286], [0.5714286, 0.5714286, 0.2857143]],
        [[0.75, 0.75, 0.5], [0.5, 0.5, 0.25]],
    ],
}


@pytest.mark.parametrize("fom", list(RJ_JK))
def test_jackknife_values_match_rjafroc(froc_cr, fom):
    _, loo = jackknife_foms(froc_cr, fom)
    np.testing.assert_allclose(loo.reshape(2, 3, -1).transpose(2, 0, 1), RJ_JK[fom], atol=5e-8)


def test_or_components_match_rjafroc_util_or_var_comp(froc_cr):
    theta, cov = froc_fom_and_covariance(froc_cr, "wafroc")
    mom = or_moments(theta.reshape(2, 3), cov)
    # UtilORVarComp(frocCr, FOM = "wAFROC"): TRanova, VarCom, IndividualTrt, IndividualRdr
    assert (float(mom.ms_t), float(mom.ms_r), float(mom.ms_tr)) == pytest.approx(
        (0.02281666667, 0.00777962963, 0.02037222222), abs=1e-11
    )
    assert float(mom.var_r) == pytest.approx(-0.004865813079, abs=1e-11)
    assert float(mom.var_tr) == pytest.approx(0.005158969907, abs=1e-11)  # uses max(Cov2 - Cov3, 0): Cov2 < Cov3
    assert float(mom.cov1) == pytest.approx(0.016525752315, abs=1e-11)
    assert float(mom.cov2) == pytest.approx(0.014581307870, abs=1e-11)
    assert float(mom.cov3) == pytest.approx(0.021331163194, abs=1e-11)
    assert float(mom.var) == pytest.approx(0.031739004630, abs=1e-11)
    np.testing.assert_allclose(mom.ms_r_i, [0.025837037037, 0.002314814815], atol=1e-11)
    np.testing.assert_allclose(mom.var_i, [0.03391435185, 0.02956365741], atol=1e-11)
    np.testing.assert_allclose(mom.cov2_i, [0.009179398148, 0.019983217593], atol=1e-11)
    np.testing.assert_allclose(mom.var_j, [0.02932465278, 0.04114930556, 0.02474305556], atol=1e-11)
    np.testing.assert_allclose(mom.cov1_j, [0.007777777778, 0.031427083333, 0.010372395833], atol=1e-11)


# ------------------------------------------------------------------ input handling
def test_csv_folder_and_workbook_round_trip(tmp_path, froc_cr):
    write_jafroc(froc_cr, tmp_path / "study.xlsx")
    write_jafroc(froc_cr, tmp_path / "folder")
    for path in (tmp_path / "study.xlsx", tmp_path / "folder"):
        back = read_jafroc(path)
        assert back.cases == froc_cr.cases and back.readers == froc_cr.readers
        np.testing.assert_array_equal(np.sort(back.nl, axis=-1), np.sort(froc_cr.nl, axis=-1))
        np.testing.assert_array_equal(back.ll, froc_cr.ll)
        np.testing.assert_allclose(back.weights, froc_cr.weights)


def test_sheet_names_are_case_insensitive(tmp_path, froc_cr):
    truth, nl, ll = jafroc_tables(froc_cr)
    with pd.ExcelWriter(tmp_path / "x.xlsx") as xw:
        truth.to_excel(xw, sheet_name="Truth", index=False)
        nl.rename(columns={"NL_Rating": "fp_rating"}).to_excel(xw, sheet_name="fp", index=False)
        ll.to_excel(xw, sheet_name="ll", index=False)
    np.testing.assert_array_equal(read_jafroc(tmp_path / "x.xlsx").ll, froc_cr.ll)


def _tables(froc_cr):
    return [t.copy() for t in jafroc_tables(froc_cr)]


def test_lesion_mark_on_a_case_without_that_lesion(froc_cr):
    truth, nl, ll = _tables(froc_cr)
    ll.loc[3, "LesionID"] = 7
    with pytest.raises(BreastlabInputError, match=r"LL, row 5: lesion mark on case '.*', LesionID 7"):
        froc_from_tables(truth, nl, ll)
    truth, nl, ll = _tables(froc_cr)
    ll.loc[0, "CaseID"] = "2"
    with pytest.raises(BreastlabInputError, match=r"row 2: lesion mark on case '2'.*has no lesions"):
        froc_from_tables(truth, nl, ll)


def test_rating_that_is_not_a_number(froc_cr):
    truth, nl, ll = _tables(froc_cr)
    nl["NL_Rating"] = nl["NL_Rating"].astype(object)
    nl.loc[4, "NL_Rating"] = "high"
    with pytest.raises(BreastlabInputError, match=r"NL, row 6: column 'NL_Rating' must be a number, got 'high'"):
        froc_from_tables(truth, nl, ll)


def test_duplicate_lesion_marks(froc_cr):
    truth, nl, ll = _tables(froc_cr)
    ll = pd.concat([ll, ll.iloc[[2]]], ignore_index=True)
    with pytest.raises(BreastlabInputError, match=r"marked case .* twice \(also row 4\)"):
        froc_from_tables(truth, nl, ll)


def test_unknown_reader_and_modality(froc_cr):
    truth, nl, ll = _tables(froc_cr)
    nl.loc[1, "ReaderID"] = "9"
    with pytest.raises(BreastlabInputError, match=r"NL, row 3: unknown ReaderID '9'; readers are \['0', '1', '2'\]"):
        froc_from_tables(truth, nl, ll)
    truth, nl, ll = _tables(froc_cr)
    ll.loc[0, "ModalityID"] = "CT"
    with pytest.raises(BreastlabInputError, match=r"LL, row 2: unknown ModalityID 'CT'"):
        froc_from_tables(truth, nl, ll)


def test_missing_sheet_and_column(tmp_path, froc_cr):
    truth, nl, _ = jafroc_tables(froc_cr)
    with pd.ExcelWriter(tmp_path / "x.xlsx") as xw:
        truth.to_excel(xw, sheet_name="TRUTH", index=False)
        nl.to_excel(xw, sheet_name="NL", index=False)
    with pytest.raises(BreastlabInputError, match=r"x.xlsx: no LL or TP table; found \['NL', 'TRUTH'\]"):
        read_jafroc(tmp_path / "x.xlsx")
    truth, nl, ll = _tables(froc_cr)
    with pytest.raises(BreastlabInputError, match=r"LL lacks column\(s\) \['LL_Rating'\]"):
        froc_from_tables(truth, nl, ll.drop(columns="LL_Rating"))


def test_bad_truth_rows(froc_cr):
    truth, nl, ll = _tables(froc_cr)
    truth.loc[4, "Weight"] = 0.9
    with pytest.raises(BreastlabInputError, match=r"TRUTH, row \d+: the lesion weights of case 70"):
        froc_from_tables(truth, nl, ll)
    truth, nl, ll = _tables(froc_cr)
    truth = pd.concat([truth, truth.iloc[[0]]], ignore_index=True)
    with pytest.raises(BreastlabInputError, match="case 1 lists lesion 0 twice"):
        froc_from_tables(truth, nl, ll)


def test_split_plot_paradigm_is_refused(froc_cr):
    truth, nl, ll = _tables(froc_cr)
    truth.loc[1, "Paradigm"] = "SPLIT-PLOT-A"
    with pytest.raises(BreastlabInputError, match="design 'SPLIT-PLOT-A' is not supported"):
        froc_from_tables(truth, nl, ll)


def test_or_froc_needs_two_treatments(froc_cr):
    with pytest.raises(BreastlabInputError, match="at least 2 treatments"):
        or_froc(froc_cr, treatments=["0"])


# ------------------------------------------------------------------------ CLI
def test_cli_stats_froc(tmp_path, capsys):
    import json

    from breastlab.cli import main

    out = tmp_path / "out"
    rc = main(["stats", "froc", str(DATA / "jafroc_fed_roc.xlsx"), "--treatments", "4,5", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "first minus second treatment in the order 4, 5" in text
    assert "4 - 5: +0.042" in text  # Windows JAFROC: 4 - 5 = 0.04218751
    result = json.loads((out / "froc.json").read_text())
    assert result["fom_label"] == "wAFROC" and result["treatments"] == ["4", "5"]
    diff = pd.read_csv(out / "froc_differences.csv")
    assert diff.comparison.tolist() == ["4 - 5"]
    assert diff.estimate.iloc[0] == pytest.approx(0.04218751, abs=1e-7)
    foms = pd.read_csv(out / "froc_foms.csv")
    assert foms.columns.tolist() == ["treatment", "1", "3", "4", "5"]


def test_cli_stats_froc_bad_input(tmp_path, capsys):
    from breastlab.cli import main

    (tmp_path / "TRUTH.csv").write_text("CaseID,LesionID,Weight\n1,0,0\n2,1,1\n")
    (tmp_path / "NL.csv").write_text("ReaderID,ModalityID,CaseID,NL_Rating\nA,X,1,2\n")
    (tmp_path / "LL.csv").write_text("ReaderID,ModalityID,CaseID,LesionID,LL_Rating\nA,X,2,1,abc\n")
    assert main(["stats", "froc", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "file 'LL.csv', row 2: column 'LL_Rating' must be a number, got 'abc'" in err


def test_simulated_study_has_the_planted_effect():
    d = simulate_froc(2, 5, 150, 150, effects=[0.0, 1.0], seed=2)
    res = or_froc(d, treatments=["T2", "T1"])
    assert res.differences.estimate.iloc[0] > 0.05
    assert res.test.p_value < 0.01


# ----------------------------------------- AI versus readers: RJafroc StCadVsRad
# datasetCadSimuFroc (reader 1 = CAD, 9 radiologists, 120 + 80 cases); RJafroc's stored results
# tests/testthat/goodValues361/SigTestCad/datasetCadSimuFroc_{1T-RRRC,1T-RRFC}_{wAFROC,HrAuc}.rds
@pytest.fixture(scope="module")
def cad():
    return read_jafroc(DATA / "rjafroc_cad_simu_froc")


def test_standalone_ai_matches_rjafroc_1t_rrrc_and_rrfc(cad):
    res = standalone_vs_readers(cad, "1", fom="wAFROC", order=("readers", "AI"))
    assert res.ai_fom == pytest.approx(0.628125, abs=1e-10)
    np.testing.assert_allclose(
        res.reader_foms.fom,
        [
            0.7585416667,
            0.7494791667,
            0.86703125,
            0.8005208333,
            0.7686979167,
            0.786875,
            0.84,
            0.7652083333,
            0.7913541667,
        ],
        atol=1e-10,
    )
    assert res.var_error == pytest.approx(0.002769895608, abs=1e-12)
    assert res.cov2 == pytest.approx(0.002099530638, abs=1e-12)
    rrrc, _, rrfc = (row for _, row in res.analyses.iterrows())
    assert rrrc.estimate == pytest.approx(0.1638425926, abs=1e-10)
    assert rrrc.t == pytest.approx(3.439408288, abs=1e-8)
    assert rrrc.df == pytest.approx(1429.873398, abs=1e-5)
    assert rrrc.p_value == pytest.approx(0.0005997516819, abs=1e-12)
    assert (rrrc.ci_lower, rrrc.ci_upper) == pytest.approx((0.07039697415, 0.25728821103), abs=1e-10)
    assert rrfc.t == pytest.approx(12.57580033, abs=1e-7) and rrfc.df == 8
    assert rrfc.p_value == pytest.approx(1.498819285e-06, abs=1e-14)
    assert (rrfc.ci_lower, rrfc.ci_upper) == pytest.approx((0.1337990418, 0.1938861434), abs=1e-10)


def test_standalone_hrauc_and_sign_convention(cad):
    res = standalone_vs_readers(cad, "1", fom="HrAuc", order=("readers", "AI"))
    rrrc = res.analyses.iloc[0]
    assert res.ai_fom == pytest.approx(0.8169270833, abs=1e-10)
    assert rrrc.t == pytest.approx(0.9928688834, abs=1e-9)
    assert rrrc.df == pytest.approx(877.8863783, abs=1e-6)
    assert rrrc.p_value == pytest.approx(0.3210474343, abs=1e-10)
    assert (rrrc.ci_lower, rrrc.ci_upper) == pytest.approx((-0.03099876877, 0.09447099100), abs=1e-9)
    flipped = standalone_vs_readers(cad, "1", fom="HrAuc")  # default: AI minus readers
    assert flipped.comparison == "1 - readers"
    assert flipped.analyses.estimate.iloc[0] == pytest.approx(-rrrc.estimate)
    assert flipped.analyses.ci_upper.iloc[0] == pytest.approx(-rrrc.ci_lower)
    assert "first minus second: 1 - readers" in flipped.summary()


def test_standalone_bad_arguments(cad, fed):
    with pytest.raises(BreastlabInputError, match="standalone reader 'AI' is not in the study"):
        standalone_vs_readers(cad, "AI")
    with pytest.raises(BreastlabInputError, match="choose the treatment"):
        standalone_vs_readers(fed, "1")


def test_cli_standalone(tmp_path, capsys):
    from breastlab.cli import main

    args = ["stats", "froc", str(DATA / "rjafroc_cad_simu_froc"), "--standalone", "1", "--out", str(tmp_path)]
    assert main([*args, "--order", "readers,AI"]) == 0
    assert "readers - 1 = +0.1638" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "standalone_analyses.csv")
    assert table.t.iloc[0] == pytest.approx(3.439408288, abs=1e-8)


# ---------------------------------------------------------------------- curves
def test_curve_areas_are_the_figures_of_merit_and_froc_ends_at_the_end_point():
    from breastlab.evaluate.froc.curves import curve_area, froc_curves

    d = read_jafroc(DATA / "rjafroc_dataset04")
    for kind in ("wafroc", "afroc"):
        pts = froc_curves(d, kind, pooled=False)
        area = pts.groupby(["treatment", "reader"], sort=False)[["x", "y"]].apply(curve_area).to_numpy()
        np.testing.assert_allclose(area.reshape(5, 4), froc_fom(d, kind), atol=1e-12)
    froc = froc_curves(d, "froc", treatments=["2"], readers=["3"], pooled=False)
    end = froc.iloc[-1]
    assert (end.x, end.y) == pytest.approx((froc_fom(d, "maxnlfallcases")[1, 1], froc_fom(d, "maxllf")[1, 1]))
    assert froc.iloc[0][["x", "y"]].tolist() == [0.0, 0.0]
    assert np.all(np.diff(froc.x) >= 0) and np.all(np.diff(froc.y) >= 0)


def test_cli_plots(tmp_path):
    from breastlab.cli import main

    args = ["stats", "froc", str(DATA / "rjafroc_frocCr.xlsx"), "--out", str(tmp_path), "--plots"]
    assert main(args) == 0
    for kind in ("froc", "afroc", "wafroc"):
        assert (tmp_path / f"{kind}_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pts = pd.read_csv(tmp_path / f"{kind}_curves.csv")
        assert set(pts.reader) == {"0", "1", "2", "pooled"}


# ------------------------------------------- one long table in the reader-study vocabulary
def _marks_table(froc_cr):
    truth, nl, ll = jafroc_tables(froc_cr)
    marks = pd.concat(
        [
            nl.rename(columns={"NL_Rating": "score"}).assign(lesion_id=0),
            ll.rename(columns={"LL_Rating": "score", "LesionID": "lesion_id"}),
        ],
        ignore_index=True,
    ).rename(columns={"ReaderID": "reader", "ModalityID": "condition", "CaseID": "case_id"})
    lesions = truth.rename(columns={"CaseID": "case_id", "LesionID": "lesion_id", "Weight": "weight"})
    return marks, lesions[["case_id", "lesion_id", "weight"]]


def test_long_marks_table_in_the_reader_study_vocabulary(froc_cr, tmp_path, capsys):
    from breastlab.cli import main
    from breastlab.evaluate.froc import froc_from_marks

    marks, lesions = _marks_table(froc_cr)
    study = froc_from_marks(marks, lesions)
    np.testing.assert_array_equal(study.ll, froc_cr.ll)
    np.testing.assert_allclose(froc_fom(study), froc_fom(froc_cr))
    bad = marks.copy()
    bad.loc[30, "lesion_id"] = 5
    with pytest.raises(BreastlabInputError, match=r"marks table \(lesion mark\), row 32: lesion mark on case"):
        froc_from_marks(bad, lesions)
    marks.to_csv(tmp_path / "marks.csv", index=False)
    lesions.to_csv(tmp_path / "lesions.csv", index=False)
    args = ["stats", "froc", str(tmp_path / "marks.csv"), "--treatments", "1,0", "--out", str(tmp_path / "o")]
    assert main([*args, "--lesions", str(tmp_path / "lesions.csv")]) == 0
    assert "first minus second treatment in the order 1, 0" in capsys.readouterr().out
    assert main(args) == 2
    assert "give its cases and lesions with --lesions" in capsys.readouterr().err
