"""Landmarks, quadrants and CC-MLO matching on drawn breasts with known geometry."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from breastlab.detect.localise import (
    breast_landmarks,
    fit_pair_model,
    heuristic_pair_score,
    locate,
    match_views,
    pair_features,
)


def _breast(h=200, w=140, depth=120, cy=100, half=90, pectoral=None):
    """Half ellipse from the chest wall (column 0) with its tip (the nipple) at (depth, cy)."""
    yy, xx = np.mgrid[:h, :w]
    mask = (xx / depth) ** 2 + ((yy - cy) / half) ** 2 < 1
    img = np.where(mask, 1000, 0).astype(np.uint16)
    if pectoral is not None:  # bright triangle x / top + y / length < 1
        top, length = pectoral
        img[mask & (xx / top + yy / length < 1)] = 3000
    return img


def test_cc_nipple_and_regions():
    lm = breast_landmarks(_breast(), "CC")
    assert lm.nipple[0] == pytest.approx(119, abs=1.5)
    assert lm.nipple[1] == pytest.approx(100, abs=1.5)
    assert lm.foot[0] == pytest.approx(0, abs=0.5)
    assert locate(115, 100, lm).region == "areola"
    assert locate(60, 102, lm).region == "central"
    loc = locate(60, 60, lm)  # above the nipple line: lateral with the standard display
    assert loc.region == "outer"
    assert loc.nipple_distance == pytest.approx((119 - 60) / 119, abs=0.02)
    assert locate(60, 140, lm).region == "inner"
    assert locate(60, 140, lm, cc_lateral_up=False).region == "outer"


def test_chest_wall_on_the_right_mirrors():
    img = _breast()
    lm = breast_landmarks(img[:, ::-1], "CC")
    assert lm.chest_wall_right
    assert lm.nipple[0] == pytest.approx(139 - 119, abs=1.5)
    assert locate(139 - 60, 60, lm).region == "outer"


def test_mlo_pectoral_line_and_axilla():
    top, length = 50.0, 90.0
    lm = breast_landmarks(_breast(pectoral=(top, length)), "MLO")
    assert lm.pectoral_found
    # the foot lies on the true line x / top + y / length = 1 (within 3 px)
    fx, fy = lm.foot
    assert abs(fx / top + fy / length - 1) * math.hypot(top, length) < 4
    # the nipple is the most anterior point; the PNL runs from it perpendicular to the pectoral line
    assert lm.nipple[0] == pytest.approx(119, abs=1.5) and lm.nipple[1] == pytest.approx(100, abs=1.5)
    ux, uy = fx - lm.nipple[0], fy - lm.nipple[1]
    assert abs(ux * (-top) + uy * length) / (math.hypot(ux, uy) * math.hypot(top, length)) < 0.08
    assert locate(45, 25, lm).region == "axillary_tail"  # upper, near the top of the muscle
    assert locate(100, 70, lm).region == "upper"
    assert locate(80, 150, lm).region == "lower"


def test_matching_greedy_and_heuristic():
    cc = pd.DataFrame({"finding_class": ["mass", "calcification", "mass"], "score": [0.9, 0.8, 0.3],
                       "nipple_distance": [0.4, 0.7, 0.2], "x0": [0, 0, 0], "y0": [0, 0, 0], "x1": [10, 5, 8],
                       "y1": [10, 5, 8]}, index=[10, 11, 12])
    mlo = pd.DataFrame({"finding_class": ["calcification", "mass"], "score": [0.7, 0.85],
                        "nipple_distance": [0.72, 0.45], "x0": [0, 0], "y0": [0, 0], "x1": [5, 11], "y1": [5, 11]},
                       index=[20, 21])
    f = pair_features(cc, mlo)
    s = heuristic_pair_score(f, np.sqrt(np.outer(cc["score"], mlo["score"])))
    # hand: same class, dd = 0.05, ds = 0.05 -> exp(-0.125) * 0.95 * sqrt(0.9 * 0.85)
    assert s[0, 1] == pytest.approx(math.exp(-0.5 * 0.25) * 0.95 * math.sqrt(0.9 * 0.85))
    m = match_views(cc, mlo)
    assert set(zip(m["cc_index"], m["mlo_index"], strict=True)) == {(10, 21), (11, 20)}
    assert 12 not in set(m["cc_index"])  # left single
    # a learned scorer from labelled pairs reproduces the same matching here
    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(0, 2, 400), rng.random(400) * 0.5, rng.random(400) * 0.5, rng.random(400)]
    y = (X[:, 0] == 1) & (X[:, 1] < 0.1)
    model = fit_pair_model(X, y)
    m2 = match_views(cc, mlo, model=model, threshold=0.5)
    assert set(zip(m2["cc_index"], m2["mlo_index"], strict=True)) == {(10, 21), (11, 20)}
