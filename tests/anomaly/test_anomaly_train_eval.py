"""Anomaly training (folds, resume, outputs) and evaluation figures against scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from breastlab.anomaly.evaluate import (
    breast_level,
    evaluate_anomaly_run,
    low_prevalence,
    low_prevalence_draws,
    mean_roc,
    pixel_auc,
    triage,
)
from breastlab.anomaly.train import AnomalyConfig, patient_folds, train_anomaly
from breastlab.data.store import write_store
from breastlab.errors import BreastlabInputError


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory):
    """16 patients x 2 breasts, 32x32: abnormal breasts carry a bright square (the box)."""
    rng = np.random.default_rng(0)
    images, rows, finds = [], [], []
    for p in range(16):
        for side in ("R", "L"):
            img = (rng.random((32, 32)) * 60).astype(np.uint8)
            label = int(side == ("L" if p % 2 else "R"))
            iid = f"P{p:02d}:{side}"
            if label:
                y, x = rng.integers(4, 22, size=2)
                img[y : y + 6, x : x + 6] = 250
                finds.append(
                    {
                        "image_id": iid,
                        "finding_id": f"{iid}:0",
                        "finding_class": "tumour_box",
                        "x0": x,
                        "y0": y,
                        "x1": x + 6,
                        "y1": y + 6,
                    }
                )
            images.append(img)
            rows.append(
                {
                    "image_id": iid,
                    "patient_id": f"P{p:02d}",
                    "side": side,
                    "label": label,
                    "has_box": bool(label),
                    "content_x0": 0,
                    "content_y0": 0,
                    "content_x1": 32,
                    "content_y1": 32,
                }
            )
    path = tmp_path_factory.mktemp("toy") / "store"
    return write_store(path, np.stack(images), pd.DataFrame(rows), pd.DataFrame(finds))


def test_patient_folds_keep_both_breasts_together(toy_store):
    man = toy_store.manifest
    fold = patient_folds(man, 4, seed=1)
    assert (pd.Series(fold).groupby(man["patient_id"]).nunique() == 1).all()
    assert sorted(np.bincount(fold)) == [8, 8, 8, 8]
    with pytest.raises(BreastlabInputError, match="at least 40 patients"):
        patient_folds(man, 40)


def test_train_fcdd_and_bce_end_to_end_with_resume(toy_store, tmp_path):
    cfg = AnomalyConfig(
        store=str(toy_store.path),
        out=str(tmp_path / "fcdd"),
        model="fcdd",
        width=8,
        depth=3,
        epochs=15,
        batch_size=8,
        lr=3e-3,
        folds=2,
        seeds=(0,),
        progress=False,
    )
    run = train_anomaly(cfg)
    pred = run.predictions
    assert sorted(pred["row"]) == list(range(32))  # every breast scored once, from its held-out fold
    heat = np.load(tmp_path / "fcdd" / "heatmaps_seed0.npy")
    assert heat.shape == (32, 32, 32) and np.isfinite(heat.astype(np.float32)).all()
    ev = evaluate_anomaly_run(run.run_dir, prevalence=0.1, repeats=5)
    s = ev.summary()
    print({k: s[k] for k in ("auc_balanced", "pixel_auc_median")})
    assert s["auc_balanced"] > 0.8 and s["pixel_auc_median"] > 0.8  # the squares are trivial to find
    # resume: finished folds are not retrained (same predictions, nothing recomputed)
    again = train_anomaly(cfg)
    pd.testing.assert_frame_equal(again.predictions, pred)
    bad = AnomalyConfig(**{**cfg.__dict__, "epochs": 16})
    with pytest.raises(BreastlabInputError, match="other settings"):
        train_anomaly(bad)
    bce = train_anomaly(AnomalyConfig(**{**cfg.__dict__, "model": "bce", "out": str(tmp_path / "bce"), "epochs": 2}))
    assert np.load(tmp_path / "bce" / "heatmaps_seed0.npy").max() <= 1.0  # Grad-CAM maps in [0, 1]
    assert len(bce.predictions) == 32
    # CLI evaluation of both runs with the HTML anomaly section (self-contained)
    from breastlab.cli import main

    html = tmp_path / "anomaly.html"
    section = tmp_path / "eval"
    assert (
        main(
            [
                "anomaly",
                "evaluate",
                str(tmp_path / "fcdd"),
                str(tmp_path / "bce"),
                "--prevalence",
                "0.1",
                "--repeats",
                "3",
                "--html",
                str(html),
                "--out",
                str(section),
            ]
        )
        == 0
    )
    text = html.read_text()
    assert "Anomaly detection on breast MIPs" in text and "data:image/png;base64," in text
    assert "http://" not in text and "https://" not in text
    _check_section_folder(section, tmp_path, ev)


def _check_section_folder(section, tmp_path, ev_fcdd):
    """The evaluate output folder rebuilds the section alone (runs and store deleted) and is found by
    `breastlab report`."""
    import json
    import shutil

    from breastlab.anomaly.report import section_from_dir
    from breastlab.report import write_report

    marker = json.loads((section / "anomaly_section.json").read_text())
    assert [m["name"] for m in marker["models"]] == ["fcdd", "bce"]
    assert marker["settings"]["prevalence"] == 0.1 and marker["settings"]["repeats"] == 3
    saved = pd.read_csv(section / "comparison.csv")
    assert saved.loc[0, "auc_balanced"] == pytest.approx(ev_fcdd.summary()["auc_balanced"])
    scores = pd.read_parquet(section / "fcdd" / "scores.parquet")
    assert roc_auc_score(scores["label"], scores["score"]) == pytest.approx(ev_fcdd.summary()["auc_balanced"])
    shutil.rmtree(tmp_path / "fcdd")
    shutil.rmtree(tmp_path / "bce")
    frag = section_from_dir(section)
    print(f"anomaly section: {len(frag)} characters, {frag.count('<img')} images, {frag.count('<table')} tables")
    assert frag.startswith("<h2>Anomaly detection on breast MIPs</h2>")
    assert frag.count("<table") == 2  # comparison, triage
    assert frag.count("<img") == 4  # ROC (both tasks), pixel AUC box plots, one gallery per model
    assert "Gallery: fcdd" in frag and "Gallery: bce" in frag and frag.count("data:image/png;base64,") == 4
    page = write_report(section, tmp_path / "report.html").read_text()
    assert "<h2>Anomaly detection on breast MIPs</h2>" in page and page.count("<img") == 4
    (section / "fcdd" / "pixel.parquet").unlink()
    with pytest.raises(BreastlabInputError, match="missing"):
        section_from_dir(section)
    with pytest.raises(BreastlabInputError, match="no anomaly_section.json"):
        section_from_dir(tmp_path)


def test_pixel_auc_against_sklearn():
    rng = np.random.default_rng(1)
    heat = rng.random((20, 20))
    mask = np.zeros((20, 20), bool)
    mask[5:9, 3:11] = True
    heat[mask] += 0.3
    assert pixel_auc(heat, mask) == pytest.approx(roc_auc_score(mask.ravel(), heat.ravel()))
    region = (2, 1, 15, 18)  # x0, y0, x1, y1
    sub_h, sub_m = heat[1:18, 2:15], mask[1:18, 2:15]
    assert pixel_auc(heat, mask, region) == pytest.approx(roc_auc_score(sub_m.ravel(), sub_h.ravel()))
    assert np.isnan(pixel_auc(heat, np.zeros_like(mask)))


def test_triage_and_low_prevalence_against_sklearn():
    rng = np.random.default_rng(2)
    y = np.r_[np.ones(30, int), np.zeros(200, int)]
    s = np.r_[rng.normal(1.5, 1, 30), rng.normal(0, 1, 200)]
    fpr, tpr, _ = roc_curve(y, s)
    t = triage(y, s)
    for se in (1.0, 0.99, 0.95):
        assert t[f"normals_set_aside_at_sens_{round(se * 100)}"] == pytest.approx(1 - fpr[tpr >= se].min())
    assert t["sens_at_spec_90"] == pytest.approx(tpr[fpr <= 0.10].max())
    b = breast_level(y, s)
    assert b["auc"] == pytest.approx(roc_auc_score(y, s)) and b["auc_lower"] < b["auc"] < b["auc_upper"]
    lp = low_prevalence(y, s, prevalence=0.02, repeats=7, seed=0)
    n_pos = round(0.02 / 0.98 * 200)  # 4 abnormal against 200 normal breasts
    assert len(lp) == 7 and (lp["n_abnormal"] == n_pos).all() and (lp["n_normal"] == 200).all()
    assert lp["prevalence"].iloc[0] == pytest.approx(n_pos / (n_pos + 200))
    with pytest.raises(BreastlabInputError, match="only 30 exist"):
        low_prevalence(y, s, prevalence=0.5)


def test_low_prevalence_mean_roc_against_sklearn():
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(20, int), np.zeros(150, int)]
    s = np.r_[rng.normal(1.0, 1, 20), rng.normal(0, 1, 150)]
    draws = list(low_prevalence_draws(y, 0.03, 25, seed=4))
    # the figures of the task come from the same subsamples
    lp = low_prevalence(y, s, 0.03, 25, seed=4)
    assert lp["auc"].tolist() == pytest.approx([roc_auc_score(y[i], s[i]) for i in draws])
    roc = mean_roc(y, s, draws, grid=201)
    grid = np.linspace(0, 1, 201)
    curves = []
    for idx in draws:
        fpr, tpr, _ = roc_curve(y[idx], s[idx], drop_intermediate=False)
        # highest TPR reached at or before each grid FPR, joined by straight lines between ROC points
        curves.append([tpr[fpr <= g].max() if (fpr == g).any() else np.interp(g, fpr, tpr) for g in grid])
    ref = np.array(curves)
    assert roc["tpr_mean"].to_numpy() == pytest.approx(ref.mean(axis=0))
    assert roc["tpr_p97.5"].to_numpy() == pytest.approx(np.percentile(ref, 97.5, axis=0))
    assert roc["tpr_mean"].iloc[-1] == 1.0 and (np.diff(roc["tpr_mean"]) >= -1e-12).all()
    # the area under the mean curve is the mean AUC (up to the grid's trapezoids)
    assert np.trapezoid(roc["tpr_mean"], roc["fpr"]) == pytest.approx(lp["auc"].mean(), abs=0.01)


def test_weights_are_checked_before_training(tmp_path):
    """Weights go with the vgg11 backbone only (the small one would ignore them) and must be a file or imagenet."""
    for weights in (None, "none", "None"):
        AnomalyConfig(store="s", out="o", weights=weights).validate()
    with pytest.raises(BreastlabInputError, match="only the vgg11 backbone takes weights"):
        AnomalyConfig(store="s", out="o", weights="imagenet").validate()
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path, why in ((tmp_path / "absent.pt", "no such file"), (empty, "an empty file")):
        with pytest.raises(BreastlabInputError, match=why):
            AnomalyConfig(store="s", out="o", backbone="vgg11", weights=str(path)).validate()
    AnomalyConfig(store="s", out="o", backbone="vgg11", weights="imagenet").validate()


def test_a_moved_run_finds_its_store_and_earlier_runs_still_evaluate(toy_store, tmp_path, monkeypatch):
    """The run records its store relative to itself: the project (store and runs) moved elsewhere evaluates
    with the same figures and resumes without training again. A run of an earlier version (the store as
    typed, from the working folder) still evaluates; a store of another checksum is refused."""
    import json
    import shutil

    project = tmp_path / "project"
    shutil.copytree(toy_store.path, project / "mips")
    cfg = AnomalyConfig(store=str(project / "mips"), out=str(project / "runs" / "bce"), model="bce", width=8,
                        depth=3, epochs=1, batch_size=8, folds=2, seeds=(0,), progress=False)  # fmt: skip
    first = train_anomaly(cfg)
    config = json.loads((project / "runs" / "bce" / "config.json").read_text())
    assert (config["store"], config["out"]) == ("../../mips", "bce") and str(tmp_path) not in json.dumps(config)
    before = evaluate_anomaly_run(first.run_dir, prevalence=0.1, repeats=3)
    shutil.move(project, tmp_path / "moved")
    run = tmp_path / "moved" / "runs" / "bce"
    after = evaluate_anomaly_run(run, prevalence=0.1, repeats=3)
    pd.testing.assert_frame_equal(after.balanced, before.balanced)
    pd.testing.assert_frame_equal(after.pixel, before.pixel)
    again = train_anomaly(AnomalyConfig(**{**cfg.__dict__, "store": str(tmp_path / "moved" / "mips"), "out": str(run)}))
    pd.testing.assert_frame_equal(again.predictions, first.predictions)
    monkeypatch.chdir(tmp_path / "moved")
    (run / "config.json").write_text(json.dumps({**config, "store": "mips"}))  # as typed in the project folder
    pd.testing.assert_frame_equal(evaluate_anomaly_run(run, prevalence=0.1, repeats=3).pixel, before.pixel)
    (run / "config.json").write_text(json.dumps({**config, "store_checksum": "0" * 64}))
    with pytest.raises(BreastlabInputError, match="no store with the checksum it was trained on"):
        evaluate_anomaly_run(run, prevalence=0.1, repeats=3)
