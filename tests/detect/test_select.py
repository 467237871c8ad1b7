"""evaluate_inputs: a store with its detections, or a pair of COCO files; write_coco_files round trip."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from breastlab._io import write_table
from breastlab.detect.coco import write_coco_files
from breastlab.detect.froc import evaluate_detections
from breastlab.detect.select import evaluate_inputs
from breastlab.errors import BreastlabInputError


def _detections(store) -> pd.DataFrame:
    """A hit on every other finding (its own box, score 0.9) and a false positive on every image (score 0.3)."""
    f = store.findings
    hits = f.iloc[::2][["image_id", "finding_class", "x0", "y0", "x1", "y1"]].assign(score=0.9)
    fps = pd.DataFrame(
        {"image_id": store.manifest["image_id"], "finding_class": "mass", "x0": 70, "y0": 2, "x1": 78, "y1": 9}
    ).assign(score=0.3)
    return pd.concat([hits, fps], ignore_index=True)


def test_a_store_and_its_detections_are_evaluated_on_the_split(tiny_store, tmp_path):
    det = _detections(tiny_store)
    write_table(det, tmp_path / "detections.csv")
    done = evaluate_inputs(tiny_store.path, tmp_path / "detections.csv", hit="iou", iou_threshold=0.5)
    images = tiny_store.manifest[["image_id", "patient_id", "laterality", "view", "height", "width"]]
    own = evaluate_detections(images, tiny_store.findings, det, hit="iou", iou_threshold=0.5)
    pd.testing.assert_frame_equal(done.evaluation.froc_table, own.froc_table)
    assert done.store is not None and done.store.path == tiny_store.path
    assert done.settings == {"detections": "detections.csv", "split": "all", "hit": "iou", "iou": 0.5}


def test_coco_files_written_from_a_store_give_the_same_froc(tiny_store, tmp_path):
    det = _detections(tiny_store)
    gt_path, res_path = write_coco_files(tmp_path, tiny_store.manifest, tiny_store.findings, det, ("calcification",))
    gt = json.loads(gt_path.read_text())
    assert [c["name"] for c in gt["categories"]] == ["calcification", "mass"]  # the detector's, then the store's
    assert len(gt["annotations"]) == len(tiny_store.findings) and len(json.loads(res_path.read_text())) == len(det)
    done = evaluate_inputs(coco_gt=gt_path, coco_results=res_path)
    own = evaluate_detections(tiny_store.manifest, tiny_store.findings, det, classes=("calcification", "mass"))
    cols = ["finding_class", "n_findings", "mean_sensitivity"]
    by_class = lambda t: t[cols].sort_values("finding_class").reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(by_class(done.evaluation.froc_table), by_class(own.froc_table))
    assert done.store is None and str(tmp_path) not in json.dumps(done.settings)


def test_one_whole_pair_of_inputs_is_required(tiny_store, tmp_path):
    with pytest.raises(BreastlabInputError, match="give STORE and DETECTIONS"):
        evaluate_inputs(tiny_store.path)
    with pytest.raises(BreastlabInputError, match="give either STORE DETECTIONS or both --coco-gt"):
        evaluate_inputs(coco_gt=tmp_path / "gt.json")
    with pytest.raises(BreastlabInputError, match="give either STORE DETECTIONS or both --coco-gt"):
        evaluate_inputs(tiny_store.path, coco_gt=tmp_path / "gt.json", coco_results=tmp_path / "r.json")
    with pytest.raises(BreastlabInputError, match="--split: only with a store"):
        evaluate_inputs(coco_gt=tmp_path / "gt.json", coco_results=tmp_path / "r.json", split="test")
