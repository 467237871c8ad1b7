"""Clinical table of Duke-Breast-Cancer-MRI (``Clinical_and_Other_Features.xlsx``).

TCIA ships the table as sheet ``Data`` with a 3-row header: row 1 the group (e.g.
"MRI Technical Information", merged over the group's columns), row 2 the column name,
row 3 the code legend (``GE MEDICAL SYSTEMS=0, MPTronic software=1, SIEMENS=2``,
``{0 = pre, 1 = post, 2 = N/A}``, ...); 922 patients, 98 columns (the first is
``Patient ID``). Most cells are integer codes.

* :func:`read_clinical` decodes every column to readable values under a stable
  snake_case name (:data:`CLINICAL_SPEC`, kept as package data ``clinical_spec.json``);
  missing codes (blank, NA, NC, NP, N/A, Excel errors, and legend entries meaning "not
  available") become ``pd.NA``; an unknown code raises :class:`BreastlabInputError`.
* :func:`read_clinical_records` gives the same values as plain rows (``{patient: {column:
  value}}``, missing values ``None``), without building frames (jobs that look up rows).
* :func:`read_clinical_raw` returns the raw codes under the original column names.
* :func:`write_clinical_xlsx` writes TCIA's layout back from raw codes (the phantom uses it).
* :func:`clinical_marginals` / :func:`clinical_marginals_summary` give value frequencies
  per column; ``clinical_marginals.json`` holds the aggregated real-table frequencies.

Reference: Saha A. et al., Br J Cancer 2018;119:508-516; data set
https://doi.org/10.7937/TCIA.e3sv-re93 (CC BY-NC 4.0).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections import Counter
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breastlab._io import atomic_path
from breastlab.data.duke._legend import code_key, is_missing_token, label_means_missing, parse_legend
from breastlab.errors import BreastlabInputError

__all__ = [
    "CLINICAL_SPEC",
    "CLINICAL_COLUMNS",
    "ClinicalColumn",
    "parse_legend",
    "read_clinical",
    "read_clinical_raw",
    "read_clinical_records",
    "decode_clinical",
    "write_clinical_xlsx",
    "clinical_raw_columns",
    "clinical_column",
    "clinical_summary",
    "write_clinical_table",
    "KEY_COLUMNS",
    "clinical_marginals",
    "clinical_marginals_summary",
    "load_clinical_marginals",
    "SCANNER_JOINT_COLUMNS",
]

SHEET = "Data"
HEADER_ROWS = 3
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# an integer code inside a multi-code cell ("0, 5", "6 (2)", "4 at axillary tail(5 at R5)")
_CODE_IN_TEXT = re.compile(r"(?<![\w.])-?\d+(?![\w.])")


@dataclasses.dataclass(frozen=True)
class ClinicalColumn:
    """One column of the clinical table.

    ``group``/``name``/``legend`` are the header texts exactly as in TCIA's file (``None``
    where the cell is empty; ``group`` only on a group's first column). ``label`` is a
    unique, whitespace-normalised original name (``name``; for the nameless columns the
    first line of the legend; a repeated name gets pandas' ``.1`` suffix). ``codes`` maps
    code (as written in the legend) -> legend label; ``values`` maps code -> decoded value
    (``None`` = missing).
    """

    index: int  # 1-based column in the sheet
    group: str | None
    name: str | None
    legend: str | None
    snake: str
    label: str
    kind: str  # id | code | multicode | number | text
    dtype: str  # decoded pandas dtype: string | Int64 | Float64
    codes: dict[str, str] | None
    values: dict[str, Any] | None

    @property
    def group_filled(self) -> str:
        """The group this column belongs to (row 1 carried over the merged range)."""
        return _GROUP_FILLED[self.index - 1]


def _norm(text: Any) -> str:
    return " ".join(str(text).split()).casefold() if text is not None else ""


def _labels(names: list[Any], legends: list[Any], groups_filled: list[Any]) -> list[str]:
    """Unique readable original names (see :class:`ClinicalColumn`)."""
    out: list[str] = []
    seen: Counter[str] = Counter()
    for name, legend, group in zip(names, legends, groups_filled, strict=True):
        if name is not None and str(name).strip():
            base = " ".join(str(name).split())
        elif legend is not None and str(legend).strip():
            first = re.sub(r"\{[^{}]*\}", "", str(legend).strip().splitlines()[0])
            base = " ".join(first.split())
        else:
            base = " ".join(str(group or "").split())
        key = base.casefold()
        out.append(base if seen[key] == 0 else f"{base}.{seen[key]}")
        seen[key] += 1
    return out


def _decoded_values(codes: dict[str, str]) -> tuple[dict[str, Any], str]:
    """Code -> decoded value, and the column dtype (numeric labels decode to numbers)."""
    present = {c: lab for c, lab in codes.items() if not label_means_missing(lab)}
    numeric = bool(present) and all(_NUMBER.fullmatch(lab.strip()) for lab in present.values())
    if numeric:
        nums = {c: float(lab) for c, lab in present.items()}
        integral = all(v.is_integer() for v in nums.values())
        values = {c: (int(v) if integral else v) for c, v in nums.items()}
        dtype = "Int64" if integral else "Float64"
    else:
        values, dtype = dict(present), "string"
    values.update({c: None for c in codes if c not in present})
    return values, dtype


@cache
def _spec_json() -> dict:
    text = resources.files("breastlab.data.duke").joinpath("clinical_spec.json").read_text()
    return json.loads(text)


def _build_spec() -> tuple[list[ClinicalColumn], list[str]]:
    cols = _spec_json()["columns"]
    groups_filled: list[str] = []
    for c in cols:
        groups_filled.append(c["group"] if c["group"] is not None else (groups_filled[-1] if groups_filled else ""))
    labels = _labels([c["name"] for c in cols], [c["legend"] for c in cols], groups_filled)
    spec = []
    for c, label in zip(cols, labels, strict=True):
        codes = values = None
        dtype = c["dtype"]
        if c["kind"] in ("code", "multicode"):
            codes = parse_legend(c["legend"])
            if not codes:
                raise RuntimeError(f"clinical_spec.json: coded column {c['snake']} has no parsable legend")
            values, dtype = _decoded_values(codes)
            if c["kind"] == "multicode":
                dtype = "string"  # cells may combine codes with notes
        spec.append(
            ClinicalColumn(
                index=c["index"], group=c["group"], name=c["name"], legend=c["legend"], snake=c["snake"],
                label=label, kind=c["kind"], dtype=dtype, codes=codes, values=values,
            )
        )  # fmt: skip
    return spec, groups_filled


CLINICAL_SPEC, _GROUP_FILLED = _build_spec()
CLINICAL_COLUMNS: list[str] = [c.snake for c in CLINICAL_SPEC]
CLINICAL_HEADER_MERGES: list[str] = list(_spec_json()["header_merges"])
_BY_SNAKE = {c.snake: c for c in CLINICAL_SPEC}
# the scanner columns whose joint distribution the phantom needs (consistent model/vendor/field)
SCANNER_JOINT_COLUMNS = ["manufacturer", "manufacturer_model", "field_strength_t", "rows"]


def clinical_raw_columns() -> list[str]:
    """The 98 original column names (``ClinicalColumn.label``) in file order."""
    return [c.label for c in CLINICAL_SPEC]


def clinical_column(name: str) -> ClinicalColumn:
    """Spec of one column, by snake_case name or original name (whitespace/case-insensitive)."""
    return _resolve_columns([name], source="clinical_column")[name]


# ----------------------------------------------------------------------------- reading
def _open_sheet(path: Path):
    import openpyxl

    if not path.exists():
        raise BreastlabInputError(f"{path}: file not found (expected TCIA's clinical table, an .xlsx workbook)")
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip/xml errors: not an xlsx
        raise BreastlabInputError(f"{path}: cannot read as an .xlsx workbook ({exc})") from exc
    if SHEET not in wb.sheetnames:
        raise BreastlabInputError(f"{path}: no sheet {SHEET!r} (sheets: {', '.join(wb.sheetnames)})")
    return wb, wb[SHEET]


def read_clinical_raw(path: str | os.PathLike) -> pd.DataFrame:
    """Raw coded table: one row per patient, columns :func:`clinical_raw_columns` (object dtype).

    Cells keep the values stored in the file (ints, floats, strings such as ``"NA"``;
    blank cells are ``None``). Columns are matched to :data:`CLINICAL_SPEC` by their
    whitespace- and case-normalised original name (nameless columns by their legend's
    first line; repeated names in order), so header whitespace quirks do not matter.
    Extra columns are ignored; a missing one raises :class:`BreastlabInputError`.
    """
    path = Path(path)
    data, where = _sheet_rows(path)
    raw = pd.DataFrame({c.label: pd.Series([r[where[c.label]] for r in data], dtype=object) for c in CLINICAL_SPEC})
    _check_patient_ids(path, raw[CLINICAL_SPEC[0].label], first_row=HEADER_ROWS + 1)
    raw[CLINICAL_SPEC[0].label] = raw[CLINICAL_SPEC[0].label].map(lambda v: str(v).strip())
    raw.attrs["source"] = str(path)
    return raw


def _sheet_rows(path: Path) -> tuple[list[tuple], dict[str, int]]:
    """The data rows of the sheet (blank rows dropped) and each spec column's position."""
    wb, ws = _open_sheet(path)
    try:
        rows = [tuple(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    if len(rows) < HEADER_ROWS:
        raise BreastlabInputError(f"{path}: sheet {SHEET!r} has {len(rows)} rows, fewer than the 3 header rows")
    width = max(len(r) for r in rows)
    rows = [r + (None,) * (width - len(r)) for r in rows]
    header = rows[:HEADER_ROWS]
    if _norm(header[1][0]) != "patient id":
        raise BreastlabInputError(
            f"{path}: sheet {SHEET!r} cell A2 is {header[1][0]!r}, expected 'Patient ID' "
            "(TCIA layout: row 1 group, row 2 column name, row 3 code legend, data from row 4)"
        )
    where = _match_header(path, header)
    data = [r for r in rows[HEADER_ROWS:] if any(v is not None and str(v).strip() != "" for v in r)]
    return data, where


def _match_header(path: Path, header: list[tuple]) -> dict[str, int]:
    groups: list[Any] = []
    for g in header[0]:
        groups.append(g if g is not None else (groups[-1] if groups else None))
    present = [i for i in range(len(header[0])) if any(header[r][i] is not None for r in range(HEADER_ROWS))]
    labels = _labels([header[1][i] for i in present], [header[2][i] for i in present], [groups[i] for i in present])
    by_key = {_norm(lab): i for lab, i in zip(labels, present, strict=True)}
    where, missing = {}, []
    for col in CLINICAL_SPEC:
        i = by_key.get(_norm(col.label))
        if i is None:
            missing.append(col)
        else:
            where[col.label] = i
    if missing:
        names = "; ".join(f"{c.label!r} ({c.snake}, group {c.group_filled!r})" for c in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise BreastlabInputError(
            f"{path}: sheet {SHEET!r} lacks expected column(s) {names}{more}; "
            f"the table must have all {len(CLINICAL_SPEC)} columns of TCIA's Clinical_and_Other_Features.xlsx"
        )
    return where


def _check_patient_ids(path: Any, ids: pd.Series, first_row: int = 1) -> None:
    blank = [first_row + i for i, v in enumerate(ids) if is_missing_token(v)]
    if blank:
        raise BreastlabInputError(f"{path}: column 'Patient ID' is empty in data row(s) {blank[:10]}")
    norm = ids.map(lambda v: str(v).strip())
    dup = sorted(norm[norm.duplicated()].unique())
    if dup:
        raise BreastlabInputError(f"{path}: column 'Patient ID' repeats patient(s) {', '.join(dup[:10])}")


def read_clinical(path: str | os.PathLike) -> pd.DataFrame:
    """Decoded clinical table: ``patient_id`` then the other 97 columns, snake_case names.

    Coded columns hold the legend's label (``manufacturer`` = "GE MEDICAL SYSTEMS", ``er`` =
    "pos") or, where every label is a number, that number (``field_strength_t`` = 1.5, 3.0,
    2.8936 as Float64; ``rows`` = 320/448/512 as Int64). Missing codes are ``pd.NA``.
    Raises :class:`BreastlabInputError` for an unknown code (naming file, column, patient
    and the valid codes) or a missing column.
    """
    raw = read_clinical_raw(path)
    return decode_clinical(raw, source=str(path))


def read_clinical_records(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """:func:`read_clinical` as plain rows: ``{patient_id: {column: value}}``, columns in
    :data:`CLINICAL_SPEC` order, the values that ``read_clinical(path).to_dict("records")``
    holds with missing ones as ``None`` (str, int for Int64, float for Float64 columns).
    The same checks and errors; no frames are built (~1/3 of the time on a small table).
    """
    path = Path(path)
    data, where = _sheet_rows(path)
    label = CLINICAL_SPEC[0].label
    cells = pd.Series([r[where[label]] for r in data], dtype=object)
    _check_patient_ids(path, cells, first_row=HEADER_ROWS + 1)
    source = str(path)
    # as decode_clinical does with read_clinical_raw's frame
    ids = cells.map(lambda v: str(v).strip()).map(lambda v: str(v).strip() if not is_missing_token(v) else "")
    _check_patient_ids(source, ids)
    ids_list = ids.tolist()
    columns = []
    for col in CLINICAL_SPEC:
        values = _decode_values(col, [r[where[col.label]] for r in data], ids_list, source)
        columns.append([_as_stored(col.dtype, v) for v in values])
    names = [c.snake for c in CLINICAL_SPEC]
    return {
        pid: dict(zip(names, row, strict=True)) for pid, row in zip(ids_list, zip(*columns, strict=True), strict=True)
    }


def _as_stored(dtype: str, value: Any) -> Any:
    """A decoded value as a ``dtype`` column holds it (and gives it back), missing as None."""
    if value is None or value is pd.NA:
        return None
    if dtype == "Int64":
        return int(value)
    if dtype == "Float64":
        value = float(value)
        return None if value != value else value
    return value if isinstance(value, str) else str(value)


def decode_clinical(raw: pd.DataFrame, source: str = "<DataFrame>") -> pd.DataFrame:
    """Decode a raw frame (columns: original names or snake names, all 98) -> decoded frame."""
    cols = _resolve_columns(list(raw.columns), source)
    by_spec = {col.snake: name for name, col in cols.items()}
    missing = [c for c in CLINICAL_SPEC if c.snake not in by_spec]
    if missing:
        raise BreastlabInputError(
            f"{source}: missing clinical column(s) {', '.join(repr(c.label) for c in missing[:10])}"
            + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        )
    ids = raw[by_spec["patient_id"]].map(lambda v: str(v).strip() if not is_missing_token(v) else "")
    _check_patient_ids(source, ids)
    out = {}
    for col in CLINICAL_SPEC:
        out[col.snake] = _decode_column(col, raw[by_spec[col.snake]].tolist(), ids.tolist(), source)
    return pd.DataFrame(out)


def _decode_column(col: ClinicalColumn, cells: list[Any], ids: list[str], source: str) -> pd.Series:
    if col.kind == "id":
        return pd.Series(ids, dtype=str)
    values = _decode_values(col, cells, ids, source)
    return pd.Series(pd.array([pd.NA if v is None else v for v in values], dtype=col.dtype))


def _decode_values(col: ClinicalColumn, cells: list[Any], ids: list[str], source: str) -> list[Any]:
    """Decoded values of one column (None where missing); raises naming every unknown cell."""
    if col.kind == "id":
        return list(ids)
    decode = {"code": _decode_code, "multicode": _decode_multicode, "number": _decode_number, "text": _decode_text}
    fn = decode[col.kind]
    values, bad = [], []
    for pid, cell in zip(ids, cells, strict=True):
        try:
            values.append(fn(col, cell))
        except _Unknown as exc:
            bad.append((pid, exc.value))
            values.append(None)
    if bad:
        raise BreastlabInputError(_unknown_message(col, bad, source))
    return values


class _Unknown(Exception):
    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value


def _decode_code(col: ClinicalColumn, cell: Any) -> Any:
    key = code_key(cell)
    assert col.values is not None
    if key is not None and key in col.values:
        return col.values[key]
    if is_missing_token(cell):
        return None
    raise _Unknown(cell)


def _decode_multicode(col: ClinicalColumn, cell: Any) -> Any:
    assert col.values is not None
    key = code_key(cell)
    if key is not None and key in col.values:
        v = col.values[key]
        return None if v is None else str(v)
    if is_missing_token(cell) or not isinstance(cell, str):
        if is_missing_token(cell):
            return None
        raise _Unknown(cell)
    unknown = [m.group(0) for m in _CODE_IN_TEXT.finditer(cell) if m.group(0) not in col.values]
    if unknown or not _CODE_IN_TEXT.search(cell):
        raise _Unknown(cell)
    # keep the note's wording, replace each code by its label: "0, 5" -> "pleomorphic, clustered"
    text = _CODE_IN_TEXT.sub(lambda m: str(col.values[m.group(0)] or "NA"), cell)
    return " ".join(text.split())


def _decode_number(col: ClinicalColumn, cell: Any) -> Any:
    if is_missing_token(cell):
        return None
    if isinstance(cell, bool):
        raise _Unknown(cell)
    if isinstance(cell, int | float | np.integer | np.floating):
        value = float(cell)
    else:
        # annotated numbers ("2.9 [1]", "3 (1.5)", "[0.5]"): the first number is the value
        m = _NUMBER.search(str(cell))
        if m is None:
            raise _Unknown(cell)
        value = float(m.group(0))
    if col.dtype == "Int64":
        if not value.is_integer():
            raise _Unknown(cell)
        return int(value)
    return value


def _decode_text(col: ClinicalColumn, cell: Any) -> Any:
    if is_missing_token(cell):
        return None
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return " ".join(str(cell).split())


def _unknown_message(col: ClinicalColumn, bad: list[tuple[str, Any]], source: str) -> str:
    shown = "; ".join(f"patient {pid}: {v!r}" for pid, v in bad[:5])
    more = f" (and {len(bad) - 5} more patients)" if len(bad) > 5 else ""
    if col.kind in ("code", "multicode"):
        assert col.codes is not None
        valid = ", ".join(f"{c} ({lab})" for c, lab in col.codes.items())
        what = "code(s) not in the legend" if col.kind == "code" else "cell(s) with codes not in the legend"
        tail = f"valid codes: {valid}; missing: blank, NA, NC, NP, N/A"
    else:
        what = "value(s) that are not numbers" + (" (integers expected)" if col.dtype == "Int64" else "")
        tail = "valid: a number, or blank/NA/NC/NP/N/A for missing"
    return f"{source}: column {col.label!r} ({col.snake}) has {what}: {shown}{more}; {tail}"


def _resolve_columns(names: list[Any], source: str) -> dict[Any, ClinicalColumn]:
    """Map frame column names (original label, original header text or snake name) to specs."""
    index: dict[str, ClinicalColumn] = {}
    for c in CLINICAL_SPEC:
        index.setdefault(_norm(c.label), c)
        index.setdefault(_norm(c.snake), c)
    out, unknown = {}, []
    for name in names:
        col = index.get(_norm(name))
        if col is None:
            unknown.append(name)
        else:
            out[name] = col
    if unknown:
        raise BreastlabInputError(
            f"{source}: unknown clinical column(s) {', '.join(repr(u) for u in unknown[:10])}; valid names are "
            "the original header names (breastlab.data.duke.clinical.clinical_raw_columns()) or CLINICAL_COLUMNS"
        )
    return out


# ----------------------------------------------------------------------------- writing
def write_clinical_xlsx(raw: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write raw codes in TCIA's layout: sheet ``Data``, 3-row header (group / name / legend).

    ``raw`` has one row per patient and columns named by the original header names
    (:func:`clinical_raw_columns`, first ``"Patient ID"``; snake names are accepted too)
    holding raw coded values as in the real file (``0``/``2`` for Manufacturer, ``1``/``3``
    for Field Strength, ``"NA"``, ...). Columns not given are written blank; header texts
    and merged group cells are exactly those of TCIA's file. The file appears atomically.
    """
    import openpyxl
    from openpyxl.styles import Alignment

    path = Path(path)
    cols = _resolve_columns(list(raw.columns), source="write_clinical_xlsx")
    by_snake = {col.snake: name for name, col in cols.items()}
    if len(by_snake) != len(cols):
        raise BreastlabInputError("write_clinical_xlsx: two columns of the frame name the same clinical column")
    if "patient_id" not in by_snake:
        raise BreastlabInputError("write_clinical_xlsx: the frame needs a 'Patient ID' column")
    _check_patient_ids("write_clinical_xlsx", raw[by_snake["patient_id"]])

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = SHEET
    wrap = Alignment(wrap_text=True, vertical="top")
    for col in CLINICAL_SPEC:
        for r, text in enumerate((col.group, col.name, col.legend), start=1):
            if text is not None:
                cell = ws.cell(r, col.index, text)
                if r == 3:
                    cell.alignment = wrap
    for rng in CLINICAL_HEADER_MERGES:
        ws.merge_cells(rng)
    columns = [(col.index, raw[by_snake[col.snake]].tolist()) for col in CLINICAL_SPEC if col.snake in by_snake]
    for i in range(len(raw)):
        r = HEADER_ROWS + 1 + i
        for c, values in columns:
            v = _cell_value(values[i])
            if v is not None:
                ws.cell(r, c, v)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return path


def _cell_value(v: Any) -> Any:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)  # the real file stores codes as integers
    return v


# ----------------------------------------------------------------------------- marginals
def clinical_marginals(df: pd.DataFrame) -> pd.DataFrame:
    """Value frequencies of every column of a raw or decoded clinical frame.

    Returns a long table with one row per (column, distinct value): ``column`` (snake
    name), ``label`` (original name), ``value`` (raw code, or decoded value for a decoded
    frame), ``decoded`` (the decoded value; ``None`` if missing), ``missing`` (bool),
    ``count`` and ``frequency`` (= count / number of rows). Blank cells are ``value=None``.
    """
    cols = _resolve_columns(list(df.columns), source="clinical_marginals")
    n = len(df)
    records = []
    for name, col in cols.items():
        is_raw = _norm(name) != _norm(col.snake) or col.kind == "id"
        counts: Counter = Counter()
        first: dict[Any, Any] = {}
        for v in df[name].tolist():
            k = code_key(v) if is_raw else (None if v is None or pd.isna(v) else v)
            counts[k] += 1
            first.setdefault(k, None if k is None else (v.item() if isinstance(v, np.generic) else v))
        for k, c in counts.most_common():
            value = first[k]
            decoded = _decode_quiet(col, value) if is_raw else value
            records.append(
                {
                    "column": col.snake, "label": col.label, "value": value, "decoded": decoded,
                    "missing": decoded is None, "count": c, "frequency": c / n if n else float("nan"),
                }
            )  # fmt: skip
    return pd.DataFrame(records, columns=["column", "label", "value", "decoded", "missing", "count", "frequency"])


def _decode_quiet(col: ClinicalColumn, value: Any) -> Any:
    if col.kind == "id":
        return value
    fn = {"code": _decode_code, "multicode": _decode_multicode, "number": _decode_number, "text": _decode_text}
    try:
        return fn[col.kind](col, value)
    except _Unknown:
        return None


_PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
_MAX_CATEGORIES = 25  # numbers with at most this many distinct values are reported as counts


def clinical_marginals_summary(raw: pd.DataFrame, min_count: int = 5) -> dict[str, Any]:
    """Aggregated, row-free frequencies of a raw clinical frame (payload of ``clinical_marginals.json``).

    Per column (snake name): ``label``, ``kind``, ``missing`` = ``[[raw token, count], ...]``
    (``null`` = blank cell), and either ``values`` = ``[[raw value, count], ...]`` (all legend
    codes; numbers with <= 25 distinct values; free text and composite cells only where seen
    >= ``min_count`` times, the rest counted in ``pooled``) or, for continuous numbers,
    ``percentiles`` (p1..p99, linear interpolation), ``mean``, ``sd`` and ``n``. ``joint``
    holds the counts of :data:`SCANNER_JOINT_COLUMNS` raw-code combinations.
    """
    marg = clinical_marginals(raw)
    decoded = decode_clinical(raw)
    out: dict[str, Any] = {"n_patients": int(len(raw)), "min_count": int(min_count), "columns": {}}
    for col in CLINICAL_SPEC:
        if col.kind == "id":
            continue
        m = marg[marg["column"] == col.snake]
        miss = m[m["missing"]]
        entry: dict[str, Any] = {
            "label": col.label,
            "kind": col.kind,
            "missing": [[_jsonable(v), int(c)] for v, c in zip(miss["value"], miss["count"], strict=True)],
        }
        present = m[~m["missing"]]
        values = decoded[col.snake].dropna()
        if col.kind == "number" and values.nunique() > _MAX_CATEGORIES:
            x = values.astype(float).to_numpy()
            entry.update(
                percentiles={f"p{p}": float(np.percentile(x, p)) for p in _PERCENTILES},
                mean=float(x.mean()), sd=float(x.std(ddof=1)), n=int(x.size),
            )  # fmt: skip
        else:
            keep = [
                [_jsonable(v), int(c)]
                for v, c in zip(present["value"], present["count"], strict=True)
                if c >= min_count or _is_plain_category(col, v)
            ]
            entry["values"] = keep
            entry["pooled"] = int(present["count"].sum() - sum(c for _, c in keep))
        out["columns"][col.snake] = entry
    labels = [_BY_SNAKE[s].label for s in SCANNER_JOINT_COLUMNS]
    combos = Counter(tuple(code_key(v) for v in row) for row in raw[labels].itertuples(index=False))
    out["joint"] = {
        "columns": SCANNER_JOINT_COLUMNS,
        "labels": labels,
        "counts": [[*(_jsonable(_as_number(k)) for k in key), int(c)] for key, c in sorted(combos.items(), key=str)],
    }
    return out


def _is_plain_category(col: ClinicalColumn, value: Any) -> bool:
    """Legend codes and small-integer numbers are categories, never pooled."""
    if col.kind in ("code", "multicode"):
        return code_key(value) in (col.values or {})
    return col.kind == "number" and not isinstance(value, str)


def _as_number(key: str | None) -> Any:
    if key is None:
        return None
    return int(key) if re.fullmatch(r"-?\d+", key) else key


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return v


@cache
def load_clinical_marginals() -> dict[str, Any]:
    """The packaged aggregated frequencies of the real table (``clinical_marginals.json``).

    Regenerate with ``benchmarks/make_duke_clinical_data.py``.
    """
    text = resources.files("breastlab.data.duke").joinpath("clinical_marginals.json").read_text()
    return json.loads(text)


# ----------------------------------------------------------------------------- summaries / output
KEY_COLUMNS = [
    "field_strength_t", "manufacturer", "manufacturer_model", "rows", "menopause", "race_ethnicity",
    "er", "pr", "her2", "mol_subtype", "tumor_location", "surgery_type",
]  # fmt: skip


def clinical_summary(decoded: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Value counts of key decoded columns: ``column, value, count, percent`` (missing shown as ``NA``)."""
    columns = KEY_COLUMNS if columns is None else columns
    unknown = [c for c in columns if c not in decoded.columns]
    if unknown:
        raise BreastlabInputError(f"clinical_summary: unknown column(s) {', '.join(unknown)}")
    parts = []
    for c in columns:
        vc = decoded[c].value_counts(dropna=False)
        parts.append(
            pd.DataFrame(
                {"column": c, "value": ["NA" if pd.isna(v) else str(v) for v in vc.index],
                 "count": vc.to_numpy(dtype=np.int64), "percent": 100.0 * vc.to_numpy() / max(len(decoded), 1)}
            )
        )  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def write_clinical_table(decoded: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a decoded table atomically as .csv, .parquet or .json (records; missing -> null)."""
    from breastlab._io import write_json, write_table

    path = Path(path)
    if path.suffix == ".json":
        records = decoded.astype(object).where(decoded.notna(), None).to_dict(orient="records")
        return write_json({"rows": records}, path)
    if path.suffix not in (".csv", ".parquet"):
        raise BreastlabInputError(f"--out {path}: suffix must be .csv, .parquet or .json")
    return write_table(decoded, path)
