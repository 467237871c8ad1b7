"""`breastlab evaluate PRED.csv`: any model's predictions, checked against scikit-learn on the same rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

from breastlab.cli import main

SPLITS = ("train", "val", "test")


def write_model_predictions(path, seed=0, n_patients=30, threshold=0.4):
    """What another model's export looks like: its own column names, several slices per patient, a logit-free
    score that rises with the truth, and a scanner attribute that follows the truth on train and val only."""
    rng = np.random.default_rng(seed)
    rows = []
    for split in SPLITS:
        for i in range(n_patients):
            patient = f"{split}{i:02d}"
            for _ in range(rng.integers(2, 6)):
                truth = int(rng.random() < 0.45)
                follows = rng.random() < (0.9 if split != "test" else 0.5)
                scanner = ("GE" if truth else "Siemens") if follows else ("Siemens" if truth else "GE")
                score = 0.3 * truth + 0.25 * (scanner == "GE") + rng.normal(0.2, 0.25)
                rows.append({"case": patient, "y_true": truth, "p_tumour": score, "fold": split, "scanner": scanner})
    table = pd.DataFrame(rows)
    table.to_csv(path, index=False)
    return table


def sklearn_figures(y, score, threshold):
    pred = (score >= threshold).astype(int)
    return {
        "accuracy": accuracy_score(y, pred),
        "ppv": precision_score(y, pred),
        "npv": precision_score(y, pred, pos_label=0),
        "sensitivity": recall_score(y, pred),
        "specificity": recall_score(y, pred, pos_label=0),
        "auc": roc_auc_score(y, score),
    }


ARGS = ["--truth", "y_true", "--score", "p_tumour", "--patient", "case"]


def test_csv_figures_equal_sklearn(tmp_path, capsys):
    threshold = 0.4
    table = write_model_predictions(tmp_path / "model.csv", threshold=threshold)
    out = tmp_path / "ev"
    argv = ["evaluate", str(tmp_path / "model.csv"), *ARGS, "--split", "fold", "--attribute", "scanner"]
    assert main([*argv, "--threshold", str(threshold), "--bootstrap", "200", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Table 2" in printed and "written:" in printed
    saved = json.loads((out / "metrics.json").read_text())
    csv = pd.read_csv(out / "metrics.csv")
    assert saved["input"]["predictions_file"] == "model.csv" and saved["input"]["threshold"] == threshold
    assert str(tmp_path) not in (out / "metrics.json").read_text()  # no local paths in what is shared
    checked = 0
    for split in SPLITS:
        part = table[table["fold"] == split]
        ref = sklearn_figures(part["y_true"], part["p_tumour"].to_numpy(), threshold)
        for metric, value in ref.items():
            js = next(r for r in saved["overall"] if r["split"] == split and r["metric"] == metric)
            row = csv[(csv["split"] == split) & (csv["metric"] == metric)].iloc[0]
            # Ratios of counts are the same division in both; the AUC sums in another order (trapezoids).
            tol = 1e-12 if metric == "auc" else 0
            assert js["estimate"] == pytest.approx(value, abs=tol, rel=0), (split, metric)
            assert row["estimate"] == pytest.approx(value, abs=tol, rel=0), (split, metric)
            assert js["ci_low"] <= js["estimate"] <= js["ci_high"], (split, metric)
            assert js["ci_low"] < js["ci_high"] or js["estimate"] in (0.0, 1.0), (split, metric)
            assert js["n_patients"] == part["case"].nunique() and js["n_images"] == len(part)
            checked += 1
    assert checked == 18
    # Per group (truth x scanner) accuracy and the worst group, against scikit-learn on each group's rows.
    groups = pd.read_csv(out / "groups.csv")
    for (split, truth, scanner), part in table.groupby(["fold", "y_true", "scanner"]):
        row = groups[(groups["split"] == split) & (groups["group"] == f"{truth}|{scanner}")].iloc[0]
        acc = accuracy_score(part["y_true"], (part["p_tumour"] >= threshold).astype(int))
        assert row["accuracy"] == pytest.approx(acc, abs=1e-12)
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]
    for w in saved["worst_group"]:
        assert w["accuracy"] == pytest.approx(groups[groups["split"] == w["split"]]["accuracy"].min())
    # The shortcut: GE is mostly tumour on train, and the rule "tumour iff GE" is right on ~90 % of val rows
    # (the attribute follows the truth there) and ~50 % of test rows (it does not).
    assert saved["shortcut"]["rule_positive_attributes"] == ["GE"]
    shortcut = pd.read_csv(out / "shortcut.csv")
    for split in ("val", "test"):
        part = table[table["fold"] == split]
        got = shortcut[(shortcut["split"] == split) & (shortcut["figure"] == "rule_accuracy")]["estimate"].iloc[0]
        assert got == pytest.approx(accuracy_score(part["y_true"], (part["scanner"] == "GE").astype(int)))


def test_parquet_defaults_and_single_split(tmp_path):
    # breastlab's own column names are the defaults; without --split every row is the test split.
    table = write_model_predictions(tmp_path / "m.csv", seed=3)
    table.rename(columns={"y_true": "label", "p_tumour": "score", "case": "patient_id"}).to_parquet(
        tmp_path / "m.parquet"
    )
    out = tmp_path / "ev"
    assert main(["evaluate", str(tmp_path / "m.parquet"), "--bootstrap", "50", "--out", str(out)]) == 0
    saved = json.loads((out / "metrics.json").read_text())
    assert {r["split"] for r in saved["overall"]} == {"test"}
    acc = next(r for r in saved["overall"] if r["metric"] == "accuracy")["estimate"]
    assert acc == pytest.approx(accuracy_score(table["y_true"], (table["p_tumour"] >= 0.5).astype(int)))
    auc = next(r for r in saved["overall"] if r["metric"] == "auc")["estimate"]
    assert auc == pytest.approx(roc_auc_score(table["y_true"], table["p_tumour"]))


def test_without_out_prints_only(tmp_path, capsys):
    write_model_predictions(tmp_path / "model.csv")
    assert main(["evaluate", str(tmp_path / "model.csv"), *ARGS, "--bootstrap", "0"]) == 0
    assert "Test" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.csv"]


@pytest.mark.parametrize(
    ("change", "args", "named"),
    [
        (lambda t: t.drop(columns="p_tumour"), [], "'p_tumour' (named by --score)"),
        (lambda t: t.drop(columns="case"), [], "'case' (named by --patient)"),
        (lambda t: t.assign(y_true=t["y_true"].replace(1, 2)), [], "'y_true' (--truth) must hold only 0 and 1"),
        (lambda t: t.assign(y_true=t["y_true"].astype(float).mask(t.index == 4)), [], "'y_true' (--truth)"),
        (lambda t: t.assign(p_tumour=t["p_tumour"].mask(t.index == 7)), [], "'p_tumour' (--score)"),
        (lambda t: t.assign(p_tumour="high"), [], "'p_tumour' (--score) must hold finite numbers"),
        (lambda t: t.assign(fold=t["fold"].replace("val", "validation")), ["--split", "fold"], "'validation'"),
        (lambda t: t, ["--split", "partition"], "'partition' (named by --split)"),
        (lambda t: t.assign(case=t["case"].mask(t.index == 2)), [], "'case' (--patient) is blank"),
    ],
)
def test_bad_input_exits_2_naming_the_column(tmp_path, capsys, change, args, named):
    table = write_model_predictions(tmp_path / "model.csv")
    change(table).to_csv(tmp_path / "model.csv", index=False)
    out = tmp_path / "ev"
    assert main(["evaluate", str(tmp_path / "model.csv"), *ARGS, *args, "--bootstrap", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert named in err and "model.csv" in err, err
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_bad_file_and_options(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing.csv"), *ARGS]) == 2
    assert "no such predictions file" in capsys.readouterr().err
    (tmp_path / "empty.csv").write_text("")
    assert main(["evaluate", str(tmp_path / "empty.csv"), *ARGS]) == 2
    assert "empty.csv" in capsys.readouterr().err
    write_model_predictions(tmp_path / "model.csv")
    assert main(["evaluate", str(tmp_path / "model.csv"), *ARGS, "--threshold", "nan"]) == 2
    assert "--threshold" in capsys.readouterr().err
    # File options on a run folder are refused rather than ignored.
    assert main(["evaluate", str(tmp_path), "--truth", "y_true"]) == 2
    assert "--truth" in capsys.readouterr().err


def test_run_predictions_parquet_is_one_such_input(tmp_path):
    # A run's own predictions.parquet read as a file gives the figures `breastlab evaluate RUN` gives
    # (the trainer's pred is score >= 0.5, the file path's default threshold).
    from breastlab._io import write_table
    from breastlab.evaluate.metrics import evaluate_run

    t = write_model_predictions(tmp_path / "model.csv", seed=4)
    own = pd.DataFrame(
        {
            "image_id": [f"i{k}" for k in range(len(t))],
            "patient_id": t["case"],
            "split": t["fold"],
            "label": t["y_true"],
            "group": t["y_true"].astype(str) + "|" + t["scanner"],
            "attribute": t["scanner"],
            "score": t["p_tumour"],
            "pred": (t["p_tumour"] >= 0.5).astype(int),
        }
    )
    run = tmp_path / "run"
    write_table(own, run / "predictions.parquet")
    by_run = evaluate_run(run, n_boot=100, seed=2, write=False)
    out = tmp_path / "ev"
    argv = ["evaluate", str(run / "predictions.parquet"), "--split", "split", "--attribute", "attribute"]
    assert main([*argv, "--bootstrap", "100", "--seed", "2", "--out", str(out)]) == 0
    by_file = pd.read_csv(out / "metrics.csv")
    pd.testing.assert_frame_equal(by_run.overall.reset_index(drop=True), by_file, check_dtype=False)
    assert by_run.shortcut["estimate"].tolist() == pytest.approx(pd.read_csv(out / "shortcut.csv")["estimate"].tolist())
