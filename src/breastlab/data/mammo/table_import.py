"""Your own mammography export: draft an image table from any DICOM tree, build a store from a table.

Two steps, as for MRI (:mod:`breastlab.data.cohort_scan` and :mod:`breastlab.data.cohort_import`;
the header reader of :mod:`breastlab.data.mri_volumes` and the scan's folder walk serve both):

* :func:`scan_mammo_tree` walks any DICOM tree (any layout, files with or without ``.dcm``), reads
  headers only and drafts one row per image: the pseudonymous PatientID, the file relative to the
  scanned folder, laterality, view, pixel spacing, presentation intent, photometric
  interpretation, matrix and an empty ``label`` to fill in. No names, dates, UIDs or absolute
  paths are written.
* :func:`import_mammo` builds the store of ``breastlab mammo preprocess``
  (:func:`~breastlab.data.mammo.preprocess.build_mammo_store`: same preprocessing, same store
  format) from such a table, with optional findings from a second table or a COCO file. Bad
  rows go to ``problems.csv`` naming the row, the file and what would be valid; the others go on.

The public data sets' readers become writers of the same table with :func:`dataset_table`
(``breastlab mammo table``): importing that table gives the store ``mammo preprocess`` gives.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from breastlab._io import write_table
from breastlab.data.cohort_scan import draft_patient_id, walk_files, write_draft_table
from breastlab.data.mammo import vocabulary as vocab
from breastlab.data.mammo._dataset import FINDING_COLUMNS, MammoDataset, finalize_tables
from breastlab.data.mammo.dicom import RASTER_SUFFIXES
from breastlab.data.mri_volumes import read_header
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog

SCAN_STAGE = "scan_mammo"
IMPORT_STAGE = "import_mammo"
SCAN_COLUMNS = ["patient_id", "path", "laterality", "view", "spacing_mm", "presentation", "photometric", "rows",
                "columns", "label"]  # fmt: skip
REQUIRED_COLUMNS = ("patient_id", "path", "laterality", "view", "label")
# Columns the import reads itself; every other column of the image table is copied into the manifest.
OWN_COLUMNS = (*REQUIRED_COLUMNS, "image_id", "spacing_mm", "source", "density", "split")
LATERALITIES = ("L", "R")
# ViewPosition values of the DICOM mammography views (PS3.16 CID 4014, as ViewPosition writes them)
VIEWS = ("CC", "MLO", "ML", "LM", "LMO", "XCCL", "XCCM", "FB", "SIO", "AT", "CV")
FINDING_CLASSES = (*vocab.FINDING_CLASSES, vocab.OTHER)
BOX = ("x0", "y0", "x1", "y1")
IMAGE_SUFFIXES = (*RASTER_SUFFIXES, ".pgm")

# Header fields the scan reads (DICOM tag -> keyword). PatientID is the only identifier kept;
# the SOP class only tells for-processing from for-presentation images.
MAMMO_TAGS = {
    0x00080008: "ImageType", 0x00080016: "SOPClassUID", 0x00080068: "PresentationIntentType",
    0x0008103E: "SeriesDescription", 0x00100020: "PatientID", 0x00181164: "ImagerPixelSpacing",
    0x00185101: "ViewPosition", 0x00200060: "Laterality", 0x00200062: "ImageLaterality",
    0x00280004: "PhotometricInterpretation", 0x00280008: "NumberOfFrames", 0x00280010: "Rows",
    0x00280011: "Columns", 0x00280030: "PixelSpacing",
}  # fmt: skip
# Digital X-ray and mammography storage SOP classes (PS3.4 B.5) -> presentation intent
_INTENT_OF_CLASS = {
    "1.2.840.10008.5.1.4.1.1.1.1": "for presentation", "1.2.840.10008.5.1.4.1.1.1.1.1": "for processing",
    "1.2.840.10008.5.1.4.1.1.1.2": "for presentation", "1.2.840.10008.5.1.4.1.1.1.2.1": "for processing",
}  # fmt: skip
# "R MLO", "LCC", "left cc", "RIGHT_MLO": a laterality word or letter, then a view, as words of a description
_TEXT_VIEW = re.compile(r"(?<![A-Z])(?:(LEFT|RIGHT|L|R)[ _-]?)?(XCCL|XCCM|MLO|LMO|CC|ML|LM)(?![A-Z])")
_TEXT_SIDE = re.compile(r"(?<![A-Z])(LEFT|RIGHT|L|R)(?![A-Z])")


# ============================================================================ scan
def laterality_and_view(header: dict[str, Any]) -> tuple[str, str]:
    """``(laterality, view)`` of a header: ImageLaterality, else Laterality, else the words of the
    SeriesDescription / ViewPosition ("R MLO", "LCC", "left cc"); ViewPosition, else those words.
    An empty string where nothing names a valid value (laterality L or R, a view of :data:`VIEWS`)."""
    side = next((str(header.get(k, "")).strip().upper() for k in ("ImageLaterality", "Laterality")
                 if str(header.get(k, "")).strip().upper() in LATERALITIES), "")  # fmt: skip
    view = str(header.get("ViewPosition", "")).strip().upper()
    view = view if view in VIEWS else ""
    for text in (str(header.get("SeriesDescription", "")), str(header.get("ViewPosition", ""))):
        words = text.upper()
        m = _TEXT_VIEW.search(words)
        if m and not view:
            view = m.group(2)
        if not side:
            named = m.group(1) if m and m.group(1) else (s.group(1) if (s := _TEXT_SIDE.search(words)) else "")
            side = named[:1]
    return side, view


def presentation_intent(header: dict[str, Any]) -> str:
    """ "for presentation" / "for processing" from PresentationIntentType, else the SOP class; "" if neither."""
    text = str(header.get("PresentationIntentType", "")).strip().upper()
    if text in ("FOR PRESENTATION", "FOR PROCESSING"):
        return text.lower()
    return _INTENT_OF_CLASS.get(str(header.get("SOPClassUID", "")).strip(), "")


def _spacing_text(header: dict[str, Any]) -> str:
    """The spacing in mm (ImagerPixelSpacing first, as the import reads it): one number where rows and
    columns agree, else ``row\\column``; "" where neither tag holds two positive numbers."""
    for tag in ("ImagerPixelSpacing", "PixelSpacing"):
        parts = str(header.get(tag, "")).split("\\")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            continue
        if len(values) == 2 and all(v > 0 and math.isfinite(v) for v in values):
            return f"{values[0]:g}" if values[0] == values[1] else f"{values[0]:g}\\{values[1]:g}"
    return ""


def scan_mammo_tree(root: str | os.PathLike, problems: ProblemLog | None = None) -> pd.DataFrame:
    """Draft image table (:data:`SCAN_COLUMNS`) of every DICOM image under ``root``, one row per image.

    ``path`` is relative to ``root``; ``laterality``/``view`` by :func:`laterality_and_view`,
    ``spacing_mm`` ImagerPixelSpacing else PixelSpacing, ``presentation`` by
    :func:`presentation_intent`, ``photometric`` the PhotometricInterpretation, ``rows``/``columns``
    the matrix; ``label`` empty (to fill in). An image whose patient, laterality or view cannot be
    read is listed with that cell empty and a ``problems`` row naming the file and the valid values.
    Files that are not DICOM, DICOM files without an image, and multi-frame images go to ``problems``
    and are left out.
    """
    root = Path(root)
    if not root.is_dir():
        raise BreastlabInputError(f"{root}: folder to scan not found")
    problems = problems if problems is not None else ProblemLog()
    rows = []
    seen: set[str] = set()  # header PatientIDs met (a pseudonymised one is noted once)
    files = walk_files(root)
    if not files:  # a wrong folder would otherwise give an empty image table and no error
        raise BreastlabInputError(f"{root}: no files in it or below it; give the folder holding the mammograms")
    for rel in files:
        if os.path.basename(rel).upper() == "DICOMDIR":
            continue
        if rel.lower().endswith(IMAGE_SUFFIXES):
            problems.add(rel, SCAN_STAGE, "a PNG/TIFF/JPEG/PGM image: no header to read; add its row by hand "
                                          "(patient_id, path, laterality, view, label, spacing_mm)")  # fmt: skip
            continue
        try:
            header = read_header(root / rel, MAMMO_TAGS)
        except BreastlabInputError as exc:
            problems.add(rel, SCAN_STAGE, str(exc))
            continue
        if not header.get("Rows") or not header.get("Columns"):
            problems.add(rel, SCAN_STAGE, "a DICOM file without an image (no Rows/Columns); not listed")
            continue
        frames = str(header.get("NumberOfFrames", "1")).strip() or "1"
        if frames not in ("1", "0"):
            problems.add(rel, SCAN_STAGE, f"{frames} frames (a tomosynthesis or multi-frame object); the import reads "
                                          "one 2-D frame per file; not listed")  # fmt: skip
            continue
        side, view = laterality_and_view(header)
        pid = str(header.get("PatientID", "")).strip()
        pid = draft_patient_id(pid, problems, SCAN_STAGE, first=pid not in seen) if pid else pid
        seen.add(str(header.get("PatientID", "")).strip())
        missing = [what for what, value in (("patient_id", pid), ("laterality", side), ("view", view)) if not value]
        if missing:
            valid = {"patient_id": "a pseudonymous patient id", "laterality": "L or R",
                     "view": ", ".join(VIEWS)}  # fmt: skip
            problems.add(rel, SCAN_STAGE, "; ".join(f"no {m} in the header or the series description; fill in the "
                                                    f"{m} cell ({valid[m]})" for m in missing))  # fmt: skip
        rows.append({
            "patient_id": pid, "path": rel, "laterality": side, "view": view, "spacing_mm": _spacing_text(header),
            "presentation": presentation_intent(header),
            "photometric": str(header.get("PhotometricInterpretation", "")).strip(),
            "rows": int(header["Rows"]), "columns": int(header["Columns"]), "label": "",
        })  # fmt: skip
    table = pd.DataFrame(rows, columns=SCAN_COLUMNS)
    return table.sort_values(["patient_id", "path"], kind="stable").reset_index(drop=True)


def write_mammo_scan(root: str | os.PathLike, out: str | os.PathLike) -> tuple[pd.DataFrame, ProblemLog]:
    """:func:`scan_mammo_tree` written to ``out`` (CSV) and ``problems.csv`` beside it."""
    return write_draft_table(lambda problems: scan_mammo_tree(root, problems), out, "image table")


# ============================================================================ import
def parse_labels(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """The declared image labels: ``"a,b,c"`` or a sequence; None gives
    :data:`~breastlab.data.mammo.vocabulary.IMAGE_LABELS` (negative, recalled-benign, malignant)."""
    if text is None:
        return vocab.IMAGE_LABELS
    labels = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    if not labels or any(not s for s in labels) or len(set(labels)) != len(labels):
        raise BreastlabInputError(f"--labels {text!r}: expected distinct, non-empty labels separated by commas")
    return tuple(labels)


def _label(cell: str, labels: tuple[str, ...]) -> str | None:
    """The label a cell names (the default labels also as ``recalled_benign`` / any case), or None."""
    if cell in labels:
        return cell
    if labels == vocab.IMAGE_LABELS:
        spelled = cell.lower().replace("_", "-").replace(" ", "-")
        return spelled if spelled in labels else None
    return None


def _positive(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) and v > 0 else None


def _inside(root: Path, cell: str) -> Path:
    """``root / cell`` for a relative path inside ``root``; raises for an absolute path or one with ``..``."""
    if not cell:
        raise BreastlabInputError("path is empty; give the image file relative to --root")
    if Path(cell).is_absolute() or ".." in Path(cell).parts:
        raise BreastlabInputError(f"path {cell} must be relative to --root, inside it")
    return root / cell


def image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of an image file without decoding its pixels (DICOM header, Pillow's lazy
    open, the PGM reader for PGM); raises :class:`BreastlabInputError` for an unreadable file."""
    suffix = path.suffix.lower()
    if suffix == ".pgm":
        from breastlab.data.mammo.mias import read_pgm

        return tuple(read_pgm(path).shape)  # type: ignore[return-value]
    if suffix in RASTER_SUFFIXES:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                return int(img.size[1]), int(img.size[0])
        except (UnidentifiedImageError, OSError) as exc:
            raise BreastlabInputError(f"{path.name}: not a readable image ({type(exc).__name__})") from None
    header = read_header(path, {0x00280010: "Rows", 0x00280011: "Columns"})
    if not header.get("Rows") or not header.get("Columns"):
        raise BreastlabInputError(f"{path.name}: a DICOM file without an image (no Rows/Columns)")
    return int(header["Rows"]), int(header["Columns"])


def read_image_table(
    table: str | os.PathLike,
    root: str | os.PathLike,
    *,
    labels: str | Sequence[str] | None = None,
    findings: str | os.PathLike | None = None,
    coco: str | os.PathLike | None = None,
    fallback_spacing: float | None = None,
    problems: ProblemLog | None = None,
) -> MammoDataset:
    """The :class:`MammoDataset` of an image table (module notes; README "Your own data").

    Required columns ``patient_id, path, laterality, view, label``; optional ``image_id`` (where
    blank or absent ``<patient>_<laterality>_<view>``, numbered where repeated), ``spacing_mm``
    (required for PNG / TIFF / JPEG / PGM unless ``fallback_spacing``), ``source``, ``density``,
    ``split``; every other column is copied into the manifest. Findings (``findings``: a CSV with
    ``path`` or ``image_id``, ``class``, ``x0, y0, x1, y1`` in pixels, 0-based, half-open, optional
    ``finding_id``; ``coco``: a COCO annotation file) must lie inside their image. Each bad row goes
    to ``problems`` naming the table row, the file and what would be valid, and is left out; an
    image with a bad finding is left out with it (its truth would be incomplete).
    """
    from breastlab.data._csv import read_text_csv

    table, root = Path(table), Path(root)
    if not root.is_dir():
        raise BreastlabInputError(f"--root {root}: folder not found (the table's paths are relative to it)")
    if table.suffix.lower() != ".csv":
        raise BreastlabInputError(f"{table}: the image table must be a .csv file")
    if fallback_spacing is not None and _positive(str(fallback_spacing)) is None:
        raise BreastlabInputError(f"--fallback-spacing {fallback_spacing!r}: expected a positive number of mm")
    labels = parse_labels(labels)
    problems = problems if problems is not None else ProblemLog()
    raw = read_text_csv(table, "image table")
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise BreastlabInputError(
            f"{table}: missing column(s) {', '.join(missing)}; an image table needs "
            f"{', '.join(REQUIRED_COLUMNS)} (optional: image_id, spacing_mm, source, density, split)"
        )
    from breastlab.data._csv import refuse_uids

    advice = {"patient_id": "give each patient a pseudonymous id (`import mammo --scan` drafts one, "
                            "patient-<hash>, where the headers' PatientID is a UID)",
              "image_id": "leave image_id blank (ids are then <patient_id>_<laterality>_<view>) or give "
                          "pseudonymous ids"}  # fmt: skip
    refuse_uids(raw, table, [c for c in raw.columns if c not in ("path", "spacing_mm")], advice)
    typed = pd.read_csv(table, encoding="utf-8-sig")
    typed.columns = raw.columns
    cells = raw.apply(lambda col: col.str.strip())
    ids = _image_ids(cells)
    where = [f"{table.name} row {i + 1}" for i in range(len(cells))]
    paths = [os.path.normpath(p) if p else "" for p in cells["path"]]
    repeated = {"path": _repeats(paths), "image_id": _repeats(ids)}
    attributes = [c for c in raw.columns if c not in OWN_COLUMNS]
    records: list[dict[str, Any]] = []
    for i, rec in cells.iterrows():
        try:
            records.append(_image_record(rec, typed.iloc[i], attributes, ids[i], paths[i], root, labels,
                                         fallback_spacing, repeated, table.name))  # fmt: skip
        except BreastlabInputError as exc:
            problems.add(where[i], IMPORT_STAGE, f"{where[i]} ({rec['path'] or 'no path'}): {exc}; image left out")
    images = {r["image_id"]: r for r in records}
    finding_rows = []
    if findings is not None:
        finding_rows += _findings_table(Path(findings), images)
    if coco is not None:
        finding_rows += _coco_findings(Path(coco), images, problems)
    kept_findings, dropped = _checked_findings(finding_rows, images, problems)
    manifest = [r for r in records if r["image_id"] not in dropped]
    extra_findings = list(dict.fromkeys(k for f in kept_findings for k in f if k not in FINDING_COLUMNS))
    man, fin = finalize_tables(manifest, kept_findings, [*attributes, "spacing_row_mm", "spacing_col_mm"],
                               extra_findings)  # fmt: skip
    return MammoDataset(f"image table {table.name}", man, fin, problems)


def _image_ids(cells: pd.DataFrame) -> list[str]:
    """The ``image_id`` cells; where blank or absent, ``<patient>_<laterality>_<view>``, numbered ``_1``,
    ``_2`` .. where several images share it."""
    given = list(cells["image_id"]) if "image_id" in cells.columns else [""] * len(cells)
    base = [f"{p}_{str(lat).upper()}_{str(v).upper()}" if p and not g else g for g, p, lat, v in
            zip(given, cells["patient_id"], cells["laterality"], cells["view"], strict=True)]  # fmt: skip
    count = {b: sum(1 for g, x in zip(given, base, strict=True) if x == b and not g) for b in set(base)}
    seen: dict[str, int] = {}
    out = []
    for g, b in zip(given, base, strict=True):
        if g or not b:
            out.append(b)
            continue
        seen[b] = seen.get(b, 0) + 1
        out.append(b if count[b] == 1 else f"{b}_{seen[b]}")
    return out


def _repeats(values: list[str]) -> dict[str, list[int]]:
    """Value -> its 1-based rows, for non-empty values on more than one row."""
    rows: dict[str, list[int]] = {}
    for i, v in enumerate(values):
        if v:
            rows.setdefault(v, []).append(i + 1)
    return {v: r for v, r in rows.items() if len(r) > 1}


def _image_record(rec: pd.Series, typed: pd.Series, attributes: list[str], image_id: str, path: str, root: Path,
                  labels: tuple[str, ...], fallback: float | None, repeated: dict[str, dict[str, list[int]]],
                  name: str) -> dict[str, Any]:  # fmt: skip
    """One manifest row, validated (raises :class:`BreastlabInputError` saying what would be valid)."""
    pid = rec["patient_id"]
    if not pid:
        raise BreastlabInputError("blank patient_id; every image needs its (pseudonymous) patient id")
    for column, value in (("path", path), ("image_id", image_id)):
        if value in repeated[column]:
            rows = ", ".join(str(r) for r in repeated[column][value])
            raise BreastlabInputError(f"{column} {value} is on rows {rows} of {name}; list each image once")
    file = _inside(root, rec["path"])
    if not file.is_file():
        raise BreastlabInputError(f"file {rec['path']} does not exist under --root")
    side = rec["laterality"].upper()
    side = {"LEFT": "L", "RIGHT": "R"}.get(side, side)
    if side not in LATERALITIES:
        raise BreastlabInputError(f"laterality {rec['laterality']!r}; valid: L or R")
    view = rec["view"].upper()
    if not view:
        raise BreastlabInputError(f"blank view; valid: {', '.join(VIEWS)}")
    label = _label(rec["label"], labels)
    if label is None:
        raise BreastlabInputError(f"label {rec['label']!r} is not one of the declared labels {', '.join(labels)}")
    spacing = None
    if rec.get("spacing_mm", ""):
        parts = rec["spacing_mm"].split("\\")
        values = [_positive(p) for p in parts]
        if len(values) not in (1, 2) or None in values:
            raise BreastlabInputError(
                f"spacing_mm {rec['spacing_mm']!r}; expected a positive number of mm (or row\\column)"
            )
        spacing = (values[0], values[-1])
    raster = file.suffix.lower() in IMAGE_SUFFIXES
    if raster and spacing is None and fallback is None:
        raise BreastlabInputError(
            f"{file.suffix} image without spacing_mm; fill in spacing_mm (mm per pixel) or pass --fallback-spacing"
        )
    image_size(file)  # readable (header or lazy open), or the row is reported here
    out: dict[str, Any] = {
        "image_id": image_id, "patient_id": pid, "source": rec.get("source", "") or f"image table {name}",
        "laterality": side, "view": view, "density": _density(rec.get("density", "")),
        "split": rec.get("split", "") or None, "label": label, "path": str(file),
        "spacing_row_mm": spacing[0] if spacing else None, "spacing_col_mm": spacing[1] if spacing else None,
        "_rel": path,  # how findings name the image; not a manifest column
    }  # fmt: skip
    out.update({c: (None if pd.isna(typed[c]) else typed[c]) for c in attributes})
    return out


def _density(text: str) -> int | None:
    if not text:
        return None
    if text not in ("1", "2", "3", "4"):
        raise BreastlabInputError(f"density {text!r}; valid: BI-RADS density 1, 2, 3 or 4 (or empty)")
    return int(text)


# ---------------------------------------------------------------------------- findings
def _findings_table(path: Path, images: dict[str, dict]) -> list[dict[str, Any]]:
    """Finding rows of a findings CSV: ``(where, image_id or None, class, box, extra columns)`` dicts."""
    from breastlab.data._csv import read_text_csv

    raw = read_text_csv(path, "findings table")
    raw.columns = [str(c).strip() for c in raw.columns]
    from breastlab.data._csv import refuse_uids

    refuse_uids(raw, path, [c for c in raw.columns if c != "path"],
                {"image_id": "name each finding's image by its path relative to --root, or by a pseudonymous "
                             "image_id of the image table"})  # fmt: skip
    keys = [c for c in ("image_id", "path") if c in raw.columns]  # per row: the image id where given, else the path
    cls = "class" if "class" in raw.columns else "finding_class" if "finding_class" in raw.columns else None
    missing = [c for c in BOX if c not in raw.columns]
    if not keys or cls is None or missing:
        raise BreastlabInputError(
            f"{path}: a findings table needs image_id or path, class, and x0, y0, x1, y1 (pixels, 0-based, "
            f"half-open; all four empty for a finding without box); columns found: {', '.join(raw.columns)}"
        )
    by_path = {r["_rel"]: k for k, r in images.items()}
    rows = []
    extra = [c for c in raw.columns if c not in (cls, "image_id", "path", "finding_id", *BOX)]
    for i, rec in raw.iterrows():
        key = next((k for k in keys if rec[k].strip()), keys[-1])
        cell = rec[key].strip()
        image_id = cell if key == "image_id" else by_path.get(os.path.normpath(cell)) if cell else None
        rows.append({
            "where": f"{path.name} row {i + 1}", "ref": cell, "image_id": image_id, "class": rec[cls].strip(),
            "box": tuple(rec[c].strip() for c in BOX), "extra": {c: rec[c] for c in extra},
            "finding_id": rec["finding_id"].strip() if "finding_id" in raw.columns else "",
        })  # fmt: skip
    return rows


def _coco_findings(path: Path, images: dict[str, dict], problems: ProblemLog) -> list[dict[str, Any]]:
    """Finding rows of a COCO annotation file (``images``, ``annotations`` with ``bbox`` [x, y, w, h] in
    pixels, ``categories`` whose names are finding classes); ``file_name`` is the table's path (or an
    image id, or a file name unique in the table)."""
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        files = {int(im["id"]): str(im["file_name"]) for im in coco["images"]}
        names = {int(c["id"]): str(c["name"]) for c in coco["categories"]}
        annotations = list(coco["annotations"])
    except FileNotFoundError:
        raise BreastlabInputError(f"{path}: COCO file not found") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BreastlabInputError(
            f"{path}: not a COCO annotation file ({type(exc).__name__}: {exc}); expected images (id, file_name), "
            "annotations (image_id, category_id, bbox) and categories (id, name)"
        ) from None
    by_path = {r["_rel"]: k for k, r in images.items()}
    by_name: dict[str, list[str]] = {}
    for rel, k in by_path.items():
        by_name.setdefault(os.path.basename(rel), []).append(k)
    rows = []
    for n, ann in enumerate(annotations):
        where = f"{path.name} annotation {ann.get('id', n + 1) if isinstance(ann, dict) else n + 1}"
        try:
            file = files[int(ann["image_id"])]
            x, y, w, h = (float(v) for v in ann["bbox"])
            cls = names[int(ann["category_id"])]
        except (KeyError, TypeError, ValueError) as exc:
            message = f"unreadable annotation ({type(exc).__name__}: {exc}); expected image_id, category_id, bbox"
            problems.add(where, IMPORT_STAGE, f"{where}: {message} [x, y, w, h] of one image")
            continue
        rel = os.path.normpath(file)
        image_id = by_path.get(rel) or (file if file in images else None)
        if image_id is None and len(by_name.get(os.path.basename(rel), [])) == 1:
            image_id = by_name[os.path.basename(rel)][0]
        box = (f"{x!r}", f"{y!r}", f"{x + w!r}", f"{y + h!r}")
        rows.append({"where": where, "ref": file, "image_id": image_id, "class": cls, "box": box, "extra": {},
                     "finding_id": ""})  # fmt: skip
    return rows


def _checked_findings(
    rows: list[dict[str, Any]], images: dict[str, dict], problems: ProblemLog
) -> tuple[list[dict[str, Any]], set[str]]:
    """(finding records of the kept images, ids of the images left out for a bad finding)."""
    dropped: set[str] = set()
    sizes: dict[str, tuple[int, int]] = {}
    kept: list[dict[str, Any]] = []
    given = _repeats([row["finding_id"] for row in rows])
    for row in rows:
        where, image_id = row["where"], row["image_id"]
        if image_id is None or image_id not in images:
            ref = row["ref"] or "no image"
            problems.add(where, IMPORT_STAGE, f"{where}: {ref} is no image of the image table (give its path "
                                              "relative to --root or its image_id); finding skipped")  # fmt: skip
            continue
        try:
            if row["finding_id"] in given:
                times = len(given[row["finding_id"]])
                raise BreastlabInputError(
                    f"finding_id {row['finding_id']} is given {times} times; each finding needs its own id (or none)"
                )
            if row["class"] not in FINDING_CLASSES:
                raise BreastlabInputError(f"class {row['class']!r}; valid: {', '.join(FINDING_CLASSES)}")
            if image_id not in sizes:
                sizes[image_id] = image_size(Path(images[image_id]["path"]))
            box = box_from_row(row["box"], sizes[image_id])
        except BreastlabInputError as exc:
            problems.add(image_id, IMPORT_STAGE, f"{where} (image {image_id}): {exc}; image {image_id} left out "
                                                 "(its findings must all be valid)")  # fmt: skip
            dropped.add(image_id)
            continue
        n = sum(f["image_id"] == image_id for f in kept) + 1
        finding_id = row["finding_id"] or f"{image_id}_{n}"
        record = {"image_id": image_id, "finding_id": finding_id, "finding_class": row["class"],
                  **dict(zip(BOX, box, strict=True))}  # fmt: skip
        record.update({k: v for k, v in row["extra"].items() if k not in record})
        for column in ("source_label", "pathology", "birads", "label"):
            record.setdefault(column, None)
        record["birads"] = _birads(record["birads"])
        kept.append(record)
    return [f for f in kept if f["image_id"] not in dropped], dropped


def _birads(value: Any) -> int | None:
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value).strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-6](\.0*)?", text):
        raise BreastlabInputError(f"birads {text!r}; valid: 0 to 6 (or empty)")
    return int(float(text))


def box_from_row(cells: tuple[str, str, str, str], size: tuple[int, int]) -> tuple[int | None, ...]:
    """The integer box enclosing ``cells`` (floor of the start, ceiling of the end), checked to lie in
    an image of ``size`` (height, width); all four empty: no box."""
    if not any(cells):
        return (None,) * 4
    values = []
    for name, text in zip(BOX, cells, strict=True):
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        if not math.isfinite(v):
            raise BreastlabInputError(f"{name} {text!r}: expected a number of pixels (all four, or none)")
        values.append(v)
    x0, y0, x1, y1 = (math.floor(round(values[0], 6)), math.floor(round(values[1], 6)),
                      math.ceil(round(values[2], 6)), math.ceil(round(values[3], 6)))  # fmt: skip
    h, w = size
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise BreastlabInputError(
            f"box x0={cells[0]}, y0={cells[1]}, x1={cells[2]}, y1={cells[3]} is not inside the {w}x{h} image; valid: "
            f"0 <= x0 < x1 <= {w} and 0 <= y0 < y1 <= {h} (pixels, 0-based, end excluded)"
        )
    return x0, y0, x1, y1


# ---------------------------------------------------------------------------- store
def import_mammo(
    table: str | os.PathLike,
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    labels: str | Sequence[str] | None = None,
    findings: str | os.PathLike | None = None,
    coco: str | os.PathLike | None = None,
    fallback_spacing: float | None = None,
    method: str = "standard",
    spacing: float = 0.15,
    layout: str = "ragged",
    size: int | tuple[int, int] | None = None,
    pectoral: bool = False,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> ArrayStore:
    """The store of ``breastlab mammo preprocess`` from an image table (:func:`read_image_table`).

    Pixels are the display values (:func:`~breastlab.data.mammo.dicom.read_display_mammogram`:
    modality and VOI transforms, MONOCHROME1 inverted; PNG / TIFF / JPEG / PGM as stored), spacing the
    table's ``spacing_mm`` where given, else the header's, else ``fallback_spacing``. Then
    :func:`~breastlab.data.mammo.preprocess.build_mammo_store` (one shard per patient, resumable,
    problems in ``out/problems.csv`` with the table's).
    """
    from breastlab.data.mammo.preprocess import build_mammo_store
    from breastlab.data.store import check_output_folder

    check_output_folder(Path(out), "--out folder")
    dataset = read_image_table(table, root, labels=labels, findings=findings, coco=coco,
                               fallback_spacing=fallback_spacing)  # fmt: skip
    dataset.check_located(root)
    return build_mammo_store(
        dataset, out, method=method, spacing=spacing, layout=layout, size=size, pectoral=pectoral,
        fallback_spacing=fallback_spacing, pixels="display", workers=workers, overwrite=overwrite, progress=progress,
    )  # fmt: skip


# ============================================================================ adapters
def dataset_table(dataset: MammoDataset, root: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(images, findings)`` tables of a reader's dataset (``read_mini_mias``, ``read_cbis_ddsm``,
    ``read_vindr_mammo``), paths relative to ``root``: :func:`import_mammo` on them with ``--root
    root`` gives the store ``build_mammo_store(dataset)`` gives. Images without a located file, or
    outside ``root``, go to the dataset's problems and are left out."""
    root = Path(root).resolve()
    man = dataset.manifest
    skip = {"path", "height", "width", "spacing_row_mm", "spacing_col_mm"}
    rows = []
    for rec in man.to_dict("records"):
        path = rec.get("path")
        if path is None or pd.isna(path):
            continue  # no file located: the reader listed it in its problems
        rel = os.path.relpath(Path(path).resolve(), root)
        if rel.startswith(".."):
            dataset.problems.add(rec["image_id"], IMPORT_STAGE, f"image {rec['image_id']}: its file lies outside "
                                                                f"the table's root {root.name}; left out")  # fmt: skip
            continue
        sr, sc = rec.get("spacing_row_mm"), rec.get("spacing_col_mm")
        spacing = "" if sr is None or pd.isna(sr) else f"{sr:g}" if sr == sc else f"{sr:g}\\{sc:g}"
        row = {"image_id": rec["image_id"], "patient_id": rec["patient_id"], "path": rel}
        row.update({k: rec[k] for k in ("laterality", "view", "label")}, spacing_mm=spacing)
        row.update({k: v for k, v in rec.items() if k not in row and k not in skip})
        rows.append(row)
    images = pd.DataFrame(rows)
    kept = set(images["image_id"]) if len(images) else set()
    fin = dataset.findings[dataset.findings["image_id"].isin(kept)]
    fin = fin.drop(columns=[c for c in ("roi_path",) if c in fin.columns])
    fin = fin.rename(columns={"finding_class": "class"})
    return images, fin.reset_index(drop=True)


def write_dataset_table(dataset: MammoDataset, root: str | os.PathLike, out: str | os.PathLike) -> tuple[Path, Path]:
    """:func:`dataset_table` written to ``out`` (the image table), ``findings.csv`` and ``problems.csv``
    beside it; returns the two table paths."""
    out = Path(out)
    if out.suffix != ".csv":
        raise BreastlabInputError(f"--out {out}: the image table is written as CSV; give a name ending in .csv")
    dataset.check_located()
    images, findings = dataset_table(dataset, root)
    found = out.with_name("findings.csv")
    if found == out:
        raise BreastlabInputError(f"--out {out}: findings.csv is written beside the image table; give another name")
    write_table(images, out)
    write_table(findings, found)
    dataset.problems.write(out.with_name("problems.csv"))
    return out, found
