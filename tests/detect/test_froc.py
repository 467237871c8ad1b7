"""FROC, matching, AP and Table 1 against hand-computed values and independent references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from breastlab.detect._boxes import iou_matrix, nms_merge, weighted_box_fusion
from breastlab.detect.froc import evaluate_detections, froc_curve, match_detections
from breastlab.errors import BreastlabInputError


def _truth(rows):
    return pd.DataFrame(rows, columns=["image_id", "finding_class", "x0", "y0", "x1", "y1"])


def _det(rows):
    return pd.DataFrame(rows, columns=["image_id", "finding_class", "score", "x0", "y0", "x1", "y1"])


IMAGES = pd.DataFrame(
    {
        "image_id": ["A", "B", "C"],
        "patient_id": ["p1", "p1", "p2"],
        "laterality": ["L", "L", "R"],
        "height": [100] * 3,
        "width": [100] * 3,
    }
)
TRUTH = _truth([("A", "mass", 10, 10, 20, 20), ("B", "mass", 30, 30, 40, 40)])
DETS = _det(
    [
        ("A", "mass", 0.9, 11, 11, 21, 21),  # IoU 81/119 = 0.68 -> TP
        ("A", "mass", 0.8, 50, 50, 60, 60),  # FP
        ("B", "mass", 0.7, 0, 0, 5, 5),  # FP
        ("B", "mass", 0.6, 31, 31, 39, 39),  # IoU 64/100 -> TP
        ("A", "mass", 0.5, 12, 12, 19, 19),  # hits the found lesion again -> duplicate
        ("C", "calcification", 0.4, 1, 1, 9, 9),
    ]
)  # FP of another class


def test_hand_computed_froc():
    ev = evaluate_detections(IMAGES, TRUTH, DETS, levels=("image",), ap=False)
    d = ev.detections
    assert d["outcome"].tolist() == ["tp", "fp", "fp", "tp", "duplicate", "fp"]
    mass = ev.froc["mass"]
    # three images; FP/image steps: 0.9 -> (0.5, 0), 0.8 -> (0.5, 1/3), 0.7 -> (0.5, 2/3), 0.6 -> (1, 2/3)
    assert mass.at_rates.tolist() == [0.5, 0.5, 0.5, 1.0, 1.0, 1.0]
    assert mass.mean_sensitivity == pytest.approx(0.75)
    np.testing.assert_allclose(mass.fp_per_image, [0, 0, 1 / 3, 2 / 3, 2 / 3])
    # duplicates counted as FP: the 0.5 detection adds one FP at the lowest threshold
    ev2 = evaluate_detections(IMAGES, TRUTH, DETS, levels=(), ap=False, duplicates="fp")
    assert ev2.detections["outcome"].tolist()[4] == "fp"
    assert ev2.froc["mass"].fp_per_image[-1] == pytest.approx(1.0)


def test_hit_rules():
    truth = _truth([("A", "mass", 0, 0, 60, 60)])
    det = _det([("A", "mass", 0.9, 20, 20, 30, 30)])  # centre inside, IoU 100/3600
    from breastlab.detect._boxes import check_box_table

    t, d = check_box_table(truth, "t"), check_box_table(det, "d", score=True)
    assert match_detections(t, d, hit="iou")[0]["outcome"].tolist() == ["fp"]
    assert match_detections(t, d, hit="centre")[0]["outcome"].tolist() == ["tp"]
    assert match_detections(t, d, hit="iou_or_centre")[0]["outcome"].tolist() == ["tp"]
    # IoU >= 0.5 with the centre outside the true box is a hit only for iou rules
    t2 = check_box_table(_truth([("A", "mass", 0, 0, 10, 10)]), "t")
    d2 = check_box_table(_det([("A", "mass", 0.9, 0, 0, 10, 22)]), "d", score=True)  # centre y = 11, IoU 100/220
    assert match_detections(t2, d2, hit="iou", iou_threshold=0.45)[0]["outcome"].tolist() == ["tp"]
    assert match_detections(t2, d2, hit="centre")[0]["outcome"].tolist() == ["fp"]


def _naive_froc(found, fp, n_images, rates):
    """Reference: every threshold tried, sensitivity and FP/image counted by brute force."""
    out = []
    cands = [np.inf, *found[np.isfinite(found)], *fp]
    for f in rates:
        best = 0.0
        for t in cands:
            fpi = np.sum(fp >= t) / n_images
            if fpi <= f:
                best = max(best, np.sum(found >= t) / len(found))
        out.append(best)
    return np.array(out)


def test_froc_against_brute_force():
    rng = np.random.default_rng(3)
    rates = (0.125, 0.25, 0.5, 1, 2, 4)
    for _ in range(20):
        found = rng.random(rng.integers(1, 30))
        found[rng.random(found.size) < 0.3] = np.nan
        fp = np.round(rng.random(rng.integers(0, 80)), 2)  # ties included
        n_images = int(rng.integers(1, 40))
        cur = froc_curve(found, fp, n_images, rates=rates)
        np.testing.assert_allclose(cur.at_rates, _naive_froc(found, fp, n_images, rates))


def test_ap_hand_computed():
    images = IMAGES.iloc[:1]
    truth = _truth([("A", "mass", 10, 10, 20, 20)])
    fp_first = _det([("A", "mass", 0.9, 60, 60, 70, 70), ("A", "mass", 0.8, 10, 10, 20, 20)])
    tp_first = _det([("A", "mass", 0.9, 10, 10, 20, 20), ("A", "mass", 0.8, 60, 60, 70, 70)])
    # COCO: precision at recall 1 is 1/2 when the FP ranks first, 1 otherwise
    assert evaluate_detections(images, truth, fp_first, levels=()).froc_table.set_index("finding_class").loc[
        "mass", "ap50"
    ] == pytest.approx(0.5)
    assert evaluate_detections(images, truth, tp_first, levels=()).froc_table.set_index("finding_class").loc[
        "mass", "ap50"
    ] == pytest.approx(1.0)


def test_table1_matches_sklearn():
    rng = np.random.default_rng(0)
    n = 40
    images = pd.DataFrame(
        {
            "image_id": [f"i{k}" for k in range(n)],
            "patient_id": [f"p{k // 2}" for k in range(n)],
            "laterality": ["L"] * n,
        }
    )
    has = rng.random(n) < 0.4
    truth = _truth([(f"i{k}", "mass", 5, 5, 15, 15) for k in range(n) if has[k]])
    dets = []
    for k in range(n):
        for _ in range(rng.integers(0, 3)):
            dets.append((f"i{k}", "mass", float(rng.random() + 0.5 * has[k]), 30, 30, 40, 40))
    ev = evaluate_detections(images, truth, _det(dets), ap=False)
    t1 = ev.table1.set_index(["level", "finding_class"])
    best = pd.Series({d[0]: d[2] for d in sorted(dets, key=lambda r: r[2])})  # max per image
    score = np.array([best.get(f"i{k}", 0.0) for k in range(n)])
    assert t1.loc[("image", "mass"), "auc"] == pytest.approx(roc_auc_score(has.astype(int), score))
    # breast = pairs of images (same patient, same side): max over both
    bs, bt = score.reshape(-1, 2).max(1), has.reshape(-1, 2).any(1).astype(int)
    assert t1.loc[("breast", "mass"), "auc"] == pytest.approx(roc_auc_score(bt, bs))
    assert 0 <= t1.loc[("image", "mass"), "sensitivity"] <= 1
    print(ev.format())


@pytest.mark.parametrize(
    ("row", "match"),
    [
        (("A", "mass", 5, 5, 5, 9), "zero or negative area"),
        (("A", "tumour", 5, 5, 9, 9), "not in the vocabulary"),
        (("A", "mass", 95, 5, 105, 9), "outside the image"),
    ],
)
def test_bad_boxes(row, match):
    with pytest.raises(BreastlabInputError, match=match):
        evaluate_detections(IMAGES, _truth([row]), DETS.iloc[:0], levels=(), ap=False)


def test_wbf_and_nms_hand_computed():
    boxes = np.array([[10, 10, 20, 20], [12, 10, 22, 20], [50, 50, 60, 60]], float)
    scores = np.array([0.9, 0.6, 0.8])
    labels = np.array([1, 1, 1])
    b, s, lab = weighted_box_fusion(boxes, scores, labels, n_views=2)
    # cluster 1: x0 = (0.9*10 + 0.6*12) / 1.5 = 10.8, score mean 0.75 * 2/2; cluster 2: 0.8 * 1/2
    np.testing.assert_allclose(b[0], [10.8, 10, 20.8, 20])
    np.testing.assert_allclose(s, [0.75, 0.4])
    nb, ns, _ = nms_merge(boxes, scores, labels, 0.5)
    np.testing.assert_allclose(ns, [0.9, 0.8])
    assert iou_matrix(boxes[:1], boxes[1:2])[0, 0] == pytest.approx(80 / 120)
