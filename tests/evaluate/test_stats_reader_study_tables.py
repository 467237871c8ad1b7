"""Reader-study tables as a journal prints them: AI row and comparisons, per-reader Youden cut-offs on the
rating scale, pooled sensitivity/specificity with exact CIs, kappa per finding, and the Word round trip
(simulator -> `stats reader-study` -> reader_study.docx opened with python-docx, cells checked against
the JSON)."""

from __future__ import annotations

import json
import re

import docx
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from breastlab.cli import main
from breastlab.evaluate.stats import delong_test, reader_study, simulate_reader_study
from breastlab.evaluate.stats.reader_study import clopper_pearson

NUM = r"(-?\d+\.\d+)"


@pytest.fixture(scope="module")
def study():
    df = simulate_reader_study(n_cases=150, readers_per_group=3, seed=21, ai_skill=2.2)
    return df, reader_study(df)


def test_ai_row_and_ai_versus_groups(study):
    df, res = study
    ai = df[df["reader_group"] == "AI"].set_index("case_id")
    row = res.performance[(res.performance["finding"] == "all") & (res.performance["group"] == "AI")].iloc[0]
    assert row["condition"] == "standalone"
    assert row["auc"] == pytest.approx(roc_auc_score(ai["truth"], ai["score"]), abs=1e-12)
    comp = res.comparisons[res.comparisons["finding"] == "all"].set_index("comparison")
    junior = df[(df["reader_group"] == "junior") & (df["condition"] == "aided")].groupby("case_id")["score"].mean()
    t = delong_test(ai.loc[junior.index, "truth"], ai.loc[junior.index, "score"], junior)
    got = comp.loc["AI vs junior (aided)"]
    assert got["difference"] == pytest.approx(t.difference, abs=1e-12)  # AI minus the group, as named
    assert got["p_value"] == pytest.approx(t.p_value, abs=1e-12)
    assert "AI" not in set(res.per_reader["reader"])  # the human readers table holds no AI rows


def _brute_force_cutoff(scores: np.ndarray, y: np.ndarray) -> float:
    """Youden's cut-off on the rating scale by trying every rating; ties go to the lowest (most sensitive)."""
    best, best_v = -1.0, None
    for v in np.unique(scores):
        pos = scores >= v
        j = pos[y == 1].mean() + (~pos)[y == 0].mean()
        if j > best + 1e-12:
            best, best_v = j, v
    return float(best_v)


def test_per_reader_cutoffs_on_the_rating_scale(study):
    df, res = study
    for r in res.per_reader.itertuples():
        sub = df[(df["reader"] == r.reader) & (df["condition"] == r.condition)]
        cut = _brute_force_cutoff(sub["score"].to_numpy(), sub["truth"].to_numpy())
        assert r.cutoff == f"≥{cut:g}", (r.reader, r.condition)
        pos = sub["score"].to_numpy() >= cut
        y = sub["truth"].to_numpy()
        assert r.sensitivity == pytest.approx(pos[y == 1].mean(), abs=1e-12)
        assert r.specificity == pytest.approx((~pos)[y == 0].mean(), abs=1e-12)


def test_group_sensitivity_pools_readers_at_their_own_cutoffs(study):
    df, res = study
    row = res.performance[
        (res.performance["finding"] == "all")
        & (res.performance["group"] == "senior")
        & (res.performance["condition"] == "aided")
    ].iloc[0]
    readers = res.per_reader[(res.per_reader["group"] == "senior") & (res.per_reader["condition"] == "aided")]
    assert row["tp"] == readers["tp"].sum() and row["tn"] == readers["tn"].sum()
    ci = binomtest(int(row["tp"]), int(row["tp"] + row["fn"])).proportion_ci(0.95, method="exact")
    assert (row["sens_lower"], row["sens_upper"]) == pytest.approx((ci.low, ci.high), abs=1e-10)
    assert clopper_pearson(0, 10) == pytest.approx((0.0, binomtest(0, 10).proportion_ci(method="exact").high))


def test_kappa_per_finding(study):
    df, res = study
    ag = res.agreement
    row = ag[(ag["finding"] == "mass") & (ag["group"] == "junior") & (ag["condition"] == "unaided")].iloc[0]
    sub = df[(df["reader_group"] == "junior") & (df["condition"] == "unaided") & df["finding"].isin(["mass", ""])]
    wide = sub.pivot(index="case_id", columns="reader", values="score")
    assert row["n"] == len(wide)
    assert row["kappa"] == pytest.approx(cohen_kappa_score(wide[row["reader1"]], wide[row["reader2"]]), abs=1e-12)


def _fmt_p(p):
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _est_ci(cell: str) -> tuple[float, float, float]:
    m = re.fullmatch(rf"{NUM} \({NUM}(?:–| to ){NUM}\)", cell)
    assert m, f"not 'estimate (lower–upper)': {cell!r}"
    return tuple(float(v) for v in m.groups())


def test_word_round_trip(tmp_path, capsys):
    csv = tmp_path / "study.csv"
    assert main(["stats", "simulate-readers", str(csv), "--cases", "120", "--seed", "5", "--ai-skill", "2.2"]) == 0
    out = tmp_path / "rs"
    assert main(["stats", "reader-study", str(csv), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    payload = json.loads((out / "reader_study.json").read_text())
    document = docx.Document(str(out / "reader_study.docx"))
    tables = document.tables
    assert len(tables) >= 5
    perf_cells = [[c.text for c in r.cells] for r in tables[0].rows]
    header, body = perf_cells[0], perf_cells[1:]
    assert header[:6] == ["Finding", "Group", "Condition", "Cases", "Controls", "AUC (95% CI)"]
    assert len(body) == len(payload["performance"])
    assert any(r[1] == "AI" and r[2] == "standalone" for r in body)
    for cells, rec in zip(body, payload["performance"], strict=True):
        assert cells[0] == rec["finding"] and cells[1] == rec["group"] and cells[2] == rec["condition"]
        assert cells[3] == str(rec["n_pos"]) and cells[4] == str(rec["n_neg"])  # integers as integers
        auc, lo, hi = _est_ci(cells[5])
        assert (auc, lo, hi) == (round(rec["auc"], 3), round(rec["auc_lower"], 3), round(rec["auc_upper"], 3))
        assert cells[6] == _fmt_p(rec["p_value"])
        se, se_lo, se_hi = _est_ci(cells[8])
        assert se == round(100 * rec["sensitivity"], 1) and se_lo == round(100 * rec["sens_lower"], 1)
        assert se_hi == round(100 * rec["sens_upper"], 1)
        sp = _est_ci(cells[9])[0]
        assert sp == round(100 * rec["specificity"], 1)
        assert cells[7] == rec["cutoff"]
        # the Word cell is what the terminal showed
        assert cells[5] in printed
    comp_cells = [[c.text for c in r.cells] for r in tables[1].rows][1:]
    assert len(comp_cells) == len(payload["comparisons"])
    for cells, rec in zip(comp_cells, payload["comparisons"], strict=True):
        assert cells[1] == rec["comparison"]
        d, lo, hi = _est_ci(cells[5])
        assert (d, lo, hi) == (round(rec["difference"], 3), round(rec["diff_lower"], 3), round(rec["diff_upper"], 3))
        assert cells[7] == _fmt_p(rec["p_value"])
        decimals = {len(c.split(".")[1]) for c in (cells[3], cells[4])}
        assert decimals == {3}  # one decimals count per column
    kappa_cells = [[c.text for c in r.cells] for r in tables[2].rows][1:]
    assert len(kappa_cells) == len(payload["agreement"])
    for cells, rec in zip(kappa_cells, payload["agreement"], strict=True):
        assert cells[0] == rec["finding"]
        assert _est_ci(cells[6])[0] == round(rec["kappa"], 2)
    # exact p-values stay in the JSON and CSV
    small = [r["p_value"] for r in payload["comparisons"] if r["p_value"] is not None and r["p_value"] < 0.001]
    assert small and all(p > 0 for p in small)
    csv_p = pd.read_csv(out / "comparisons.csv")["p_value"].to_numpy()
    np.testing.assert_allclose(csv_p, [r["p_value"] for r in payload["comparisons"]], rtol=1e-12)
