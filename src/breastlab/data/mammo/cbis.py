"""CBIS-DDSM reader: TCIA's four case-description CSVs and the DICOM tree they point to.

Input quirks handled (all verified on the real files, see the data pack README):

* the density column is ``breast_density`` in the mass files and ``breast density`` in
  the calc files; ``mass shape``/``calc type`` and ``mass margins``/``calc distribution``
  are the same two columns under other names (here ``shape_or_type`` and
  ``margins_or_distribution``);
* quoted paths contain an embedded newline (``"...000001.dcm\\n"``), lines end in CRLF:
  every cell is read as text and stripped;
* the file name does not say which of the two ROI files is the crop and which the
  mask (mass: crop ``000000.dcm``, mask ``000001.dcm`` or ``000000.dcm``; calc the other
  way round; TCIA downloads today are named ``1-1.dcm``/``1-2.dcm``). Files are matched
  on the folder and series UID, and the **mask is the file whose matrix equals the full
  image's** (the crop is a small patch); when no file has that size, a binary file is
  taken as a mask of the wrong size and reported;
* invalid values (density 0, subtlety 0) become NA and are reported.

Image id = the full image's series folder (``Mass-Training_P_00001_LEFT_CC``); split =
``Training`` -> "train", ``Test`` -> "test". Finding id = the ROI folder
(``Mass-Training_P_00001_LEFT_CC_1``). Classes and image labels: see
:mod:`breastlab.data.mammo.vocabulary`.

breastlab extension (phantom cohorts, not in TCIA's data): a file
``normal_case_description_<split>_set.csv`` with columns ``patient_id, breast density,
left or right breast, image view, image file path`` lists images without findings
(label negative).

Cite: Lee RS et al., A curated mammography data set for use in computer-aided detection
and diagnosis research, Sci Data 4, 170177 (2017); doi:10.7937/K9/TCIA.2016.7O02S9CY.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab.data._csv import read_text_csv
from breastlab.data.mammo import vocabulary as vocab
from breastlab.data.mammo._dataset import MammoDataset, finalize_tables
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog

SOURCE = "CBIS-DDSM"
STAGE = "read_cbis_ddsm"
CSV_PATTERN = "*_case_description_*_set.csv"
COLUMN_NAMES = {  # header text (lower case, "_" as space) -> breastlab column
    "patient id": "patient_id",
    "breast density": "density",
    "left or right breast": "laterality",
    "image view": "view",
    "abnormality id": "abnormality_id",
    "abnormality type": "abnormality_type",
    "mass shape": "shape_or_type",
    "calc type": "shape_or_type",
    "mass margins": "margins_or_distribution",
    "calc distribution": "margins_or_distribution",
    "assessment": "assessment",
    "pathology": "pathology",
    "subtlety": "subtlety",
    "image file path": "image_path",
    "cropped image file path": "crop_path",
    "roi mask file path": "roi_path",
}
REQUIRED = [
    "patient_id",
    "density",
    "laterality",
    "view",
    "abnormality_id",
    "abnormality_type",
    "shape_or_type",
    "margins_or_distribution",
    "assessment",
    "pathology",
    "subtlety",
    "image_path",
    "crop_path",
    "roi_path",
]
REQUIRED_NORMAL = ["patient_id", "density", "laterality", "view", "image_path"]
VALID_RANGE = {"density": (1, 4), "subtlety": (1, 5), "assessment": (0, 6), "abnormality_id": (1, 99)}


def read_cbis_table(path: str | os.PathLike) -> pd.DataFrame:
    """One case-description CSV with breastlab column names, every cell stripped text.

    Adds ``csv_file`` (file name) and ``csv_row`` (1-based data row, header excluded).
    """
    path = Path(path)
    raw = read_text_csv(path, "case-description CSV")
    rename = {c: COLUMN_NAMES.get(c.strip().lower().replace("_", " "), c.strip()) for c in raw.columns}
    table = raw.rename(columns=rename)
    required = REQUIRED_NORMAL if path.name.lower().startswith("normal") else REQUIRED
    missing = [c for c in required if c not in table.columns]
    if missing:
        expected = [k for k, v in COLUMN_NAMES.items() if v in missing]
        raise BreastlabInputError(f"{path}: missing column(s) {missing} (header text like {expected})")
    for col in table.columns:
        table[col] = table[col].str.strip().str.replace("\\", "/", regex=False)
    table["csv_file"] = path.name
    table["csv_row"] = np.arange(1, len(table) + 1)
    return table


def find_case_tables(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    files = sorted(folder.glob(CSV_PATTERN))
    if not files:
        raise BreastlabInputError(f"{folder}: no case-description CSV ({CSV_PATTERN}) found")
    return files


def unsafe_path(csv_path: str) -> str | None:
    """Why a path from a CSV may not be followed (it must stay under the DICOM root), or None."""
    if not csv_path:
        return None
    if csv_path.startswith("/") or (len(csv_path) > 1 and csv_path[1] == ":"):
        return "is absolute"
    if ".." in csv_path.split("/"):
        return "contains '..'"
    return None


class _Tree:
    """Locate the DICOM files a CSV path points to (folder and series UID, not file name).

    Only files under the root are ever returned: CSV paths with ``..`` or an absolute path
    are refused by the reader, and a symbolic link leading out of the root is not followed.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real_root = root.resolve()
        self._files: dict[str, list[Path]] = {}

    def inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self._real_root)

    def shown(self, path: Path) -> str:
        """A file as messages name it: relative to the root (problems.csv is shared)."""
        return "<root>/" + path.relative_to(self.root).as_posix()

    def files(self, folder: str) -> list[Path]:
        if folder not in self._files:
            top = self.root / folder
            found = sorted(top.rglob("*.dcm")) if top.is_dir() and self.inside(top) else []
            self._files[folder] = [f for f in found if self.inside(f)]
        return self._files[folder]

    def candidates(self, csv_path: str) -> list[Path]:
        parts = [p for p in csv_path.split("/") if p]
        if not parts:
            return []
        files = self.files(parts[0])
        if len(parts) >= 3:
            same_series = [f for f in files if parts[-2] in f.parts]
            if same_series:
                return same_series
        return files

    def full_image(self, csv_path: str) -> Path | None:
        exact = self.root / csv_path
        if exact.is_file() and self.inside(exact):
            return exact
        cands = self.candidates(csv_path)
        if len(cands) == 1:
            return cands[0]
        parts = csv_path.split("/")
        if len(cands) > 1 and len(parts) >= 3:
            from breastlab.data.mammo.dicom import read_header

            matching = [f for f in cands if read_header(f)[0]["series_uid"] == parts[-2]]
            if len(matching) == 1:
                return matching[0]
        return None


def _int_in_range(value: str, col: str) -> int | None:
    lo, hi = VALID_RANGE[col]
    try:
        v = int(float(value))
    except ValueError:
        return None
    return v if lo <= v <= hi else None


def _split_of(image_path: str, csv_name: str) -> str | None:
    top = image_path.split("/")[0].lower()
    for key, split in (("training", "train"), ("test", "test")):
        if key in top:
            return split
    name = csv_name.lower()
    return "train" if "train" in name else "test" if "test" in name else None


def read_cbis_ddsm(
    tables: str | os.PathLike | Sequence[str | os.PathLike],
    dicom_root: str | os.PathLike | None = None,
    *,
    boxes: bool = True,
    bwc_label: str = "negative",
    problems: ProblemLog | None = None,
) -> MammoDataset:
    """Read CBIS-DDSM case descriptions (and, with ``dicom_root``, locate the DICOMs).

    Parameters
    ----------
    tables : a folder holding the case-description CSVs, or a list of CSV files.
    dicom_root : root of the DICOM tree (``<root>/Mass-Training_P_00001_LEFT_CC/...``).
        ``None``: tables only (no paths, sizes or boxes).
    boxes : read each ROI mask and give the finding the mask's bounding box
        (0-based, half-open, pixels of the full image).
    bwc_label : image label of ``BENIGN_WITHOUT_CALLBACK`` ("negative" by default,
        or "recalled-benign").

    A row with an unknown pathology or abnormality type, or whose full image is missing
    from ``dicom_root``, is reported (file, row, patient) and skipped; the rest goes on.
    """
    if bwc_label not in ("negative", "recalled-benign"):
        raise BreastlabInputError(f"bwc_label={bwc_label!r}: valid values are 'negative' and 'recalled-benign'")
    files = find_case_tables(tables) if isinstance(tables, str | os.PathLike) else [Path(t) for t in tables]
    problems = problems if problems is not None else ProblemLog()
    tree = _Tree(Path(dicom_root)) if dicom_root is not None else None
    if tree is not None and not tree.root.is_dir():
        raise BreastlabInputError(f"{dicom_root}: DICOM root folder not found")
    images: dict[str, dict] = {}
    findings: list[dict] = []
    for file in files:
        table = read_cbis_table(file)
        normal = file.name.lower().startswith("normal")
        for rec in table.to_dict("records"):
            _read_row(rec, normal, images, findings, tree, problems, bwc_label)
    if tree is not None:
        _locate_images(images, tree, problems)
        alive = {k for k, v in images.items() if v["path"] is not None}
        findings = [f for f in findings if f["image_id"] in alive]
        images = {k: v for k, v in images.items() if k in alive}
        if boxes:
            for f in findings:
                _box_from_mask(f, images[f["image_id"]], tree, problems)
    by_image: dict[str, list[dict]] = {}
    for f in findings:
        by_image.setdefault(f["image_id"], []).append(f)
    for image_id, rec in images.items():
        own = [] if rec["normal"] else by_image.get(image_id, [])
        rec["label"] = vocab.worst_label([f["label"] for f in own])
        rec["n_findings"] = len(own)
        rec["abnormality_types"] = ",".join(sorted({f["abnormality_type"] for f in own}))
    extra_m = ["abnormality_types", "n_findings", "height", "width", "spacing_row_mm", "spacing_col_mm", "csv_file"]
    extra_f = [
        "abnormality_id",
        "abnormality_type",
        "shape_or_type",
        "margins_or_distribution",
        "subtlety",
        "roi_path",
        "csv_file",
        "csv_row",
    ]
    man, fin = finalize_tables(list(images.values()), findings, extra_m, extra_f)
    return MammoDataset(SOURCE, man, fin, problems)


def _read_row(
    rec: dict, normal: bool, images: dict, findings: list, tree: _Tree | None, problems: ProblemLog, bwc_label: str
) -> None:
    where = f"{rec['csv_file']} row {rec['csv_row']} (patient {rec['patient_id']})"

    def report(message: str) -> None:
        problems.add(where, STAGE, message)

    headers = {"image_path": "image file path", "crop_path": "cropped image file path",
               "roi_path": "ROI mask file path"}  # fmt: skip
    for key, header in headers.items():
        if key in rec and (why := unsafe_path(rec[key])):
            report(f"{where}: {header!r} {rec[key]!r} {why}: paths must stay under the DICOM root; row skipped")
            return
    image_path = rec["image_path"]
    image_id = image_path.split("/")[0]
    if not image_id:
        report(f"{where}: empty 'image file path'; row skipped")
        return
    laterality = {"LEFT": "L", "RIGHT": "R"}.get(rec["laterality"].upper())
    view = rec["view"].upper() if rec["view"].upper() in ("CC", "MLO") else None
    if laterality is None or view is None:
        report(
            f"{where}: laterality {rec['laterality']!r} / view {rec['view']!r}: expected LEFT|RIGHT and CC|MLO; "
            "row skipped"
        )
        return
    if not normal:
        try:
            finding_class = vocab.cbis_finding_class(rec["abnormality_type"], rec["shape_or_type"])
            label = vocab.cbis_image_label(rec["pathology"], bwc_label)
        except vocab.UnknownLabel as exc:
            report(f"{where}: unknown {exc}; row skipped")
            return
    density = _int_in_range(rec["density"], "density")
    if density is None:
        report(f"{where}: breast density {rec['density']!r} is not a BI-RADS density 1-4; set to NA")
    if image_id not in images:
        images[image_id] = {
            "image_id": image_id,
            "patient_id": rec["patient_id"],
            "source": SOURCE,
            "laterality": laterality,
            "view": view,
            "density": density,
            "split": _split_of(image_path, rec["csv_file"]),
            "label": None,
            "path": None,
            "csv_path": image_path,
            "csv_file": rec["csv_file"],
            "csv_row": rec["csv_row"],
            "normal": normal,
        }
    if normal:
        return
    subtlety = _int_in_range(rec["subtlety"], "subtlety")
    if subtlety is None:
        report(f"{where}: subtlety {rec['subtlety']!r} is outside 1-5; set to NA")
    assessment = _int_in_range(rec["assessment"], "assessment")
    if assessment is None:
        report(f"{where}: assessment {rec['assessment']!r} is not a BI-RADS category 0-6; set to NA")
    roi_folder = rec["roi_path"].split("/")[0] or rec["crop_path"].split("/")[0]
    findings.append(
        {
            "image_id": image_id,
            "finding_id": roi_folder or f"{image_id}_{rec['abnormality_id']}",
            "finding_class": finding_class,
            "x0": None,
            "y0": None,
            "x1": None,
            "y1": None,
            "source_label": f"{rec['abnormality_type']}:{rec['shape_or_type']}",
            "pathology": rec["pathology"].upper(),
            "birads": assessment,
            "label": label,
            "abnormality_id": _int_in_range(rec["abnormality_id"], "abnormality_id"),
            "abnormality_type": rec["abnormality_type"].lower(),
            "shape_or_type": rec["shape_or_type"] or None,
            "margins_or_distribution": rec["margins_or_distribution"] or None,
            "subtlety": subtlety,
            "roi_path": None,
            "csv_file": rec["csv_file"],
            "csv_row": rec["csv_row"],
            "_roi_csv": [rec["roi_path"], rec["crop_path"]],
        }
    )


def _locate_images(images: dict, tree: _Tree, problems: ProblemLog) -> None:
    from breastlab.data.mammo.dicom import read_header

    for rec in images.values():
        where = f"{rec['csv_file']} row {rec['csv_row']} (patient {rec['patient_id']})"
        path = tree.full_image(rec["csv_path"])
        if path is None:
            problems.add(
                where,
                STAGE,
                f"{where}: full mammogram {rec['csv_path']} not found under the DICOM root "
                f"(looked in <root>/{rec['image_id']}/); image and its findings skipped",
            )
            continue
        try:
            meta, spacing, _ = read_header(path)
        except BreastlabInputError as exc:
            problems.add(where, STAGE, f"{where}: {exc}; image skipped")
            continue
        rec.update(
            path=str(path),
            height=meta["rows"],
            width=meta["columns"],
            spacing_row_mm=spacing[0] if spacing else np.nan,
            spacing_col_mm=spacing[1] if spacing else np.nan,
        )


def _box_from_mask(finding: dict, image: dict, tree: _Tree, problems: ProblemLog) -> None:
    from breastlab.data.mammo.dicom import read_header, read_mammogram

    where = f"{finding['csv_file']} row {finding['csv_row']} (patient {image['patient_id']})"
    csv_roi, csv_crop = finding.pop("_roi_csv")
    cands = []
    for p in (csv_roi, csv_crop):
        for f in tree.candidates(p):
            if f not in cands:
                cands.append(f)
    if not cands:
        problems.add(
            where, STAGE, f"{where}: ROI mask {csv_roi} not found under the DICOM root; finding kept without box"
        )
        return
    shape = (image["height"], image["width"])
    sized = [f for f in cands if tuple(read_header(f)[0][k] for k in ("rows", "columns")) == shape]
    mask_path = sized[0] if len(sized) == 1 else None
    if mask_path is None:
        for f in sized or cands:
            pixels = read_mammogram(f).pixels
            if len(np.unique(pixels[:: max(1, pixels.shape[0] // 256), :: max(1, pixels.shape[1] // 256)])) <= 2:
                mask_path = f
                break
    if mask_path is None:
        problems.add(
            where,
            STAGE,
            f"{where}: no binary ROI mask among {[tree.shown(c) for c in cands]}; finding kept without box",
        )
        return
    mask = read_mammogram(mask_path).pixels
    finding["roi_path"] = str(mask_path)
    if mask.shape != shape:
        problems.add(
            where,
            STAGE,
            f"{where}: ROI mask {tree.shown(mask_path)} is {mask.shape[0]}x{mask.shape[1]} but its image "
            f"{image['image_id']} is {shape[0]}x{shape[1]}; finding kept without box",
        )
        return
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        problems.add(where, STAGE, f"{where}: ROI mask {tree.shown(mask_path)} is empty; finding kept without box")
        return
    finding.update(x0=int(cols[0]), y0=int(rows[0]), x1=int(cols[-1]) + 1, y1=int(rows[-1]) + 1)
