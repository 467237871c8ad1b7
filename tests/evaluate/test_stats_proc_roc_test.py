"""roc_test (bootstrap, venkatraman, sensitivity, specificity; paired and unpaired) against R's pROC.

One Rscript call (tests/evaluate/proc_roc_test.R) on pROC's aSAH data and generated data
with ties. pROC and we draw different random numbers, so Monte-Carlo figures agree within
Monte-Carlo error: the bootstrap D within 4 standard errors of its sd estimate
(relative SE 1/sqrt(2B) per run), the permutation p-value within 4 binomial SEs.
Deterministic parts agree exactly: Venkatraman's E and the coordinates compared.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breastlab.evaluate.stats.roc_test import roc_test

pytestmark = [pytest.mark.needs_r, pytest.mark.filterwarnings("ignore::breastlab.evaluate.stats.DegenerateCIWarning")]

R_SCRIPT = Path(__file__).with_name("proc_roc_test.R")
B_R = 2000
B_OURS = 4000


def _generated(d: Path) -> list[dict]:
    rng = np.random.default_rng(20240608)
    y = rng.permutation(np.r_[np.ones(60, int), np.zeros(90, int)])
    pd.DataFrame({"y": y, "s": np.round(0.9 * y + rng.normal(0, 1, y.size), 1)}).to_csv(d / "gen_1.csv", index=False)
    pd.DataFrame({"y": y, "s": np.round(0.6 * y + rng.normal(0, 1, y.size), 1)}).to_csv(d / "gen_2.csv", index=False)
    y2 = rng.permutation(np.r_[np.ones(45, int), np.zeros(55, int)])
    pd.DataFrame({"y": y2, "s": np.round(0.4 * y2 + rng.normal(0, 1, y2.size), 1)}).to_csv(d / "gen_3.csv", index=False)
    return [
        {"name": "asah_s100b_ndka", "file1": "asah_s100b.csv", "file2": "asah_ndka.csv", "paired": 1},
        {"name": "asah_wfns_s100b", "file1": "asah_wfns.csv", "file2": "asah_s100b.csv", "paired": 1},
        {"name": "gen_paired", "file1": "gen_1.csv", "file2": "gen_2.csv", "paired": 1},
        {"name": "gen_unpaired", "file1": "gen_1.csv", "file2": "gen_3.csv", "paired": 0},
        {"name": "asah_vs_gen_unpaired", "file1": "asah_s100b.csv", "file2": "gen_3.csv", "paired": 0},
    ]


CASES = [
    "asah_s100b_ndka",
    "asah_wfns_s100b",
    "gen_paired",
    "gen_unpaired",
    "asah_vs_gen_unpaired",
]


@pytest.fixture(scope="module")
def proc(rscript, tmp_path_factory):
    d = tmp_path_factory.mktemp("proc_roc_test")
    index = _generated(d)
    pd.DataFrame(index).to_csv(d / "index.csv", index=False)
    out = d / "proc.tsv"
    run = subprocess.run([rscript, str(R_SCRIPT), str(d), str(out)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"Rscript failed:\n{run.stderr}"
    figures: dict[str, dict[str, np.ndarray]] = {}
    for line in out.read_text().splitlines():
        name, key, values = line.split("\t")
        figures.setdefault(name, {})[key] = np.array([float(v) if v != "NA" else math.nan for v in values.split(";")])
    data = {}
    for c in index:
        a, b = pd.read_csv(d / c["file1"]), pd.read_csv(d / c["file2"])
        data[c["name"]] = dict(
            y1=a["y"].to_numpy(),
            s1=a["s"].to_numpy(float),
            y2=b["y"].to_numpy(),
            s2=b["s"].to_numpy(float),
            paired=bool(c["paired"]),
        )
    return data, figures


def _run(ds, **kw):
    if ds["paired"]:
        return roc_test(ds["y1"], ds["s1"], ds["s2"], **kw)
    return roc_test(ds["y1"], ds["s1"], ds["s2"], y_true2=ds["y2"], **kw)


def _d_tolerance(d: float) -> float:
    return 4 * abs(d) * math.sqrt(1 / (2 * B_R) + 1 / (2 * B_OURS)) + 1e-9


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize(
    "key,kw",
    [
        ("boot_D", dict(method="bootstrap")),
        ("boot_D_unstratified", dict(method="bootstrap", stratified=False)),
        ("boot_D_pauc", dict(method="bootstrap", partial=(0.8, 1.0))),
        ("sp_D", dict(method="specificity", level=0.9)),
        ("se_D", dict(method="sensitivity", level=0.9)),
    ],
)
def test_bootstrap_statistics_within_monte_carlo_error(proc, name, key, kw):
    data, fig = proc
    t = _run(data[name], n_boot=B_OURS, seed=11, **kw)
    ref = fig[name][key][0]
    print(name, key, "D ours", t.statistic, "pROC", ref, "replicates", t.n_boot)
    assert t.n_boot == B_OURS and t.n_valid <= B_OURS
    assert abs(t.statistic - ref) <= _d_tolerance(ref)


@pytest.mark.parametrize("name", CASES)
def test_coordinates_compared_are_pROCs(proc, name):
    data, fig = proc
    ds = data[name]
    t = _run(ds, method="specificity", level=0.9, n_boot=20)
    assert t.estimate1 == pytest.approx(fig[name]["se_at_sp_1"][0], abs=1e-12)
    assert t.estimate2 == pytest.approx(fig[name]["se_at_sp_2"][0], abs=1e-12)
    t = _run(ds, method="sensitivity", level=0.9, n_boot=20)
    assert t.estimate1 == pytest.approx(fig[name]["sp_at_se_1"][0], abs=1e-12)
    assert t.estimate2 == pytest.approx(fig[name]["sp_at_se_2"][0], abs=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_venkatraman(proc, name):
    data, fig = proc
    t = _run(data[name], method="venkatraman", n_boot=B_OURS, seed=5)
    e, p = fig[name]["venk_E"][0], fig[name]["venk_p"][0]
    print(name, "Venkatraman E", t.statistic, "pROC", e, "p", t.p_value, "pROC", p)
    assert t.statistic == pytest.approx(e, rel=1e-12, abs=1e-12)
    pbar = (t.p_value + p) / 2
    assert abs(t.p_value - p) <= 4 * math.sqrt(max(pbar * (1 - pbar), 0.01) * (1 / B_R + 1 / B_OURS)) + 2 / B_R
