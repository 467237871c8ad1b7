"""`breastlab stats auc` options, `stats roc-test` and `stats power`: printed table and JSON with every figure.

The JSON figures are compared with the library functions (themselves checked against pROC in
test_stats_proc_*.py), so the command line adds no arithmetic of its own.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from breastlab.cli import main
from breastlab.evaluate.stats import (
    best_threshold,
    ci_auc,
    partial_auc,
    power_one_curve,
    roc_test,
    smooth_roc,
    var_auc,
)


@pytest.fixture()
def csv(tmp_path):
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 200)
    df = pd.DataFrame(
        {
            "truth": y,
            "ai": np.round(y + rng.normal(0, 1, y.size), 2),
            "reader": np.round(0.5 * y + rng.normal(0, 1, y.size), 1),
        }
    )
    path = tmp_path / "scores.csv"
    df.to_csv(path, index=False)
    return path, df


def test_auc_with_partial_smooth_var_and_best(csv, capsys):
    path, df = csv
    out = path.with_name("auc.json")
    rc = main(
        [
            "stats",
            "auc",
            str(path),
            "--truth",
            "truth",
            "--score",
            "ai",
            "--partial-auc",
            "0.8",
            "1",
            "--partial-correct",
            "--smooth",
            "binormal",
            "--var-method",
            "obuchowski",
            "--best-method",
            "closest.topleft",
            "--best-weights",
            "2",
            "0.3",
            "--n-boot",
            "300",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "partial_auc_mcclish" in printed and "auc_binormal" in printed
    row = json.loads(out.read_text())["rows"][0]
    y, s = df["truth"], df["ai"]
    assert row["partial_auc_mcclish"] == pytest.approx(partial_auc(y, s, (0.8, 1), correct=True), abs=1e-12)
    assert row["partial_lower"] <= row["partial_auc_mcclish"] <= row["partial_upper"]
    assert row["auc_binormal"] == pytest.approx(smooth_roc(y, s, "binormal").auc, abs=1e-12)
    assert row["var_obuchowski"] == pytest.approx(var_auc(y, s, method="obuchowski"), abs=1e-15)
    best = best_threshold(y, s, "closest.topleft", (2, 0.3))
    assert row["closest.topleft_threshold"] in set(best["threshold"])
    assert json.loads(out.read_text())["input"] == "scores.csv"  # no local absolute path


@pytest.mark.parametrize("method,extra", [("venkatraman", []), ("specificity", ["--level", "0.9"]), ("bootstrap", [])])
def test_roc_test_command(csv, method, extra):
    path, df = csv
    out = path.with_name(f"{method}.json")
    rc = main(
        [
            "stats",
            "roc-test",
            str(path),
            "--truth",
            "truth",
            "--score",
            "ai",
            "--score",
            "reader",
            "--method",
            method,
            "--boot-n",
            "200",
            "--seed",
            "3",
            "--json",
            str(out),
            *extra,
        ]
    )
    assert rc == 0
    row = json.loads(out.read_text())["rows"][0]
    ref = roc_test(df["truth"], df["ai"], df["reader"], method=method, n_boot=200, seed=3, level=0.9 if extra else None)
    assert row["n_boot"] == 200 and row["seed"] == 3
    assert row["statistic"] == pytest.approx(ref.statistic, rel=1e-12)
    assert row["p_value"] == pytest.approx(ref.p_value, rel=1e-12)
    assert row["comparison"] == "ai - reader"


def test_smoothed_curves_bootstrap_commands(csv):
    path, df = csv
    base = ["stats", "roc-test", str(path), "--truth", "truth", "--score", "ai", "--score", "reader", "--boot-n", "200"]
    out = path.with_name("smooth_test.json")
    assert main([*base, "--method", "bootstrap", "--smooth", "density", "--seed", "3", "--json", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    ref = roc_test(df["truth"], df["ai"], df["reader"], method="bootstrap", smooth="density", n_boot=200, seed=3)
    assert row["measure"] == "smoothed AUC (density)"
    assert row["statistic"] == pytest.approx(ref.statistic, rel=1e-12) and row["estimate1"] == ref.estimate1
    assert main([*base, "--smooth", "binormal"]) == 2  # DeLong's test of smoothed curves is refused
    out = path.with_name("smooth_auc.json")
    argv = ["stats", "auc", str(path), "--truth", "truth", "--score", "ai", "--method", "bootstrap", "--n-boot", "200"]
    assert main([*argv, "--smooth", "binormal", "--seed", "5", "--json", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    ci = ci_auc(df["truth"], df["ai"], method="bootstrap", smooth="binormal", n_boot=200, seed=5)
    assert row["auc_binormal"] == pytest.approx(ci.auc, abs=1e-12)
    assert (row["auc_binormal_lower"], row["auc_binormal_upper"]) == pytest.approx((ci.lower, ci.upper), abs=1e-12)


def test_power_command(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["stats", "power", "--auc", "0.8", "--power", "0.9", "--controls-per-case", "1.7", "--out", "."]) == 0
    row = json.loads((tmp_path / "power.json").read_text())["rows"][0]
    assert row["solved_for"] == "ncases"
    assert row["ncases"] == pytest.approx(power_one_curve(auc=0.8, power=0.9, kappa=1.7).ncases, rel=1e-12)
    assert "solved for ncases" in capsys.readouterr().out


def test_power_command_solves_the_significance_level(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["stats", "power", "--auc", "0.65", "--cases", "20", "--controls-per-case", "2", "--power", "0.7"]
    assert main([*argv, "--solve-sig-level", "--out", "."]) == 0
    row = json.loads((tmp_path / "power.json").read_text())["rows"][0]
    ref = power_one_curve(auc=0.65, ncases=20, kappa=2, power=0.7, sig_level=None)
    assert row["solved_for"] == "sig_level" and row["sig_level"] == pytest.approx(ref.sig_level, rel=1e-12)
    assert "solved for sig_level" in capsys.readouterr().out
    assert main([*argv, "--solve-sig-level", "--sig-level", "0.05"]) == 2
    assert "drop --sig-level" in capsys.readouterr().err


def test_power_command_bad_input_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["stats", "power", "--auc", "0.8", "--cases", "40", "--controls", "40", "--power", "0.9"]) == 2
    err = capsys.readouterr().err
    assert "breastlab: error:" in err and "Traceback" not in err
