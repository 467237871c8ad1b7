"""Landmarks, quadrants and CC-MLO matching on drawn breasts with known geometry."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from breastlab.detect.localise import (
    PAIR_FEATURES,
    breast_landmarks,
    fit_pair_model,
    heuristic_pair_score,
    labelled_pairs,
    locate,
    match_views,
    matching_accuracy,
    nipple_from_contour,
    pair_features,
)
from breastlab.errors import BreastlabInputError


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
    assert lm.chest_wall_x == 0
    assert locate(115, 100, lm).region == "areola"
    assert locate(60, 102, lm).region == "central"
    loc = locate(60, 60, lm)  # above the nipple line: lateral with the standard display
    assert loc.region == "outer"
    assert loc.nipple_distance == pytest.approx((119 - 60) / 119, abs=0.02)
    assert loc.chest_wall == pytest.approx(60 / 119, abs=0.02)  # 60 columns from the chest wall, PNL 119
    assert loc.radial == pytest.approx(math.hypot(119 - 60, 100 - 60) / 119, abs=0.02)
    assert locate(60, 140, lm).region == "inner"
    assert locate(60, 140, lm, cc_lateral_up=False).region == "outer"


def test_chest_wall_on_the_right_mirrors():
    img = _breast()
    lm = breast_landmarks(img[:, ::-1], "CC")
    assert lm.chest_wall_right
    assert lm.nipple[0] == pytest.approx(139 - 119, abs=1.5)
    assert lm.chest_wall_x == 139  # the last column: the chest wall at the image's right edge
    loc = locate(139 - 60, 60, lm)
    assert loc.region == "outer"
    assert loc.chest_wall == pytest.approx(60 / 119, abs=0.02)


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
    # the chest-wall distance runs along the image row from the breast's edge column, not from the pectoral line
    assert lm.chest_wall_x == 0
    assert locate(80, 150, lm).chest_wall == pytest.approx(80 / lm.pnl_length)


def test_matching_greedy_and_heuristic():
    cc = pd.DataFrame(
        {
            "finding_class": ["mass", "calcification", "mass"],
            "score": [0.9, 0.8, 0.3],
            "nipple_distance": [0.4, 0.7, 0.2],
            "radial_distance": [0.42, 0.75, 0.3],
            "chest_wall_distance": [0.6, 0.3, 0.8],
            "pnl_length": [100.0] * 3,
            "x0": [0, 0, 0],
            "y0": [0, 0, 0],
            "x1": [10, 5, 8],
            "y1": [10, 5, 8],
        },
        index=[10, 11, 12],
    )
    mlo = pd.DataFrame(
        {
            "finding_class": ["calcification", "mass"],
            "score": [0.7, 0.85],
            "nipple_distance": [0.72, 0.45],
            "radial_distance": [0.9, 0.5],
            "chest_wall_distance": [0.35, 0.75],
            "pnl_length": [80.0, 80.0],
            "x0": [0, 0],
            "y0": [0, 0],
            "x1": [5, 11],
            "y1": [5, 11],
        },
        index=[20, 21],
    )
    f = pair_features(cc, mlo)
    assert f.shape == (3, 2, len(PAIR_FEATURES))
    # radial and chest-wall cues in pixels over the pair's mean PNL length (100 + 80) / 2 = 90:
    # r 42 px vs 0.5 * 80 = 40 px -> 2 / 90; w 60 px vs 0.75 * 80 = 60 px -> 0
    assert f[0, 1, 5] == pytest.approx(2 / 90) and f[0, 1, 6] == pytest.approx(0.0)
    s = heuristic_pair_score(f, np.sqrt(np.outer(cc["score"], mlo["score"])))
    # hand: same class, dd = 0.05, dr = 2/90, dw = 0, ds = 0.05
    geometry = (0.05**2 + (2 / 90) ** 2 + 0.0) / 3
    assert s[0, 1] == pytest.approx(math.exp(-0.5 * geometry / 0.01) * 0.95 * math.sqrt(0.9 * 0.85))
    m = match_views(cc, mlo)
    assert set(zip(m["cc_index"], m["mlo_index"], strict=True)) == {(10, 21), (11, 20)}
    assert 12 not in set(m["cc_index"])  # left single
    # a learned scorer from labelled pairs reproduces the same matching here
    rng = np.random.default_rng(0)
    X = np.c_[
        rng.integers(0, 2, 400),
        rng.random(400) * 0.5,
        rng.random(400) * 0.5,
        rng.random(400),
        rng.random(400),
        rng.random(400) * 0.5,
        rng.random(400) * 0.5,
    ]
    y = (X[:, 0] == 1) & (X[:, 1] < 0.1)
    model = fit_pair_model(X, y)
    m2 = match_views(cc, mlo, model=model)  # threshold 0.5 for a learned model
    assert set(zip(m2["cc_index"], m2["mlo_index"], strict=True)) == {(10, 21), (11, 20)}
    assert (m2["pair_score"] >= 0.5).all()
    # the fifth feature is the confidence sqrt(s_i s_j); the heuristic takes it from there by default
    assert f[2, 0, 4] == pytest.approx(math.sqrt(0.3 * 0.7))
    assert heuristic_pair_score(f) == pytest.approx(s)
    with pytest.raises(BreastlabInputError, match="7"):
        fit_pair_model(X[:, :5], y)
    with pytest.raises(BreastlabInputError, match="7"):
        heuristic_pair_score(f[..., :5])
    with pytest.raises(BreastlabInputError, match="radial_distance"):
        pair_features(cc.drop(columns="radial_distance"), mlo)


def test_three_position_cues_pair_a_lesion_off_the_pnl():
    # one CC mass; on the MLO the true partner lies far below the tilted PNL, so its nipple distance is 0.15 lower
    # (0.40 vs 0.55) while its radial and chest-wall distances agree; a same-class false positive has the
    # closer nipple distance (0.53) but lies elsewhere (r 0.80, w 0.20). Equal PNL lengths, equal scores.
    cc = pd.DataFrame(
        {
            "finding_class": ["mass"],
            "score": [0.5],
            "nipple_distance": [0.55],
            "radial_distance": [0.56],
            "chest_wall_distance": [0.45],
            "pnl_length": [100.0],
            "x0": [0],
            "y0": [0],
            "x1": [10],
            "y1": [10],
        },
        index=[1],
    )
    mlo = pd.DataFrame(
        {
            "finding_class": ["mass", "mass"],
            "score": [0.5, 0.5],
            "nipple_distance": [0.40, 0.53],
            "radial_distance": [0.58, 0.80],
            "chest_wall_distance": [0.45, 0.20],
            "pnl_length": [100.0, 100.0],
            "x0": [0, 0],
            "y0": [0, 0],
            "x1": [10, 10],
            "y1": [10, 10],
        },
        index=[7, 8],
    )
    s = heuristic_pair_score(pair_features(cc, mlo))
    # hand: true (0.15^2 + 0.02^2 + 0) / 3, false (0.02^2 + 0.24^2 + 0.25^2) / 3; confidence 0.5
    assert s[0, 0] == pytest.approx(0.5 * math.exp(-0.5 * (0.0225 + 0.0004) / 3 / 0.01))
    assert s[0, 1] == pytest.approx(0.5 * math.exp(-0.5 * (0.0004 + 0.0576 + 0.0625) / 3 / 0.01))
    m = match_views(cc, mlo)
    assert list(zip(m["cc_index"], m["mlo_index"], strict=True)) == [(1, 7)]


def _contour_breast(
    h=260, w=170, depth=130, cy=130.0, half=110, bulge=0.0, above=50, sigma=25, nipple_row=None, nipple_r=4.5
):
    """Half ellipse whose outline bulges by ``bulge`` (fraction of the depth, a smooth bump of width ``sigma`` rows
    centred ``above`` rows above the axis) and, when ``nipple_row`` is given, a disc nipple of radius ``nipple_r``
    centred on the outline there."""
    yy, xx = np.mgrid[:h, :w].astype(float)
    wobble = 1 + bulge * np.exp(-0.5 * ((yy - (cy - above)) / sigma) ** 2)
    mask = (xx / (depth * wobble)) ** 2 + ((yy - cy) / half) ** 2 < 1
    if nipple_row is not None:
        x_edge = depth * math.sqrt(1 - ((nipple_row - cy) / half) ** 2)
        mask |= np.hypot(xx - x_edge, yy - nipple_row) < nipple_r
    return mask


def test_nipple_in_profile_is_found_off_the_most_anterior_point():
    # a broad bulge 45 rows above the axis makes that the most anterior point; the nipple (a bump on the outline,
    # here 8 rows below the axis) is still found, within a pixel
    mask = _contour_breast(bulge=0.16, above=45, sigma=18, nipple_row=138.0, nipple_r=6.0)
    ys, xs = np.nonzero(mask)
    assert abs(ys[np.argmax(xs)] - 138) > 30  # the old "most anterior point" rule would be 30+ rows off
    x, y, in_profile = nipple_from_contour(mask)
    assert in_profile
    assert y == pytest.approx(138, abs=1.0)
    assert x == pytest.approx(130 * math.sqrt(1 - (8 / 110) ** 2), abs=1.5)  # the disc centre, not its tip


def test_nipple_not_in_profile_is_the_fitted_apex():
    # no nipple drawn: the apex of the fitted half-ellipse, the axis row 130 (hand geometry), within 1 px
    x, y, in_profile = nipple_from_contour(_contour_breast())
    assert not in_profile
    assert y == pytest.approx(130, abs=1.0) and x == pytest.approx(129, abs=1.0)
    # a broad bulge (not a nipple) shifts the apex only a little, the most anterior point a lot
    mask = _contour_breast(bulge=0.04)
    ys, xs = np.nonzero(mask)
    x, y, in_profile = nipple_from_contour(mask)
    assert not in_profile
    assert abs(y - 130) < 0.5 * abs(ys[np.argmax(xs)] - 130)


def _marks_and_truth():
    """One breast, one lesion seen in both views, plus a false positive in each view; a second breast whose
    lesion is hit on the CC only."""
    marks = pd.DataFrame(
        {
            "image_id": ["a_cc", "a_cc", "a_mlo", "a_mlo", "b_cc"],
            "patient_id": ["p1", "p1", "p1", "p1", "p2"],
            "laterality": ["L", "L", "L", "L", "R"],
            "view": ["CC", "CC", "MLO", "MLO", "CC"],
            "finding_class": ["mass", "mass", "mass", "calcification", "mass"],
            "score": [0.9, 0.6, 0.8, 0.7, 0.9],
            "nipple_distance": [0.40, 0.80, 0.42, 0.78, 0.5],
            "radial_distance": [0.45, 0.85, 0.46, 0.80, 0.5],
            "chest_wall_distance": [0.6, 0.2, 0.58, 0.22, 0.5],
            "pnl_length": [100.0] * 5,
            "x0": [10, 60, 12, 70, 10],
            "y0": [10, 60, 20, 80, 10],
            "x1": [30, 70, 30, 80, 30],
            "y1": [30, 70, 40, 90, 30],
        },
        index=[100, 101, 102, 103, 104],
    )
    truth = pd.DataFrame(
        {
            "image_id": ["a_cc", "a_mlo", "b_cc", "b_mlo"],
            "finding_class": ["mass"] * 4,
            "abnormality_id": [1, 1, 1, 1],
            "x0": [11, 13, 11, 50],
            "y0": [11, 21, 11, 50],
            "x1": [29, 29, 29, 60],
            "y1": [29, 39, 29, 60],
        }
    )
    return marks, truth


def test_labelled_pairs_and_matching_accuracy():
    marks, truth = _marks_and_truth()
    pairs = labelled_pairs(marks, truth)
    # breast p1:L has 2 CC x 2 MLO pairs, only (100, 102) is the same lesion; p2:R has no MLO detection
    assert len(pairs) == 4 and set(pairs["breast"]) == {"p1:L"}
    same = pairs.set_index(["cc_index", "mlo_index"])["same_lesion"]
    assert same.to_dict() == {(100, 102): 1, (100, 103): 0, (101, 102): 0, (101, 103): 0}
    assert list(pairs.columns[3:10]) == list(PAIR_FEATURES)
    assert pairs.loc[(pairs["cc_index"] == 100) & (pairs["mlo_index"] == 102), "distance_diff"].item() == (
        pytest.approx(0.02)
    )
    res = matching_accuracy(marks, truth)
    # only p1's lesion is hit in both views; the heuristic pairs 100 with 102 (same class, close distance)
    assert (res.n_lesions, res.n_correct, res.share) == (1, 1, 1.0)

    # a scorer preferring the wrong partner: the lesion counts as wrongly paired
    class Wrong:
        def predict_proba(self, X):
            p = np.where(np.isclose(X[:, 1], 0.38), 0.9, 0.1)  # 100 <-> 103 (|0.40 - 0.78|)
            return np.c_[1 - p, p]

    res = matching_accuracy(marks, truth, model=Wrong())
    assert (res.n_lesions, res.n_correct) == (1, 0)
