"""roc_test and ci_auc of smoothed ROC curves against R's pROC (roc.test / ci.auc of smooth.roc; one Rscript call).

pROC draws B = 2000 bootstrap replicates, we draw 4000, with different random numbers, so Monte-Carlo
figures agree within Monte-Carlo error: the bootstrap D within 4 standard errors of its sd estimate
(relative SE 1 / sqrt(2B) per run); a 2.5 % / 97.5 % interval end within 4 standard errors of the
difference of two quantile estimates, SE = sqrt(p (1 - p) / B) / phi(z_p) bootstrap SDs per run.
The smoothed AUCs themselves (the observed values) agree to 1e-9.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from breastlab.evaluate.stats.delong import ci_auc
from breastlab.evaluate.stats.roc_test import roc_test

pytestmark = [pytest.mark.needs_r]

R_SCRIPT = Path(__file__).with_name("proc_smooth.R")
B_R, B_OURS = 2000, 4000


@pytest.fixture(scope="module")
def proc(rscript, tmp_path_factory):
    d = tmp_path_factory.mktemp("proc_smooth")
    rng = np.random.default_rng(20240611)
    y = rng.permutation(np.r_[np.ones(60, int), np.zeros(90, int)])
    s1 = np.round(0.9 * y + rng.normal(0, 1, y.size), 1)  # ties
    s2 = np.round(0.6 * y + rng.normal(0, 1, y.size), 1)
    pd.DataFrame({"y": y, "s1": s1, "s2": s2}).to_csv(d / "gen.csv", index=False)
    yb = rng.permutation(np.r_[np.ones(45, int), np.zeros(55, int)])
    pd.DataFrame({"y": yb, "s": np.round(0.4 * yb + rng.normal(0, 1, yb.size), 1)}).to_csv(d / "gen_b.csv", index=False)
    out = d / "proc.tsv"
    run = subprocess.run([rscript, str(R_SCRIPT), str(d), str(out)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"Rscript failed:\n{run.stderr}"
    fig: dict[str, dict[str, np.ndarray]] = {}
    for line in out.read_text().splitlines():
        name, key, values = line.split("\t")
        fig.setdefault(name, {})[key] = np.array([float(v) for v in values.split(";")])
    data = {n: pd.read_csv(d / f"{n}.csv") for n in ("asah", "gen", "gen_b")}
    return data, fig


def _pairs(data):
    a, g, gb = data["asah"], data["gen"], data["gen_b"]
    return {
        "asah_binormal": ("binormal", a["y"], a["s100b"], a["ndka"], None),
        "asah_density": ("density", a["y"], a["s100b"], a["ndka"], None),
        "gen_paired_binormal": ("binormal", g["y"], g["s1"], g["s2"], None),
        "gen_unpaired_binormal": ("binormal", g["y"], g["s1"], gb["s"], gb["y"]),
    }


@pytest.mark.parametrize("name", ["asah_binormal", "asah_density", "gen_paired_binormal", "gen_unpaired_binormal"])
def test_roc_test_of_smoothed_curves(proc, name):
    data, fig = proc
    method, y, s1, s2, y2 = _pairs(data)[name]
    t = roc_test(y, s1, s2, y_true2=y2, method="bootstrap", smooth=method, n_boot=B_OURS, seed=12)
    ref = fig[name]["D"][0]
    print(name, "D", t.statistic, "pROC", ref, "estimates", [t.estimate1, t.estimate2], fig[name]["estimates"])
    assert t.measure == f"smoothed AUC ({method})" and t.paired == (y2 is None)
    np.testing.assert_allclose([t.estimate1, t.estimate2], fig[name]["estimates"], rtol=0, atol=1e-9)
    assert abs(t.statistic - ref) <= 4 * abs(ref) * math.sqrt(1 / (2 * B_R) + 1 / (2 * B_OURS))


@pytest.mark.parametrize(
    ("name", "column"), [("asah_binormal", "s100b"), ("asah_density", "s100b"), ("gen_binormal", "s1")]
)
def test_ci_auc_of_a_smoothed_curve(proc, name, column):
    data, fig = proc
    ds = data[name.split("_")[0]]
    method = name.split("_")[1]
    ci = ci_auc(ds["y"], ds[column], method="bootstrap", smooth=method, n_boot=B_OURS, seed=13)
    lo_r, _, hi_r = fig[name]["ci"]
    print(
        name, "AUC", ci.auc, "pROC", fig[name]["auc"][0], "CI", [ci.lower, ci.upper], "pROC", [float(lo_r), float(hi_r)]
    )
    assert ci.auc == pytest.approx(fig[name]["auc"][0], abs=1e-9)
    p = 0.025
    quantile_se = math.sqrt(p * (1 - p)) / stats.norm.pdf(stats.norm.ppf(p)) * math.sqrt(1 / B_R + 1 / B_OURS)
    tol = 4 * quantile_se * ci.se
    assert abs(ci.lower - lo_r) <= tol and abs(ci.upper - hi_r) <= tol, tol
