"""ci_se / ci_sp / ci_thresholds / ci_coords against R's pROC (one Rscript call, B = 4000 on both sides).

The two bootstraps draw different random numbers: interval ends and medians must agree within
Monte-Carlo error, taken as 0.35 bootstrap SDs (4 SEs of a 2.5 % quantile estimated twice) plus one
step of the statistic's grid (1 / class size: quantiles of a discrete statistic may land on
neighbouring grid values). Point values (the original curve) agree to 1e-12.

At ``x = "best"`` each replicate finds its own best threshold, whose distribution is lumpy, so
there pROC's quantile q of level p is checked against our replicates' distribution function F:
F(q-) <= p + e and F(q) >= p - e with e = 4 sqrt(2 p (1 - p) / B) + 1 / B (four SDs of the
difference of two empirical CDFs at q, plus one replicate for R's interpolation between atoms).
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breastlab.evaluate.stats.ci_coords import _best_replicates, ci_coords, ci_se, ci_sp, ci_thresholds
from breastlab.evaluate.stats.coords import coords

pytestmark = [pytest.mark.needs_r]

R_SCRIPT = Path(__file__).with_name("proc_ci_coords.R")
B = 4000


@pytest.fixture(scope="module")
def proc(rscript, tmp_path_factory):
    d = tmp_path_factory.mktemp("proc_ci_coords")
    rng = np.random.default_rng(20240609)
    y = rng.permutation(np.r_[np.ones(60, int), np.zeros(80, int)])
    pd.DataFrame({"y": y, "s": np.round(y + rng.normal(0, 1, y.size), 1)}).to_csv(d / "gen_ties.csv", index=False)
    pd.DataFrame({"name": ["asah_s100b", "gen_ties"]}).to_csv(d / "index.csv", index=False)
    out = d / "proc.tsv"
    run = subprocess.run([rscript, str(R_SCRIPT), str(d), str(out)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"Rscript failed:\n{run.stderr}"
    fig: dict[str, dict[str, np.ndarray]] = {}
    for line in out.read_text().splitlines():
        name, key, values = line.split("\t")
        fig.setdefault(name, {})[key] = np.array([float(v) if v != "NA" else math.nan for v in values.split(";")])
    data = {n: pd.read_csv(d / f"{n}.csv") for n in ("asah_s100b", "gen_ties")}
    return data, fig


def _tol(sd: float, y) -> float:
    y = np.asarray(y)
    return 0.35 * sd + 1.0 / min(int(y.sum()), int((1 - y).sum()))


@pytest.mark.parametrize("name", ["asah_s100b", "gen_ties"])
def test_ci_se_and_ci_sp(proc, name):
    data, fig = proc
    y, s = data[name]["y"].to_numpy(), data[name]["s"].to_numpy()
    for fn, key, levels in ((ci_se, "ci_se", (0.5, 0.8, 0.9)), (ci_sp, "ci_sp", (0.5, 0.8, 0.9))):
        ours = fn(y, s, levels, n_boot=B, seed=1)
        ref = fig[name][key].reshape(-1, 3)
        print(name, key, ours[["lower", "median", "upper"]].to_numpy().round(4).tolist(), "pROC", ref.round(4).tolist())
        spread = (ours["upper"] - ours["lower"]).to_numpy() / 3.92  # ~ bootstrap SD
        for j in range(len(levels)):
            for k, col in enumerate(("lower", "median", "upper")):
                assert abs(ours[col].iloc[j] - ref[j, k]) <= _tol(spread[j], y), (key, levels[j], col)


@pytest.mark.parametrize("name", ["asah_s100b", "gen_ties"])
def test_ci_thresholds(proc, name):
    data, fig = proc
    y, s = data[name]["y"].to_numpy(), data[name]["s"].to_numpy()
    thr = fig[name]["thr"]
    ours = ci_thresholds(y, s, thr, n_boot=B, seed=2)
    point = coords(y, s, thr)
    np.testing.assert_allclose(ours["sensitivity"], point["sensitivity"], atol=1e-12)
    np.testing.assert_allclose(ours["specificity"], point["specificity"], atol=1e-12)
    for prefix, key in (("sp", "thr_sp"), ("se", "thr_se")):
        ref = fig[name][key].reshape(-1, 3)
        mine = ours[[f"{prefix}_lower", f"{prefix}_median", f"{prefix}_upper"]].to_numpy()
        print(name, key, mine.round(4).tolist(), "pROC", ref.round(4).tolist())
        spread = (mine[:, 2] - mine[:, 0]) / 3.92
        assert np.all(np.abs(mine - ref) <= np.array([_tol(v, y) for v in spread])[:, None])


@pytest.mark.parametrize("name", ["asah_s100b", "gen_ties"])
def test_ci_coords(proc, name):
    data, fig = proc
    y, s = data[name]["y"].to_numpy(), data[name]["s"].to_numpy()
    ours = ci_coords(y, s, 0.9, input="specificity", ret=["ppv", "npv", "accuracy"], n_boot=B, seed=3)
    for c in ("ppv", "npv", "accuracy"):
        row = ours[ours["coordinate"] == c].iloc[0]
        ref = fig[name][f"cc_{c}"]
        print(name, c, [row["lower"], row["median"], row["upper"]], "pROC", ref.tolist())
        tol = _tol((row["upper"] - row["lower"]) / 3.92, y)
        assert abs(row["lower"] - ref[0]) <= tol and abs(row["median"] - ref[1]) <= tol
        assert abs(row["upper"] - ref[2]) <= tol


BEST_RET = ["threshold", "sensitivity", "specificity", "ppv", "npv"]


@pytest.mark.parametrize("name", ["asah_s100b", "gen_ties"])
@pytest.mark.parametrize(
    ("tag", "method", "weights"), [("yd", "youden", (1, 0.5)), ("tl", "closest.topleft", (2, 0.3))]
)
def test_ci_coords_best(proc, name, tag, method, weights):
    data, fig = proc
    y, s = data[name]["y"].to_numpy(), data[name]["s"].to_numpy()
    kw = {"best_method": method, "best_weights": weights, "best_policy": "random", "n_boot": B, "seed": 4}
    ours = ci_coords(y, s, "best", ret=BEST_RET, **kw).set_index("coordinate")
    assert (ours["n_valid"] == B).all()
    # the value is pROC's best point (one of them, drawn at random, where several tie)
    points = fig[name][f"bestpt_{tag}"].reshape(-1, len(BEST_RET))
    value = ours.loc[BEST_RET, "value"].to_numpy()
    assert np.any(np.all(np.abs(points - value) <= 1e-12, axis=1)), (value, points)
    _, reps = _best_replicates(y, s, method, weights, "random", B, True, 4, "<")
    table = pd.DataFrame(
        {
            "threshold": reps["threshold"],
            "sensitivity": reps["sensitivity"],
            "specificity": reps["specificity"],
            "ppv": reps["sensitivity"]
            * reps["m"]
            / (reps["sensitivity"] * reps["m"] + (1 - reps["specificity"]) * reps["n"]),
            "npv": reps["specificity"]
            * reps["n"]
            / (reps["specificity"] * reps["n"] + (1 - reps["sensitivity"]) * reps["m"]),
        }
    )
    for c in BEST_RET:
        row = ours.loc[c]
        ref = fig[name][f"best_{tag}_{c}"]
        print(
            name, tag, c, [round(float(row[k]), 4) for k in ("lower", "median", "upper")], "pROC", ref.round(4).tolist()
        )
        np.testing.assert_allclose(
            row[["lower", "median", "upper"]].to_numpy(float), table[c].quantile([0.025, 0.5, 0.975])
        )
        rep = np.sort(table[c].to_numpy())
        for p, q in zip((0.025, 0.5, 0.975), ref, strict=True):
            e = 4 * math.sqrt(2 * p * (1 - p) / B) + 1 / B
            below, upto = np.searchsorted(rep, q, "left") / B, np.searchsorted(rep, q, "right") / B
            assert below <= p + e and upto >= p - e, (c, p, q, below, upto)
        if c != "threshold":
            tol = _tol((row["upper"] - row["lower"]) / 3.92, y)
            assert np.all(np.abs(row[["lower", "median", "upper"]].to_numpy(float) - ref) <= tol), (c, tol)
