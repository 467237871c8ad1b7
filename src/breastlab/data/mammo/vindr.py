"""VinDr-Mammo reader: ``finding_annotations.csv``, ``breast-level_annotations.csv`` and the DICOMs.

Format (PhysioNet VinDr-Mammo 1.0.0; Nguyen HT et al., Sci Data 10, 277 (2023)):

* ``finding_annotations.csv`` -- one row per finding, one ``['No Finding']`` row per image
  without one: ``study_id, series_id, image_id, laterality, view_position, height, width,
  breast_birads, breast_density, finding_categories, finding_birads, xmin, ymin, xmax,
  ymax, split``. ``finding_categories`` is a Python-list literal (a box can carry several
  categories: one breastlab finding row per category, same box, ids ``<image>_<row>_<k>``);
  BI-RADS are ``"BI-RADS 4"``; density ``"DENSITY C"`` (-> 3); split ``training``/``test``
  (-> "train"/"test").
* ``breast-level_annotations.csv`` -- one row per image (optional here): images it lists
  without a finding row still enter the manifest.
* images at ``<images_dir>/<study_id>/<image_id>.dicom`` (default ``images_dir``:
  ``<folder>/images``).

Boxes are pixels of the original DICOM. Box corners become integer pixels as
``floor(xmin), floor(ymin), ceil(xmax), ceil(ymax)`` (0-based, half-open). A box reaching
past the image edge by at most ``clip_tolerance`` pixels (real files: up to ~40) is kept as
the source gives it, not clipped, and reported (file, row, how far past): whoever uses it
decides (the preprocessing clips boxes to the stored image); a box lying outside the
image, empty, not finite, or past the edge by more is reported and its finding dropped.
``patient_id`` is the ``study_id`` (VinDr-Mammo has one study per woman). Image label: breast-level BI-RADS, see
:mod:`breastlab.data.mammo.vocabulary`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab.data._csv import read_text_csv
from breastlab.data.mammo import vocabulary as vocab
from breastlab.data.mammo._dataset import MammoDataset, finalize_tables
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog

SOURCE = "VinDr-Mammo"
STAGE = "read_vindr_mammo"
FINDING_FILE = "finding_annotations.csv"
BREAST_FILE = "breast-level_annotations.csv"
FINDING_HEADER = [
    "study_id",
    "series_id",
    "image_id",
    "laterality",
    "view_position",
    "height",
    "width",
    "breast_birads",
    "breast_density",
    "finding_categories",
    "finding_birads",
    "xmin",
    "ymin",
    "xmax",
    "ymax",
    "split",
]
BREAST_HEADER = [
    "study_id",
    "series_id",
    "image_id",
    "laterality",
    "view_position",
    "height",
    "width",
    "breast_birads",
    "breast_density",
    "split",
]
SPLITS = {"training": "train", "train": "train", "test": "test"}


def _read(path: Path, required: list[str]) -> pd.DataFrame:
    table = read_text_csv(path, "VinDr-Mammo table")
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise BreastlabInputError(f"{path}: missing column(s) {missing}; VinDr-Mammo's header is {required}")
    for col in table.columns:
        table[col] = table[col].str.strip()
    table["csv_row"] = np.arange(1, len(table) + 1)
    return table


def read_vindr_mammo(
    folder: str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    *,
    clip_tolerance: int = 64,
    problems: ProblemLog | None = None,
) -> MammoDataset:
    """Read VinDr-Mammo's annotation tables (see the module notes for every rule)."""
    folder = Path(folder)
    problems = problems if problems is not None else ProblemLog()
    finding_path = folder / FINDING_FILE
    if not finding_path.exists():
        raise BreastlabInputError(f"{folder}: {FINDING_FILE} not found")
    findings_table = _read(finding_path, FINDING_HEADER)
    images_dir = Path(images_dir) if images_dir is not None else folder / "images"
    images: dict[str, dict] = {}
    findings: list[dict] = []
    for rec in findings_table.to_dict("records"):
        where = f"{FINDING_FILE} row {rec['csv_row']} (image {rec['image_id']})"
        image = images.get(rec["image_id"])
        if image is None:
            image = _image(rec, where, images_dir, problems)
            if image is None:
                continue
            images[rec["image_id"]] = image
        _findings_of_row(rec, where, image, findings, clip_tolerance, problems)
    breast_path = folder / BREAST_FILE
    if breast_path.exists():
        for rec in _read(breast_path, BREAST_HEADER).to_dict("records"):
            if rec["image_id"] not in images:
                where = f"{BREAST_FILE} row {rec['csv_row']} (image {rec['image_id']})"
                image = _image(rec, where, images_dir, problems)
                if image is not None:
                    images[rec["image_id"]] = image
    man, fin = finalize_tables(
        list(images.values()),
        findings,
        ["study_id", "series_id", "breast_birads", "height", "width"],
        ["csv_row", "categories"],
    )
    man["breast_birads"] = pd.array(man["breast_birads"].tolist(), dtype="Int64")
    return MammoDataset(SOURCE, man, fin, problems)


def _image(rec: dict, where: str, images_dir: Path, problems: ProblemLog) -> dict | None:
    try:
        birads = vocab.parse_birads(rec["breast_birads"])
        density = vocab.parse_vindr_density(rec["breast_density"])
        height, width = int(float(rec["height"])), int(float(rec["width"]))
    except (vocab.UnknownLabel, ValueError) as exc:
        problems.add(where, STAGE, f"{where}: {exc}; image skipped")
        return None
    laterality, view = rec["laterality"].upper(), rec["view_position"].upper()
    split = SPLITS.get(rec["split"].lower())
    if laterality not in ("L", "R") or view not in ("CC", "MLO") or split is None or height < 1 or width < 1:
        problems.add(
            where,
            STAGE,
            f"{where}: laterality {rec['laterality']!r} (L|R), view {rec['view_position']!r} "
            f"(CC|MLO), split {rec['split']!r} (training|test), size {height}x{width}: "
            "invalid; image skipped",
        )
        return None
    path = images_dir / rec["study_id"] / f"{rec['image_id']}.dicom"
    return {
        "image_id": rec["image_id"],
        "patient_id": rec["study_id"],
        "source": SOURCE,
        "laterality": laterality,
        "view": view,
        "density": density,
        "split": split,
        "label": vocab.vindr_image_label(birads),
        "path": str(path) if path.exists() else None,
        "study_id": rec["study_id"],
        "series_id": rec["series_id"],
        "breast_birads": birads,
        "height": height,
        "width": width,
    }


def _findings_of_row(rec: dict, where: str, image: dict, findings: list, tolerance: int, problems: ProblemLog) -> None:
    try:
        categories = vocab.vindr_categories(rec["finding_categories"])
    except vocab.UnknownLabel as exc:
        problems.add(where, STAGE, f"{where}: {exc}; row skipped")
        return
    categories = [c for c in categories if c != vocab.VINDR_NO_FINDING]
    if not categories:
        return
    box = _box(rec, image, tolerance)
    if isinstance(box, str):
        problems.add(where, STAGE, f"{where}: {box}; finding dropped")
        return
    if (past := _past_edge(box, image)) > 0:
        problems.add(
            where,
            STAGE,
            f"{where}: box ({box['x0']}, {box['y0']}, {box['x1']}, {box['y1']}) reaches {past} px past the edge "
            f"of the {image['width']}x{image['height']} image; kept as given (not clipped)",
        )
    try:
        birads = vocab.parse_birads(rec["finding_birads"])
    except vocab.UnknownLabel as exc:
        problems.add(where, STAGE, f"{where}: {exc}; finding BI-RADS set to NA")
        birads = None
    for k, category in enumerate(categories):
        try:
            finding_class = vocab.vindr_finding_class(category)
        except vocab.UnknownLabel as exc:
            problems.add(where, STAGE, f"{where}: unknown {exc}; that category skipped")
            continue
        findings.append(
            {
                "image_id": image["image_id"],
                "finding_id": f"{image['image_id']}_{rec['csv_row']}_{k}",
                "finding_class": finding_class,
                **box,
                "source_label": category,
                "pathology": None,
                "birads": birads,
                "label": vocab.vindr_image_label(birads) or image["label"],
                "csv_row": rec["csv_row"],
                "categories": rec["finding_categories"],
            }
        )


def _past_edge(box: dict, image: dict) -> int:
    if box["x0"] is None:
        return 0
    return max(-box["x0"], -box["y0"], box["x1"] - image["width"], box["y1"] - image["height"], 0)


def _box(rec: dict, image: dict, tolerance: int) -> dict | str:
    """Integer box (not clipped), or a message saying why the box is unusable."""
    values = [rec[k] for k in ("xmin", "ymin", "xmax", "ymax")]
    if all(v == "" for v in values):
        return {"x0": None, "y0": None, "x1": None, "y1": None}
    try:
        xmin, ymin, xmax, ymax = (float(v) for v in values)
    except ValueError:
        return f"box {values} is not numeric"
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
        return f"box {values} is not finite"
    h, w = image["height"], image["width"]
    past = max(-xmin, -ymin, xmax - w, ymax - h, 0.0)
    if xmax <= xmin or ymax <= ymin:
        return f"box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) is empty"
    if xmax <= 0 or ymax <= 0 or xmin >= w or ymin >= h:
        return f"box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) lies outside the {w}x{h} image"
    if past > tolerance:
        return (
            f"box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) reaches {past:g} px past the edge of the {w}x{h} "
            f"image (clip_tolerance={tolerance})"
        )
    return {"x0": math.floor(xmin), "y0": math.floor(ymin), "x1": math.ceil(xmax), "y1": math.ceil(ymax)}
