"""Detection evaluation: lesion matching, per-class FROC, AP at IoU 0.5, image/breast-level ROC.

**Hit rule** (``hit``): a detection of class *c* hits a true finding of class *c* on
the same image when ``"iou"``: IoU >= ``iou_threshold`` (0.5); ``"centre"``: the
detection's centre lies in the true box; ``"iou_or_centre"`` (default): either.

**Matching**: per image and class, detections are visited in descending score; a
detection that hits findings not yet found is a true positive for the one it overlaps
most (that finding's *found score* is this detection's score); a detection that hits
only findings already found is a *duplicate* -- ignored by default, as in the LUNA16
and CAMELYON16 FROC (``duplicates="fp"`` counts them as false positives); a
detection that hits nothing is a false positive. Findings without a box (sources
giving no location) cannot be matched: they are left out of the FROC and AP (counted
in ``n_unlocated``) but count for the image- and breast-level truth.

**FROC** (Bunch et al., Proc SPIE 1977; Chakraborty, Med Phys 1989): at each
threshold *t* (the distinct detection scores), sensitivity(t) = (findings with found
score >= t) / findings, FP/image(t) = (false positives with score >= t) / images.
The sensitivity reported at a rate *f* (0.125, 0.25, 0.5, 1, 2, 4) is the largest
sensitivity among thresholds with FP/image <= *f* (the empirical step curve, no
interpolation; a detector with fewer false positives than *f* in total keeps its
final sensitivity), and the **mean sensitivity** is their average (the CPM of
LUNA16, Setio et al., Med Image Anal 2017;42:1-13).

**AP@0.5**: COCO average precision (101-point interpolation) at IoU 0.5 by
torchmetrics' ``MeanAveragePrecision`` with the pycocotools backend; COCO matches
by IoU only, so AP ignores ``hit``.

**Image and breast level**: the score of an image (breast: all its views, e.g. CC
and MLO) for class *c* is the highest class-*c* detection score (0 without one), its
truth whether it has a class-*c* finding; class ``any`` takes the highest score of
any class. ROC AUC with DeLong 95 % CI, and sensitivity / specificity at the Youden
cut-off, by :mod:`breastlab.evaluate.stats` (pROC's conventions), in the layout of
Table 1 of the DNN-assisted reading study.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from breastlab._table import format_ci
from breastlab.data.mammo.vocabulary import FINDING_CLASSES
from breastlab.detect._boxes import BOX, centre_in, check_box_table, iou_matrix
from breastlab.errors import BreastlabInputError

FP_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
HITS = ("iou", "centre", "iou_or_centre")
ANY = "any"


def _hits(det: np.ndarray, true: np.ndarray, hit: str, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    iou = iou_matrix(det, true)
    if hit == "iou":
        ok = iou >= iou_threshold
    elif hit == "centre":
        ok = centre_in(det, true)
    else:
        ok = (iou >= iou_threshold) | centre_in(det, true)
    return ok, iou


def match_detections(
    truth: pd.DataFrame,
    detections: pd.DataFrame,
    *,
    hit: str = "iou_or_centre",
    iou_threshold: float = 0.5,
    duplicates: str = "ignore",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Match detections to true findings (module notes).

    Returns ``(detections, truth)`` copies: detections gain ``outcome`` ("tp", "fp",
    "duplicate") and ``finding_index`` (row of ``truth`` hit, -1 for none); truth gains
    ``found_score`` (NaN when not found) and ``found_by`` (detection row, -1).
    """
    if hit not in HITS:
        raise BreastlabInputError(f"hit={hit!r}: valid rules are {list(HITS)}")
    if duplicates not in ("ignore", "fp"):
        raise BreastlabInputError(f"duplicates={duplicates!r}: valid values are 'ignore' and 'fp'")
    if not 0 < iou_threshold <= 1:
        raise BreastlabInputError(f"iou_threshold={iou_threshold!r}: must be in (0, 1]")
    det = detections.reset_index(drop=True).copy()
    tru = truth.reset_index(drop=True).copy()
    det["outcome"] = "fp"
    det["finding_index"] = -1
    tru["found_score"] = np.nan
    tru["found_by"] = -1
    has_box = tru["has_box"].to_numpy() if "has_box" in tru.columns else np.ones(len(tru), bool)
    t_groups = {k: np.asarray(v) for k, v in tru[has_box].groupby(["image_id", "finding_class"]).indices.items()}
    t_index = np.flatnonzero(has_box)
    t_groups = {k: t_index[v] for k, v in t_groups.items()}
    outcome = np.full(len(det), "fp", dtype=object)
    fidx = np.full(len(det), -1, dtype=np.int64)
    found = np.full(len(tru), np.nan)
    found_by = np.full(len(tru), -1, dtype=np.int64)
    dbox, tbox = det[BOX].to_numpy(float), tru[BOX].to_numpy(float)
    scores = det["score"].to_numpy(float)
    for key, d_idx in det.groupby(["image_id", "finding_class"]).indices.items():
        t_idx = t_groups.get(key)
        if t_idx is None:
            continue
        d_idx = np.asarray(d_idx)[np.argsort(-scores[d_idx], kind="stable")]
        ok, iou = _hits(dbox[d_idx], tbox[t_idx], hit, iou_threshold)
        taken = np.zeros(len(t_idx), bool)
        for r, i in enumerate(d_idx):
            if not ok[r].any():
                continue
            free = ok[r] & ~taken
            if free.any():
                j = int(np.argmax(np.where(free, iou[r], -1.0)))
                taken[j] = True
                outcome[i], fidx[i] = "tp", t_idx[j]
                found[t_idx[j]], found_by[t_idx[j]] = scores[i], i
            else:
                outcome[i] = "duplicate" if duplicates == "ignore" else "fp"
                fidx[i] = t_idx[int(np.argmax(np.where(ok[r], iou[r], -1.0)))]
    det["outcome"], det["finding_index"] = outcome, fidx
    tru["found_score"], tru["found_by"] = found, found_by
    return det, tru


@dataclasses.dataclass(frozen=True)
class FrocCurve:
    """One class's FROC: thresholds descending, with sensitivity and FP/image at each."""

    finding_class: str
    thresholds: np.ndarray
    sensitivities: np.ndarray
    fp_per_image: np.ndarray
    n_findings: int
    n_images: int
    rates: tuple[float, ...]
    at_rates: np.ndarray  # sensitivity at each of ``rates``

    @property
    def mean_sensitivity(self) -> float:
        return float(np.mean(self.at_rates)) if self.n_findings else float("nan")

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"threshold": self.thresholds, "sensitivity": self.sensitivities, "fp_per_image": self.fp_per_image}
        )


def froc_curve(
    found_scores: np.ndarray,
    fp_scores: np.ndarray,
    n_images: int,
    *,
    finding_class: str = "",
    rates: Sequence[float] = FP_RATES,
) -> FrocCurve:
    """FROC from the found scores of the findings (NaN = never found) and the false-positive scores."""
    found = np.asarray(found_scores, float).ravel()
    fp = np.asarray(fp_scores, float).ravel()
    if n_images < 1:
        raise BreastlabInputError(f"n_images={n_images!r}: a FROC needs at least one image")
    thr = np.unique(np.concatenate([found[np.isfinite(found)], fp]))[::-1]
    found_sorted = np.sort(found[np.isfinite(found)])
    fp_sorted = np.sort(fp)
    # counts of values >= t for each threshold t, by binary search
    n_found = len(found_sorted) - np.searchsorted(found_sorted, thr, side="left")
    n_fp = len(fp_sorted) - np.searchsorted(fp_sorted, thr, side="left")
    sens = np.concatenate([[0.0], n_found / len(found)]) if len(found) else np.zeros(len(thr) + 1)
    fpi = np.concatenate([[0.0], n_fp / n_images])
    thresholds = np.concatenate([[np.inf], thr])
    at = np.array([sens[fpi <= f].max() for f in rates])
    return FrocCurve(
        finding_class, thresholds, sens, fpi, len(found), int(n_images), tuple(float(r) for r in rates), at
    )


@dataclasses.dataclass
class DetectionEvaluation:
    """What :func:`evaluate_detections` returns (tables ready to print and write)."""

    froc: dict[str, FrocCurve]
    froc_table: pd.DataFrame  # class, findings, sensitivity at each rate, mean sensitivity, AP@0.5
    table1: pd.DataFrame  # level x class: n_pos, n_neg, AUC (95 % CI), cut-off, sensitivity, specificity
    detections: pd.DataFrame  # matched detections (outcome, finding_index)
    truth: pd.DataFrame  # findings with found_score
    scores: dict[str, pd.DataFrame]  # level -> unit x class max scores and truth
    notes: list[str]

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"froc": self.froc_table, "table1": self.table1}

    def format(self) -> str:
        from breastlab._table import format_table

        cols = [c for c in self.table1.columns if c not in ("auc", "lower", "upper", "se")]
        parts = [
            format_table(self.froc_table, "FROC: sensitivity at FP/image, mean sensitivity, AP@0.5"),
            format_table(
                self.table1[cols],
                "Table 1. Image- and breast-level performance (DeLong 95% CI, Youden cut-off)",
                floatfmt="{:.3f}",
            ),
        ]
        if self.notes:
            parts.append("Notes:\n" + "\n".join(f"- {n}" for n in self.notes))
        return "\n\n".join(parts)

    def write(self, out) -> None:
        from pathlib import Path

        from breastlab._io import write_json, write_table

        out = Path(out)
        write_table(self.froc_table, out / "froc.csv")
        write_table(self.table1, out / "table1.csv")
        write_table(
            pd.concat([c.to_frame().assign(finding_class=k) for k, c in self.froc.items()], ignore_index=True),
            out / "froc_curves.csv",
        )
        write_table(self.detections, out / "matched_detections.csv")
        write_json(
            {"froc": self.froc_table.to_dict("records"), "table1": self.table1.to_dict("records"), "notes": self.notes},
            out / "evaluation.json",
        )


def average_precision(
    truth: pd.DataFrame,
    detections: pd.DataFrame,
    image_ids: Sequence[str],
    classes: Sequence[str] = FINDING_CLASSES,
    iou_threshold: float = 0.5,
) -> dict[str, float]:
    """COCO AP at one IoU threshold per class (torchmetrics, pycocotools backend); NaN without findings."""
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    code = {c: i for i, c in enumerate(classes)}
    metric = MeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        iou_thresholds=[float(iou_threshold)],
        class_metrics=True,
        backend="pycocotools",
    )
    t_by = {k: v for k, v in truth.groupby("image_id")}
    d_by = {k: v for k, v in detections.groupby("image_id")}
    preds, targets = [], []
    empty = pd.DataFrame(columns=[*BOX, "finding_class", "score"])
    for iid in image_ids:
        d, t = d_by.get(iid, empty), t_by.get(iid, empty)
        preds.append(
            {
                "boxes": torch.as_tensor(d[BOX].to_numpy(float, copy=True), dtype=torch.float32).reshape(-1, 4),
                "scores": torch.as_tensor(d["score"].to_numpy(float, copy=True), dtype=torch.float32),
                "labels": torch.as_tensor([code[c] for c in d["finding_class"]], dtype=torch.int64),
            }
        )
        targets.append(
            {
                "boxes": torch.as_tensor(t[BOX].to_numpy(float, copy=True), dtype=torch.float32).reshape(-1, 4),
                "labels": torch.as_tensor([code[c] for c in t["finding_class"]], dtype=torch.int64),
            }
        )
    metric.update(preds, targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = metric.compute()
    out = {c: float("nan") for c in classes}
    cls = res["classes"].reshape(-1).tolist()
    per = res["map_per_class"].reshape(-1).tolist()
    for k, v in zip(cls, per, strict=True):
        out[classes[int(k)]] = float(v) if v >= 0 else float("nan")
    return out


def unit_scores(
    images: pd.DataFrame,
    truth: pd.DataFrame,
    detections: pd.DataFrame,
    level: str,
    classes: Sequence[str] = FINDING_CLASSES,
) -> pd.DataFrame:
    """One row per image (``level="image"``) or breast (``"breast"``: patient_id + laterality):
    ``score_<class>`` (highest detection score, 0 without one) and ``truth_<class>`` (0/1), plus ``any``."""
    if level == "image":
        keys = ["image_id"]
    elif level == "breast":
        missing = [c for c in ("patient_id", "laterality") if c not in images.columns]
        if missing:
            raise BreastlabInputError(f"breast-level scores need image columns {missing} (patient_id, laterality)")
        keys = ["patient_id", "laterality"]
    else:
        raise BreastlabInputError(f"level={level!r}: valid levels are 'image' and 'breast'")
    img = images[["image_id", *[k for k in keys if k != "image_id"]]].drop_duplicates("image_id").copy()
    img["image_id"] = img["image_id"].astype(str)
    units = img.drop_duplicates(keys)[keys].reset_index(drop=True)
    out = units.copy()
    det = detections.merge(img, on="image_id", how="inner")
    tru = truth.merge(img, on="image_id", how="inner")
    for c in [*classes, ANY]:
        d = det if c == ANY else det[det["finding_class"] == c]
        t = tru if c == ANY else tru[tru["finding_class"] == c]
        s = d.groupby(keys)["score"].max().rename(f"score_{c}")
        n = t.groupby(keys).size().rename(f"truth_{c}")
        out = out.merge(s, left_on=keys, right_index=True, how="left").merge(
            n, left_on=keys, right_index=True, how="left"
        )
        out[f"score_{c}"] = out[f"score_{c}"].fillna(0.0).astype(float)
        out[f"truth_{c}"] = (out[f"truth_{c}"].fillna(0) > 0).astype(int)
    return out


def _table1_row(level: str, c: str, y: np.ndarray, s: np.ndarray, conf_level: float, notes: list[str]) -> dict:
    from breastlab.evaluate.stats import DegenerateCIWarning, ci_auc, youden

    row = {
        "level": level,
        "finding_class": c,
        "n_pos": int(y.sum()),
        "n_neg": int((1 - y).sum()),
        "auc": np.nan,
        "lower": np.nan,
        "upper": np.nan,
        "se": np.nan,
        "auc_ci": "-",
        "cutoff": np.nan,
        "sensitivity": np.nan,
        "specificity": np.nan,
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateCIWarning)
            ci = ci_auc(y, s, conf_level=conf_level)
            op = youden(y, s)
    except BreastlabInputError as exc:
        notes.append(f"{level} level, {c}: no ROC ({exc})")
        return row
    row.update(
        auc=ci.auc,
        lower=ci.lower,
        upper=ci.upper,
        se=ci.se,
        auc_ci=format_ci(ci.auc, ci.lower, ci.upper),
        cutoff=op.threshold,
        sensitivity=op.sensitivity,
        specificity=op.specificity,
    )
    return row


def evaluate_detections(
    images: pd.DataFrame,
    truth: pd.DataFrame,
    detections: pd.DataFrame,
    *,
    classes: Sequence[str] = FINDING_CLASSES,
    hit: str = "iou_or_centre",
    iou_threshold: float = 0.5,
    duplicates: str = "ignore",
    rates: Sequence[float] = FP_RATES,
    conf_level: float = 0.95,
    levels: Sequence[str] = ("image", "breast"),
    ap: bool = True,
) -> DetectionEvaluation:
    """Everything of the module notes for one set of images.

    ``images``: one row per evaluated image (``image_id``; ``patient_id`` and
    ``laterality`` for the breast level; ``height``/``width`` to check boxes lie inside).
    ``truth``: findings table (``image_id, finding_class, x0, y0, x1, y1``; boxless rows
    allowed). ``detections``: ``image_id, finding_class, score, x0, y0, x1, y1``.
    """
    if "image_id" not in images.columns or images["image_id"].duplicated().any():
        raise BreastlabInputError("images: needs a column image_id with one row per evaluated image")
    images = images.copy()
    images["image_id"] = images["image_id"].astype(str)
    ids = images["image_id"].tolist()
    shapes = None
    if {"height", "width"} <= set(images.columns):
        shapes = dict(
            zip(ids, zip(images["height"].astype(int), images["width"].astype(int), strict=True), strict=True)
        )
    tru = check_box_table(
        truth[truth["image_id"].astype(str).isin(ids)],
        "truth",
        shapes=shapes,
        classes=tuple(classes),
        allow_missing_box=True,
    )
    det = check_box_table(detections, "detections", score=True, shapes=shapes, classes=tuple(classes))
    unknown = sorted(set(det["image_id"]) - set(ids))
    if unknown:
        raise BreastlabInputError(f"detections: image(s) {unknown[:3]} are not among the {len(ids)} images evaluated")
    det, tru = match_detections(tru, det, hit=hit, iou_threshold=iou_threshold, duplicates=duplicates)
    notes: list[str] = []
    n_unlocated = int((~tru["has_box"]).sum())
    if n_unlocated:
        notes.append(f"{n_unlocated} finding(s) without a box: left out of FROC and AP, kept for image/breast truth")
    aps = average_precision(tru[tru["has_box"]], det, ids, classes, iou_threshold) if ap else {}
    curves, rows = {}, []
    for c in classes:
        t = tru[(tru["finding_class"] == c) & tru["has_box"]]
        fp = det[(det["finding_class"] == c) & (det["outcome"] == "fp")]
        cur = froc_curve(t["found_score"].to_numpy(), fp["score"].to_numpy(), len(ids), finding_class=c, rates=rates)
        curves[c] = cur
        row = {"finding_class": c, "n_findings": cur.n_findings}
        row.update(
            {f"sens@{r:g}": (v if cur.n_findings else np.nan) for r, v in zip(cur.rates, cur.at_rates, strict=True)}
        )
        row["mean_sensitivity"] = cur.mean_sensitivity
        row["ap50"] = aps.get(c, np.nan)
        rows.append(row)
    table1, scores = [], {}
    for level in levels:
        try:
            sc = unit_scores(images, tru, det, level, classes)
        except BreastlabInputError as exc:
            notes.append(str(exc))
            continue
        scores[level] = sc
        for c in [*classes, ANY]:
            table1.append(
                _table1_row(level, c, sc[f"truth_{c}"].to_numpy(), sc[f"score_{c}"].to_numpy(), conf_level, notes)
            )
    return DetectionEvaluation(curves, pd.DataFrame(rows), pd.DataFrame(table1), det, tru, scores, notes)
