"""Where a finding lies: breast landmarks, quadrant, nipple distance; CC-MLO matching.

**Landmarks** (:func:`breast_landmarks`) from one stored mammogram:

* breast mask: pixels above 0 (the standard preprocessing sets the background to 0;
  for other images the triangle threshold and largest component of
  :func:`breastlab.data.mammo.preprocess.segment_breast`);
* chest-wall side: :func:`~breastlab.data.mammo.preprocess.chest_wall_on_right`; the
  computation below works on the image oriented with the chest wall at the left;
* posterior line: on CC the chest-wall edge (a vertical line at the mask's first
  column); on MLO the pectoral line, fitted (least squares ``c = a + b r``) to the edge
  of :func:`~breastlab.data.mammo.preprocess.pectoral_mask` (vertical fallback, noted,
  when no muscle is found);
* nipple: the most anterior breast point, farthest from the chest-wall edge (the
  median of the mask pixels within 1.5 % of the largest distance), in both views; on
  MLO the PNL then runs from it perpendicular to the pectoral line.

**Nipple distance and quadrant** (:func:`locate`): with ``u`` the unit vector from
the nipple perpendicular to the posterior line (the posterior nipple line, PNL, of
length ``L``), a point ``p`` has nipple distance ``d = clip((p - nipple).u / L, 0, 1)``
(0 nipple, 1 chest wall / pectoral muscle) and offset ``v`` = its signed distance from
the PNL, positive towards the top of the image. Regions, in this order:
``areola`` if ``|p - nipple| <= areola * L`` (0.15); ``central`` if ``|v| <= central * L``
(0.10); on MLO ``axillary_tail`` if ``v > 0`` and ``d >= axilla`` (0.75), else
``upper`` (v > 0) / ``lower``; on CC ``outer`` (lateral) for ``v > 0`` and ``inner``
(medial) otherwise -- the display convention that CC views show the lateral side at the
top (``cc_lateral_up=False`` swaps them).

**CC-MLO matching** (:func:`match_views`): every CC detection ``i`` and MLO detection
``j`` of one breast get a pair score. Heuristic (default; the nipple distance of a
lesion is nearly the same in both views, the usual two-view triangulation):
``S = c_ij * exp(-(d_i - d_j)^2 / (2 * 0.1^2)) * (1 - |s_i - s_j|) * sqrt(s_i s_j)`` with
``c_ij = 1`` for the same class and 0.5 otherwise, ``d`` the nipple distances and
``s`` the detection scores (agreement of the scores, and confident pairs first).
With training pairs, :func:`fit_pair_model` fits a
gradient-boosted classifier (scikit-learn ``HistGradientBoostingClassifier``) on the
features of :func:`pair_features` and its probability is the pair score. Pairs are
then taken greedily in descending score, each detection at most once, while the
score is at least ``threshold`` (0.05; the confidence factor keeps scores small); the rest stay single.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from breastlab.problems import BreastlabInputError

CC_REGIONS = ("outer", "central", "inner", "areola")
MLO_REGIONS = ("upper", "central", "lower", "axillary_tail", "areola")


@dataclasses.dataclass(frozen=True)
class Landmarks:
    """Landmarks in the image's own pixel frame (x = column, y = row)."""

    view: str
    nipple: tuple[float, float]  # (x, y)
    foot: tuple[float, float]  # the PNL's foot on the posterior line
    chest_wall_right: bool
    pectoral_found: bool
    mask: np.ndarray | None = dataclasses.field(default=None, repr=False)

    @property
    def pnl_length(self) -> float:
        return math.hypot(self.foot[0] - self.nipple[0], self.foot[1] - self.nipple[1])


def _breast_mask(image: np.ndarray) -> np.ndarray:
    from breastlab.data.mammo.preprocess import largest_component, segment_breast

    image = np.asarray(image)
    if (image == 0).mean() > 0.05:  # background already zeroed by the preprocessing
        return largest_component(image > 0)
    return segment_breast(image, stride=1).mask


def breast_landmarks(image: np.ndarray, view: str, mask: np.ndarray | None = None) -> Landmarks:
    """Nipple and posterior line of one mammogram (module notes)."""
    from breastlab.data.mammo.preprocess import chest_wall_on_right, pectoral_mask

    view = str(view).upper()
    if view not in ("CC", "MLO"):
        raise BreastlabInputError(f"view={view!r}: localisation knows the views 'CC' and 'MLO'")
    image = np.asarray(image)
    mask = _breast_mask(image) if mask is None else np.asarray(mask, bool)
    if mask.sum() < 16:
        raise BreastlabInputError(f"image of shape {image.shape}: no breast found (fewer than 16 breast pixels)")
    ys, xs = np.nonzero(mask)
    bx0, bx1 = xs.min(), xs.max() + 1
    right = chest_wall_on_right(mask[:, bx0:bx1])
    w = image.shape[1]
    if right:  # work with the chest wall at the left, map back at the end
        image, mask, xs = image[:, ::-1], mask[:, ::-1], (w - 1) - xs
    a, b, found = float(xs.min()), 0.0, False  # posterior line c = a + b r
    if view == "MLO":
        # pectoral_mask expects the breast's bounding box (as the preprocessing crops it)
        r0, r1, c0, c1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        pec = np.zeros_like(mask)
        pec[r0:r1, c0:c1] = pectoral_mask(image[r0:r1, c0:c1], mask[r0:r1, c0:c1])
        if pec.any():
            rows = np.flatnonzero(pec.any(axis=1))
            edge = np.array([np.flatnonzero(pec[r])[-1] for r in rows], float)
            inside = edge < np.array([np.flatnonzero(mask[r])[-1] for r in rows])
            if inside.sum() >= 2:
                b, a = np.polyfit(rows[inside].astype(float), edge[inside], 1)
                found = True
    # the nipple: the most anterior breast point (farthest from the chest-wall edge) in both views
    dist = xs - xs.min()
    near = dist >= dist.max() * 0.985
    nx, ny = float(np.median(xs[near])), float(np.median(ys[near]))
    t = (nx - a - b * ny) / (1 + b * b)  # foot of the perpendicular from the nipple
    fx, fy = nx - t, ny + b * t
    if right:
        nx, fx = (w - 1) - nx, (w - 1) - fx
    return Landmarks(view, (nx, ny), (fx, fy), bool(right), found, None)


@dataclasses.dataclass(frozen=True)
class Location:
    region: str
    nipple_distance: float  # 0 nipple .. 1 chest wall / pectoral muscle
    offset: float  # signed distance from the PNL in PNL lengths, positive towards the image top
    radial: float  # |p - nipple| in PNL lengths


def locate(x: float, y: float, lm: Landmarks, *, areola: float = 0.15, central: float = 0.10, axilla: float = 0.75,
           cc_lateral_up: bool = True) -> Location:
    """Region and nipple distance of the point (x, y) (module notes)."""
    L = lm.pnl_length
    if L <= 0:
        raise BreastlabInputError("landmarks: nipple lies on the posterior line (PNL length 0)")
    ux, uy = (lm.foot[0] - lm.nipple[0]) / L, (lm.foot[1] - lm.nipple[1]) / L
    px, py = x - lm.nipple[0], y - lm.nipple[1]
    d = float(np.clip((px * ux + py * uy) / L, 0.0, 1.0))
    nx, ny = -uy, ux  # perpendicular; orient it towards the image top (negative y)
    if ny > 0 or (ny == 0 and nx < 0):
        nx, ny = -nx, -ny
    v = (px * nx + py * ny) / L
    radial = math.hypot(px, py) / L
    if radial <= areola:
        region = "areola"
    elif abs(v) <= central:
        region = "central"
    elif lm.view == "MLO":
        region = ("axillary_tail" if d >= axilla else "upper") if v > 0 else "lower"
    else:
        region = ("outer" if v > 0 else "inner") if cc_lateral_up else ("inner" if v > 0 else "outer")
    return Location(region, d, float(v), float(radial))


def locate_boxes(boxes: pd.DataFrame, lm: Landmarks, **kwargs) -> pd.DataFrame:
    """``region`` and ``nipple_distance`` of each box centre (columns x0, y0, x1, y1)."""
    out = boxes.copy()
    locs = [locate((r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2, lm, **kwargs) for r in boxes.itertuples()]
    out["region"] = [loc.region for loc in locs]
    out["nipple_distance"] = [loc.nipple_distance for loc in locs]
    return out


# ---------------------------------------------------------------------------------------------- matching
PAIR_FEATURES = ("same_class", "distance_diff", "score_diff", "size_ratio")


def pair_features(cc: pd.DataFrame, mlo: pd.DataFrame) -> np.ndarray:
    """(len(cc), len(mlo), 4): same class, |d_i - d_j|, |s_i - s_j|, log ratio of box sizes (sqrt area)."""
    def size(df):
        return np.sqrt(np.clip((df["x1"] - df["x0"]) * (df["y1"] - df["y0"]), 1e-9, None)).to_numpy(float)

    same = (cc["finding_class"].to_numpy()[:, None] == mlo["finding_class"].to_numpy()[None, :]).astype(float)
    dd = np.abs(cc["nipple_distance"].to_numpy(float)[:, None] - mlo["nipple_distance"].to_numpy(float)[None, :])
    ds = np.abs(cc["score"].to_numpy(float)[:, None] - mlo["score"].to_numpy(float)[None, :])
    sr = np.abs(np.log(size(cc)[:, None] / size(mlo)[None, :]))
    return np.stack([same, dd, ds, sr], axis=-1)


def heuristic_pair_score(features: np.ndarray, confidence: np.ndarray | float = 1.0, other_class: float = 0.5,
                         sigma: float = 0.1) -> np.ndarray:
    """The documented heuristic (module notes) from :func:`pair_features`; ``confidence`` = sqrt(s_i s_j)."""
    f = np.asarray(features, float)
    cls = np.where(f[..., 0] > 0.5, 1.0, other_class)
    return cls * np.exp(-0.5 * (f[..., 1] / sigma) ** 2) * np.clip(1.0 - f[..., 2], 0.0, 1.0) * confidence


def fit_pair_model(features: np.ndarray, same_lesion: np.ndarray, seed: int = 0):
    """Gradient-boosted pair scorer from labelled pairs (features (n, 4), labels 0/1)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    y = np.asarray(same_lesion).astype(int).ravel()
    X = np.asarray(features, float).reshape(len(y), -1)
    if len(np.unique(y)) < 2:
        raise BreastlabInputError("fit_pair_model: training pairs need both same-lesion (1) and different (0) pairs")
    return HistGradientBoostingClassifier(max_iter=100, random_state=seed).fit(X, y)


def match_views(cc: pd.DataFrame, mlo: pd.DataFrame, *, threshold: float = 0.05, model=None) -> pd.DataFrame:
    """Greedy one-to-one CC-MLO matching of one breast's detections (module notes).

    ``cc``/``mlo``: detections with finding_class, score, nipple_distance and a box.
    Returns one row per pair taken: ``cc_index``, ``mlo_index`` (index labels of the
    inputs) and ``pair_score``, in the order taken.
    """
    if len(cc) == 0 or len(mlo) == 0:
        return pd.DataFrame({"cc_index": [], "mlo_index": [], "pair_score": []})
    f = pair_features(cc, mlo)
    if model is None:
        conf = np.sqrt(np.outer(cc["score"].to_numpy(float), mlo["score"].to_numpy(float)).clip(0, None))
        s = heuristic_pair_score(f, conf)
    else:
        s = model.predict_proba(f.reshape(-1, f.shape[-1]))[:, 1].reshape(f.shape[:2])
    order = np.argsort(-s, axis=None, kind="stable")
    used_c, used_m, rows = set(), set(), []
    for k in order:
        i, j = divmod(int(k), s.shape[1])
        if s[i, j] < threshold:
            break
        if i in used_c or j in used_m:
            continue
        used_c.add(i)
        used_m.add(j)
        rows.append({"cc_index": cc.index[i], "mlo_index": mlo.index[j], "pair_score": float(s[i, j])})
    return pd.DataFrame(rows, columns=["cc_index", "mlo_index", "pair_score"])
