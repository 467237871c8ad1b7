"""Split-plot designs (Hillis 2014) and cases nested within readers (MRMCaov design 2) in or_hillis.

Independent checks: per-reader AUCs from scikit-learn, mean squares by hand, MRMCaov's rule for
cases nested within readers (Cov2 = Cov3 = 0, so the Hillis test is F = MS(T)/MS(T x R) on
(t-1)(r-1) df; github.com/brian-j-smith/MRMCaov, R/utils.R vcov_comps), each reader group's
covariance equal to the crossed analysis of that group alone, and Roe-Metz size and power.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.mrmc import mrmc_arrays, or_hillis
from breastlab.evaluate.mrmc.simulate import split_plot_rejection

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def vd():
    return pd.read_csv(DATA / "vandyke.csv", comment="#")


def _split(vd, groups: dict[int, list[int]]) -> pd.DataFrame:
    """Keep, for each reader, only the cases of its group: case k goes to group k mod (number of groups)."""
    n_groups = len(set(groups.values()))
    return vd[(vd.case % n_groups) == vd.reader.map(groups)]


def test_design_detection(vd):
    assert mrmc_arrays(vd).design == "fully crossed"
    sp = mrmc_arrays(_split(vd, {1: 0, 2: 0, 3: 1, 4: 1, 5: 1}))
    assert sp.design.startswith("split-plot (2 reader groups")
    assert sp.reader_groups.tolist() == [0, 0, 1, 1, 1]
    nested = mrmc_arrays(_split(vd, {r: r - 1 for r in range(1, 6)}))
    assert nested.design == "cases nested within readers"


def test_cases_nested_within_readers_follow_mrmcaov(vd):
    df = _split(vd, {r: r - 1 for r in range(1, 6)})
    res = or_hillis(df, cov="delong")
    c = res.components
    assert c.cov2 == 0 and c.cov3 == 0
    auc = np.array(
        [[roc_auc_score(g.truth, g.rating) for _, g in df[df.treatment == trt].groupby("reader")] for trt in (1, 2)]
    )
    np.testing.assert_allclose(res.foms, auc, atol=1e-12)
    t, r = auc.shape
    ms_t = r * ((auc.mean(1) - auc.mean()) ** 2).sum() / (t - 1)
    resid = auc - auc.mean(1, keepdims=True) - auc.mean(0, keepdims=True) + auc.mean()
    ms_tr = (resid**2).sum() / ((t - 1) * (r - 1))
    assert res.test.statistic == pytest.approx(ms_t / ms_tr, rel=1e-10)
    assert res.test.df2 == pytest.approx((t - 1) * (r - 1))
    assert res.fixed_readers_test.denominator == pytest.approx(c.var_error - c.cov1, rel=1e-10)
    assert "cases nested within readers" in res.summary()


def test_split_plot_groups_are_independent_blocks(vd):
    groups = {1: 0, 2: 0, 3: 1, 4: 1, 5: 1}
    df = _split(vd, groups)
    res = or_hillis(df, cov="jackknife")
    cov = res.covariance.reshape(2, 5, 2, 5)
    assert np.all(cov[:, :2][:, :, :, 2:] == 0) and np.all(cov[:, 2:][:, :, :, :2] == 0)
    for readers in ([1, 2], [3, 4, 5]):
        alone = or_hillis(df[df.reader.isin(readers)], cov="jackknife")
        idx = [r - 1 for r in readers]
        np.testing.assert_allclose(cov[:, idx][:, :, :, idx].reshape(alone.covariance.shape), alone.covariance)
        np.testing.assert_allclose(res.foms[:, idx], alone.foms)
    # Cov2 / Cov3 average the 2 + 6 same-group reader pairs only (pair share 8/20)
    pairs = [(a, b) for a in range(5) for b in range(5) if a != b and groups[a + 1] == groups[b + 1]]
    assert res.components.cov2 == pytest.approx(np.mean([cov[i, a, i, b] for i in range(2) for a, b in pairs]))
    assert res.components.cov3 == pytest.approx(np.mean([cov[i, a, 1 - i, b] for i in range(2) for a, b in pairs]))


def test_unsupported_design_names_missing_cells(vd):
    df = _split(vd, {1: 0, 2: 0, 3: 1, 4: 1, 5: 1})
    extra = vd[(vd.reader == 3) & (vd.case == 2)]  # reader 3 also reads one case of the other group
    with pytest.raises(
        BreastlabInputError,
        match=r"none of fully crossed.*share case 1 .*missing.*: reader 4 x case 2 \(1\), reader 5 x case 2",
    ):
        mrmc_arrays(pd.concat([df, extra]))
    one_trt = df.drop(index=df.index[(df.reader == 4) & (df.case == 3) & (df.treatment == 2)])
    with pytest.raises(BreastlabInputError, match=r"1 reading\(s\) missing: reader 4 x case 3 \(2\)"):
        mrmc_arrays(one_trt)


def test_group_without_both_truth_states(vd):
    df = vd[((vd.reader <= 2) & (vd.case <= 40)) | ((vd.reader > 2) & (vd.case > 40))]
    with pytest.raises(BreastlabInputError, match=r"readers \['1', '2'\] read only non-diseased cases"):
        mrmc_arrays(df)


@pytest.mark.parametrize(("groups", "per_group"), [(2, 3), (5, 1)])
def test_roe_metz_size_and_power(groups, per_group):
    null = split_plot_rejection(groups, per_group, 25, 25, "HL", n_studies=1000, seed=7)
    assert 0.03 <= null.rejection_rate <= 0.075
    assert 0.925 <= null.coverage <= 0.97
    from breastlab.evaluate.mrmc.simulate import ROE_METZ_1997

    alt = split_plot_rejection(
        groups, per_group, 25, 25, ROE_METZ_1997["HL"].with_delta(0.75, 1.2), n_studies=1000, seed=8
    )
    assert alt.rejection_rate > 3 * null.rejection_rate


# ------------------------------------------------------------- partial AUC as an MRMC figure of merit
def test_partial_auc_over_the_full_range_is_the_auc_analysis(vd):
    full = or_hillis(vd, fom="auc", cov="jackknife")
    part = or_hillis(vd, fom="pauc", partial=(0.0, 1.0), cov="jackknife")
    np.testing.assert_allclose(part.foms, full.foms, atol=1e-12)
    np.testing.assert_allclose(part.covariance, full.covariance, atol=1e-14)  # recomputed vs closed-form jackknife
    assert part.test.statistic == pytest.approx(full.test.statistic, rel=1e-9)
    assert "partial area" in part.summary() and part.fom_label == "partial AUC"


def test_partial_auc_needs_bounds_and_the_jackknife(vd):
    with pytest.raises(BreastlabInputError, match="needs partial="):
        or_hillis(vd, fom="pauc")
    with pytest.raises(BreastlabInputError, match="use cov='jackknife'"):
        or_hillis(vd, fom="pauc", partial=(0.8, 1), cov="delong")


def test_partial_auc_jackknife_needs_three_cases_of_each_class(vd):
    """Each left-out sample keeps an ROC curve of at least two cases of each class."""
    diseased = sorted(vd.loc[vd["truth"] == 1, "case"].unique())
    few = vd[(vd["truth"] == 0) | vd["case"].isin(diseased[:2])]
    with pytest.raises(BreastlabInputError, match="at least 3 diseased and 3 non-diseased cases; got 2 and"):
        or_hillis(few, fom="pauc", partial=(0.8, 1), cov="jackknife")
    three = vd[(vd["truth"] == 0) | vd["case"].isin(diseased[:3])]
    assert np.isfinite(or_hillis(three, fom="pauc", partial=(0.8, 1), cov="jackknife").foms).all()


@pytest.mark.needs_r
def test_partial_auc_per_reader_matches_proc(vd, tmp_path):
    import shutil
    import subprocess

    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not installed")
    vd.to_csv(tmp_path / "vd.csv", index=False)
    script = (
        "suppressMessages(library(pROC)); d <- read.csv(commandArgs(TRUE)[1]); "
        "for (t in 1:2) for (r in 1:5) { s <- d[d$treatment == t & d$reader == r, ]; "
        "cat(sprintf('%.15g', as.numeric(auc(roc(s$truth, s$rating, direction = '<', levels = c(0, 1), "
        "quiet = TRUE), partial.auc = c(1, 0.8), partial.auc.focus = 'specificity'))), '\\n') }"
    )
    out = subprocess.run(
        ["Rscript", "-e", script, str(tmp_path / "vd.csv")], capture_output=True, text=True, check=True
    )
    proc = np.array(out.stdout.split(), dtype=float).reshape(2, 5)
    res = or_hillis(vd, fom="pauc", partial=(0.8, 1.0))
    np.testing.assert_allclose(res.foms, proc, atol=1e-12)
