"""AI marks for reader studies: annotated detections, per-image CSV / JSON / PNG, long-format scores.

:func:`annotate` keeps one mark per location (class-agnostic NMS at IoU 0.3, or a box
covering half of a smaller one; the highest-scoring class wins) and adds to each its
``region``, ``nipple_distance`` and the other location columns
(:mod:`breastlab.detect.localise`, landmarks from the stored image) and its CC-MLO
``partner`` (greedy matching within each breast, :func:`~breastlab.detect.localise.
match_views`), :func:`write_marks` writes what a reader would see, and
:func:`reader_study_rows` turns detections into the long format of
:func:`breastlab.evaluate.stats.reader_study` with ``reader = "model"``.

Case score (reader-study rows): the highest detection score of the case (all
classes; a case without detection scores 0); ``truth`` 1 when the case has a finding
(or as given); ``finding`` the case's finding class(es), joined by ``+`` when several,
empty for cases without a finding.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab._io import write_bytes, write_json, write_table
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError

COLOURS = {
    "mass": (255, 64, 64),
    "calcification": (64, 200, 255),
    "asymmetry": (255, 200, 0),
    "architectural_distortion": (200, 90, 255),
}
MARK_COLUMNS = [
    "detection_id",
    "image_id",
    "finding_class",
    "score",
    "x0",
    "y0",
    "x1",
    "y1",
    "region",
    "nipple_distance",
    "partner",
    "pair_score",
]


def suppress_overlaps(
    detections: pd.DataFrame, iou_threshold: float = 0.3, containment: float | None = 0.5
) -> pd.DataFrame:
    """One mark per location: class-agnostic NMS per image (the highest-scoring class is kept).

    A box is dropped when a higher-scoring box of its image overlaps it with IoU >=
    ``iou_threshold`` or, with ``containment``, covers at least that share of the smaller
    of the two boxes (intersection / smaller area): a small box inside a large one (the
    detector often boxes a lesion's core as one class and its halo as another) has a low
    IoU but marks the same location. None: IoU alone.
    """
    import torch
    from torchvision.ops import batched_nms

    if len(detections) == 0:
        return detections.copy()
    d = detections.reset_index(drop=True)
    groups = torch.as_tensor(pd.factorize(d["image_id"])[0], dtype=torch.int64)
    keep = batched_nms(
        torch.as_tensor(d[["x0", "y0", "x1", "y1"]].to_numpy(float, copy=True), dtype=torch.float32),
        torch.as_tensor(d["score"].to_numpy(float, copy=True), dtype=torch.float32),
        groups,
        iou_threshold,
    ).numpy()
    d = d.iloc[np.sort(keep)]
    if containment is None:
        return d
    kept = []
    for _, g in d.groupby(d["image_id"].astype(str), sort=False):
        order = g.index[np.argsort(-g["score"].to_numpy(float), kind="stable")]
        b = g.loc[order, ["x0", "y0", "x1", "y1"]].to_numpy(float)
        iw = np.clip(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None)
        ih = np.clip(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None)
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        cover = iw * ih / np.maximum(np.minimum(area[:, None], area[None, :]), 1e-12)
        take: list[int] = []
        for i in range(len(order)):
            if not take or cover[i, take].max() < containment:
                take.append(i)
        kept.extend(order[take])
    return d.loc[sorted(kept)]


def annotate(
    detections: pd.DataFrame,
    store: ArrayStore,
    *,
    min_score: float = 0.0,
    match_threshold: float | None = None,
    overlap_iou: float | None = 0.3,
    containment: float | None = 0.5,
    pair_model=None,
) -> pd.DataFrame:
    """Detections (of images in ``store``) with detection_id, region, nipple_distance, partner, pair_score
    (and the other location columns of :func:`~breastlab.detect.localise.locate_boxes`).

    ``overlap_iou``, ``containment``: class-agnostic suppression first (:func:`suppress_overlaps`),
    so that a reader sees one mark per location; ``overlap_iou`` None keeps every detection. ``pair_model``: a learned
    CC-MLO pair scorer (:func:`~breastlab.detect.localise.fit_pair_model`; None: the
    heuristic); ``match_threshold`` None takes :func:`~breastlab.detect.localise.match_views`'s default.
    """
    from breastlab.detect.localise import LOCATION_COLUMNS, breast_landmarks, locate_boxes, match_views

    man = store.manifest.set_index(store.manifest["image_id"].astype(str))
    det = detections[detections["score"] >= min_score].copy()
    if overlap_iou is not None:
        det = suppress_overlaps(det, overlap_iou, containment)
    det["image_id"] = det["image_id"].astype(str)
    missing = sorted(set(det["image_id"]) - set(man.index))
    if missing:
        raise BreastlabInputError(f"{store.path}: detections name image(s) {missing[:3]} that the store lacks")
    det = det.sort_values(["image_id", "score"], ascending=[True, False]).reset_index(drop=True)
    det["detection_id"] = det["image_id"] + "#" + det.groupby("image_id").cumcount().astype(str)
    det["region"] = ""
    for col in LOCATION_COLUMNS[1:]:
        det[col] = np.nan
    for iid, idx in det.groupby("image_id").groups.items():
        rec = man.loc[iid]
        view = str(rec.get("view", "")).upper()
        if view not in ("CC", "MLO"):
            continue
        try:
            lm = breast_landmarks(store[int(rec["row"])], view)
        except BreastlabInputError:
            continue
        located = locate_boxes(det.loc[idx], lm)
        det.loc[idx, list(LOCATION_COLUMNS)] = located[list(LOCATION_COLUMNS)]
    det["partner"], det["pair_score"] = "", np.nan
    if {"patient_id", "laterality", "view"} <= set(man.columns):
        det["breast"] = det["image_id"].map(man["patient_id"].astype(str) + ":" + man["laterality"].astype(str))
        det["view"] = det["image_id"].map(man["view"].astype(str).str.upper())
        for _, g in det[det["nipple_distance"].notna()].groupby("breast"):
            pairs = match_views(
                g[g["view"] == "CC"], g[g["view"] == "MLO"], threshold=match_threshold, model=pair_model
            )
            for p in pairs.itertuples():
                det.loc[p.cc_index, ["partner", "pair_score"]] = [det.loc[p.mlo_index, "detection_id"], p.pair_score]
                det.loc[p.mlo_index, ["partner", "pair_score"]] = [det.loc[p.cc_index, "detection_id"], p.pair_score]
        det = det.drop(columns=["breast", "view"])
    return det[MARK_COLUMNS + [c for c in det.columns if c not in MARK_COLUMNS]]


def fit_pair_model_on(
    detections: pd.DataFrame,
    store: ArrayStore,
    *,
    min_score: float = 0.1,
    lesion: str | None = "abnormality_id",
    seed: int = 0,
):
    """Fit the CC-MLO pair model on detections of images with known findings; returns (model, pairs).

    The detections' marks (:func:`annotate`, one per location) are paired within each
    breast and labelled by the store's findings (``lesion`` names the same lesion in both
    views; see :func:`~breastlab.detect.localise.labelled_pairs`). Use detections the
    detector did not train on (e.g. out-of-fold predictions): on its own training images
    its scores are overconfident and the model learns that.
    """
    from breastlab.detect.localise import PAIR_FEATURES, fit_pair_model, labelled_pairs

    marks = annotate(detections, store, min_score=min_score)
    man = store.manifest.set_index(store.manifest["image_id"].astype(str))
    for col in ("patient_id", "laterality", "view"):
        if col not in man.columns:
            raise BreastlabInputError(f"{store.path}: manifest lacks {col!r}, needed to pair CC and MLO views")
        marks[col] = marks["image_id"].map(man[col])
    truth = store.findings[store.findings["image_id"].astype(str).isin(set(marks["image_id"]))]
    pairs = labelled_pairs(marks, truth, lesion=lesion)
    if pairs.empty:
        raise BreastlabInputError(
            "fit_pair_model_on: no CC x MLO pairs of detections in any breast; predict on images with both views first"
        )
    model = fit_pair_model(pairs[list(PAIR_FEATURES)].to_numpy(float), pairs["same_lesion"], seed=seed)
    return model, pairs


def draw_marks(image: np.ndarray, marks: pd.DataFrame, truth: pd.DataFrame | None = None) -> bytes:
    """PNG bytes: the mapped image in grey with each mark's box, class and score (truth boxes dashed green)."""
    from PIL import Image, ImageDraw

    img = np.asarray(image, np.float32)
    grey = (
        np.uint8(np.clip((img + 0.5) / 2.0, 0, 1) * 255)
        if img.min() < 0 or img.max() <= 1.5
        else np.uint8(np.clip(img / max(float(img.max()), 1.0), 0, 1) * 255)
    )
    pil = Image.fromarray(grey).convert("RGB")
    draw = ImageDraw.Draw(pil)
    if truth is not None:
        for r in truth.itertuples():
            if pd.notna(r.x0):
                draw.rectangle([r.x0 - 1, r.y0 - 1, r.x1, r.y1], outline=(0, 220, 0), width=1)
    for r in marks.itertuples():
        colour = COLOURS.get(r.finding_class, (255, 255, 255))
        draw.rectangle([r.x0, r.y0, r.x1 - 1, r.y1 - 1], outline=colour, width=2)
        draw.text((r.x0 + 1, max(0, r.y0 - 11)), f"{r.finding_class[:4]} {r.score:.2f}", fill=colour)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))


def write_marks(
    marks: pd.DataFrame, store: ArrayStore, out: str | os.PathLike, *, max_per_image: int = 5, png: bool = True
) -> Path:
    """Per image ``<image_id>.csv``, ``.json`` and ``.png`` (top ``max_per_image`` marks) plus ``marks.csv``."""
    from breastlab.detect.model import load_image

    out = Path(out)
    rows = dict(zip(store.manifest["image_id"].astype(str), store.manifest["row"], strict=True))
    top = marks.sort_values("score", ascending=False).groupby("image_id").head(max_per_image)
    write_table(top.sort_values(["image_id", "score"], ascending=[True, False]), out / "marks.csv")
    for iid in sorted(rows):
        m = top[top["image_id"] == iid]
        write_table(m, out / f"{_safe(iid)}.csv")
        write_json(
            {"image_id": iid, "marks": m.astype(object).where(m.notna(), None).to_dict("records")},
            out / f"{_safe(iid)}.json",
        )
        if png:
            write_bytes(draw_marks(load_image(store, rows[iid]), m), out / f"{_safe(iid)}.png")
    return out


def reader_study_rows(
    detections: pd.DataFrame,
    images: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    level: str = "patient",
    condition: str = "unaided",
    case_truth: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Long-format rows (case_id, truth, reader, reader_group, condition, finding, score, reading_time_s).

    ``level``: "patient" (all views of a patient are one case), "breast" (patient_id +
    laterality) or "image". ``case_truth`` overrides the default truth (case has a finding).
    """
    keys = {"patient": ["patient_id"], "breast": ["patient_id", "laterality"], "image": ["image_id"]}.get(level)
    if keys is None:
        raise BreastlabInputError(f"level={level!r}: valid levels are 'patient', 'breast' and 'image'")
    missing = [k for k in ["image_id", *keys] if k not in images.columns]
    if missing:
        raise BreastlabInputError(f"images: lacks column(s) {missing} needed for level={level!r}")
    img = images[list(dict.fromkeys(["image_id", *keys]))].copy()
    img["image_id"] = img["image_id"].astype(str)
    img["case_id"] = img[keys].astype(str).agg(":".join, axis=1)
    case_of = dict(zip(img["image_id"], img["case_id"], strict=True))
    cases = pd.DataFrame({"case_id": list(dict.fromkeys(img["case_id"]))})
    d = detections.assign(case_id=detections["image_id"].astype(str).map(case_of)).dropna(subset=["case_id"])
    t = truth.assign(case_id=truth["image_id"].astype(str).map(case_of)).dropna(subset=["case_id"])
    score = d.groupby("case_id")["score"].max()
    finding = t.groupby("case_id")["finding_class"].agg(lambda s: "+".join(sorted(set(s))))
    cases["score"] = cases["case_id"].map(score).fillna(0.0).astype(float)
    cases["finding"] = cases["case_id"].map(finding).fillna("")
    if case_truth is None:
        cases["truth"] = (cases["finding"] != "").astype(int)
    else:
        unknown = [c for c in cases["case_id"] if c not in case_truth]
        if unknown:
            raise BreastlabInputError(f"case_truth: no truth for case(s) {unknown[:3]}")
        cases["truth"] = cases["case_id"].map(case_truth).astype(int)
    cases["reader"], cases["reader_group"], cases["condition"] = "model", "model", condition
    cases["reading_time_s"] = np.nan
    return cases[["case_id", "truth", "reader", "reader_group", "condition", "finding", "score", "reading_time_s"]]
