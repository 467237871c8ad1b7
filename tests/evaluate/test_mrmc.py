"""OR-Hillis MRMC analysis: published Van Dyke results, definitions, degenerate input, simulator, CLI.

Published figures: the Van Dyke et al. (1993) data (tests/evaluate/data/vandyke.csv,
see the README there) analysed with empirical AUC in
* MRMCaov (Smith & Hillis) README and JSS manuscript docs/jss/MRMCaov.tex
  (github.com/brian-j-smith/MRMCaov): jackknife and DeLong random-reader analyses,
  fixed readers, fixed cases, binary sensitivity;
* the RJafroc book chapter on OR examples (dataset02 = Van Dyke): the same analyses
  printed with 8 significant digits.
Values are compared to the printed precision.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.mrmc import (
    fom_and_covariance,
    mrmc_arrays,
    mrmc_frame,
    or_hillis,
    or_hillis_arrays,
)
from breastlab.evaluate.mrmc import simulate as sim

DATA = Path(__file__).parent / "data" / "vandyke.csv"


def close(actual, published, digits_rel=1e-6):
    """Agreement to the printed precision (7-8 significant digits)."""
    np.testing.assert_allclose(actual, published, rtol=digits_rel, atol=1e-9)


@pytest.fixture(scope="module")
def vandyke() -> pd.DataFrame:
    return pd.read_csv(DATA, comment="#")


@pytest.fixture(scope="module")
def vd_jack(vandyke):
    return or_hillis(vandyke, cov="jackknife")


@pytest.fixture(scope="module")
def vd_delong(vandyke):
    return or_hillis(vandyke, cov="delong")


# ----------------------------------------------------------------------------- published Van Dyke results
def test_vandyke_reader_aucs(vd_jack, vandyke):
    # RJafroc StSignificanceTesting(dataset02, FOM = "Wilcoxon")$FOMs$foms
    published = [
        [0.91964573, 0.85877617, 0.90386473, 0.97310789, 0.82979066],
        [0.94782609, 0.90531401, 0.92173913, 0.99935588, 0.92995169],
    ]
    close(vd_jack.foms, published, 1e-7)
    for (i, trt), (j, rdr) in itertools.product(enumerate(vd_jack.treatments), enumerate(vd_jack.readers)):
        g = vandyke[(vandyke.treatment.astype(str) == trt) & (vandyke.reader.astype(str) == rdr)]
        assert vd_jack.foms[i, j] == pytest.approx(roc_auc_score(g.truth, g.rating), abs=1e-14)


def test_vandyke_jackknife_random_readers(vd_jack):
    c = vd_jack.components
    t = vd_jack.test
    print(f"\nVan Dyke jackknife: F={t.statistic:.6f} ddf={t.df2:.5f} p={t.p_value:.8f}")
    close(
        [c.var_r, c.var_tr, c.var_error, c.cov1, c.cov2, c.cov3],
        [0.0015349993, 0.0002004025, 0.0008022883, 0.0003466137, 0.0003440748, 0.0002390284],
    )
    close([c.rho1, c.rho2, c.rho3], [0.4320314, 0.4288668, 0.2979333])
    close([c.ms_t, c.ms_r, c.ms_tr], [0.0047961705, 0.0038362, 0.00055103062])
    t = vd_jack.test
    close([t.statistic, t.df2, t.p_value, t.denominator], [4.456319, 15.25967, 0.05166569, 0.001076263])
    d = vd_jack.differences.iloc[0]
    assert d.comparison == "1 - 2"
    close(
        [d.estimate, d.se, d.t, d.ci_lower, d.ci_upper],
        [-0.043800322, 0.020748618, -2.1109995, -0.087959499, 0.00035885444],
    )
    trt = vd_jack.treatment_foms
    close(trt.estimate, [0.89703704, 0.94083736])
    close(trt.se, [0.033173597, 0.021566368])
    close(trt.df, [12.744648, 12.710190])
    close(trt.ci_lower, [0.82522360, 0.89413783])
    close(trt.ci_upper, [0.96885048, 0.98753689])
    close(trt.cov2, [0.00048396180, 0.00020418785])
    close(trt.ms_r, [0.0030826287, 0.0013046019])


def test_vandyke_delong_random_readers(vd_delong):
    c = vd_delong.components
    close(
        [c.var_r, c.var_tr, c.var_error, c.cov1, c.cov2, c.cov3],
        [0.0015364254, 0.0002045840, 0.0007921325, 0.0003420090, 0.0003395265, 0.0002358497],
    )
    t = vd_delong.test
    close([t.statistic, t.df2, t.p_value, t.denominator], [4.484854, 15.06611, 0.05123303, 0.001069415])
    d = vd_delong.differences.iloc[0]
    close([d.se, d.t, d.ci_lower, d.ci_upper], [0.0206825, -2.117747, -0.0878671960, 0.0002665519])
    trt = vd_delong.treatment_foms
    close(trt.se, [0.03307642, 0.02150464])
    close(trt.df, [12.59597, 12.56530])
    close(trt.ci_lower, [0.8253461, 0.8942155])
    close(trt.ci_upper, [0.9687280, 0.9874592])
    close(trt.cov2, [0.0004775239, 0.0002015292])


def test_vandyke_fixed_readers(vd_jack):
    t = vd_jack.fixed_readers_test
    close([t.statistic, t.p_value, t.denominator], [5.4759532, 0.019279843, 0.00087586039])
    d = vd_jack.fixed_readers_differences.iloc[0]
    close([d.se, d.z, d.ci_lower, d.ci_upper], [0.018717483, -2.3400755, -0.080485914, -0.0071147303])
    trt = vd_jack.fixed_readers_treatment_foms
    close(trt.se, [0.024289710, 0.016776324])
    close(trt.ci_lower, [0.84943008, 0.90795637])
    close(trt.ci_upper, [0.94464399, 0.97371835])
    rd = vd_jack.reader_differences
    close(rd.estimate, [-0.028180354, -0.046537842, -0.017874396, -0.026247987, -0.100161031])
    close(rd.se, [0.025512133, 0.026301827, 0.031209647, 0.017291289, 0.044057460])
    close(rd.p_value, [0.269338854, 0.076831017, 0.566834139, 0.129017153, 0.023000993])
    close(rd.ci_lower, [-0.078183215, -0.098088476, -0.079044180, -0.060138290, -0.186512066])
    close(rd.ci_upper, [0.0218225068, 0.0050127916, 0.0432953879, 0.0076423157, -0.0138099949])
    # MRMCaov "Single reader 95% CIs" (upper limits clipped at 1)
    rf = vd_jack.reader_foms.set_index(["treatment", "reader"])
    close(rf.loc[("1", "4"), ["se", "ci_lower", "ci_upper"]].to_numpy(float), [0.0173388332, 0.9391244, 1.0])
    close(rf.loc[("2", "5"), ["se", "ci_lower", "ci_upper"]].to_numpy(float), [0.0262023046, 0.8785961, 0.9813073])


def test_vandyke_fixed_cases(vd_jack):
    t = vd_jack.fixed_cases_test
    close([t.statistic, t.df2, t.p_value], [8.704, 4, 0.041958752])
    d = vd_jack.fixed_cases_differences.iloc[0]
    close([d.se, d.ci_lower, d.ci_upper], [0.014846287, -0.085020224, -0.0025804202])
    trt = vd_jack.fixed_cases_treatment_foms
    close(trt.se, [0.024829936, 0.016153030])
    close(trt.ci_lower, [0.82809808, 0.89598936])
    close(trt.ci_upper, [0.96597599, 0.98568536])


def test_vandyke_binary_sensitivity(vandyke):
    # MRMCaov: binary_sens(truth, rating >= 3), jackknife
    res = or_hillis(vandyke, fom="sensitivity", threshold=3)
    close(res.foms, [[0.889, 0.778, 0.822, 0.933, 0.689], [0.978, 0.822, 0.911, 1.0, 0.889]], 1e-3)
    c = res.components
    close(
        [c.var_error, c.cov1, c.cov2, c.cov3, c.var_r, c.var_tr],
        [0.0023681257, 0.0009943883, 0.0010145903, 0.0006604938, 0.0049747475, 0.0007828283],
    )
    close([res.test.statistic, res.test.df2, res.test.p_value], [6.689493, 15.71732, 0.02008822])
    d = res.differences.iloc[0]
    close([d.estimate, d.se, d.ci_lower, d.ci_upper], [-0.09777778, 0.03780451, -0.1780371, -0.0175185])
    trt = res.treatment_foms
    close(trt.df, [14.456811, 7.575855])
    close(trt.ci_lower, [0.6961876, 0.8328691])
    close(trt.ci_upper, [0.9482568, 1.0])  # 1.0: clipped at 1, as published


def test_specificity_is_sensitivity_of_the_mirror_image(vandyke):
    spec = or_hillis(vandyke, fom="specificity", threshold=3)
    mirrored = vandyke.assign(truth=1 - vandyke.truth, rating=-vandyke.rating)
    sens = or_hillis(mirrored, fom="sensitivity", threshold=-2.5)  # rating >= -2.5 <=> original rating < 3
    np.testing.assert_allclose(spec.foms, sens.foms)
    np.testing.assert_allclose(spec.covariance, sens.covariance)
    spec_direct = 1 - np.array(
        [
            [np.mean(g.rating[g.truth == 0] >= 3) for _, g in gt.groupby("reader")]
            for _, gt in vandyke.groupby("treatment")
        ]
    )
    np.testing.assert_allclose(spec.foms, spec_direct)


# ----------------------------------------------------------------------------- definitions on random data
def _random_study(seed=0, t=2, r=3, m=13, n=17, ties=True):
    rng = np.random.default_rng(seed)
    truth = np.r_[np.zeros(n, bool), np.ones(m, bool)]
    x = rng.normal(size=(t, r, m + n)) + truth * rng.uniform(0.5, 1.5, size=(t, r, 1))
    return (np.round(x * 2) / 2 if ties else x), truth


def _brute_delong_cov(a: np.ndarray, b: np.ndarray, truth: np.ndarray) -> float:
    """O(m n) DeLong covariance of two score columns, straight from the definition."""

    def psi(s):
        d = s[truth][:, None] - s[~truth][None, :]
        return (d > 0) + 0.5 * (d == 0)

    pa, pb = psi(a), psi(b)
    m, n = pa.shape
    v10a, v10b, v01a, v01b = pa.mean(1), pb.mean(1), pa.mean(0), pb.mean(0)
    s10 = np.sum((v10a - v10a.mean()) * (v10b - v10b.mean())) / (m - 1)
    s01 = np.sum((v01a - v01a.mean()) * (v01b - v01b.mean())) / (n - 1)
    return s10 / m + s01 / n


def test_delong_covariance_equals_brute_force_structural_components():
    x, truth = _random_study(1)
    theta, cov = fom_and_covariance(x.reshape(6, -1), truth, cov="delong")
    cols = x.reshape(6, -1)
    for a, b in itertools.product(range(6), repeat=2):
        assert cov[a, b] == pytest.approx(_brute_delong_cov(cols[a], cols[b], truth), rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(theta, [roc_auc_score(truth, c) for c in cols], rtol=1e-14)


def test_delong_covariance_equals_stats_paired_delong_test():
    stats = pytest.importorskip("breastlab.evaluate.stats.delong")
    x, truth = _random_study(2)
    cols = x.reshape(6, -1)
    _, cov = fom_and_covariance(cols, truth, cov="delong")
    y = truth.astype(int)
    var = [stats.var_auc(y, c) for c in cols]
    for a, b in itertools.combinations(range(6), 2):
        res = stats.delong_test(y, cols[a], cols[b])
        cov_ab = (var[a] + var[b] - res.se**2) / 2  # se^2 = V_a + V_b - 2 C_ab
        assert cov[a, b] == pytest.approx(cov_ab, rel=1e-9, abs=1e-14)
        assert cov[a, a] == pytest.approx(var[a], rel=1e-12)


def test_jackknife_covariance_equals_leave_one_out_loop():
    x, truth = _random_study(3)
    cols = x.reshape(6, -1)
    _, cov = fom_and_covariance(cols, truth, cov="jackknife")
    n_cases = cols.shape[1]
    loo = np.array([[roc_auc_score(np.delete(truth, k), np.delete(c, k)) for k in range(n_cases)] for c in cols])
    d = loo - loo.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(cov, (n_cases - 1) / n_cases * d @ d.T, rtol=1e-10, atol=1e-15)


def test_jackknife_sensitivity_is_the_binomial_variance():
    x, truth = _random_study(4, ties=False)
    theta, cov = fom_and_covariance(x.reshape(6, -1), truth, fom="sensitivity", cov="jackknife", threshold=0.3)
    m = truth.sum()
    np.testing.assert_allclose(np.diag(cov), theta * (1 - theta) / (m - 1))


def test_or_moments_against_anova_definitions():
    """MS from a two-way ANOVA on the FOM table; Cov1-3 by explicit loops over the covariance matrix."""
    x, truth = _random_study(5, t=3, r=4)
    res = or_hillis_arrays(sim.as_study(x, truth), cov="jackknife")
    f = pd.DataFrame([(i, j, res.foms[i, j]) for i in range(3) for j in range(4)], columns=["t", "r", "y"])
    grand = f.y.mean()
    ms_t = 4 * ((f.groupby("t").y.mean() - grand) ** 2).sum() / 2
    ms_r = 3 * ((f.groupby("r").y.mean() - grand) ** 2).sum() / 3
    resid = f.y - f.groupby("t").y.transform("mean") - f.groupby("r").y.transform("mean") + grand
    ms_tr = (resid**2).sum() / 6
    c = res.components
    assert [c.ms_t, c.ms_r, c.ms_tr] == pytest.approx([ms_t, ms_r, ms_tr], rel=1e-12)
    classes = {"var": [], "cov1": [], "cov2": [], "cov3": []}
    for (i, j), (k, l) in itertools.product(itertools.product(range(3), range(4)), repeat=2):
        key = {(True, True): "var", (False, True): "cov1", (True, False): "cov2", (False, False): "cov3"}[
            (i == k, j == l)
        ]
        classes[key].append(res.covariance[i * 4 + j, k * 4 + l])
    assert [c.var_error, c.cov1, c.cov2, c.cov3] == pytest.approx([np.mean(v) for v in classes.values()], rel=1e-12)
    # Hillis F and ddf from the components
    den = ms_tr + 4 * max(c.cov2 - c.cov3, 0)
    assert res.test.statistic == pytest.approx(ms_t / den, rel=1e-12)
    assert res.test.df2 == pytest.approx(den**2 / (ms_tr**2 / 6), rel=1e-12)
    assert len(res.differences) == 3 and list(res.differences.comparison) == ["1 - 2", "1 - 3", "2 - 3"]


def test_treatment_order_flips_the_difference(vandyke):
    a = or_hillis(vandyke, treatments=[2, 1])
    b = or_hillis(vandyke)
    assert a.differences.estimate.iloc[0] == pytest.approx(-b.differences.estimate.iloc[0])
    assert a.test.p_value == pytest.approx(b.test.p_value)
    assert a.differences.comparison.iloc[0] == "2 - 1"


def test_frame_round_trip():
    x, truth = _random_study(6)
    frame = mrmc_frame(x, truth, treatments=["unaided", "aided"])
    back = mrmc_arrays(frame.sample(frac=1.0, random_state=0), treatments=["unaided", "aided"])
    np.testing.assert_array_equal(back.ratings, x)
    np.testing.assert_array_equal(back.truth, truth)


# ----------------------------------------------------------------------------- degenerate input and errors
def test_one_reader_gives_fixed_reader_answer_only(vandyke):
    res = or_hillis(vandyke[vandyke.reader == 1], cov="jackknife")
    assert res.test is None and res.fixed_cases_test is None
    assert any("one reader" in n for n in res.notes)
    # reader 1 alone: the fixed-reader difference is that reader's own difference (RJafroc rdr0)
    d = res.fixed_readers_differences.iloc[0]
    close([d.estimate, d.se], [-0.028180354, 0.025512133])
    assert "one reader" in res.summary()


def test_constant_ratings_give_auc_half_with_zero_variance(vandyke):
    df = vandyke.copy()
    df.loc[(df.reader == 2) & (df.treatment == 1), "rating"] = 3
    res = or_hillis(df, cov="delong")
    assert res.foms[0, 1] == 0.5
    assert res.covariance[1, 1] == 0.0 and not np.any(res.covariance[1])
    assert any("same rating" in n for n in res.notes)
    assert np.isfinite(res.test.p_value)


def test_all_readers_perfect_in_one_treatment(vandyke):
    df = vandyke.copy()
    trt2 = df.treatment == 2
    df.loc[trt2, "rating"] = df.loc[trt2, "truth"] * 4 + 1
    res = or_hillis(df, cov="jackknife")
    row = res.treatment_foms.iloc[1]
    assert row.estimate == 1.0 and row.se == 0.0 and row.ci_lower == 1.0 and row.ci_upper == 1.0
    assert np.isnan(row.df)
    assert any("perfect" in n for n in res.notes)
    assert np.isfinite(res.test.statistic)  # the comparison itself is still defined


def test_no_variability_at_all_gives_undefined_f():
    truth = np.r_[np.zeros(5, bool), np.ones(5, bool)]
    x = np.broadcast_to(truth * 1.0, (2, 3, 10)).copy()
    res = or_hillis_arrays(sim.as_study(x, truth))
    assert np.isnan(res.test.statistic) and np.isnan(res.test.p_value)
    assert any("undefined" in n for n in res.notes)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.drop(index=d.index[5]), r"reading\(s\) missing: reader"),
        (lambda d: pd.concat([d, d.iloc[[0]]]), "times"),
        (lambda d: d.assign(truth=d.truth * 2), "0/1"),
        (lambda d: d.assign(truth=0), "both diseased and non-diseased"),
        (lambda d: d.assign(rating=np.where(d.index == 3, np.nan, d.rating)), "finite"),
        (lambda d: d[d.treatment == 1], "at least 2 treatments"),
        (lambda d: d.drop(columns="rating"), "lacks column"),
        (lambda d: d.assign(truth=np.where(d.index == 0, 1 - d.truth, d.truth)), "different"),
    ],
)
def test_bad_input_is_named(vandyke, mutate, match):
    with pytest.raises(BreastlabInputError, match=match):
        or_hillis(mutate(vandyke.reset_index(drop=True)))


def test_option_errors(vandyke):
    with pytest.raises(BreastlabInputError, match="AUC only"):
        or_hillis(vandyke, fom="sensitivity", threshold=3, cov="delong")
    with pytest.raises(BreastlabInputError, match="threshold"):
        or_hillis(vandyke, fom="specificity")
    with pytest.raises(BreastlabInputError, match="fom must be"):
        or_hillis(vandyke, fom="expected_utility")


# ----------------------------------------------------------------------------- simulator
def test_roe_metz_mean_auc_matches_population_value():
    params = sim.ROE_METZ_1997["LH_0.856"].with_delta(1.5, 1.0)
    x, truth = sim.roe_metz(4, 60, 60, params, n_studies=300, seed=1)
    aucs = fom_and_covariance(x.reshape(300, 8, -1), truth, cov="delong")[0].reshape(300, 2, 4)
    expected = sim.true_auc(params)
    print(f"\nRoe-Metz mean AUCs {aucs.mean(axis=(0, 2))} vs population {expected}")
    np.testing.assert_allclose(aucs.mean(axis=(0, 2)), expected, atol=0.006)


def test_roe_metz_binormal_slope_b():
    params = sim.RoeMetzParams((1.0, 1.0), 0.0, 0.0, 0.25, 0.25, 0.25, 0.25, b=0.5)
    x, truth = sim.roe_metz(1, 20000, 20000, params, seed=2)
    sd0, sd1 = x[0, 0, ~truth].std(), x[0, 0, truth].std()
    assert sd0 / sd1 == pytest.approx(0.5, rel=0.03)


def test_batch_analysis_equals_single_study_analysis():
    x, truth = sim.roe_metz(4, 15, 20, "HL", n_studies=3, seed=3)
    batch = sim.or_hillis_batch(x, truth, cov="jackknife")
    for s in range(3):
        one = or_hillis_arrays(sim.as_study(x[s], truth), cov="jackknife")
        assert batch["p_value"][s] == pytest.approx(one.test.p_value, rel=1e-12)
        assert batch["diff_lower"][s, 0] == pytest.approx(one.differences.ci_lower.iloc[0], rel=1e-12)


def test_simulated_size_is_plausible_small_run():
    # a quick smoke check; the >= 2,000-study validation is benchmarks/validate_mrmc_null.py
    res = sim.simulate_rejection(5, 25, 25, "HL", n_studies=300, seed=4)
    print(f"\nRoe-Metz HL null, 300 studies: rejection {res.rejection_rate:.3f}, coverage {res.coverage:.3f}")
    assert 0.0 <= res.rejection_rate <= 0.12
    assert res.coverage >= 0.88
    assert res.true_difference == 0.0


# ----------------------------------------------------------------------------- output and CLI
def test_summary_and_json(vd_jack):
    text = vd_jack.summary()
    assert "F(1, 15.26) = 4.46, p = 0.052" in text
    assert "0.897 (0.825–0.969) [95% CI; SE" in text
    payload = json.loads(json.dumps(vd_jack.to_dict()))
    assert payload["random_readers_random_cases"]["test"]["df2"] == pytest.approx(15.25967, rel=1e-6)
    assert payload["fixed_readers_random_cases"]["test"]["df2"] is None  # chi-square: infinite df -> null


def test_cli_stats_mrmc(tmp_path, capsys):
    from breastlab.cli import main

    out = tmp_path / "mrmc.json"
    assert (
        main(
            [
                "stats",
                "mrmc",
                str(DATA),
                "--cov",
                "jackknife",
                "--json",
                str(out),
                "--csv",
                str(tmp_path / "readers.csv"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "F(1, 15.26) = 4.46" in printed and "Per-reader AUC" in printed
    payload = json.loads(out.read_text())
    assert payload["random_readers_random_cases"]["test"]["p_value"] == pytest.approx(0.05166569, rel=1e-6)
    assert len(payload["rows"]) == 5
    assert (tmp_path / "readers.csv").exists()
    assert main(["stats", "mrmc", str(tmp_path / "missing.csv")]) == 2


def test_or_hillis_table_per_group_and_overall(vandyke):
    from breastlab.evaluate.mrmc import or_hillis_table

    df = vandyke.rename(columns={"treatment": "condition", "case": "case_id", "rating": "score"})
    df["reader_group"] = np.where(df.reader <= 2, "junior", "senior")
    df.loc[df.reader == 1, "reader_group"] = "solo"
    df["condition"] = df.condition.map({1: "cine", 2: "spin-echo"})
    table = or_hillis_table(df, treatments=("spin-echo", "cine"), cov="jackknife").set_index("readers")
    assert list(table.index) == ["solo", "junior", "senior", "all readers"]
    overall = table.loc["all readers"]
    close(
        [overall.difference, overall.F, overall.df2, overall.p_value, overall.diff_lower, overall.diff_upper],
        [0.043800322, 4.456319, 15.25967, 0.05166569, -0.00035885444, 0.087959499],
    )
    close([overall.auc_first, overall.auc_second, overall.p_fixed_readers], [0.94083736, 0.89703704, 0.019279843])
    assert overall.diff_ci == "0.044 (0.000–0.088)"  # the lower bound -0.00036 rounds to 0.000, not -0.000
    senior = or_hillis(vandyke[vandyke.reader >= 3], treatments=[2, 1], cov="jackknife")
    assert table.loc["senior", "p_value"] == pytest.approx(senior.test.p_value, rel=1e-12)
    # one reader: only the fixed-reader p (RJafroc rdr1 of Van Dyke, sign flipped)
    assert table.loc["junior", "n_readers"] == 1  # reader 2 only, since reader 1 is "solo"
    solo = table.loc["solo"]
    assert solo.n_readers == 1 and np.isnan(solo.F) and "one reader" in solo.note
    close(solo.p_fixed_readers, 0.269338854)
    # a subset that is neither crossed nor split-plot gets a note, the rest of the table survives
    broken = or_hillis_table(
        df.drop(index=df.index[(df.reader == 4) & (df.case_id == 7)]), treatments=("spin-echo", "cine")
    )
    assert "none of fully crossed, split-plot" in broken.set_index("readers").loc["senior", "note"]
    assert np.isfinite(broken.set_index("readers").loc["junior", "p_fixed_readers"])


def test_reader_study_report_carries_the_mrmc_table():
    rs = pytest.importorskip("breastlab.evaluate.stats.reader_study")
    sim_rs = pytest.importorskip("breastlab.evaluate.stats.simulate")
    from breastlab.evaluate.mrmc import or_hillis_table

    df = sim_rs.simulate_reader_study(n_cases=40, readers_per_group=2, seed=1)
    result = rs.reader_study(df)
    assert result.mrmc is not None and "mrmc" in result.tables()
    expected = or_hillis_table(df, treatments=result.conditions[:2])
    pd.testing.assert_frame_equal(result.mrmc.reset_index(drop=True), expected.reset_index(drop=True))
    assert "MRMC" in result.format()
