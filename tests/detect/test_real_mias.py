"""The real mini-MIAS images run through predict and their truth is scored by the evaluation code."""

from __future__ import annotations

import dataclasses

import numpy as np

from breastlab.data.mammo import read_mini_mias
from breastlab.data.mammo.preprocess import build_mammo_store
from breastlab.detect.froc import evaluate_detections
from breastlab.detect.marks import annotate
from breastlab.detect.model import build_model, predict, preset


def test_mini_mias_predict_and_score(mammo_dir, tmp_path):
    ds = read_mini_mias(mammo_dir / "mini-mias")
    store = build_mammo_store(ds, tmp_path / "store", spacing=1.0, progress=False)
    assert len(store) == 5
    import torch

    torch.manual_seed(0)
    cfg = preset("cpu-small", spacing_mm=1.0, score_threshold=0.0)
    det = predict(build_model(cfg), dataclasses.replace(cfg, detections_per_image=10), store, progress=False)
    man = store.manifest
    ev = evaluate_detections(
        man[["image_id", "patient_id", "laterality", "view", "height", "width"]], store.findings, det
    )
    print(
        f"\nmini-MIAS: {len(man)} images, {len(store.findings)} findings "
        f"({store.findings['finding_class'].value_counts().to_dict()}), {len(det)} detections (random weights)"
    )
    print(store.findings[["image_id", "finding_class", "x0", "y0", "x1", "y1"]].to_string())
    print(ev.format())
    located = store.findings[store.findings["x0"].notna()]
    assert ev.froc_table["n_findings"].sum() == len(located)
    assert np.isfinite(
        ev.froc_table.set_index("finding_class").loc[located["finding_class"].iloc[0], "mean_sensitivity"]
    )
    marks = annotate(det, store)
    assert (marks["region"] != "").all()
    # the same images, findings and detections as COCO files give the same FROC/AP table
    import json

    import pandas as pd

    from breastlab.detect.coco import evaluate_coco, to_coco

    gt, results = to_coco(man[["image_id", "patient_id", "laterality", "height", "width"]], store.findings, det)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "results.json").write_text(json.dumps(results))
    coco = evaluate_coco(tmp_path / "gt.json", tmp_path / "results.json")
    pd.testing.assert_frame_equal(coco.froc_table, ev.froc_table)
