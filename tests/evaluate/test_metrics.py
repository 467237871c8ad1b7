"""Table 2, group and shortcut figures against scikit-learn and hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    precision_score,
    recall_score,
    roc_auc_score,
)

from breastlab._io import write_table
from breastlab.cli import main
from breastlab.errors import BreastlabInputError
from breastlab.evaluate.metrics import (
    METRICS,
    evaluate_predictions,
    evaluate_run,
    format_table2,
    shortcut_table,
    table2_frame,
)


def make_predictions(n_patients=(40, 12, 12), slices=6, rho=(0.95, 0.95, 0.0), shortcut=0.9, seed=0) -> pd.DataFrame:
    """Slices of patients in train/val/test; the attribute ("1.5"/"3.0") agrees with the label with
    probability (1 + rho) / 2; the score follows the attribute with weight ``shortcut``."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, n, r in zip(("train", "val", "test"), n_patients, rho, strict=True):
        for i in range(n):
            pid = f"P{split}{i:03d}"
            for k in range(slices):
                label = int(rng.random() < 0.5)
                aligned = rng.random() < (1 + r) / 2
                attr = ("1.5" if label else "3.0") if aligned else ("3.0" if label else "1.5")
                score = float(np.clip(shortcut * (attr == "1.5") + (1 - shortcut) * label + rng.normal(0, 0.15), 0, 1))
                rows.append(
                    {
                        "row": len(rows),
                        "image_id": f"{pid}:{k}",
                        "patient_id": pid,
                        "split": split,
                        "label": label,
                        "group": f"{label}|{attr}",
                        "attribute": attr,
                        "transform": "",
                        "score": score,
                        "pred": int(score >= 0.5),
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def preds() -> pd.DataFrame:
    return make_predictions()


@pytest.fixture(scope="module")
def ev(preds):
    return evaluate_predictions(preds, n_boot=300, seed=1)


def test_point_estimates_match_sklearn(preds, ev):
    for split, part in preds.groupby("split"):
        y, p, s = part["label"], part["pred"], part["score"]
        ref = {
            "accuracy": accuracy_score(y, p),
            "ppv": precision_score(y, p, zero_division=np.nan),
            "npv": precision_score(y, p, pos_label=0, zero_division=np.nan),
            "sensitivity": recall_score(y, p),
            "specificity": recall_score(y, p, pos_label=0),
            "auc": roc_auc_score(y, s),
        }
        for metric in METRICS:
            assert ev.value(split, metric) == pytest.approx(ref[metric], abs=1e-12), (split, metric)
        tn, fp, fn, tp = confusion_matrix(y, p, labels=[0, 1]).ravel()
        row = ev.overall[(ev.overall["split"] == split)].iloc[0]
        assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (tp, fp, tn, fn)
        assert row["n_patients"] == part["patient_id"].nunique()


def test_cis_contain_estimate_and_are_ordered():
    ev = evaluate_predictions(make_predictions(rho=(0.5, 0.5, 0.0), shortcut=0.5, seed=2), n_boot=300, seed=1)
    for table in (ev.overall, ev.groups):
        est = table["estimate"] if "estimate" in table else table["accuracy"]
        ok = est.notna() & table["ci_low"].notna()
        assert ok.sum() >= 10
        assert (table.loc[ok, "ci_high"] - table.loc[ok, "ci_low"] > 0).sum() >= 5  # not all degenerate
        assert (table.loc[ok, "ci_low"] <= est[ok] + 1e-12).all()
        assert (est[ok] <= table.loc[ok, "ci_high"] + 1e-12).all()


def test_groups_confusion_and_worst_group_match_sklearn(preds, ev):
    for (split, group), part in preds.groupby(["split", "group"]):
        row = ev.groups[(ev.groups["split"] == split) & (ev.groups["group"] == group)].iloc[0]
        tn, fp, fn, tp = confusion_matrix(part["label"], part["pred"], labels=[0, 1]).ravel()
        assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (tp, fp, tn, fn)
        assert row["accuracy"] == pytest.approx(accuracy_score(part["label"], part["pred"]))
    for split, part in preds.groupby("split"):
        acc = part.assign(ok=part["label"] == part["pred"]).groupby("group")["ok"].mean()
        assert ev.worst_group_accuracy(split) == pytest.approx(acc.min())


def test_ci_shrinks_with_more_patients():
    small = evaluate_predictions(make_predictions(n_patients=(10, 10, 10), seed=3), n_boot=300, seed=0)
    large = evaluate_predictions(make_predictions(n_patients=(10, 10, 160), seed=3), n_boot=300, seed=0)
    width = lambda e: e.value("test", "accuracy", "ci_high") - e.value("test", "accuracy", "ci_low")  # noqa: E731
    print(f"test accuracy CI width: 10 patients {width(small):.3f}, 160 patients {width(large):.3f}")
    assert width(large) < 0.5 * width(small)  # ~ 1/sqrt(16) = 0.25 expected


def test_clustered_ci_reflects_patients_not_slices():
    # Every slice of a patient is right or wrong together: the information is that of
    # n_patients cases, so the 95% CI of accuracy ~ p +- 1.96 sqrt(p (1 - p) / n_patients).
    rng = np.random.default_rng(5)
    n_pat, k = 80, 10
    right = rng.random(n_pat) < 0.7
    rows = []
    for i in range(n_pat):
        for j in range(k):
            label = j % 2
            rows.append(
                {
                    "row": len(rows),
                    "image_id": f"p{i}:{j}",
                    "patient_id": f"p{i}",
                    "split": "test",
                    "label": label,
                    "group": f"{label}|a",
                    "attribute": "a",
                    "transform": "",
                    "score": float(label if right[i] else 1 - label),
                    "pred": label if right[i] else 1 - label,
                }
            )
    e = evaluate_predictions(pd.DataFrame(rows), n_boot=2000, seed=0)
    p = right.mean()
    ref = 2 * 1.96 * np.sqrt(p * (1 - p) / n_pat)
    width = e.value("test", "accuracy", "ci_high") - e.value("test", "accuracy", "ci_low")
    naive = 2 * 1.96 * np.sqrt(p * (1 - p) / (n_pat * k))  # what slice-level resampling would give
    print(f"clustered CI width {width:.3f}, patient-level normal approx {ref:.3f}, slice-level {naive:.3f}")
    assert width == pytest.approx(ref, rel=0.2)


def test_shortcut_figures_hand_computed():
    # 4 test images of 4 patients; rule: tumour iff attribute "1.5" (fitted on train).
    df = pd.DataFrame(
        {
            "row": range(8),
            "image_id": [f"i{i}" for i in range(8)],
            "patient_id": [f"p{i}" for i in range(8)],
            "split": ["train"] * 4 + ["test"] * 4,
            "label": [1, 1, 0, 0, 1, 0, 1, 0],
            "attribute": ["1.5", "1.5", "3.0", "3.0", "1.5", "1.5", "3.0", "3.0"],
            "pred": [1, 1, 0, 0, 1, 1, 1, 0],
            "score": [0.9, 0.8, 0.1, 0.2, 0.9, 0.7, 0.6, 0.1],
        }
    )
    df["group"] = df["label"].astype(str) + "|" + df["attribute"]
    table, rule = shortcut_table(df, n_boot=0)
    assert rule == ["1.5"]
    t = table[table["split"] == "test"].set_index("figure")["estimate"]
    # rule on test: 1, 1, 0, 0 vs labels 1, 0, 1, 0 -> 2/4; vs preds 1, 1, 1, 0 -> 3/4.
    assert t["rule_accuracy"] == pytest.approx(0.5)
    assert t["rule_agreement"] == pytest.approx(0.75)
    # best attribute-only rule for the preds: "1.5" -> 1 (2 of 2), "3.0" -> 1 or 0 (1 of 2): 3/4.
    assert t["attribute_explained"] == pytest.approx(0.75)
    assert t["model_accuracy"] == pytest.approx(0.75)
    # kappa: p_o 3/4, rule 1s 1/2, model 1s 3/4: p_e = 1/2 * 3/4 + 1/2 * 1/4 = 1/2 -> (3/4 - 1/2) / (1/2) = 1/2
    assert t["rule_kappa"] == pytest.approx(0.5)
    test = df[df["split"] == "test"]
    assert t["rule_kappa"] == pytest.approx(cohen_kappa_score(test["attribute"] == "1.5", test["pred"] == 1))


def test_shortcut_model_detected_and_gap(preds, ev):
    sc = ev.shortcut[ev.shortcut["split"] == "test"].set_index("figure")
    assert ev.rule == ["1.5"]
    assert sc.loc["rule_agreement", "estimate"] > 0.9  # the model follows the attribute
    acc = {s: accuracy_score(p["label"], p["pred"]) for s, p in preds.groupby("split")}
    assert ev.gap["estimate"] == pytest.approx(acc["val"] - acc["test"])
    assert ev.gap["ci_low"] <= ev.gap["estimate"] <= ev.gap["ci_high"]
    assert ev.gap["estimate"] > 0.3  # the spurious split's validation-test drop


def test_table2_layout(ev):
    t2 = table2_frame(ev)
    assert list(t2.columns[1:4]) == ["Train Acc", "Train PPV", "Train NPV"]
    assert len(t2.columns) == 10
    text = format_table2([ev, ev])
    acc = ev.value("test", "accuracy")
    assert f"{acc:.2f} (" in text


def test_evaluate_run_writes_and_reuses(tmp_path, preds):
    run = tmp_path / "run1"
    write_table(preds, run / "predictions.parquet")
    (run / "config.json").write_text(json.dumps({"model": "small_cnn"}))
    ev1 = evaluate_run(run, n_boot=50, seed=0)
    saved = json.loads((run / "evaluation" / "metrics.json").read_text())
    assert saved["n_boot"] == 50 and len(saved["overall"]) == 3 * len(METRICS)
    assert (run / "evaluation" / "groups.csv").exists()
    ev2 = evaluate_run(run, n_boot=50, seed=0)  # read back from metrics.json
    pd.testing.assert_frame_equal(ev1.overall, ev2.overall, check_dtype=False)
    # CLI: prints the Table 2 layout and the group table.
    assert main(["evaluate", str(run), "--bootstrap", "20"]) == 0


def test_bad_predictions_are_named(preds, tmp_path):
    with pytest.raises(BreastlabInputError, match="score"):
        evaluate_predictions(preds.drop(columns="score"))
    with pytest.raises(BreastlabInputError, match="label"):
        evaluate_predictions(preds.assign(label=preds["label"] * 2))
    with pytest.raises(BreastlabInputError, match="predictions.parquet"):
        evaluate_run(tmp_path)
