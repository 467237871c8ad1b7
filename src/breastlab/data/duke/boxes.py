"""Tumour boxes (``Annotation_Boxes.csv``/``.xlsx``) and slice counts of Duke-Breast-Cancer-MRI.

TCIA gives one box per patient: ``Patient ID, Start Row, End Row, Start Column, End
Column, Start Slice, End Slice``, all 1-based and inclusive (rows/columns are pixel rows
and columns of the original DICOM matrix; slices are positions in the volume ordered
along the slice normal, so ``Start Slice`` = ``slice_index + 1``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breastlab.data._csv import read_text_csv
from breastlab.errors import BreastlabInputError

__all__ = ["BOX_COLUMNS", "read_boxes", "validate_boxes", "read_slice_counts", "find_boxes_file"]

# snake name -> TCIA header
BOX_COLUMNS: dict[str, str] = {
    "patient_id": "Patient ID",
    "start_row": "Start Row",
    "end_row": "End Row",
    "start_column": "Start Column",
    "end_column": "End Column",
    "start_slice": "Start Slice",
    "end_slice": "End Slice",
}
_COUNT_COLUMNS = ["patient_id", "series", "n_slices", "phase"]


def _key(name: Any) -> str:
    return "_".join(str(name).replace("_", " ").split()).casefold()


def find_boxes_file(duke_dir: str | os.PathLike) -> Path:
    """``Annotation_Boxes.csv`` or ``Annotation_Boxes.xlsx`` in ``duke_dir`` (CSV preferred)."""
    duke_dir = Path(duke_dir)
    for name in ("Annotation_Boxes.csv", "Annotation_Boxes.xlsx"):
        if (duke_dir / name).exists():
            return duke_dir / name
    raise BreastlabInputError(f"{duke_dir}: neither Annotation_Boxes.csv nor Annotation_Boxes.xlsx found")


def read_boxes(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate TCIA's tumour boxes.

    Returns columns ``patient_id, start_row, end_row, start_column, end_column,
    start_slice, end_slice`` (int64, 1-based inclusive, as the source), one row per
    patient in file order. Headers match case- and whitespace-insensitively (TCIA names
    or the snake names). Raises :class:`BreastlabInputError` naming the file, patient and
    column for: a missing column, a blank patient ID, a value that is not a positive
    integer, a start after its end, or a patient listed twice.
    """
    path = Path(path)
    if not path.exists():
        raise BreastlabInputError(f"{path}: boxes file not found (expected TCIA's Annotation_Boxes.csv or .xlsx)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df = read_text_csv(path, "boxes file")
    elif suffix in (".xlsx", ".xlsm"):
        df = _read_boxes_xlsx(path)
    else:
        raise BreastlabInputError(f"{path}: boxes file must be .csv or .xlsx, not {path.suffix!r}")
    return validate_boxes(df, source=str(path))


def _read_boxes_xlsx(path: Path) -> pd.DataFrame:
    raw = pd.read_excel(path, sheet_name=0, header=None, dtype=object)
    # the header is the first row whose first cell reads "Patient ID" (some copies carry a title row)
    for i in range(min(len(raw), 5)):
        if _key(raw.iat[i, 0]) == "patient_id":
            df = raw.iloc[i + 1 :].reset_index(drop=True)
            df.columns = [str(c) if c is not None else "" for c in raw.iloc[i]]
            return df.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else v)
    raise BreastlabInputError(f"{path}: no header row with 'Patient ID' in column A of the first sheet")


def validate_boxes(df: pd.DataFrame, source: str = "<boxes>") -> pd.DataFrame:
    """Validate a boxes frame (TCIA or snake column names) and return the canonical frame."""
    by_key = {_key(c): c for c in df.columns}
    missing = [tcia for snake, tcia in BOX_COLUMNS.items() if snake not in by_key]
    if missing:
        raise BreastlabInputError(
            f"{source}: missing column(s) {', '.join(repr(m) for m in missing)}; "
            f"expected {', '.join(BOX_COLUMNS.values())}"
        )
    ids = df[by_key["patient_id"]].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    ids = ids.str.strip()
    keep = ~(ids.eq("") & df[[by_key[s] for s in BOX_COLUMNS if s != "patient_id"]].map(_blank).all(axis=1))
    df, ids = df[keep].reset_index(drop=True), ids[keep].reset_index(drop=True)  # drop fully empty rows
    if not len(ids):
        raise BreastlabInputError(f"{source}: holds no boxes (a header but no rows); expected one box per patient")
    blank = [i + 2 for i, v in enumerate(ids) if v == ""]
    if blank:
        raise BreastlabInputError(f"{source}: column 'Patient ID' is empty in line(s) {blank[:10]}")
    dup = sorted(ids[ids.duplicated()].unique())
    if dup:
        raise BreastlabInputError(
            f"{source}: patient(s) {', '.join(dup[:10])} listed more than once (one box per patient expected)"
        )
    out = pd.DataFrame({"patient_id": ids.tolist()})
    for snake, tcia in BOX_COLUMNS.items():
        if snake != "patient_id":
            out[snake] = _positive_ints(df[by_key[snake]], ids, tcia, source)
    for axis in ("row", "column", "slice"):
        bad = out[out[f"start_{axis}"] > out[f"end_{axis}"]]
        if len(bad):
            shown = "; ".join(
                f"{r.patient_id}: {r[f'start_{axis}']} > {r[f'end_{axis}']}" for _, r in bad.head(5).iterrows()
            )
            raise BreastlabInputError(
                f"{source}: 'Start {axis.title()}' after 'End {axis.title()}' for {shown}; "
                "boxes are 1-based inclusive ranges with start <= end"
            )
    return out


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == ""


def _positive_ints(col: pd.Series, ids: pd.Series, name: str, source: str) -> np.ndarray:
    out = np.empty(len(col), dtype=np.int64)
    for i, (pid, v) in enumerate(zip(ids, col, strict=True)):
        try:
            x = float(str(v).strip())
        except ValueError:
            x = float("nan")
        if not (np.isfinite(x) and x.is_integer() and x >= 1):
            raise BreastlabInputError(
                f"{source}: patient {pid}: column {name!r} is {v!r}; expected a positive integer "
                "(1-based pixel row/column or slice number)"
            )
        out[i] = int(x)
    return out


def read_slice_counts(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``slice_counts.csv``: ``patient_id, series, n_slices, phase`` (one row per patient and phase).

    ``n_slices`` is the number of slices of that DCE series (int64). Raises
    :class:`BreastlabInputError` for a missing column, blank patient/phase, a count that is
    not a positive integer, or a (patient, phase) pair listed twice.
    """
    path = Path(path)
    if not path.exists():
        raise BreastlabInputError(f"{path}: slice counts file not found")
    df = read_text_csv(path, "slice-count file")
    df.columns = [_key(c) for c in df.columns]
    missing = [c for c in _COUNT_COLUMNS if c not in df.columns]
    if missing:
        expected = ", ".join(_COUNT_COLUMNS)
        raise BreastlabInputError(f"{path}: missing column(s) {', '.join(missing)}; expected {expected}")
    df = df[_COUNT_COLUMNS].map(str.strip)
    df = df[~df.eq("").all(axis=1)].reset_index(drop=True)
    if df.empty:
        raise BreastlabInputError(f"{path}: holds no slice counts (a header but no rows)")
    for c in ("patient_id", "phase"):
        blank = [i + 2 for i, v in enumerate(df[c]) if v == ""]
        if blank:
            raise BreastlabInputError(f"{path}: column {c!r} is empty in line(s) {blank[:10]}")
    df["n_slices"] = _positive_ints(df["n_slices"], df["patient_id"], "n_slices", str(path))
    dup = df[df.duplicated(["patient_id", "phase"], keep=False)]
    if len(dup):
        pairs = sorted({f"{p} ({ph})" for p, ph in zip(dup["patient_id"], dup["phase"], strict=True)})
        raise BreastlabInputError(f"{path}: patient/phase listed more than once: {', '.join(pairs[:10])}")
    return df
