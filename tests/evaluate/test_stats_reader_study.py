"""Reader-study analysis on synthetic studies, checked against independent computations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from breastlab.cli import main
from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats import reader_study, simulate_reader_study


@pytest.fixture(scope="module")
def study():
    df = simulate_reader_study(n_cases=160, readers_per_group=3, seed=11)
    return df, reader_study(df)


def test_generator_shape_and_design(study):
    df, _ = study
    assert len(df) == 160 * 6 * 2
    assert set(df["reader_group"]) == {"junior", "senior"} and set(df["condition"]) == {"unaided", "aided"}
    assert df.groupby("case_id")["truth"].nunique().max() == 1
    assert set(df["score"].unique()) <= {1, 2, 3, 4, 5}
    # the assisting model shortens reading time
    t = df.groupby("condition")["reading_time_s"].median()
    assert t["aided"] < t["unaided"]


def test_performance_table_matches_independent_auc(study):
    df, res = study
    perf = res.performance
    assert list(perf["finding"].unique()) == ["all", *sorted(f for f in df["finding"].unique() if f)]
    cons = df.groupby(["case_id", "reader_group", "condition"])["score"].mean().unstack([1, 2])
    truth = df.groupby("case_id")["truth"].first().loc[cons.index]
    for _, row in perf[perf["finding"] == "all"].iterrows():
        expected = roc_auc_score(truth, cons[(row["group"], row["condition"])])
        print(row["group"], row["condition"], row["auc_ci"])
        assert row["auc"] == pytest.approx(expected, abs=1e-12)
        assert row["auc_lower"] <= row["auc"] <= row["auc_upper"]
    mass = perf[(perf["finding"] == "mass") & (perf["group"] == "junior") & (perf["condition"] == "aided")].iloc[0]
    # a finding's cases plus the controls, which the simulator shares across finding types
    cases = df[df["finding"].isin(["mass", ""])].groupby("case_id")["truth"].first()
    assert (mass["n_pos"], mass["n_neg"]) == (cases.sum(), (1 - cases).sum())
    per_case = df.groupby("case_id")[["truth", "finding"]].first()
    assert (per_case.loc[per_case["truth"] == 0, "finding"] == "").all()
    assert (per_case.loc[per_case["truth"] == 1, "finding"] != "").all()


def test_comparisons_detect_the_simulated_effects():
    df = simulate_reader_study(n_cases=300, readers_per_group=3, seed=3)
    res = reader_study(df)
    comp = res.comparisons[res.comparisons["finding"] == "all"].set_index("comparison")
    print(comp[["auc1", "auc2", "difference", "p_value"]])
    assert list(comp.index) == [
        "junior: unaided vs aided",
        "senior: unaided vs aided",
        "aided: senior vs junior",
        "unaided: senior vs junior",
    ]
    assert comp.loc["junior: unaided vs aided", "difference"] < 0
    assert comp.loc["junior: unaided vs aided", "p_value"] < 0.01
    assert comp.loc["unaided: senior vs junior", "difference"] > 0
    assert comp.loc["unaided: senior vs junior", "p_value"] < 0.01


def test_agreement_and_reading_time_tables(study):
    df, res = study
    ag = res.agreement
    n_findings = df.loc[df["finding"] != "", "finding"].nunique()
    assert len(ag) == (1 + n_findings) * 2 * 2 * 3  # (all + findings) x groups x conditions x reader pairs
    assert ag["finding"].iloc[0] == "all"
    row = ag.iloc[0]
    sub = df[(df["reader_group"] == row["group"]) & (df["condition"] == row["condition"])]
    wide = sub.pivot(index="case_id", columns="reader", values="score")
    assert row["kappa"] == pytest.approx(cohen_kappa_score(wide[row["reader1"]], wide[row["reader2"]]), abs=1e-12)
    rt = res.reading_time.set_index("group")
    assert list(rt.index) == ["junior", "senior", "all"]
    jun = df[df["reader_group"] == "junior"].pivot_table(
        index="case_id", columns="condition", values="reading_time_s", aggfunc="mean"
    )
    ref = st.wilcoxon(jun["unaided"], jun["aided"], method="asymptotic")
    assert rt.loc["junior", "p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert rt.loc["junior", "median_first"] == pytest.approx(np.median(jun["unaided"]))
    assert rt.loc["junior", "p_value"] < 0.001
    assert ("mrmc" in res.tables()) == (res.mrmc is not None)  # the MRMC table joins when computed


def test_probability_scores_and_fixed_threshold():
    df = simulate_reader_study(n_cases=60, seed=4, score="probability")
    res = reader_study(df, threshold=0.5, kappa_weights="linear")
    row = res.performance.iloc[0]
    # readings of the group's readers pooled at the fixed cut-off
    sub = df[(df["reader_group"] == row["group"]) & (df["condition"] == row["condition"])]
    assert row["sensitivity"] == pytest.approx((sub.loc[sub["truth"] == 1, "score"] >= 0.5).mean())
    assert row["specificity"] == pytest.approx((sub.loc[sub["truth"] == 0, "score"] < 0.5).mean())
    assert row["cutoff"] == "≥0.5 (fixed)"
    assert any("Youden cut-off" in n for n in res.notes)


def test_bad_reader_study_input():
    df = simulate_reader_study(n_cases=20, readers_per_group=2, seed=0)
    with pytest.raises(BreastlabInputError, match=r"lacks column\(s\) \['finding'\]"):
        reader_study(df.drop(columns="finding"))
    bad = df.copy()
    bad.loc[0, "truth"] = 1 - bad.loc[0, "truth"]
    with pytest.raises(BreastlabInputError, match="different truth values"):
        reader_study(bad)
    with pytest.raises(BreastlabInputError, match="read twice"):
        reader_study(pd.concat([df, df.iloc[:1]]))
    bad = df.copy()
    bad.loc[3, "score"] = np.nan
    with pytest.raises(BreastlabInputError, match="'score' must be a finite number"):
        reader_study(bad)


def test_cli_reader_study_and_stats_commands(tmp_path, capsys):
    csv = tmp_path / "study.csv"
    assert main(["stats", "simulate-readers", str(csv), "--cases", "40", "--readers-per-group", "2"]) == 0
    out = tmp_path / "res"
    assert main(["stats", "reader-study", str(csv), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Table 1." in text and "Table 4." in text
    payload = json.loads((out / "reader_study.json").read_text())
    assert {"performance", "comparisons", "agreement", "reading_time"} <= set(payload)
    assert (out / "performance.csv").exists()

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    d = pd.DataFrame(
        {
            "y": y,
            "a": y + rng.normal(size=80),
            "b": rng.normal(size=80),
            "pid": np.arange(80) // 2,
            "r1": rng.integers(1, 4, 80),
            "r2": rng.integers(1, 4, 80),
        }
    )
    data = tmp_path / "d.csv"
    d.to_csv(data, index=False)
    assert (
        main(["stats", "auc", str(data), "--truth", "y", "--score", "a", "--score", "b", "--out", str(tmp_path / "o")])
        == 0
    )
    rows = json.loads((tmp_path / "o" / "auc.json").read_text())["rows"]
    assert rows[0]["auc"] == pytest.approx(roc_auc_score(y, d["a"]), abs=1e-15)
    assert (
        main(
            [
                "stats",
                "delong",
                str(data),
                "--truth",
                "y",
                "--score",
                "a",
                "--score",
                "b",
                "--json",
                str(tmp_path / "dl.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "dl.json").read_text())["rows"][0]["paired"] is True
    assert (
        main(
            [
                "stats",
                "bootstrap",
                str(data),
                "--truth",
                "y",
                "--score",
                "a",
                "--metric",
                "auc",
                "--metric",
                "specificity",
                "--threshold",
                "0.5",
                "--cluster",
                "pid",
                "--n-boot",
                "200",
            ]
        )
        == 0
    )
    assert main(["stats", "youden", str(data), "--truth", "y", "--score", "a"]) == 0
    assert main(["stats", "kappa", str(data), "--rater1", "r1", "--rater2", "r2", "--weights", "quadratic"]) == 0
    assert main(["stats", "wilcoxon", str(data), "--x", "a", "--y", "b"]) == 0
    assert main(["stats", "auc", str(data), "--truth", "y", "--score", "nope"]) == 2
    assert "--score 'nope' is not a column" in capsys.readouterr().err
