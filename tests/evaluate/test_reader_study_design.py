"""Reader-study designs the analyses cannot use are refused clearly: one treatment, readers who read different cases."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from breastlab.cli import main
from breastlab.errors import BreastlabInputError
from breastlab.evaluate.mrmc import or_hillis
from breastlab.evaluate.stats import reader_study, simulate_reader_study


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    return simulate_reader_study(n_cases=40, readers_per_group=2, seed=3)


def _different_cases(df: pd.DataFrame) -> pd.DataFrame:
    """junior_1 read cases 1-10 only, junior_2 cases 11-40 only (in both conditions)."""
    cases = sorted(df["case_id"].unique())
    drop = ((df["reader"] == "junior_1") & ~df["case_id"].isin(cases[:10])) | (
        (df["reader"] == "junior_2") & df["case_id"].isin(cases[:10])
    )
    return df[~drop]


def test_mrmc_one_treatment_only(study: pd.DataFrame, tmp_path) -> None:
    one = study[study["condition"] == "aided"]
    with pytest.raises(BreastlabInputError, match=r"needs at least 2 treatments; the study has 1 \(\['aided'\]\)"):
        or_hillis(one, treatment="condition", case="case_id", rating="score")
    path = tmp_path / "one.csv"
    one.to_csv(path, index=False)
    assert main(["stats", "mrmc", str(path), "--treatment", "condition", "--case", "case_id", "--rating", "score"]) == 2


def test_reader_study_one_condition_reports_per_group_auc_and_says_no_comparison(study: pd.DataFrame) -> None:
    one = study[study["condition"] == "aided"]
    res = reader_study(one)  # a single-condition study (e.g. the model alone) still has its AUCs
    row = res.performance[(res.performance["finding"] == "all") & (res.performance["group"] == "senior")].iloc[0]
    consensus = one[one["reader_group"] == "senior"].groupby("case_id")[["truth", "score"]].mean()
    assert row["auc"] == pytest.approx(roc_auc_score(consensus["truth"], consensus["score"]))
    assert res.mrmc is None
    assert any("mrmc: not run: the study has one condition only ('aided')" in n for n in res.notes)
    assert any("reading_time: one condition only" in n for n in res.notes) and res.reading_time.empty


def test_readers_who_read_different_cases(study: pd.DataFrame, tmp_path) -> None:
    bad = _different_cases(study)
    with pytest.raises(BreastlabInputError, match=r"reader 'junior_1' \(group 'junior'\) has no reading of case"):
        reader_study(bad)
    with pytest.raises(
        BreastlabInputError, match=r"the design is none of fully crossed, split-plot .* reader 'junior_1'"
    ):
        or_hillis(bad, treatment="condition", case="case_id", rating="score")
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    assert main(["stats", "reader-study", str(path), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_a_case_read_in_one_condition_only(study: pd.DataFrame) -> None:
    bad = study.drop(study[(study["reader"] == "senior_2") & (study["condition"] == "unaided")].index[:1])
    with pytest.raises(BreastlabInputError, match=r"reader 'senior_2' \(group 'senior'\) .* in condition 'unaided'"):
        reader_study(bad)


def test_groups_may_read_different_cases(study: pd.DataFrame) -> None:
    """Split-plot over groups: juniors read cases 1-20, seniors 21-40; each group stays fully crossed."""
    cases = sorted(study["case_id"].unique())
    split = study[(study["reader_group"] == "junior") == study["case_id"].isin(cases[:20])]
    res = reader_study(split)
    comp = res.comparisons[res.comparisons["finding"] == "all"].set_index("comparison")
    assert comp.loc["junior: unaided vs aided", "n_cases"] == 20
    assert comp.loc["aided: senior vs junior", "n_cases"] == 0  # no shared cases: no paired test


def test_reader_study_table_in_latin1_is_refused_naming_the_encoding(study: pd.DataFrame, tmp_path) -> None:
    from breastlab.evaluate.mrmc import read_reader_study

    path = tmp_path / "study.csv"
    text = "# r\u00e9sum\u00e9 of the study\n" + study.to_csv(index=False)
    path.write_bytes(text.encode("utf-8-sig"))
    assert len(read_reader_study(path)) == len(study)  # UTF-8 with BOM and a comment line
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(BreastlabInputError, match=r"study\.csv: the reader-study table is not UTF-8 .*Latin-1"):
        read_reader_study(path)
