"""`breastlab mammo detect train|predict|evaluate` end to end on a tiny store."""

from __future__ import annotations

import pandas as pd
import pytest

from breastlab.cli import main
from breastlab.errors import BreastlabInputError


def test_cli_train_predict_evaluate(tiny_store, tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "pred"
    assert (
        main(
            [
                "mammo",
                "detect",
                "train",
                str(tiny_store.path),
                "--out",
                str(run),
                "--split",
                "all",
                "--iterations",
                "1",
                "--batch-size",
                "2",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "mammo",
                "detect",
                "predict",
                str(run),
                str(tiny_store.path),
                "--out",
                str(out),
                "--min-score",
                "0",
                "--no-png",
                "--coco",
            ]
        )
        == 0
    )
    det = pd.read_csv(out / "detections.csv")
    assert {"image_id", "finding_class", "score"} <= set(det.columns)
    long = pd.read_csv(out / "reader_study_model.csv")
    assert set(long["reader"]) == {"model"} and len(long) == tiny_store.manifest["patient_id"].nunique()
    assert (
        main(
            [
                "mammo",
                "detect",
                "evaluate",
                str(tiny_store.path),
                str(out / "detections.csv"),
                "--out",
                str(tmp_path / "ev"),
                "--html",
                str(tmp_path / "report.html"),
            ]
        )
        == 0
    )
    froc = pd.read_csv(tmp_path / "ev" / "froc.csv")
    assert froc["n_findings"].sum() == len(tiny_store.findings)
    # predict --coco: the same detections and findings as COCO files give the same FROC table
    coco_args = ["--coco-gt", str(out / "coco_ground_truth.json"), "--coco-results", str(out / "coco_results.json")]
    assert main(["mammo", "detect", "evaluate", *coco_args, "--out", str(tmp_path / "ev_coco")]) == 0
    froc_coco = pd.read_csv(tmp_path / "ev_coco" / "froc.csv")
    pd.testing.assert_frame_equal(froc_coco, froc[froc["finding_class"].isin(froc_coco["finding_class"])])
    assert "FROC" in (tmp_path / "report.html").read_text()
    # the report section is rebuilt from the evaluate folder alone (marker + saved tables + drawn gallery)
    from breastlab.detect.report import section_from_dir

    ev_dir = tmp_path / "ev"
    assert (ev_dir / "detection_section.json").is_file()
    gallery = pd.read_csv(ev_dir / "gallery.csv")
    frag = section_from_dir(ev_dir)
    assert frag.startswith("<h2>Detection</h2>")
    assert frag.count("<table") == 2  # FROC/AP table and Table 1
    assert frag.count("<img") == 1 + len(gallery)  # FROC curves + one per gallery image
    assert set(gallery["kind"]) <= {"Hits", "Misses", "False positives"} and len(gallery) >= 1
    # every finding class with findings appears in the FROC table rows
    for c in froc.loc[froc["n_findings"] > 0, "finding_class"]:
        assert f"<td>{c}</td>" in frag
    # the one-page report recognises the folder by its marker
    assert main(["report", str(ev_dir), "--out", str(tmp_path / "all.html"), "--no-gallery"]) == 0
    assert "Table 1. Image- and breast-level performance" in (tmp_path / "all.html").read_text()
    # a saved table gone: the section names it and says how to rewrite the folder
    (ev_dir / "froc_curves.csv").unlink()
    with pytest.raises(BreastlabInputError, match=r"missing: \['froc_curves.csv'\]; write it with `breastlab mammo"):
        section_from_dir(ev_dir)
    # a second train into the same folder without --resume is refused, nothing overwritten
    before = (run / "model.pt").stat().st_mtime_ns
    assert (
        main(
            ["mammo", "detect", "train", str(tiny_store.path), "--out", str(run), "--split", "all", "--iterations", "1"]
        )
        == 2
    )
    assert (run / "model.pt").stat().st_mtime_ns == before
    assert "resume" in capsys.readouterr().err


def test_a_fixed_layout_store_trains_predicts_and_evaluates_like_its_ragged_twin(tiny_store, store_factory, tmp_path):
    """The classifier's fixed-layout store (one canvas size at the store's spacing, no per-image height and
    width in its manifest) is read by train, predict and evaluate; with the same pixels as the ragged
    store it gives the same detections (it raised a KeyError on the missing height)."""
    fixed = store_factory(tmp_path / "fixed", layout="fixed")
    assert fixed.layout == "fixed" and "height" not in fixed.manifest.columns
    detections = {}
    for name, store in (("ragged", tiny_store), ("fixed", fixed)):
        run, out = tmp_path / f"run_{name}", tmp_path / f"pred_{name}"
        args = ["--split", "all", "--iterations", "2", "--batch-size", "2"]
        assert main(["mammo", "detect", "train", str(store.path), "--out", str(run), *args]) == 0
        predict = ["--out", str(out), "--min-score", "0", "--no-png"]
        assert main(["mammo", "detect", "predict", str(run), str(store.path), *predict]) == 0
        evaluate = ["--out", str(tmp_path / f"eval_{name}")]
        assert main(["mammo", "detect", "evaluate", str(store.path), str(out / "detections.csv"), *evaluate]) == 0
        detections[name] = pd.read_csv(out / "detections.csv")
    assert len(detections["fixed"]) > 0
    pd.testing.assert_frame_equal(detections["fixed"], detections["ragged"])
