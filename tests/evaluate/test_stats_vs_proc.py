"""breastlab.evaluate.stats against R's pROC (Robin et al. 2011), the reference radiology papers cite.

One Rscript call for the whole module (R starts slowly): Python writes the data
sets as CSV, tests/evaluate/proc_reference.R computes pROC's figures, and every
test compares one figure on every data set. Required agreement: exact for the
AUC, the ROC thresholds and coordinates and the Youden thresholds; 1e-8 for
DeLong variances, CIs, z/D statistics and p-values.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breastlab.evaluate.stats import (
    auc,
    ci_auc,
    coords_best,
    delong_test,
    roc_curve,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
    var_auc,
    youden,
)

pytestmark = [pytest.mark.needs_r, pytest.mark.filterwarnings("ignore::breastlab.evaluate.stats.DegenerateCIWarning")]

R_SCRIPT = Path(__file__).with_name("proc_reference.R")
TOL = 1e-8


def _labels(m: int, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.r_[np.ones(m, int), np.zeros(n, int)])


def _datasets() -> dict[str, dict]:
    """Data sets with ties, of several sizes, plus degenerate ones; seeded."""
    rng = np.random.default_rng(20240605)
    sets: dict[str, dict] = {}

    def add(name, y, s1, s2, direction="<", partner="", paired_test=1):
        sets[name] = dict(
            y=np.asarray(y),
            s1=np.asarray(s1, float),
            s2=np.asarray(s2, float),
            direction=direction,
            partner=partner,
            paired_test=paired_test,
        )

    y = _labels(5, 6, rng)  # BI-RADS-like categories, heavy ties
    add(
        "tiny_birads",
        y,
        np.clip(np.round(2.5 + 1.3 * y + rng.normal(0, 1, y.size)), 1, 5),
        rng.integers(1, 6, y.size),
        partner="small_ties",
    )
    y = _labels(20, 30, rng)
    add(
        "small_ties",
        y,
        np.round(y + rng.normal(0, 1, y.size), 1),
        np.round(0.5 * y + rng.normal(0, 1, y.size), 1),
        partner="medium_int",
    )
    y = _labels(25, 25, rng)  # balanced: sensitivity + specificity ties are common
    add(
        "balanced_ties",
        y,
        np.round(y + rng.normal(0, 1.2, y.size)),
        np.round(y + rng.normal(0, 1.5, y.size)),
        partner="tiny_birads",
    )
    y = _labels(150, 250, rng)
    latent = y * 1.1 + rng.normal(0, 1, y.size)
    add(
        "medium_int",
        y,
        np.clip(np.round(3 * latent + 5), 1, 10),
        np.clip(np.round(3 * (latent + rng.normal(0, 0.8, y.size)) + 5), 1, 10),
        partner="large_cont",
    )
    y = _labels(1500, 2500, rng)
    latent = y * 0.9 + rng.normal(0, 1, y.size)
    add("large_cont", y, latent, latent + rng.normal(0, 0.7, y.size), partner="small_ties")
    y = _labels(40, 60, rng)  # lower scores mean positive
    add(
        "reverse_dir",
        y,
        np.round(-y + rng.normal(0, 1, y.size), 1),
        np.round(-0.7 * y + rng.normal(0, 1, y.size), 1),
        direction=">",
        partner="",
    )
    y = _labels(10, 12, rng)
    add(
        "perfect",
        y,
        y * 10 + rng.normal(0, 1, y.size).round(2),
        y + rng.normal(0, 1, y.size).round(2),
        partner="balanced_ties",
    )
    y = _labels(8, 9, rng)
    add("all_tied", y, np.full(y.size, 3.0), np.round(y + rng.normal(0, 1, y.size), 1), partner="small_ties")
    y = _labels(7, 7, rng)  # adjacent doubles (midpoint rounds onto a score) and overflowing midpoints
    odd = np.array(
        [
            1.0,
            np.nextafter(1.0, 2.0),
            1.7e308,
            1.6e308,
            -1.7e308,
            0.5,
            0.5,
            2.0,
            np.nextafter(2.0, 0.0),
            3.0,
            -2.0,
            1e-300,
            0.0,
            7.0,
        ]
    )
    add("near_ties", y, odd, odd[::-1].copy(), partner="tiny_birads")
    return sets


@pytest.fixture(scope="module")
def proc(rscript, tmp_path_factory) -> tuple[dict, dict]:
    """(data sets, pROC figures as {name: {key: np.ndarray}}) from one Rscript run."""
    sets = _datasets()
    d = tmp_path_factory.mktemp("proc")
    rows = []
    for name, ds in sets.items():
        pd.DataFrame({"y": ds["y"], "s1": ds["s1"], "s2": ds["s2"]}).to_csv(
            d / f"{name}.csv", index=False, float_format="%.17g"
        )
        rows.append(
            {"name": name, "direction": ds["direction"], "partner": ds["partner"], "paired_test": ds["paired_test"]}
        )
    pd.DataFrame(rows).to_csv(d / "index.csv", index=False)
    out = d / "proc.tsv"
    run = subprocess.run([rscript, str(R_SCRIPT), str(d), str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"Rscript failed:\n{run.stderr}"
    figures: dict[str, dict[str, np.ndarray]] = {}
    for line in out.read_text().splitlines():
        name, key, values = line.split("\t")
        figures.setdefault(name, {})[key] = np.array([float(v) if v != "NA" else math.nan for v in values.split(";")])
    # the CSV round trip must be lossless for "exact" to mean anything
    for name, ds in sets.items():
        back = pd.read_csv(d / f"{name}.csv")
        assert np.array_equal(back["s1"].to_numpy(), ds["s1"]) and np.array_equal(back["s2"].to_numpy(), ds["s2"])
    return sets, figures


NAMES = list(_datasets())


@pytest.mark.parametrize("name", NAMES)
def test_auc_exact(proc, name):
    sets, fig = proc
    ds = sets[name]
    ours = auc(ds["y"], ds["s1"], direction=ds["direction"])
    print(name, "AUC ours", repr(ours), "pROC", repr(fig[name]["auc"][0]))
    # Both compute the rational U / (m n); pROC sums trapezoids, so allow 2 ulps.
    assert ours == pytest.approx(fig[name]["auc"][0], rel=4.5e-16, abs=0)


@pytest.mark.parametrize("name", NAMES)
def test_roc_curve_exact(proc, name):
    sets, fig = proc
    ds = sets[name]
    roc = roc_curve(ds["y"], ds["s1"], direction=ds["direction"])
    np.testing.assert_array_equal(roc.thresholds, fig[name]["thresholds"])
    np.testing.assert_array_equal(roc.sensitivities, fig[name]["sensitivities"])
    np.testing.assert_array_equal(roc.specificities, fig[name]["specificities"])


@pytest.mark.parametrize("name", NAMES)
def test_delong_variance_and_ci(proc, name):
    sets, fig = proc
    ds = sets[name]
    v = var_auc(ds["y"], ds["s1"], direction=ds["direction"])
    assert v == pytest.approx(fig[name]["var_delong"][0], abs=TOL)
    for key, level in (("ci_delong", 0.95), ("ci_delong_90", 0.9)):
        ci = ci_auc(ds["y"], ds["s1"], conf_level=level, direction=ds["direction"])
        lo, mid, hi = fig[name][key]
        print(name, key, (ci.lower, ci.auc, ci.upper), "pROC", (lo, mid, hi))
        assert ci.lower == pytest.approx(lo, abs=TOL)
        assert ci.upper == pytest.approx(hi, abs=TOL)
        assert ci.auc == pytest.approx(mid, abs=TOL)


@pytest.mark.parametrize("name", NAMES)
def test_youden_exact(proc, name):
    sets, fig = proc
    ds = sets[name]
    best = coords_best(ds["y"], ds["s1"], direction=ds["direction"])
    r_thr = fig[name]["best_threshold"]
    order = np.argsort(r_thr)  # pROC lists them by its own curve order
    np.testing.assert_array_equal(np.sort(best["threshold"].to_numpy()), r_thr[order])
    np.testing.assert_array_equal(
        best.sort_values("threshold")["sensitivity"].to_numpy(), fig[name]["best_sensitivity"][order]
    )
    np.testing.assert_array_equal(
        best.sort_values("threshold")["specificity"].to_numpy(), fig[name]["best_specificity"][order]
    )
    point = youden(ds["y"], ds["s1"], direction=ds["direction"])
    assert point.threshold in set(r_thr.tolist())
    assert point.n_tied == r_thr.size


@pytest.mark.parametrize("name", NAMES)
def test_operating_points_interpolated(proc, name):
    sets, fig = proc
    ds = sets[name]
    for sp in (0.8, 0.9):
        p = sensitivity_at_specificity(ds["y"], ds["s1"], sp, direction=ds["direction"], interpolate=True)
        assert p.sensitivity == pytest.approx(fig[name][f"se_at_sp_{sp}"][0], abs=1e-12)
    p = specificity_at_sensitivity(ds["y"], ds["s1"], 0.9, direction=ds["direction"], interpolate=True)
    assert p.specificity == pytest.approx(fig[name]["sp_at_se_0.9"][0], abs=1e-12)


@pytest.mark.parametrize("name", [n for n in NAMES if _datasets()[n]["paired_test"]])
def test_delong_paired(proc, name):
    sets, fig = proc
    ds = sets[name]
    t = delong_test(ds["y"], ds["s1"], ds["s2"], direction=ds["direction"])
    print(name, "paired z", t.statistic, "pROC", fig[name]["paired_z"][0], "p", t.p_value, fig[name]["paired_p"][0])
    assert t.statistic == pytest.approx(fig[name]["paired_z"][0], abs=TOL)
    assert t.p_two_sided == pytest.approx(fig[name]["paired_p"][0], abs=TOL)
    assert t.p_greater == pytest.approx(fig[name]["paired_p_greater"][0], abs=TOL)
    assert t.p_less == pytest.approx(fig[name]["paired_p_less"][0], abs=TOL)
    np.testing.assert_allclose([t.ci_lower, t.ci_upper], fig[name]["paired_ci"], rtol=0, atol=TOL)


@pytest.mark.parametrize("name", [n for n in NAMES if _datasets()[n]["partner"]])
def test_delong_unpaired(proc, name):
    sets, fig = proc
    a, b = sets[name], sets[sets[name]["partner"]]
    t = delong_test(a["y"], a["s1"], b["s1"], y_true2=b["y"], direction=a["direction"])
    print(name, "unpaired D", t.statistic, "pROC", fig[name]["unpaired_d"][0], "df", t.df, fig[name]["unpaired_df"][0])
    assert t.statistic == pytest.approx(fig[name]["unpaired_d"][0], abs=TOL)
    assert t.df == pytest.approx(fig[name]["unpaired_df"][0], rel=TOL)
    assert t.p_value == pytest.approx(fig[name]["unpaired_p"][0], abs=TOL)
