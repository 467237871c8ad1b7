"""One on-screen format for confidence intervals, integers as integers; files keep the exact numbers."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from breastlab._table import format_ci, format_number, format_table, with_ci_columns

CI = re.compile(r"^[+-]?\d+\.\d+ \(-?\d+\.\d+(–| to )-?\d+\.\d+\)$")


@pytest.mark.parametrize(
    ("args", "kw", "text"),
    [
        ((0.8312, 0.7701, 0.8699), {"digits": 2}, "0.83 (0.77–0.87)"),
        ((0.8312, 0.7701, 0.8699), {}, "0.831 (0.770–0.870)"),
        ((-0.05, -0.12, 0.02), {"signed": True}, "-0.050 (-0.120 to 0.020)"),
        ((0.05, 0.01, 0.09), {"signed": True}, "+0.050 (0.010–0.090)"),
        ((0.8, 0.7, 0.9), {"digits": 1, "scale": 100}, "80.0 (70.0–90.0)"),
        ((-0.0001, -0.2, 0.2), {}, "0.000 (-0.200 to 0.200)"),  # never "-0.000"
        ((0.044, -0.00036, 0.088), {}, "0.044 (0.000–0.088)"),
        ((math.nan, 0.1, 0.2), {}, "-"),
        ((0.5, math.nan, math.nan), {}, "0.500"),
        ((0.5, None, None), {}, "0.500"),
    ],
)
def test_format_ci(args, kw, text):
    assert format_ci(*args, **kw) == text


def test_numbers_whole_numbers_print_as_integers_and_never_with_an_exponent():
    assert [format_number(v) for v in (20130.0, 3.0, 0.8589, 12345.67, -0.0, math.nan)] == [
        "20130", "3", "0.8589", "12345.7", "0", "-"
    ]  # fmt: skip
    table = format_table(pd.DataFrame({"cases": [20130.0, 512.0], "auc": [0.85, 1.0]}))
    assert "e+" not in table and "20130" in table and "512" in table


def test_ci_columns_join_estimate_and_bounds_for_the_screen_only():
    df = pd.DataFrame(
        {"score": ["a"], "auc": [0.8589], "lower": [0.7679], "upper": [0.9499], "partial_auc": [0.1211],
         "partial_lower": [0.0811], "partial_upper": [0.1578], "difference": [0.2678], "ci_lower": [0.091],
         "ci_upper": [0.4446]}
    )  # fmt: skip
    shown = with_ci_columns(df, 0.9)
    assert list(shown.columns) == ["score", "auc (90% CI)", "partial_auc (90% CI)", "difference (90% CI)"]
    assert shown.iloc[0].tolist() == ["a", "0.859 (0.768–0.950)", "0.121 (0.081–0.158)", "+0.268 (0.091–0.445)"]
    assert list(df.columns)[2:4] == ["lower", "upper"]  # the caller's frame (written to files) is untouched


def test_stats_cli_prints_one_ci_format_and_the_json_keeps_exact_numbers(tmp_path, capsys):
    from sklearn.metrics import roc_auc_score

    from breastlab.cli import main

    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 40)
    df = pd.DataFrame({"y": y, "a": y + rng.normal(size=80), "b": y + 2 * rng.normal(size=80)})
    df.to_csv(tmp_path / "s.csv", index=False)
    for command, extra in (("auc", ["--score", "b"]), ("delong", ["--score", "b"]), ("bootstrap", ["--n-boot", "200"])):
        out = tmp_path / f"{command}.json"
        assert (
            main(
                ["stats", command, str(tmp_path / "s.csv"), "--truth", "y", "--score", "a", *extra, "--json", str(out)]
            )
            == 0
        )
        printed = capsys.readouterr().out
        rows = json.loads(out.read_text())["rows"]
        if command == "auc":
            assert rows[0]["auc"] == pytest.approx(roc_auc_score(y, df["a"]), abs=1e-12)  # exact in the file
            for r in rows:
                assert format_ci(r["auc"], r["lower"], r["upper"]) in printed
        elif command == "delong":
            r = rows[0]
            assert format_ci(r["difference"], r["ci_lower"], r["ci_upper"], signed=True) in printed
        else:
            assert format_ci(rows[0]["estimate"], rows[0]["lower"], rows[0]["upper"]) in printed
        assert "lower" not in printed and "upper" not in printed and "e+" not in printed


def test_evaluate_reader_study_and_mrmc_printers_use_the_same_format():
    from breastlab.evaluate.metrics import _cell
    from breastlab.evaluate.mrmc._reader_study import _ci
    from breastlab.evaluate.stats.reader_study import _fmt_ci, _fmt_est_ci

    assert _cell(0.8312, 0.7701, 0.8699) == "0.83 (0.77–0.87)"
    assert _fmt_ci(0.8312, 0.7701, 0.8699) == _ci(0.8312, 0.7701, 0.8699) == "0.831 (0.770–0.870)"
    assert _fmt_est_ci(0.8, 0.7, 0.9, 1, 100) == "80.0 (70.0–90.0)"
    for cell in (_cell(0.1, -0.2, 0.3), _fmt_ci(-0.1, -0.2, 0.3)):
        assert CI.match(cell) and " to " in cell


def test_wide_tables_show_the_columns_that_fit_and_name_the_rest():
    from breastlab._table import fit_columns

    df = pd.DataFrame(
        {"column": ["field_strength_t", "age"], "group": ["1.5", "<=52"], "reason": ["x" * 150, "feasible"],
         "patients": [20130.0, 7.0], "headroom": [1.25, 0.5]}
    )  # fmt: skip
    assert len(format_table(df).splitlines()[0]) > 120  # too wide as it is
    text = format_table(df, "scan", max_width=120, keep=2, full_table="out/scan.csv")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 120
    header = lines[2].split()
    assert header == ["column", "group", "patients", "headroom"]  # the narrow columns after the wide one stay
    assert "20130" in text and "1.25" in text  # numbers as before
    assert lines[-1] == "left out to fit 120 characters: reason; full table: out/scan.csv"
    assert "pass --out DIR" in format_table(df, max_width=120)
    narrow = df.drop(columns="reason")
    assert format_table(narrow, max_width=120) == format_table(narrow)  # a table that fits is unchanged
    # identifying columns that are too wide on their own are cut, never dropped; numbers are never cut
    shown, left_out = fit_columns(df.assign(column=["y" * 200, "age"]), 60, keep=2)
    assert list(shown.columns)[:2] == ["column", "group"] and "reason" in left_out
    assert shown["column"].iloc[0].endswith("\u2026") and shown["column"].iloc[1] == "age"
    assert max(len(line) for line in format_table(shown).splitlines()) <= 60


def test_emit_prints_a_fitting_table_and_writes_every_column(tmp_path, capsys):
    from breastlab._table import emit

    df = pd.DataFrame({"id": ["a", "b"], "note": ["n" * 130, "m"], "value": [0.8589, 3.0]})
    emit(df, "t", csv_path=tmp_path / "t.csv")
    printed = capsys.readouterr().out
    assert max(len(line) for line in printed.splitlines()) <= 120 and "0.8589" in printed
    assert f"note; full table: {tmp_path / 't.csv'}" in " ".join(printed.split())  # the note may wrap
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), df)


def test_emit_prints_one_wide_row_as_field_value_lines(capsys):
    from breastlab._table import emit

    row = pd.DataFrame(
        [{f"metric_{i:02d}": 0.5 + i / 100 for i in range(20)} | {"cases": 20130.0, "x": 1 / 3, "m": "erm"}]
    )
    assert len(format_table(row).splitlines()[0]) > 120
    emit(row, "run")
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 120 and lines[2].split() == ["field", "value"]
    assert lines[3].split() == ["metric_00", "0.5"] and [line.split() for line in lines[-3:]] == [
        ["cases", "20130"],
        ["x", "0.3333"],
        ["m", "erm"],
    ]  # numbers in the table's format, though the column mixes text and numbers


def test_p_values_print_as_in_a_journal_table():
    from breastlab._table import format_p

    assert [format_p(p) for p in (0.0, 9.0e-6, 0.000999, 0.001, 0.01373, 0.5, 1.0)] == [
        "<0.001", "<0.001", "<0.001", "0.001", "0.014", "0.500", "1.000"
    ]  # fmt: skip
    assert format_p(None) == format_p(float("nan")) == "-"
