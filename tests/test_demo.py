"""`breastlab demo` end to end: the product's acceptance check, one run at the demo's own sizes.

Every headline finding is recomputed here from what the stages wrote (predictions, readings) with
independent code (scikit-learn), not taken from the demo's own verdict, and checked against its
goal; the detector's FROC, which has no independent reference here, is read back from the
evaluation folder's froc.csv:

- SpurBreast: spurious splits validation accuracy >= 0.95 and test <= 0.65; baseline test >= 0.80;
- anomaly: FCDD breast-level AUC >= 0.85 and its median pixel AUC above BCE + Grad-CAM's;
- classification: three-class mean pairwise AUC (Hand & Till) >= 0.75;
- detection: mass FROC mean sensitivity >= 0.7;
- reader study: the aided readers' reader-averaged AUC above the unaided one.

The same run's report is laid out in headless Chromium; cheaper tests check the verdict and
exit code of a missed goal, the refusal of a folder made with other sizes, and the ``--full``
sizes' settings at toy counts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from breastlab.demo import DEMO, GOALS, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One demo run: its folder, its result and what it printed (shown again for ``pytest -s``)."""
    out = tmp_path_factory.mktemp("demo") / "demo_out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = run_demo(out=str(out), seed=0)
    print(printed.getvalue())
    return out, result, printed.getvalue()


def test_demo_reproduces_the_shortcut_finding(demo):
    _, result, _ = demo
    acc = {}
    for name, run in result["training"]["runs"].items():
        pred = pd.read_parquet(run / "predictions.parquet")
        acc[name] = (pred["pred"] == pred["label"]).groupby(pred["split"]).mean()
        assert set(pred["split"]) >= {"train", "val", "test"}
    print({k: v.round(3).to_dict() for k, v in acc.items()})
    for spurious in ("field_strength", "vflip"):
        assert acc[spurious]["val"] >= 0.95 and acc[spurious]["test"] <= 0.65
    assert acc["baseline"]["test"] >= 0.80


def test_demo_fcdd_finds_and_localises_the_lesions(demo):
    _, result, _ = demo
    aucs, pixel = {}, {}
    for ev in result["anomaly"]["evaluations"]:
        pred = pd.read_parquet(ev.run_dir / "predictions.parquet")
        aucs[ev.model] = roc_auc_score(pred["label"], pred["score"])
        pixel[ev.model] = float(np.median(ev.pixel["pixel_auc"]))
    print(f"breast AUC {aucs}, median pixel AUC {pixel}")
    assert aucs["fcdd"] >= GOALS["fcdd_auc_min"]
    assert pixel["fcdd"] > pixel["bce"]


def test_demo_three_class_classifier(demo):
    _, result, _ = demo
    res = result["classification"]["result"]
    pred = pd.read_parquet(res.out / "predictions.parquet")
    test = pred[pred["scenario"] == "three_class"]
    assert test["y"].nunique() == 3 and test["patient_id"].nunique() >= 20
    m = roc_auc_score(test["y"], test[["p0", "p1", "p2"]].to_numpy(), multi_class="ovo", average="macro")
    print(f"three-class mean pairwise AUC {m:.3f}")
    assert m == pytest.approx(result["classification"]["auc"], abs=1e-9)
    assert m >= GOALS["three_class_auc_min"]


def test_demo_detector_finds_masses(demo):
    _, result, _ = demo
    froc = pd.read_csv(result["detection"]["section"] / "froc.csv").set_index("finding_class")
    print(froc)
    assert froc.loc["mass", "n_findings"] >= 20  # enough masses (about 30) that one lesion does not decide it
    assert froc.loc["mass", "mean_sensitivity"] == pytest.approx(result["detection"]["mass_froc"])
    assert froc.loc["mass", "mean_sensitivity"] >= GOALS["mass_froc_min"]


def test_demo_aided_readers_beat_unaided(demo):
    _, result, _ = demo
    readings = result["reader_study"]["readings"]
    humans = readings[readings["reader_group"] != "AI"]
    per_reader = {
        key: roc_auc_score(g["truth"], g["score"]) for key, g in humans.groupby(["reader", "condition"], sort=True)
    }
    mean = {c: np.mean([a for (_, cond), a in per_reader.items() if cond == c]) for c in ("unaided", "aided")}
    print(f"reader-averaged AUC {mean}")
    assert mean["aided"] == pytest.approx(result["reader_study"]["auc_aided"], abs=1e-9)
    assert mean["unaided"] == pytest.approx(result["reader_study"]["auc_unaided"], abs=1e-9)
    assert mean["aided"] > mean["unaided"]


def test_demo_report_headline_and_stage_times(demo):
    out, result, printed = demo
    html = (out / "report.html").read_text()
    for heading in (
        "SpurBreast",
        "Anomaly detection on breast MIPs",
        "Mammogram classification",
        "FROC",
        "AI-assisted reader study",
        "MRMC analysis",
    ):
        assert heading in html, heading
    assert "data:image/png;base64," in html and html.count("<table") >= 10
    headline = json.loads((out / "headline.json").read_text())
    assert headline["passed"] is True and result["passed"] is True
    assert len(headline["headline"]) == 10 and all(row["passed"] for row in headline["headline"])
    stages = [row["stage"] for row in headline["stages"]]
    assert len(stages) == 9 and stages[-1] == "total"
    assert all(row["wall_s"] > 0 and row["cpu_s"] >= 0 for row in headline["stages"])
    # printed: every headline figure with its goal and PASS, and the stage-time table
    assert "Headline figures" in printed and printed.count("PASS") >= 10 and "FAIL" not in printed
    times = printed[printed.index("Stage times") :]
    assert all(stage in times for stage in stages) and "All findings reproduced." in printed
    # anomaly input: a contact sheet of abnormal and normal MIPs (a real PNG with content, not an empty canvas)
    from PIL import Image

    sheet = np.asarray(Image.open(result["mip_contact_sheet"]).convert("L"), dtype=float)
    assert sheet.shape[0] > 100 and sheet.shape[1] > 100 and sheet.std() > 10


@pytest.mark.parametrize("width", [1366, 1024])
def test_demo_report_layout(demo, chromium, layout, tmp_path, width):
    """The one page of all five sections, laid out by headless Chromium at desktop and laptop widths."""
    out, _, _ = demo
    found = layout(chromium, out / "report.html", width, tmp_path)
    print(f"{width}px: {found['n_boxes']} boxes, {found['n_tables']} tables, page {found['page_width']}px")
    assert found["n_tables"] >= 20 and found["overlaps"] == [] and found["clipped_tables"] == []
    assert found["page_width"] <= found["viewport"]


def test_a_missed_goal_fails_the_headline_and_the_exit_code(monkeypatch, tmp_path):
    """Without running the demo: a result whose detector misses its goal is reported FAIL, and the
    command exits 1 (a check failed) instead of 0."""
    from breastlab import demo as demo_module
    from breastlab.cli import main

    accuracy = {"baseline": {"val_acc": 0.9, "test_acc": 0.85}}
    accuracy |= {s: {"val_acc": 1.0, "test_acc": 0.5} for s in ("field_strength", "vflip")}
    anomaly = pd.DataFrame({"model": ["fcdd", "bce"], "auc_balanced": [0.99, 0.8], "pixel_auc_median": [0.9, 0.8]})
    result = {
        "training": {"accuracy": accuracy},
        "anomaly": {"table": anomaly},
        "classification": {"auc": 0.8},
        "detection": {"mass_froc": 0.65},
        "reader_study": {"auc_aided": 0.85, "auc_unaided": 0.8},
    }
    table = demo_module.headline_table(result)
    failed = table.loc[~table["passed"], "figure"].tolist()
    assert failed == ["mass FROC mean sensitivity"] and len(table) == 10
    result["detection"]["mass_froc"] = 0.7  # the goal is >= 0.7
    assert demo_module.headline_table(result)["passed"].all()
    result["reader_study"]["auc_aided"] = 0.8  # aided must be above unaided, not equal
    assert demo_module.headline_table(result)["passed"].sum() == 9

    monkeypatch.setattr(demo_module, "run_demo", lambda **kwargs: {"passed": False, **kwargs})
    assert main(["demo", "--out", str(tmp_path / "d")]) == 1
    monkeypatch.setattr(demo_module, "run_demo", lambda **kwargs: {"passed": True, **kwargs})
    assert main(["demo", "--out", str(tmp_path / "d"), "--full"]) == 0


def test_a_folder_of_other_sizes_is_refused(tmp_path):
    from breastlab._io import write_json
    from breastlab.errors import BreastlabInputError

    out = tmp_path / "demo_out"
    write_json({"size": dataclasses.asdict(DEMO), "seed": 0}, out / "demo_settings.json")
    with pytest.raises(BreastlabInputError, match="other settings.*another --out"):
        run_demo(out=str(out), full=True)
    with pytest.raises(BreastlabInputError, match="other settings"):
        run_demo(out=str(out), seed=1)
    assert sorted(p.name for p in out.iterdir()) == ["demo_settings.json"]  # nothing else was started


def test_full_sizes_run_end_to_end_at_toy_counts(monkeypatch, tmp_path):
    """``demo --full`` takes branches the default never does (the MIP store's own 128 px, FCDD's
    folds, the 384-row mammograms, the detector's 1 mm store, device "auto"). Here they run through
    every stage with the counts cut to a toy (few patients, epochs and iterations; the goals are
    then missed, so only the wiring is checked): each stage gets the full size's settings."""
    import pydicom

    from breastlab import demo as demo_module
    from breastlab.data.store import ArrayStore

    counts = {"mri_patients": 16, "fcdd_epochs": 2, "bce_epochs": 1, "anomaly_folds": 2, "mammo_patients": 40}
    counts |= {"classify_iterations": 4, "detect_iterations": 4, "readers_per_group": 2}
    toy = dataclasses.replace(demo_module.FULL, **counts)
    monkeypatch.setattr(demo_module, "FULL", toy)
    out = tmp_path / "full"
    with contextlib.redirect_stdout(io.StringIO()):
        result = run_demo(out=str(out), full=True)
    headline = json.loads((out / "headline.json").read_text())
    assert headline["size"] == dataclasses.asdict(toy) and headline["size"]["name"] == "full"
    assert len(headline["headline"]) == 10 and (out / "report.html").stat().st_size > 10_000
    mips = ArrayStore(out / "anomaly" / "mips")
    assert mips.shape == (128, 128)  # the stored size, not the default's 64 px
    for model in ("fcdd", "bce"):
        config = json.loads((out / "anomaly" / "runs" / model / "config.json").read_text())
        assert config["image_size"] is None and config["folds"] == 2 and config["device"] == "auto"
    assert ArrayStore(result["mammo"]["detect_store"]).meta["preprocess"]["spacing"] == 1.0
    dicom = next((out / "mammo" / "cohort" / "CBIS-DDSM").rglob("*.dcm"))
    assert pydicom.dcmread(dicom, stop_before_pixels=True).Rows == 384
