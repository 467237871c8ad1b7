"""Marks (region, partner, files) and the reader-study long format."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from breastlab.detect.marks import annotate, reader_study_rows, suppress_overlaps, write_marks
from breastlab.evaluate.stats import reader_study


def _dets(store):
    rows = []
    for f in store.findings.itertuples():  # a hit on every finding, plus one weak FP per image
        rows.append((f.image_id, f.finding_class, 0.9, f.x0, f.y0, f.x1, f.y1))
    for iid in store.manifest["image_id"]:
        rows.append((iid, "mass", 0.2, 30, 40, 40, 50))
    return pd.DataFrame(rows, columns=["image_id", "finding_class", "score", "x0", "y0", "x1", "y1"])


def test_annotate_and_write(tiny_store, tmp_path):
    marks = annotate(_dets(tiny_store), tiny_store)
    assert marks["region"].isin(["outer", "central", "inner", "areola", "upper", "lower", "axillary_tail"]).all()
    assert marks["nipple_distance"].between(0, 1).all()
    assert (marks["pnl_length"] > 0).all() and (marks["radial_distance"] >= 0).all()
    assert (marks["chest_wall_distance"] >= 0).all()
    # partners are symmetric
    paired = marks[marks["partner"] != ""].set_index("detection_id")
    for did, r in paired.iterrows():
        assert paired.loc[r["partner"], "partner"] == did
    write_marks(marks, tiny_store, tmp_path / "marks")
    first = tiny_store.manifest["image_id"].iloc[0]
    payload = json.loads((tmp_path / "marks" / f"{first}.json").read_text())
    assert payload["marks"][0]["score"] == pytest.approx(0.9)
    from PIL import Image

    png = np.asarray(Image.open(tmp_path / "marks" / f"{first}.png"))
    assert png.shape[:2] == tiny_store[0].shape and (png[..., 0] != png[..., 2]).any()  # coloured marks drawn


def test_reader_study_rows_feed_reader_study(tiny_store):
    man = tiny_store.manifest
    det = _dets(tiny_store)
    long = reader_study_rows(det, man, tiny_store.findings, level="patient")
    # hand: patient p0 holds img0 (mass) and img1 (calcification) -> truth 1, finding joined, score 0.9
    p0 = long.set_index("case_id").loc["p0"]
    assert p0["truth"] == 1 and p0["finding"] == "calcification+mass" and p0["score"] == pytest.approx(0.9)
    assert (long["reader"] == "model").all()
    img = reader_study_rows(det, man, tiny_store.findings, level="image")
    assert len(img) == len(man)
    res = reader_study(img)  # accepted by the reader-study statistics
    assert res.performance.iloc[0]["auc"] == pytest.approx(1.0)


def test_suppress_overlaps_drops_boxes_inside_a_stronger_one():
    det = pd.DataFrame(
        {
            "image_id": ["a", "a", "a", "a", "b"],
            "finding_class": ["asymmetry", "mass", "mass", "calcification", "mass"],
            "score": [0.9, 0.5, 0.4, 0.3, 0.2],
            "x0": [0, 2, 15, 40, 2],
            "y0": [0, 2, 15, 40, 2],
            "x1": [20, 8, 25, 50, 8],
            "y1": [20, 8, 25, 50, 8],
        }
    )
    # hand: box 1 lies inside box 0 (IoU 36 / 400 = 0.09, but it covers all of box 1); box 2 overlaps box 0 in a
    # 5 x 5 corner (IoU 25 / 475, 25 % of box 2); box 3 is elsewhere; box 4 is in another image
    kept = suppress_overlaps(det, 0.3)
    assert list(kept.index) == [0, 2, 3, 4]
    assert list(suppress_overlaps(det, 0.3, containment=None).index) == [0, 1, 2, 3, 4]  # IoU alone keeps it
    assert list(suppress_overlaps(det, 0.3, containment=0.2).index) == [0, 3, 4]  # 25 % >= 0.2
