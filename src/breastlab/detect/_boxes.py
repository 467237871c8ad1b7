"""Box tables, validation, IoU and the merging of test-time-augmented detections.

Boxes everywhere in breastlab are ``x0, y0, x1, y1`` in pixels of the stored array,
0-based and half-open (a box covers columns ``x0 .. x1 - 1``); area ``(x1 - x0)(y1 - y0)``.

Detections table (what :func:`breastlab.detect.model.predict` returns): one row per
box with ``image_id, finding_class, score, x0, y0, x1, y1`` (floats).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from breastlab.data.mammo.vocabulary import FINDING_CLASSES
from breastlab.errors import BreastlabInputError

BOX = ["x0", "y0", "x1", "y1"]
DETECTION_COLUMNS = ["image_id", "finding_class", "score", *BOX]


def empty_detections() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="object" if c in ("image_id", "finding_class") else "float64") for c in DETECTION_COLUMNS}
    )


def check_box_table(
    df: pd.DataFrame,
    name: str,
    *,
    score: bool = False,
    shapes: Mapping[str, tuple[int, int]] | None = None,
    classes: tuple[str, ...] = FINDING_CLASSES,
    allow_missing_box: bool = False,
) -> pd.DataFrame:
    """Validate a findings or detections table; returns a copy with float boxes.

    Errors name ``name`` (the file or argument), the row and what is expected: missing
    columns, a class outside ``classes``, a box of zero or negative area, a box outside
    its image (``shapes``: image_id -> (height, width)), a non-finite score.
    ``allow_missing_box``: rows whose four box values are all missing are kept
    (findings without a location), flagged by ``has_box`` False.
    """
    need = ["image_id", "finding_class", *(["score"] if score else []), *BOX]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise BreastlabInputError(f"{name}: lacks column(s) {missing}; needs {need}")
    d = df.copy()
    d["image_id"] = d["image_id"].astype(str)
    bad = ~d["finding_class"].isin(classes)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise BreastlabInputError(
            f"{name}: row {i} (image {d['image_id'].iloc[i]}): finding class "
            f"{d['finding_class'].iloc[i]!r} is not in the vocabulary {list(classes)}"
        )
    box = d[BOX].apply(pd.to_numeric, errors="coerce").astype(float)
    none = box.isna().all(axis=1).to_numpy()
    partial = box.isna().any(axis=1).to_numpy() & ~none
    if partial.any() or (none.any() and not allow_missing_box):
        i = int(np.flatnonzero(partial | none)[0])
        raise BreastlabInputError(
            f"{name}: row {i} (image {d['image_id'].iloc[i]}): box "
            f"{box.iloc[i].tolist()} has missing values; give x0, y0, x1, y1 in pixels"
        )
    d[BOX] = box
    d["has_box"] = ~none
    b = box.to_numpy()
    zero = ~none & ((b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1]))
    if zero.any():
        i = int(np.flatnonzero(zero)[0])
        raise BreastlabInputError(
            f"{name}: row {i} (image {d['image_id'].iloc[i]}): box {b[i].tolist()} has zero "
            "or negative area; expected x0 < x1 and y0 < y1 (half-open pixels)"
        )
    if shapes is not None:
        for i in np.flatnonzero(~none):
            iid = d["image_id"].iloc[i]
            if iid not in shapes:
                raise BreastlabInputError(f"{name}: row {i}: image {iid!r} is not among the images evaluated")
            h, w = shapes[iid]
            if b[i, 0] < 0 or b[i, 1] < 0 or b[i, 2] > w or b[i, 3] > h:
                raise BreastlabInputError(
                    f"{name}: row {i} (image {iid}): box {b[i].tolist()} lies outside the "
                    f"image (width {w}, height {h}); boxes must be within [0, w] x [0, h]"
                )
    if score:
        s = pd.to_numeric(d["score"], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(s).all():
            i = int(np.flatnonzero(~np.isfinite(s))[0])
            raise BreastlabInputError(
                f"{name}: row {i} (image {d['image_id'].iloc[i]}): score {d['score'].iloc[i]!r} is not a finite number"
            )
        d["score"] = s
    return d.reset_index(drop=True)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` (n, 4) with every box of ``b`` (m, 4)."""
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def centre_in(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) bool: the centre of box ``a[i]`` lies inside box ``b[j]`` (half-open)."""
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    cx, cy = (a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2
    return (
        (cx[:, None] >= b[None, :, 0])
        & (cx[:, None] < b[None, :, 2])
        & (cy[:, None] >= b[None, :, 1])
        & (cy[:, None] < b[None, :, 3])
    )


def weighted_box_fusion(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, n_views: int, iou_threshold: float = 0.55
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted box fusion (Solovyev, Wang & Gabruseva, Image Vis Comput 2021;107:104117).

    Boxes of all ``n_views`` test-time views (already mapped back to the original frame)
    are visited in descending score; a box joins the first cluster of its label whose
    fused box overlaps it with IoU > ``iou_threshold``, else it starts a cluster. A
    cluster's fused box is the score-weighted mean of its boxes' coordinates,
    ``B = sum_i s_i b_i / sum_i s_i``, and its score the mean score scaled by the share
    of views that found it, ``S = mean(s_i) * min(T, n_views) / n_views`` (T boxes in
    the cluster), so a finding seen in one view only is down-weighted.
    """
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    scores = np.asarray(scores, float).ravel()
    labels = np.asarray(labels).ravel()
    out_b, out_s, out_l = [], [], []
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        members: list[list[int]] = []
        fused: list[np.ndarray] = []
        for i in idx:
            j = -1
            if fused:
                ious = iou_matrix(boxes[i], np.asarray(fused))[0]
                best = int(np.argmax(ious))
                j = best if ious[best] > iou_threshold else -1
            if j < 0:
                members.append([i])
                fused.append(boxes[i].copy())
            else:
                members[j].append(i)
                w = scores[members[j]]
                fused[j] = (boxes[members[j]] * w[:, None]).sum(0) / w.sum()
        for m, fb in zip(members, fused, strict=True):
            out_b.append(fb)
            out_s.append(scores[m].mean() * min(len(m), n_views) / n_views)
            out_l.append(lab)
    if not out_b:
        return np.zeros((0, 4)), np.zeros(0), labels[:0]
    order = np.argsort(-np.asarray(out_s), kind="stable")
    return np.asarray(out_b)[order], np.asarray(out_s)[order], np.asarray(out_l)[order]


def nms_merge(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou_threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class-wise non-maximum suppression (torchvision ``batched_nms``) of the pooled views' boxes."""
    import torch
    from torchvision.ops import batched_nms

    boxes = np.asarray(boxes, float).reshape(-1, 4)
    if len(boxes) == 0:
        return boxes, np.asarray(scores, float), np.asarray(labels)
    keep = batched_nms(
        torch.as_tensor(boxes, dtype=torch.float32),
        torch.as_tensor(scores, dtype=torch.float32),
        torch.as_tensor(np.asarray(labels, np.int64)),
        iou_threshold,
    ).numpy()
    return boxes[keep], np.asarray(scores, float)[keep], np.asarray(labels)[keep]
