"""COCO ground truth + COCO results: same figures as breastlab's own tables, matching and AP as pycocotools."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from breastlab.cli import main
from breastlab.detect.coco import evaluate_coco, finding_class_of, read_coco_ground_truth, to_coco
from breastlab.detect.froc import evaluate_detections
from breastlab.errors import BreastlabInputError

BOX = ["x0", "y0", "x1", "y1"]


def _random_case(seed=0, n=30, size=120):
    """Images (two views per breast), findings of two classes, detections near and far from them."""
    rng = np.random.default_rng(seed)
    images = pd.DataFrame(
        {
            "image_id": [f"img{k}" for k in range(n)],
            "patient_id": [f"p{k // 4}" for k in range(n)],
            "laterality": ["L" if (k // 2) % 2 else "R" for k in range(n)],
            "height": size,
            "width": size,
        }
    )
    truth, det = [], []
    for k in range(n):
        iid = f"img{k}"
        for _ in range(rng.integers(0, 3)):
            c = ("mass", "calcification")[rng.integers(0, 2)]
            x, y = rng.integers(0, size - 30, 2)
            w, h = rng.integers(6, 30, 2)
            truth.append((iid, c, x, y, x + w, y + h))
            if rng.random() < 0.7:  # a detection near the finding (jittered, may or may not hit)
                j = rng.integers(-4, 5, 4)
                box = np.clip([x + j[0], y + j[1], x + w + j[2], y + h + j[3]], 0, size)
                det.append((iid, c, float(rng.random()), *box.astype(float)))
        for _ in range(rng.integers(0, 3)):  # false positives anywhere
            x, y = rng.integers(0, size - 20, 2)
            det.append((iid, ("mass", "calcification")[rng.integers(0, 2)], float(rng.random()), x, y, x + 15, y + 12))
    truth = pd.DataFrame(truth, columns=["image_id", "finding_class", *BOX])
    det = pd.DataFrame(det, columns=["image_id", "finding_class", "score", *BOX])
    return images, truth, det


def _write_coco(tmp_path, images, truth, det, classes=("mass", "calcification")):
    gt, res = to_coco(images, truth, det, classes=classes)
    gt_path, res_path = tmp_path / "gt.json", tmp_path / "results.json"
    gt_path.write_text(json.dumps(gt))
    res_path.write_text(json.dumps(res))
    return gt_path, res_path


def test_coco_input_gives_the_froc_of_breastlab_tables(tmp_path):
    images, truth, det = _random_case()
    classes = ("mass", "calcification")
    own = evaluate_detections(images, truth, det, classes=classes)
    gt_path, res_path = _write_coco(tmp_path, images, truth, det, classes)
    ev = evaluate_coco(gt_path, res_path)
    pd.testing.assert_frame_equal(ev.froc_table, own.froc_table)
    for c in classes:
        np.testing.assert_array_equal(ev.froc[c].sensitivities, own.froc[c].sensitivities)
        np.testing.assert_array_equal(ev.froc[c].fp_per_image, own.froc[c].fp_per_image)
    # patient_id and laterality travel in the image entries: breast level as well
    cols = ["level", "finding_class", "n_pos", "n_neg", "auc", "lower", "upper"]
    pd.testing.assert_frame_equal(ev.table1[cols], own.table1[cols])
    assert set(ev.table1["level"]) == {"image", "breast"}
    assert own.froc_table["n_findings"].sum() == len(truth) > 0


def _cocoeval(gt_path, res_path, iou=0.5):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt_path))
        dt = coco.loadRes(str(res_path))
        e = COCOeval(coco, dt, "bbox")
        e.params.iouThrs = np.array([iou])
        e.evaluate()
        e.accumulate()
    return coco, e


def test_matching_and_ap_equal_pycocotools(tmp_path):
    images, truth, det = _random_case(seed=1)
    gt_path, res_path = _write_coco(tmp_path, images, truth, det)
    # IoU rule, duplicates as false positives: COCO's greedy matching at IoU 0.5
    ev = evaluate_coco(gt_path, res_path, hit="iou", duplicates="fp")
    coco, e = _cocoeval(gt_path, res_path)
    tp = {}
    for r in e.evalImgs:
        if r is None or r["aRng"] != [0, 1e10] or r["maxDet"] != 100:
            continue
        for d, m in zip(r["dtIds"], r["dtMatches"][0], strict=True):
            tp[d] = m > 0
    # loadRes numbers results 1, 2, ... in file order; row i of the evaluation is entry i
    ours = ev.detections["outcome"].eq("tp").to_numpy()
    theirs = np.array([tp[i + 1] for i in range(len(ours))])
    np.testing.assert_array_equal(ours, theirs)
    assert 0 < ours.sum() < len(ours)
    # AP at IoU 0.5 per class: mean precision over COCO's 101 recall points
    cats = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    ap = ev.froc_table.set_index("finding_class")["ap50"]
    for name, cid in cats.items():
        prec = e.eval["precision"][0, :, e.params.catIds.index(cid), 0, -1]
        assert ap[name] == pytest.approx(np.mean(prec[prec > -1]), abs=1e-6)


def test_category_names():
    assert finding_class_of("Mass") == "mass"
    assert finding_class_of("Suspicious Calcification") == "calcification"
    assert finding_class_of("Focal Asymmetry") == "asymmetry"
    assert finding_class_of("Architectural-Distortion") == "architectural_distortion"
    assert finding_class_of("distortion") == "architectural_distortion"
    assert finding_class_of("Lesion") == "lesion"


def test_unknown_category_kept_as_its_own_class(tmp_path):
    gt = {
        "images": [{"id": 1, "width": 50, "height": 50}, {"id": 2, "width": 50, "height": 50}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 10, 10, 10]},
            {"id": 2, "image_id": 2, "category_id": 3, "bbox": [5, 5, 10, 10]},
        ],
        "categories": [{"id": 7, "name": "Lesion"}, {"id": 3, "name": "Focal Asymmetry"}],
    }
    res = [
        {"image_id": 1, "category_id": 7, "bbox": [11, 11, 10, 10], "score": 0.9},
        {"image_id": 2, "category_id": 7, "bbox": [30, 30, 5, 5], "score": 0.8},
    ]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "r.json").write_text(json.dumps(res))
    assert read_coco_ground_truth(tmp_path / "gt.json").classes == ("asymmetry", "lesion")
    ev = evaluate_coco(tmp_path / "gt.json", tmp_path / "r.json", ap=False)
    lesion = ev.froc["lesion"]
    # one finding found at 0.9; one FP at 0.8 on two images
    assert lesion.n_findings == 1 and lesion.fp_per_image.tolist() == [0.0, 0.0, 0.5]
    assert ev.froc["asymmetry"].n_findings == 1 and ev.froc["asymmetry"].at_rates.max() == 0.0


GOOD = {"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5}


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"image_id": 99}, r"entry 1: field 'image_id' 99 is not an image"),
        ({"bbox": [1, 1, 5]}, r"entry 1: field 'bbox' .* expected 4 numbers"),
        ({"bbox": [1, 1, -5, 5]}, r"entry 1: field 'bbox' .* width -5 and height 5; both must be positive"),
        ({"bbox": [1, 1, "5", 5]}, r"entry 1: field 'bbox' is '5', expected a finite number"),
        ({"bbox": [30, 1, 25, 5]}, r"entry 1: field 'bbox' .* outside its image"),
        ({"score": float("nan")}, r"entry 1: field 'score' is nan"),
        ({"score": None}, r"entry 1: field 'score' is None"),
        ({"category_id": 5}, r"entry 1: field 'category_id' 5 is not a category"),
    ],
)
def test_bad_results_name_entry_and_field(tmp_path, bad, match):
    gt = {
        "images": [{"id": 1, "width": 50, "height": 40}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 8, 8]}],
        "categories": [{"id": 1, "name": "mass"}],
    }
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "r.json").write_text(json.dumps([GOOD, {**GOOD, **bad}]))
    with pytest.raises(BreastlabInputError, match=match):
        evaluate_coco(tmp_path / "gt.json", tmp_path / "r.json", ap=False)


def test_bad_ground_truth(tmp_path):
    base = {"images": [{"id": 1, "width": 50, "height": 40}], "categories": [{"id": 1, "name": "mass"}]}
    cases = [
        (
            {**base, "annotations": [{"image_id": 2, "category_id": 1, "bbox": [1, 1, 3, 3]}]},
            "entry 0: field 'image_id'",
        ),
        (
            {**base, "annotations": [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3], "iscrowd": 1}]},
            "crowd regions",
        ),
        ({"images": []}, "expected an object with lists"),
    ]
    for doc, match in cases:
        (tmp_path / "gt.json").write_text(json.dumps(doc))
        with pytest.raises(BreastlabInputError, match=match):
            read_coco_ground_truth(tmp_path / "gt.json")
    (tmp_path / "r.json").write_text('{"annotations": []}')
    (tmp_path / "gt.json").write_text(json.dumps({**base, "annotations": []}))
    with pytest.raises(BreastlabInputError, match="expected a JSON list"):
        evaluate_coco(tmp_path / "gt.json", tmp_path / "r.json")


def test_cli_evaluate_coco(tmp_path, capsys):
    images, truth, det = _random_case(seed=2, n=12)
    gt_path, res_path = _write_coco(tmp_path, images, truth, det)
    out = tmp_path / "ev"
    args = ["mammo", "detect", "evaluate", "--coco-gt", str(gt_path), "--coco-results", str(res_path)]
    assert main([*args, "--out", str(out)]) == 0
    froc = pd.read_csv(out / "froc.csv")
    own = evaluate_detections(images, truth, det, classes=("mass", "calcification"), ap=False)
    np.testing.assert_allclose(froc["mean_sensitivity"], own.froc_table["mean_sensitivity"])
    assert (out / "detection_section.json").is_file()
    marker = json.loads((out / "detection_section.json").read_text())
    assert str(tmp_path) not in json.dumps(marker)  # file names only
    # half of the pair, or a store as well: refused with exit code 2
    assert main(["mammo", "detect", "evaluate", "--coco-gt", str(gt_path), "--out", str(out)]) == 2
    assert main([*args, "--split", "test", "--out", str(out)]) == 2
    res_path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 1}]))
    assert main([*args, "--out", str(tmp_path / "ev2")]) == 2
    assert "entry 0: field 'bbox'" in capsys.readouterr().err
