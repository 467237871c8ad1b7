"""`breastlab mammo detect train|predict|evaluate` end to end on a tiny store."""

from __future__ import annotations

import pandas as pd

from breastlab.cli import main


def test_cli_train_predict_evaluate(tiny_store, tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "pred"
    assert main(["mammo", "detect", "train", str(tiny_store.path), "--out", str(run), "--split", "all",
                 "--iterations", "1", "--batch-size", "2"]) == 0
    assert main(["mammo", "detect", "predict", str(run), str(tiny_store.path), "--out", str(out), "--min-score",
                 "0", "--no-png"]) == 0
    det = pd.read_csv(out / "detections.csv")
    assert {"image_id", "finding_class", "score"} <= set(det.columns)
    long = pd.read_csv(out / "reader_study_model.csv")
    assert set(long["reader"]) == {"model"} and len(long) == tiny_store.manifest["patient_id"].nunique()
    assert main(["mammo", "detect", "evaluate", str(tiny_store.path), str(out / "detections.csv"), "--out",
                 str(tmp_path / "ev"), "--html", str(tmp_path / "report.html")]) == 0
    froc = pd.read_csv(tmp_path / "ev" / "froc.csv")
    assert froc["n_findings"].sum() == len(tiny_store.findings)
    assert "FROC" in (tmp_path / "report.html").read_text()
    # a second train into the same folder without --resume is refused, nothing overwritten
    before = (run / "model.pt").stat().st_mtime_ns
    assert main(["mammo", "detect", "train", str(tiny_store.path), "--out", str(run), "--split", "all",
                 "--iterations", "1"]) == 2
    assert (run / "model.pt").stat().st_mtime_ns == before
    assert "resume" in capsys.readouterr().err
