"""Detections of any detector, evaluated from COCO files; breastlab's own detections written as COCO.

MMDetection, detectron2 and torchvision users hold two files: the **COCO ground truth**
(``{"images": [{id, width, height, ...}], "annotations": [{image_id, category_id, bbox,
...}], "categories": [{id, name}]}``) and the **COCO detection results** (a JSON list of
``{image_id, category_id, bbox, score}``). :func:`evaluate_coco` reads both and runs
:func:`breastlab.detect.froc.evaluate_detections` on them, so a foreign detector gets the
same FROC table, curves, AP@0.5 and image-level ROC as breastlab's own detections.

**Boxes**: COCO's ``bbox`` is ``[x, y, width, height]`` in pixels; breastlab's box is
``x0 = x, y0 = y, x1 = x + width, y1 = y + height`` (both half-open, so the IoU is the
same as pycocotools'). Width and height must be positive and every box must lie within
its image (``[0, width] x [0, height]`` of the ground truth's image entry).

**Categories** are mapped by name onto breastlab's finding classes
(:data:`CATEGORY_ALIASES`, after lower-casing and turning spaces and hyphens into
underscores): ``mass``/``masses``; ``calcification``/``calcifications``/``calc``/
``microcalcification``/``suspicious_calcification``; ``asymmetry`` and its focal, global
and developing kinds; ``architectural_distortion``/``distortion``. A name outside the
aliases (``lesion``, ``skin_thickening``) is **kept as its own class** under its
normalised name: a one-class "lesion" detector is evaluated as it is, and nothing of the
file is dropped. Two categories with one class (``Focal Asymmetry`` and ``Global
Asymmetry``) are pooled. Results refer to the ground truth's category ids (COCO's rule).

**Images**: every image of the ground truth is evaluated, an image without annotations
being a normal image (it adds to the FP/image denominator). The image's ``id`` becomes
breastlab's ``image_id`` (as text). When every image entry also carries ``patient_id``
and ``laterality`` (extra keys COCO allows), the breast-level rows of Table 1 are
computed too. Crowd annotations (``iscrowd`` 1) are refused: breastlab's matching has no
crowd regions.

Every entry is checked (ids known, ``bbox`` four finite numbers, positive size, box
inside its image, ``score`` finite); an error names the file, the entry index and the
field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from breastlab._io import write_json
from breastlab.data.mammo.vocabulary import FINDING_CLASSES
from breastlab.detect._boxes import BOX, DETECTION_COLUMNS
from breastlab.detect.froc import DetectionEvaluation, evaluate_detections
from breastlab.detect.select import evaluation_images
from breastlab.errors import BreastlabInputError

CATEGORY_ALIASES = {
    "mass": "mass",
    "masses": "mass",
    "calcification": "calcification",
    "calcifications": "calcification",
    "calc": "calcification",
    "calcs": "calcification",
    "microcalcification": "calcification",
    "microcalcifications": "calcification",
    "suspicious_calcification": "calcification",
    "asymmetry": "asymmetry",
    "asymmetries": "asymmetry",
    "focal_asymmetry": "asymmetry",
    "global_asymmetry": "asymmetry",
    "developing_asymmetry": "asymmetry",
    "architectural_distortion": "architectural_distortion",
    "distortion": "architectural_distortion",
    "arch_distortion": "architectural_distortion",
}


def finding_class_of(name: str) -> str:
    """breastlab's class for a COCO category name (module notes): an alias's class, else the normalised name."""
    norm = re.sub(r"[\s\-]+", "_", str(name).strip().lower())
    return CATEGORY_ALIASES.get(norm, norm)


def _load_json(path: str | os.PathLike, what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise BreastlabInputError(f"{what} {p.name}: no such file")
    try:
        with open(p, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BreastlabInputError(f"{what} {p.name}: not a UTF-8 JSON file ({exc})") from None


def _entry(obj: Any, name: str, i: int, fields: Sequence[str]) -> dict:
    if not isinstance(obj, dict):
        raise BreastlabInputError(f"{name}: entry {i} is a {type(obj).__name__}, expected an object")
    missing = [f for f in fields if f not in obj]
    if missing:
        raise BreastlabInputError(f"{name}: entry {i} lacks field(s) {missing}; needs {list(fields)}")
    return obj


def _number(v: Any, name: str, i: int, field: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise BreastlabInputError(f"{name}: entry {i}: field {field!r} is {v!r}, expected a finite number")
    return float(v)


def _bbox(v: Any, name: str, i: int, size: tuple[float, float]) -> list[float]:
    """COCO ``[x, y, w, h]`` of entry ``i`` -> breastlab ``[x0, y0, x1, y1]``, checked against the image size."""
    if not isinstance(v, (list, tuple)) or len(v) != 4:
        raise BreastlabInputError(f"{name}: entry {i}: field 'bbox' is {v!r}, expected 4 numbers [x, y, width, height]")
    x, y, w, h = (_number(c, name, i, "bbox") for c in v)
    if w <= 0 or h <= 0:
        raise BreastlabInputError(
            f"{name}: entry {i}: field 'bbox' {list(v)} has width {w:g} and height {h:g}; both must be positive"
        )
    width, height = size
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise BreastlabInputError(
            f"{name}: entry {i}: field 'bbox' {list(v)} lies outside its image (width {width:g}, height "
            f"{height:g}); boxes must be within [0, width] x [0, height]"
        )
    return [x, y, x + w, y + h]


def _key(v: Any, name: str, i: int, field: str) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise BreastlabInputError(f"{name}: entry {i}: field {field!r} is {v!r}, expected an integer or text id")
    return str(v)


@dataclasses.dataclass(frozen=True)
class CocoTruth:
    """A COCO ground truth in breastlab's tables.

    ``images``: ``image_id`` (the COCO id as text), ``height``, ``width``, ``file_name``
    (and ``patient_id``, ``laterality`` when given); ``truth``: ``image_id,
    finding_class, x0, y0, x1, y1``; ``categories``: COCO category id -> breastlab
    class; ``classes``: the classes in evaluation order (breastlab's four first, then
    the other names as they come).
    """

    images: pd.DataFrame
    truth: pd.DataFrame
    categories: dict[str, str]
    classes: tuple[str, ...]


def read_coco_ground_truth(path: str | os.PathLike) -> CocoTruth:
    """Read and check a COCO ground-truth file (module notes)."""
    name = f"COCO ground truth {Path(path).name}"
    doc = _load_json(path, "COCO ground truth")
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "categories")):
        raise BreastlabInputError(f"{name}: expected an object with lists 'images', 'annotations' and 'categories'")
    categories: dict[str, str] = {}
    for i, c in enumerate(doc["categories"]):
        c = _entry(c, f"{name} categories", i, ("id", "name"))
        cid = _key(c["id"], f"{name} categories", i, "id")
        if cid in categories:
            raise BreastlabInputError(f"{name} categories: entry {i}: id {c['id']!r} is used twice")
        categories[cid] = finding_class_of(c["name"])
    if not categories:
        raise BreastlabInputError(f"{name}: 'categories' is empty; name at least one finding class")
    named = set(categories.values())
    classes = (
        *(c for c in FINDING_CLASSES if c in named),
        *dict.fromkeys(c for c in categories.values() if c not in FINDING_CLASSES),
    )
    rows, sizes = [], {}
    for i, im in enumerate(doc["images"]):
        im = _entry(im, f"{name} images", i, ("id", "width", "height"))
        iid = _key(im["id"], f"{name} images", i, "id")
        if iid in sizes:
            raise BreastlabInputError(f"{name} images: entry {i}: id {im['id']!r} is used twice")
        w, h = (_number(im[k], f"{name} images", i, k) for k in ("width", "height"))
        if w <= 0 or h <= 0:
            raise BreastlabInputError(f"{name} images: entry {i}: width {w:g} and height {h:g} must be positive")
        sizes[iid] = (w, h)
        row = {"image_id": iid, "height": int(h), "width": int(w), "file_name": str(im.get("file_name", ""))}
        row.update({k: str(im[k]) for k in ("patient_id", "laterality") if im.get(k) is not None})
        rows.append(row)
    if not rows:
        raise BreastlabInputError(f"{name}: 'images' is empty; the evaluation needs at least one image")
    images = pd.DataFrame(rows)
    for k in ("patient_id", "laterality"):
        if k in images.columns and images[k].isna().any():
            images = images.drop(columns=k)  # only when every image has it
    annotations = doc.get("annotations", [])
    if not isinstance(annotations, list):
        raise BreastlabInputError(f"{name}: 'annotations' must be a list")
    truth = []
    aname = f"{name} annotations"
    for i, a in enumerate(annotations):
        a = _entry(a, aname, i, ("image_id", "category_id", "bbox"))
        iid = _key(a["image_id"], aname, i, "image_id")
        if iid not in sizes:
            raise BreastlabInputError(f"{aname}: entry {i}: field 'image_id' {a['image_id']!r} is not in 'images'")
        cid = _key(a["category_id"], aname, i, "category_id")
        if cid not in categories:
            raise BreastlabInputError(
                f"{aname}: entry {i}: field 'category_id' {a['category_id']!r} is not in 'categories'"
            )
        if a.get("iscrowd", 0):
            raise BreastlabInputError(
                f"{aname}: entry {i}: field 'iscrowd' is {a['iscrowd']!r}; crowd regions are not supported, "
                "give each finding its own box"
            )
        truth.append([iid, categories[cid], *_bbox(a["bbox"], aname, i, sizes[iid])])
    truth_df = pd.DataFrame(truth, columns=["image_id", "finding_class", *BOX])
    return CocoTruth(images, truth_df, categories, classes)


def read_coco_results(path: str | os.PathLike, gt: CocoTruth) -> pd.DataFrame:
    """Read and check COCO detection results against ``gt``; returns breastlab's detections table.

    Row *i* of the table is entry *i* of the file.
    """
    name = f"COCO results {Path(path).name}"
    doc = _load_json(path, "COCO results")
    if not isinstance(doc, list):
        raise BreastlabInputError(
            f"{name}: expected a JSON list of {{image_id, category_id, bbox, score}} (COCO detection results)"
        )
    sizes = dict(zip(gt.images["image_id"], zip(gt.images["width"], gt.images["height"], strict=True), strict=True))
    rows = []
    for i, r in enumerate(doc):
        r = _entry(r, name, i, ("image_id", "category_id", "bbox", "score"))
        iid = _key(r["image_id"], name, i, "image_id")
        if iid not in sizes:
            raise BreastlabInputError(
                f"{name}: entry {i}: field 'image_id' {r['image_id']!r} is not an image of the ground truth"
            )
        cid = _key(r["category_id"], name, i, "category_id")
        if cid not in gt.categories:
            raise BreastlabInputError(
                f"{name}: entry {i}: field 'category_id' {r['category_id']!r} is not a category of the ground "
                f"truth (ids {sorted(gt.categories)})"
            )
        score = _number(r["score"], name, i, "score")
        rows.append([iid, gt.categories[cid], score, *_bbox(r["bbox"], name, i, sizes[iid])])
    return pd.DataFrame(rows, columns=DETECTION_COLUMNS)


def evaluate_coco(
    ground_truth: str | os.PathLike,
    results: str | os.PathLike,
    *,
    hit: str = "iou_or_centre",
    iou_threshold: float = 0.5,
    duplicates: str = "ignore",
    conf_level: float = 0.95,
    ap: bool = True,
) -> DetectionEvaluation:
    """FROC, AP@0.5 and image-level ROC (breast level too when the images name patient and
    laterality) of COCO detection results against a COCO ground truth (module notes)."""
    gt = read_coco_ground_truth(ground_truth)
    det = read_coco_results(results, gt)
    levels = ("image", "breast") if {"patient_id", "laterality"} <= set(gt.images.columns) else ("image",)
    return evaluate_detections(
        gt.images,
        gt.truth,
        det,
        classes=gt.classes,
        hit=hit,
        iou_threshold=iou_threshold,
        duplicates=duplicates,
        conf_level=conf_level,
        levels=levels,
        ap=ap,
    )


def to_coco(
    images: pd.DataFrame,
    truth: pd.DataFrame,
    detections: pd.DataFrame | None = None,
    classes: Sequence[str] = FINDING_CLASSES,
) -> tuple[dict, list[dict]]:
    """breastlab's images, findings and detections as a COCO ground truth and COCO results.

    ``images`` needs ``image_id``, ``height``, ``width`` (and passes ``patient_id``,
    ``laterality`` on); COCO image ids are 1, 2, ... in the order of ``images``, with
    breastlab's ``image_id`` as ``file_name``; category ids are 1, 2, ... in the order
    of ``classes``. Findings without a box are left out (COCO has no boxless
    annotation); findings and detections of images not in ``images`` too.
    """
    need = [c for c in ("image_id", "height", "width") if c not in images.columns]
    if need:
        raise BreastlabInputError(f"images: lacks column(s) {need}; COCO needs every image's size")
    ids = {str(iid): k + 1 for k, iid in enumerate(images["image_id"])}
    cat = {c: k + 1 for k, c in enumerate(classes)}
    extra = [c for c in ("patient_id", "laterality") if c in images.columns]
    coco_images = [
        {
            "id": ids[str(r["image_id"])],
            "file_name": str(r["image_id"]),
            "width": int(r["width"]),
            "height": int(r["height"]),
            **{c: str(r[c]) for c in extra},
        }
        for _, r in images.iterrows()
    ]

    def boxes(df: pd.DataFrame) -> pd.DataFrame:
        df = df[df["image_id"].astype(str).isin(ids)]
        df = df[df[BOX].notna().all(axis=1)]
        unknown = sorted(set(df["finding_class"]) - set(cat))
        if unknown:
            raise BreastlabInputError(f"finding class(es) {unknown} are not among classes {list(classes)}")
        return df

    annotations = []
    for k, (_, r) in enumerate(boxes(truth).iterrows()):
        x0, y0, x1, y1 = (float(r[c]) for c in BOX)
        annotations.append(
            {
                "id": k + 1,
                "image_id": ids[str(r["image_id"])],
                "category_id": cat[r["finding_class"]],
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "area": (x1 - x0) * (y1 - y0),
                "iscrowd": 0,
            }
        )
    gt = {
        "images": coco_images,
        "annotations": annotations,
        "categories": [{"id": i, "name": c} for c, i in cat.items()],
    }
    results = []
    if detections is not None:
        for _, r in boxes(detections).iterrows():
            x0, y0, x1, y1 = (float(r[c]) for c in BOX)
            results.append(
                {
                    "image_id": ids[str(r["image_id"])],
                    "category_id": cat[r["finding_class"]],
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(r["score"]),
                }
            )
    return gt, results


def write_coco_files(
    out: str | os.PathLike,
    images: pd.DataFrame,
    truth: pd.DataFrame,
    detections: pd.DataFrame,
    classes: Sequence[str],
) -> tuple[Path, Path]:
    """``OUT/coco_ground_truth.json`` and ``OUT/coco_results.json``: :func:`to_coco` of the images (a
    store's manifest rows), their findings and the detections, for COCO tools.

    The categories are the detector's ``classes`` and then the finding classes of ``truth`` it was
    not trained on: their findings stay in the ground truth (misses, as breastlab counts them).
    """
    out = Path(out)
    extra = sorted(set(truth["finding_class"]) - set(classes))
    gt, results = to_coco(evaluation_images(images), truth, detections, classes=(*classes, *extra))
    return write_json(gt, out / "coco_ground_truth.json"), write_json(results, out / "coco_results.json")


__all__ = [
    "CATEGORY_ALIASES",
    "CocoTruth",
    "evaluate_coco",
    "finding_class_of",
    "read_coco_ground_truth",
    "read_coco_results",
    "to_coco",
    "write_coco_files",
]
