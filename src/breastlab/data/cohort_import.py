"""Your own MRI cohort: draft a cohort table from any DICOM tree, build a slice store from a table.

Two steps, both plain functions on a folder and a table:

* :func:`scan_mri_tree` walks any DICOM tree (any folder layout, files with or without
  ``.dcm``, several series in one folder), reads headers only and groups files by
  SeriesInstanceUID (never by folder). It drafts one row per exam (patient + study) with the
  series of each DCE phase, the rule that identified the phases, the matrix, the slice count and
  the acquisition attributes read from the headers. Like the Duke reader it keeps only the
  pseudonymous PatientID: no UIDs, dates or absolute paths are written (series are referenced by
  a path relative to the scanned folder).
* :func:`import_mri` builds the same slice store as :func:`breastlab.data.export.export_slices`
  from such a table (one patient per row), through the exporter's per-patient code path.

The table (CSV): ``patient_id``; one column per DCE phase (``pre``, ``post1`` .. ``post4``) holding a
series folder, a ``;``-separated list of files, a NIfTI file or one multi-frame DICOM file, relative
to ``--root`` (compressed transfer syntaxes decode through pydicom's pylibjpeg plug-ins); the label as
Duke's 1-based inclusive box ``start_row, end_row, start_column, end_column, start_slice, end_slice``
or a ``mask`` (NIfTI or DICOM SEG on the image's grid); every other column is an attribute copied onto
each slice of the manifest. :func:`import_mri_mips` builds the breast-MIP store from the same table.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydicom

from breastlab._io import write_table
from breastlab._lock import locks_folder
from breastlab.data.store import ArrayStore, StoreWriter, check_output_folder, fingerprint
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog, check_workers

PHASE_COLUMNS = ("pre", "post1", "post2", "post3", "post4")
BOX_COLUMNS = ("start_row", "end_row", "start_column", "end_column", "start_slice", "end_slice")
FILE_SEPARATOR = ";"
SCAN_STAGE = "scan_dicom"
IMPORT_STAGE = "import_mri"

# Header fields the scan reads (DICOM tag -> keyword); UIDs, dates and times group and order
# series but never reach the table.
_SCAN_TAGS = {
    0x00100020: "PatientID", 0x0020000D: "StudyInstanceUID", 0x0020000E: "SeriesInstanceUID",
    0x00080020: "StudyDate", 0x00080030: "StudyTime", 0x00080060: "Modality",
    0x0008103E: "SeriesDescription", 0x00200011: "SeriesNumber", 0x00080031: "SeriesTime",
    0x00080032: "AcquisitionTime", 0x00080033: "ContentTime", 0x00181060: "TriggerTime",
    0x00200100: "TemporalPositionIdentifier", 0x00080070: "Manufacturer", 0x00081090: "ManufacturerModelName",
    0x00180087: "MagneticFieldStrength", 0x00180050: "SliceThickness", 0x00180022: "ScanOptions",
    0x00180024: "SequenceName", 0x00280010: "Rows", 0x00280011: "Columns", 0x00280008: "NumberOfFrames",
}  # fmt: skip
_US = {"Rows", "Columns"}
# Clock times that order the phases of one exam, in order of preference.
_TIME_FIELDS = ("AcquisitionTime", "ContentTime", "SeriesTime")
_FAT_SAT_WORDS = re.compile(r"(?<![a-z])(fs|fat ?sat\w*|fat ?supp\w*|spair|spir|spectral|fatsat)(?![a-z])")
_NO_FAT_SAT_WORDS = re.compile(r"(?<![a-z])(non ?fs|no ?fs|non ?fat ?sat\w*|w/?o fs)(?![a-z])")


# ============================================================================ header reading
def read_header(path: str | os.PathLike, tags: dict[int, str] | None = None) -> dict[str, Any]:
    """The scan's header fields of one file as plain values (text stripped, several values joined
    by ``\\``, Rows/Columns as int; absent fields left out). ``tags`` (DICOM tag -> keyword, all
    below group 0x0029) replaces the MRI scan's fields (the mammography scan reads others).

    Uncompressed little-endian files are walked by the exporter's header scanner
    (:mod:`breastlab.data.duke.dicom`); anything else is read by pydicom with
    ``stop_before_pixels``. Raises :class:`BreastlabInputError` for a file that is not DICOM.
    """
    tags = _SCAN_TAGS if tags is None else tags
    values = _header_fast(path, tags)
    return values if values is not None else _header_pydicom(path, tags)


def _header_pydicom(path: str | os.PathLike, tags: dict[int, str] = _SCAN_TAGS) -> dict[str, Any]:
    """:func:`read_header` by pydicom (``stop_before_pixels``)."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(tags.values()))
    except Exception as exc:  # noqa: BLE001 - any parse failure of a user's file is bad input
        raise BreastlabInputError(f"not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    out: dict[str, Any] = {}
    for name in tags.values():
        v = ds.get(name)
        if v is None or v == "":
            continue
        if name in _US:
            out[name] = int(v)
        elif isinstance(v, pydicom.multival.MultiValue):
            out[name] = "\\".join(str(x).strip() for x in v)
        else:
            out[name] = str(v).strip()
    return out


# The scan's tags all lie below this one: the walk stops there, so only the head of a file is read.
_LAST_SCAN_GROUP = 0x00290000
_HEAD_BYTES = 16384


def _header_fast(path: str | os.PathLike, tags: dict[int, str] = _SCAN_TAGS) -> dict[str, Any] | None:
    """:func:`read_header` by a minimal walk of the head of an uncompressed little-endian file (the
    exporter's element reader, :mod:`breastlab.data.duke.dicom`), or None where the file is anything
    else or a value is not plain ASCII (pydicom reads it then)."""
    from breastlab.data.duke import dicom

    try:
        with open(path, "rb") as fh:
            buf = fh.read(_HEAD_BYTES)
            elems = _head_elements(buf, dicom)
            if elems is None and len(buf) == _HEAD_BYTES:  # a long header: the whole file
                buf += fh.read()
                elems = _head_elements(buf, dicom)
    except OSError:
        return None
    if elems is None:
        return None
    elems, explicit = elems
    out: dict[str, Any] = {}
    for tag, vr, start, length in elems:
        name = tags.get(tag)
        if name is None:
            continue
        if name in _US:
            if length != 2 or (explicit and vr != b"US"):
                return None
            out[name] = dicom._u16(buf, start)[0]
            continue
        raw = buf[start : start + length]
        if not raw.isascii() or b"\x1b" in raw:
            return None  # another character set: pydicom decodes it
        text = "\\".join(part.strip(" \x00") for part in raw.decode("ascii").split("\\"))
        if text:
            out[name] = text
    return out


def _head_elements(buf: bytes, dicom: Any) -> tuple[list[tuple[int, bytes, int, int]], bool] | None:
    """(tag, VR, value offset, length) of the top-level elements before group 0x0029, and whether the
    VR is explicit; None where ``buf`` ends first, the file is not uncompressed little endian, the
    character set is not ASCII-compatible, or the structure is anything but plain."""
    import struct

    try:
        if len(buf) < 144 or buf[128:132] != b"DICM":
            return None
        pos, ts, last = 132, None, -1
        while dicom._tag(buf, pos)[0] == 0x0002:  # file meta group: explicit VR little endian
            tag, _, length, start = dicom._element(buf, pos, True)
            if length == dicom._UNDEFINED or tag <= last:
                return None
            if tag == 0x00020010:
                ts = buf[start : start + length].rstrip(b"\x00 ").decode("ascii")
            last, pos = tag, start + length
        if ts not in ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2"):
            return None
        explicit = ts == "1.2.840.10008.1.2.1"
        elems = []
        while pos + 8 <= len(buf):
            tag, vr, length, start = dicom._element(buf, pos, explicit)
            if tag >= _LAST_SCAN_GROUP:
                return elems, explicit
            if tag <= last or (tag == dicom._CHARSET and not dicom._plain_charset(buf, vr, start, length, explicit)):
                return None
            if length == dicom._UNDEFINED:
                pos = dicom._skip_sequence(buf, start, explicit and vr != b"UN")
            else:
                if start + length > len(buf):
                    return None
                elems.append((tag, vr, start, length))
                pos = start + length
            last = tag
        return None
    except (struct.error, ValueError, UnicodeDecodeError, IndexError):
        return None


def _seconds(value: Any) -> float | None:
    """DICOM TM ``HHMMSS.ffffff`` (or ``HH:MM:SS``) as seconds after midnight; None if unreadable."""
    text = str(value or "").replace(":", "").strip().split("\\")[0]
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(\.\d+)?", text)
    if not m:
        return None
    h, mi, s = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    return h * 3600 + mi * 60 + s + float(m.group(4) or 0)


def _number(value: Any) -> float | None:
    try:
        v = float(str(value).split("\\")[0])
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


# ============================================================================ scan
@dataclasses.dataclass
class _Series:
    files: list[str]  # relative to the scanned root, sorted
    header: dict[str, Any]  # the first file's
    times: dict[str, float]  # earliest clock time per field of _TIME_FIELDS
    matrices: set[tuple[int, int]]

    @property
    def n_slices(self) -> int:
        """Files of the series, or the frames of its one multi-frame file."""
        frames = int(_number(self.header.get("NumberOfFrames")) or 1)
        return frames if len(self.files) == 1 and frames > 1 else len(self.files)


def scan_mri_tree(root: str | os.PathLike, problems: ProblemLog | None = None) -> pd.DataFrame:
    """Draft cohort table of every MR exam under ``root`` (one row per patient and study).

    Columns: ``patient_id``, ``exam`` (1, 2 .. per patient, in study order), one column per DCE
    phase found (``pre``, ``post1`` ..: the series folder relative to ``root`` where the folder holds
    that series alone, else its files joined by ``;``), ``phase_rule`` (how the phases were
    identified: ``series description`` by :func:`~breastlab.data.duke.dicom.resolve_sequences`, or
    ``acquisition time``/``content time``/``series time`` ordering series of one geometry when the
    descriptions name no phases), ``n_series`` (series of the exam), ``rows``, ``columns``,
    ``n_slices`` (files of the first phase), ``field_strength_t``, ``manufacturer``,
    ``manufacturer_model``, ``slice_thickness_mm``, ``fat_suppression`` (yes/no from ScanOptions
    ``FS`` or the series description; empty where neither says), ``series_description`` (of the
    first phase), and the empty box columns (``start_row`` .. ``end_slice``) to fill in.

    Files that are not DICOM, carry no SeriesInstanceUID or PatientID, DICOM SEG and NIfTI files (for the
    table's ``mask`` and phase columns), or series with mixed matrix sizes go to ``problems`` (file
    relative to ``root`` and the reason) and are left out.
    """
    root = Path(root)
    if not root.is_dir():
        raise BreastlabInputError(f"{root}: folder to scan not found")
    problems = problems if problems is not None else ProblemLog()
    series: dict[str, _Series] = {}
    folder_files: dict[str, int] = {}
    files = _walk_files(root)
    if not files:  # a wrong folder would otherwise give an empty cohort table and no error
        raise BreastlabInputError(f"{root}: no files in it or below it; give the folder holding the DICOM series")
    for rel in files:
        folder_files[os.path.dirname(rel)] = folder_files.get(os.path.dirname(rel), 0) + 1
        if os.path.basename(rel).upper() == "DICOMDIR":  # indexes a media, holds no image (counted above:
            continue  # a folder holding one is not a series folder for the reader)
        if rel.lower().endswith(NIFTI_SUFFIXES):
            problems.add(rel, SCAN_STAGE, "a NIfTI volume (no DICOM header to group or identify it by): name it in "
                                          "a phase column (pre, post1 ..) of the table by hand")  # fmt: skip
            continue
        try:
            header = read_header(root / rel)
        except BreastlabInputError as exc:
            problems.add(rel, SCAN_STAGE, str(exc))
            continue
        if header.get("Modality") == "SEG":
            problems.add(rel, SCAN_STAGE, "a DICOM SEG (a segmentation, not an image series): name it in the mask "
                                          "column of its patient's row")  # fmt: skip
            continue
        missing = [k for k in ("SeriesInstanceUID", "PatientID") if not header.get(k)]
        if missing:
            problems.add(rel, SCAN_STAGE, f"no {' or '.join(missing)} in the header: not an image of a series; skipped")
            continue
        uid = header["SeriesInstanceUID"]
        s = series.get(uid)
        if s is None:
            s = series[uid] = _Series([], header, {}, set())
        s.files.append(rel)
        s.matrices.add((int(header.get("Rows", 0)), int(header.get("Columns", 0))))
        for field in _TIME_FIELDS:
            t = _seconds(header.get(field))
            if t is not None:
                s.times[field] = min(t, s.times.get(field, t))
    exams: dict[tuple[str, str], list[_Series]] = {}
    for s in series.values():
        if len(s.matrices) > 1:
            sizes = ", ".join(f"{r}x{c}" for r, c in sorted(s.matrices))
            problems.add(s.files[0], SCAN_STAGE, f"series of {len(s.files)} files with mixed matrix sizes ({sizes}); "
                                                 "left out (one series must hold one geometry)")  # fmt: skip
            continue
        s.files.sort()
        key = (s.header["PatientID"], s.header.get("StudyInstanceUID", ""))
        exams.setdefault(key, []).append(s)
    rows = []
    numbers: dict[str, int] = {}
    order = sorted(exams, key=lambda k: (k[0], _study_order(exams[k]), k[1]))
    for pid, study in order:
        numbers[pid] = numbers.get(pid, 0) + 1
        draft_id = draft_patient_id(pid, problems, SCAN_STAGE, first=numbers[pid] == 1)
        rows.append(_exam_row(draft_id, numbers[pid], exams[(pid, study)], folder_files))
    table = pd.DataFrame(rows)
    for row in rows:  # a folder name whose date was replaced by "*" must still name one folder
        for phase in [c for c in row if c in PHASE_COLUMNS or re.fullmatch(r"post\d+", c)]:
            if _GLOB.search(row[phase].split(FILE_SEPARATOR)[0]):
                try:
                    resolve_series(root, row[phase], phase)
                except BreastlabInputError as exc:
                    problems.add(row["patient_id"], SCAN_STAGE, f"{exc}; dates are left out of the table, edit the "
                                                                "cell to name one folder")  # fmt: skip
    if table.empty:
        return pd.DataFrame(columns=["patient_id", "exam", "pre", "phase_rule"])
    phases = [c for c in PHASE_COLUMNS + tuple(f"post{k}" for k in range(5, 20)) if c in table.columns]
    first = ["patient_id", "exam", *phases]
    return table[first + [c for c in table.columns if c not in first]]


def draft_patient_id(pid: str, problems: ProblemLog, stage: str, first: bool = True) -> str:
    """The draft table's patient_id of a header PatientID: the PatientID itself, or where it holds a DICOM
    UID (some exports set it to the StudyInstanceUID) the pseudonym ``patient-<hash>``
    (:func:`~breastlab.problems.shareable_name`, the same for the same PatientID), noted in ``problems``
    (``first``: once per patient), so that no UID reaches a store through the table."""
    from breastlab.problems import holds_uid, shareable_name

    if not holds_uid(pid):
        return pid
    draft_id = shareable_name(pid, "patient-")
    if first:
        message = f"the PatientID in the headers is a DICOM UID; patient_id {draft_id} is a pseudonym derived from it"
        problems.add(draft_id, stage, f"{message} (edit it to the id you use, without UIDs)")
    return draft_id


def _walk_files(root: Path) -> list[str]:
    """Visible files under ``root`` (relative, sorted); symlinked folders are not entered."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = os.path.relpath(folder, root)
        for n in names:
            if n.startswith("."):
                continue
            found.append(n if rel == "." else os.path.join(rel, n))
    return sorted(found)


def _study_order(series: list[_Series]) -> tuple[str, str]:
    h = series[0].header
    return str(h.get("StudyDate", "")), str(h.get("StudyTime", ""))


def series_reference(files: Sequence[str], folder_files: dict[str, int]) -> str:
    """A series' cell of the table: its folder where the folder holds only its files, else the files;
    dates in folder names (TCIA's ``01-01-1990-NA-...`` study folders, ``20230115``) replaced by ``*``
    (:func:`undated`)."""
    folders = {os.path.dirname(f) for f in files}
    if len(folders) == 1:
        folder = folders.pop()
        if folder and folder_files.get(folder) == len(files):
            return undated(folder)
    return FILE_SEPARATOR.join(
        f"{undated(os.path.dirname(f))}/{os.path.basename(f)}" if os.path.dirname(f) else f for f in files
    )


_DATE_IN_NAME = re.compile(r"(?<!\d)(?:\d{2}-\d{2}-(?:19|20)\d{2}|(?:19|20)\d{2}-?[01]\d-?[0-3]\d)(?!\d)")
_GLOB = re.compile(r"[*?\[]")


def undated(folder: str) -> str:
    """A relative folder path with each date in its folder names replaced by the wildcard ``*`` (the
    rest escaped for glob); unchanged where no name holds a date. :func:`resolve_series` finds the
    folder again (it must be the only match)."""
    parts = Path(folder).parts
    if not any(_DATE_IN_NAME.search(p) for p in parts):
        return folder
    import glob

    return "/".join("*".join(glob.escape(piece) for piece in _DATE_IN_NAME.split(p)) for p in parts)


def _resolve(root: Path, rel: str, column: str) -> Path:
    """``root / rel``, where ``rel`` may hold wildcards matching exactly one path."""
    if not _GLOB.search(rel):
        return root / rel
    matches = sorted(root.glob(rel))
    if len(matches) != 1:
        raise BreastlabInputError(
            f"column {column}: {rel} matches {len(matches)} paths under --root; it must match exactly one"
        )
    return matches[0]


def identify_phases(series: list[dict[str, Any]]) -> tuple[dict[str, int], str]:
    """DCE phases of one exam: ``({"pre": i, "post1": j, ...}, rule)`` from the series' headers.

    Each item has ``description``, ``number`` (SeriesNumber), ``geometry`` (rows, columns, files) and
    ``times`` (earliest clock time per header field). The descriptions decide first
    (:func:`~breastlab.data.duke.dicom.resolve_sequences`, the Duke rules). Where they name no
    pre-contrast phase, series of the most common geometry among the non-DCE-excluded ones, with
    distinct clock times, are ordered by time: the earliest is ``pre``, then ``post1``, ``post2`` ...
    """
    from breastlab.data.duke.dicom import _NON_DCE, resolve_sequences

    labels = resolve_sequences([s["description"] for s in series], [s["number"] for s in series])
    found: dict[str, int] = {}
    duplicated = set()
    for i, lab in enumerate(labels):
        if lab == "other":
            continue
        if lab in found:
            duplicated.add(lab)
        found.setdefault(lab, i)
    if "pre" in found and not duplicated:
        return found, "series description"
    candidates = [i for i, s in enumerate(series) if not _NON_DCE.search(str(s["description"]).lower())]
    groups: dict[tuple, list[int]] = {}
    for i in candidates:
        groups.setdefault(series[i]["geometry"], []).append(i)
    for field in _TIME_FIELDS:
        best: list[int] = []
        for members in groups.values():
            timed = [i for i in members if field in series[i]["times"]]
            distinct = {series[i]["times"][field] for i in timed}
            if len(timed) >= 2 and len(distinct) == len(timed) and len(timed) > len(best):
                best = timed
        if best:
            ordered = sorted(best, key=lambda i: series[i]["times"][field])
            phases = {("pre" if k == 0 else f"post{k}"): i for k, i in enumerate(ordered)}
            return phases, field.replace("Time", " time").lower()
    if "pre" in found:  # duplicated phase names and no times to settle them: the first of each
        return found, "series description (several series share a phase; the lowest series number kept)"
    return {}, "none: no phase named in the descriptions and no series of one geometry with distinct times"


def fat_suppression(scan_options: Any, description: Any, sequence_name: Any = "") -> str:
    """ "yes" / "no" / "" (unknown): ScanOptions ``FS`` (fat saturation) says yes; else the series
    description or sequence name (``fs``, ``fat sat``, ``SPAIR``, ``SPIR`` ... yes; ``non fs`` no)."""
    options = {o.strip().upper() for o in str(scan_options or "").split("\\")}
    if "FS" in options or "FSA" in options or "FSS" in options:
        return "yes"
    text = " ".join(str(x or "").lower().replace("_", " ") for x in (description, sequence_name))
    if _NO_FAT_SAT_WORDS.search(text):
        return "no"
    if _FAT_SAT_WORDS.search(text):
        return "yes"
    return ""


def _exam_row(pid: str, exam: int, series: list[_Series], folder_files: dict[str, int]) -> dict[str, Any]:
    series = sorted(series, key=lambda s: (_number(s.header.get("SeriesNumber")) or float("inf"), s.files[0]))
    items = [
        {
            "description": str(s.header.get("SeriesDescription", "")),
            "number": _number(s.header.get("SeriesNumber")),
            "geometry": (*next(iter(s.matrices)), s.n_slices),
            "times": s.times,
        }
        for s in series
    ]
    phases, rule = identify_phases(items)
    ordered = sorted(phases, key=lambda p: (p != "pre", int(p[4:]) if p.startswith("post") else 0))
    row: dict[str, Any] = {"patient_id": pid, "exam": exam}
    for phase in ordered:
        row[phase] = series_reference(series[phases[phase]].files, folder_files)
    first = series[phases[ordered[0]]] if ordered else series[0]
    h = first.header
    rows_, cols_ = next(iter(first.matrices))
    row.update(
        {
            "phase_rule": rule,
            "n_series": len(series),
            "rows": rows_ or pd.NA,
            "columns": cols_ or pd.NA,
            "n_slices": first.n_slices,
            "field_strength_t": _number(h.get("MagneticFieldStrength")),
            "manufacturer": h.get("Manufacturer", ""),
            "manufacturer_model": h.get("ManufacturerModelName", ""),
            "slice_thickness_mm": _number(h.get("SliceThickness")),
            "fat_suppression": fat_suppression(
                h.get("ScanOptions"), h.get("SeriesDescription"), h.get("SequenceName")
            ),  # fmt: skip
            "series_description": h.get("SeriesDescription", ""),
            **dict.fromkeys(BOX_COLUMNS, pd.NA),  # the label, to fill in
        }
    )
    return row


def write_draft_table(
    draft: Callable[[ProblemLog], pd.DataFrame], out: str | os.PathLike, what: str = "cohort table"
) -> tuple[pd.DataFrame, ProblemLog]:
    """``draft(problems)`` written to ``out`` (CSV) and its problems to ``problems.csv`` beside it.

    The name is checked before the (possibly long) walk, so a wrong ``--out`` costs nothing.
    """
    out = Path(out)
    if out.suffix != ".csv":
        raise BreastlabInputError(f"--out {out}: the {what} is written as CSV; give a name ending in .csv")
    problems = ProblemLog()
    table = draft(problems)
    write_table(table, out)
    problems.write(out.with_name("problems.csv"))
    return table, problems


def write_scan(root: str | os.PathLike, out: str | os.PathLike) -> tuple[pd.DataFrame, ProblemLog]:
    """:func:`scan_mri_tree` written to ``out`` (CSV) and ``problems.csv`` beside it."""
    return write_draft_table(lambda problems: scan_mri_tree(root, problems), out)


# ============================================================================ import
@dataclasses.dataclass(frozen=True)
class _ImportJob:
    job: Any  # breastlab.data.export._Job
    row: str  # "<table> row <n>" (1-based data row)
    source: str  # the phase cell, as the table gives it (relative to --root)


@locks_folder("out")  # one writer per store folder
def import_mri(
    table: str | os.PathLike,
    root: str | os.PathLike,
    out: str | os.PathLike,
    sequence: str = "pre",
    size: int | tuple[int, int] = 320,
    buffer: int = 5,
    negatives: str | int = "all",
    workers: int = 2,
    png_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    errors: str = "log",
    overwrite: bool = False,
    progress: bool = True,
) -> ArrayStore:
    """Build the slice store of :func:`~breastlab.data.export.export_slices` from a cohort table.

    ``table``: CSV with ``patient_id``, the ``sequence`` column (a series folder or ``;``-separated
    files relative to ``root``) and Duke's 1-based inclusive box (``start_row`` .. ``end_slice``);
    every column but the phase paths is kept as a manifest attribute (so ``curate splits --store
    --feature field_strength_t`` needs no clinical table). Each patient is read, labelled, resized,
    windowed and stored by the exporter's per-patient function, so the store equals the one
    ``breastlab export`` writes from the same series and boxes. A row whose patient id is blank or
    repeated, whose file is missing, whose box is not positive integers or lies outside the series
    goes to ``OUT/problems.csv`` naming the row and file; the other patients go on
    (``errors="raise"`` stops at the first).
    """
    from breastlab.data import export

    settings = export._settings(sequence, size, buffer, negatives, seed)
    if errors not in ("log", "raise"):
        raise BreastlabInputError(f"errors={errors!r}: valid values are 'log' and 'raise'")
    check_workers(workers)
    table, root, out = Path(table), Path(root), Path(out)
    check_output_folder(out, "--out folder")
    if not root.is_dir():
        raise BreastlabInputError(f"--root {root}: folder not found (the table's paths are relative to it)")
    raw, typed = read_cohort_table(table, settings.sequence)
    inputs = fingerprint(**{"cohort table": table, "settings": settings.as_dict()})
    finished = export._finished_store(out, settings, overwrite, inputs)
    if finished is not None:
        return finished
    export._check_resume_settings(out, settings)
    problems = ProblemLog()
    jobs = _plan_import(raw, typed, table.name, root, settings, out, png_dir, problems, errors)
    if not jobs:  # a wrong --root would otherwise give a store of no slices
        first = problems.problems[0].message if len(problems) else "the table lists no patient"
        raise BreastlabInputError(
            f"{table.name}: no patient of it can be imported ({len(problems)} problem(s); first: {first}); "
            f"check --root {root} and the {settings.sequence} column"
        )
    writer = StoreWriter(
        out, layout="fixed", dtype="uint8", shape=settings.size,
        meta={"modality": "MRI", "source": f"cohort table {table.name}", "export": settings.as_dict(),
              "normalisation": export.normalisation_text(settings), "resize": export.RESIZE_TEXT},
        inputs=inputs,
    )  # fmt: skip
    if export.WRITE_ONCE and jobs and all(j.job.n_images is not None for j in jobs):
        writer.reserve([j.job.patient_id for j in jobs], [j.job.n_images for j in jobs])
    done = writer.done_keys()
    todo = [j for j in jobs if j.job.patient_id not in done]
    from breastlab.data.runner import JobRunner, check_some_stored

    with JobRunner(min(workers, max(1, len(todo))), problems, IMPORT_STAGE, errors=errors,
                   preload=[*export.WORKER_MODULES, "breastlab.data.cohort_import"], desc="import mri",
                   progress=progress) as runner:  # fmt: skip
        runner.run(_import_patient, todo, key=lambda j: j.job.patient_id, initial=len(jobs) - len(todo))
    problems.write(out / "problems.csv")
    check_some_stored(writer, problems, out)
    return writer.finalize(key_order=sorted(j.job.patient_id for j in jobs))


def _import_patient(item: _ImportJob) -> int:
    """The exporter's per-patient work; a failure names the table row and the series."""
    from breastlab.data.export import _export_patient

    try:
        return _export_patient(item.job)
    except BreastlabInputError as exc:
        raise BreastlabInputError(f"{item.row} ({_short(item.source)}): {exc}") from exc


def _short(cell: str) -> str:
    files = cell.split(FILE_SEPARATOR)
    return cell if len(files) == 1 else f"{files[0]} and {len(files) - 1} more file(s)"


def read_cohort_table(path: Path, sequence: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(text, typed) views of a cohort table: identifiers and paths as written, attributes with
    the types pandas infers. Raises :class:`BreastlabInputError` for a missing file or column."""
    from breastlab.data._csv import read_text_csv

    if path.suffix.lower() != ".csv":
        raise BreastlabInputError(f"{path}: the cohort table must be a .csv file")
    raw = read_text_csv(path, "cohort table")  # UTF-8 checked, every cell as written
    try:
        typed = pd.read_csv(path, encoding="utf-8-sig")  # attributes with the types pandas infers
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise BreastlabInputError(f"{path}: cannot read the cohort table as CSV ({exc})") from None
    raw.columns = typed.columns = [str(c).strip() for c in raw.columns]
    need = ["patient_id", sequence]
    if MASK_COLUMN not in raw.columns:  # rows and columns of the box are optional
        need += ["start_slice", "end_slice"]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise BreastlabInputError(
            f"{path}: missing column(s) {', '.join(missing)}; a cohort table needs patient_id, one column per "
            f"DCE phase ({', '.join(PHASE_COLUMNS)}) with a series folder or ';'-separated files, and the box "
            f"{', '.join(BOX_COLUMNS)} (1-based inclusive)"
        )
    from breastlab.data._csv import refuse_uids

    advice = {"patient_id": "give each patient a pseudonymous id (`import mri --scan` drafts one, patient-<hash>, "
                            "where the headers' PatientID is a UID)"}  # fmt: skip
    refuse_uids(raw, path, ["patient_id", *_attribute_columns(raw)], advice)
    in_plane = [c for c in BOX_COLUMNS[:4] if c in raw.columns]
    if 0 < len(in_plane) < 4:
        absent = [c for c in BOX_COLUMNS[:4] if c not in raw.columns]
        raise BreastlabInputError(
            f"{path}: missing box column(s) {', '.join(absent)}; give all of {', '.join(BOX_COLUMNS[:4])} "
            "(a 3-D box, 1-based inclusive as in Duke's Annotation_Boxes) or none (slice ranges only)"
        )
    return raw, typed


def _plan_import(
    raw: pd.DataFrame,
    typed: pd.DataFrame,
    name: str,
    root: Path,
    settings: Any,
    out: Path,
    png_dir: str | os.PathLike | None,
    problems: ProblemLog,
    errors: str,
) -> list[_ImportJob]:
    from breastlab.data.export import _expected_slices, _Job

    def fail(item: str, message: str) -> None:
        if errors == "raise":
            raise BreastlabInputError(message)
        problems.add(item, IMPORT_STAGE, message)

    seq = settings.sequence
    attributes = _attribute_columns(typed)
    jobs = []
    for i, pid, where, cell in _table_rows(raw, name, seq, fail):
        try:
            folder, names, n_slices = phase_source(root, cell, seq)
            mask = raw.at[i, MASK_COLUMN].strip() if MASK_COLUMN in raw.columns else ""
            box = _box_from_mask(root, mask, folder, names, raw.iloc[i], pid) if mask else _box(raw.iloc[i], pid)
        except BreastlabInputError as exc:
            fail(pid, f"{where} (patient {pid}): {exc}")
            continue
        job = _Job(
            patient_id=pid,
            series_path=str(folder),
            box=box,
            clinical=typed.loc[[i], attributes].reset_index(drop=True),
            settings=settings,
            out=str(out),
            png_dir=str(png_dir) if png_dir is not None else None,
            n_images=None if n_slices is None else _expected_slices(box, pid, n_slices, settings),
            files=tuple(names) if names is not None else None,
        )
        jobs.append(_ImportJob(job, where, cell))
    return jobs


def _attribute_columns(typed: pd.DataFrame) -> list[str]:
    """The table's columns copied onto every image of a patient: all but the paths and the labels."""
    paths_and_labels = {"patient_id", MASK_COLUMN, *PHASE_COLUMNS, *BOX_COLUMNS}
    return [c for c in typed.columns if c not in paths_and_labels and not re.fullmatch(r"post\d+", str(c))]


def _table_rows(raw: pd.DataFrame, name: str, column: str, fail: Any) -> Any:
    """``(index, patient_id, "<table> row <n>", cell of column)`` of each row with a patient id given once;
    blank and repeated ids go to ``fail(item, message)`` naming the rows."""
    ids = raw["patient_id"].str.strip()
    rows_of: dict[str, list[int]] = {}
    for i, pid in enumerate(ids):
        rows_of.setdefault(pid, []).append(i + 1)
    for i, pid in enumerate(ids):
        row = i + 1
        cell = raw.at[i, column].strip()
        where = f"{name} row {row}"
        if not pid:
            fail(f"row {row}", f"{where}: blank patient_id; every row needs one")
            continue
        if len(rows_of[pid]) > 1:
            fail(pid, f"{where} ({_short(cell)}): patient_id {pid} also on row(s) "
                      f"{', '.join(str(r) for r in rows_of[pid] if r != row)}; one row per patient "
                      "(keep one exam per patient, or give each exam its own patient_id)")  # fmt: skip
            continue
        yield i, pid, where, cell


def import_mri_mips(
    table: str | os.PathLike,
    root: str | os.PathLike,
    out: str | os.PathLike,
    settings: Any = None,
    workers: int = 1,
    *,
    progress: bool = True,
) -> tuple[ArrayStore, ProblemLog]:
    """The breast-MIP store (:func:`breastlab.data.mip.build_mip_store`) of a cohort table: per patient the
    subtraction MIP of ``settings.post`` (default ``post1``) minus ``pre``, split into breasts, labelled by
    the ``tumor_location`` column where the table has one (else the side of the box), with the in-plane
    box (box columns or ``mask``) projected as a finding. Phases may be any form :func:`import_mri`
    reads. Rows without both phases, with a bad label or id, and exams whose two phases differ in
    geometry go to ``OUT/problems.csv`` naming the row; the others go on."""
    from breastlab.data.export import has_in_plane_box
    from breastlab.data.mip import MipExam, MipSettings, build_mip_store_from_exams

    settings = settings if settings is not None else MipSettings()
    settings.validate()
    table, root, out = Path(table), Path(root), Path(out)
    check_output_folder(out, "--out folder")
    if not root.is_dir():
        raise BreastlabInputError(f"--root {root}: folder not found (the table's paths are relative to it)")
    raw, typed = read_cohort_table(table, "pre")
    if settings.post not in raw.columns:
        raise BreastlabInputError(f"{table}: no column {settings.post}; the MIP subtracts pre from {settings.post}")
    problems = ProblemLog()

    def fail(item: str, message: str) -> None:
        problems.add(item, "import_mip", message)

    attributes = _attribute_columns(typed)
    exams = []
    for i, pid, where, cell in _table_rows(raw, table.name, "pre", fail):
        try:
            pre, pre_files, _ = phase_source(root, cell, "pre")
            post, post_files, _ = phase_source(root, raw.at[i, settings.post].strip(), settings.post)
            mask = raw.at[i, MASK_COLUMN].strip() if MASK_COLUMN in raw.columns else ""
            box = _box_from_mask(root, mask, pre, pre_files, raw.iloc[i], pid) if mask else _box(raw.iloc[i], pid)
        except BreastlabInputError as exc:
            fail(pid, f"{where} (patient {pid}): {exc}")
            continue
        box_row = box.iloc[0]
        in_plane = {c: int(box_row[c]) for c in BOX_COLUMNS[:4]} if has_in_plane_box(box_row) else None
        clinical = {c: _plain_value(typed.at[i, c]) for c in attributes}
        exams.append(MipExam(pid, str(pre), str(post), in_plane, clinical,
                             tuple(pre_files) if pre_files else None, tuple(post_files) if post_files else None,
                             f"{where} ({_short(cell)})"))  # fmt: skip
    inputs = fingerprint(**{"cohort table": table, "settings": dataclasses.asdict(settings)})
    return build_mip_store_from_exams(exams, out, settings, inputs=inputs, source=f"cohort table {table.name}",
                                      workers=workers, problems=problems, progress=progress)  # fmt: skip


def _plain_value(value: Any) -> Any:
    """A table cell as a plain Python value (numpy scalars unwrapped, missing as None)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def phase_source(root: Path, cell: str, column: str) -> tuple[Path, list[str] | None, int | None]:
    """``(path, file names or None, slice count or None where unknown before reading)`` of a phase cell
    (:func:`resolve_series`); a cell naming one multi-frame DICOM file (alone or as the only file of its
    folder) gives that file, read by :func:`read_multiframe_slices`."""
    from breastlab.data.duke.dicom import _dicom_names

    folder, names = resolve_series(root, cell, column)
    if folder.is_file():  # NIfTI: its slice count is known once it is read
        return folder, None, None
    listed = names if names is not None else _dicom_names(folder)
    if len(listed) == 1 and (frames := frame_count(folder / listed[0])) > 1:
        return folder / listed[0], None, frames
    return folder, names, len(listed)


def resolve_series(root: Path, cell: str, column: str) -> tuple[Path, list[str] | None]:
    """``(folder, file names or None for the whole folder)`` of a phase cell, checked to exist; a NIfTI
    file (``.nii``, ``.nii.gz``) as ``(file, None)``. Folder names may hold the wildcards
    :func:`undated` writes (one match required)."""
    if not cell:
        raise BreastlabInputError(f"column {column} is empty; give the series folder or its files")
    parts = [p.strip() for p in cell.split(FILE_SEPARATOR) if p.strip()]
    for p in parts:
        if Path(p).is_absolute() or ".." in Path(p).parts:
            raise BreastlabInputError(f"column {column}: {p} must be a path relative to --root, inside it")
    if len(parts) == 1:
        path = _resolve(root, parts[0], column) if _GLOB.search(parts[0]) else root / parts[0]
        if path.is_dir():
            return path, None
        if path.name.lower().endswith(NIFTI_SUFFIXES):
            if not path.is_file():
                raise BreastlabInputError(f"column {column}: file {parts[0]} does not exist under --root")
            return path, None
    folders = {os.path.dirname(p) for p in parts}
    if len(folders) > 1:
        raise BreastlabInputError(
            f"column {column}: the files of one series lie in {len(folders)} folders ({', '.join(sorted(folders))}); "
            "they must share one folder"
        )
    text = folders.pop()
    folder = _resolve(root, text, column) if text else root
    names = [os.path.basename(p) for p in parts]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        shown = f"{text}/{missing[0]}" if text else missing[0]
        raise BreastlabInputError(f"column {column}: file {shown}{more} does not exist under --root")
    return folder, names


NIFTI_SUFFIXES = (".nii", ".nii.gz")
# Largest angle between a NIfTI axis and its closest patient axis that still counts as axial-like.
MAX_OBLIQUE_DEG = 10.0


def read_nifti_slices(path: str | os.PathLike) -> tuple[list[Any], Any]:
    """A 3-D NIfTI image as the axial stack :func:`~breastlab.data.duke.dicom.read_series_slices` gives.

    The image is reoriented to its closest canonical (RAS+) axes (nibabel), spacing kept, then laid
    out as DICOM's axial display: slices ordered inferior to superior (ascending position along the
    normal, as the DICOM reader orders them), rows running anterior to posterior, columns from the
    patient's right to left (ImageOrientationPatient ``[1, 0, 0, 0, 1, 0]`` in LPS). Values are the
    scaled data (``scl_slope``/``scl_inter`` applied). Raises :class:`BreastlabInputError` naming the
    file for an unreadable file, an image that is not 3-D, or axes more than ``MAX_OBLIQUE_DEG``
    from the patient axes (an oblique acquisition: resample it first).
    """
    import nibabel as nib

    from breastlab.data.duke.dicom import StoredSlice, Volume

    path = Path(path)
    try:
        img = nib.load(path)
        if len(img.shape) == 4 and img.shape[3] == 1:
            img = img.slicer[..., 0]
        if len(img.shape) != 3:
            raise BreastlabInputError(f"{path.name}: a NIfTI image of shape {img.shape}; expected one 3-D volume")
        canonical = nib.as_closest_canonical(img)
        data = np.asarray(canonical.dataobj, dtype=np.float32)
    except BreastlabInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read a user's file is bad input
        raise BreastlabInputError(f"{path.name}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from exc
    axes = canonical.affine[:3, :3]
    zooms = np.linalg.norm(axes, axis=0)
    cosines = np.abs(np.diag(axes)) / np.where(zooms > 0, zooms, 1)
    worst = float(np.degrees(np.arccos(np.clip(cosines.min(), -1, 1))))
    if not np.all(zooms > 0) or worst > MAX_OBLIQUE_DEG:
        raise BreastlabInputError(
            f"{path.name}: the affine is not axial-like (an axis lies {worst:.1f} degrees from the closest patient "
            f"axis; valid: up to {MAX_OBLIQUE_DEG:g}); resample the image onto patient axes first"
        )
    n_i, n_j, n_k = data.shape
    orientation = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    slices, positions = [], []
    for k in range(n_k):
        ras = canonical.affine @ np.array([n_i - 1, n_j - 1, k, 1.0])  # pixel (0, 0): right-most, anterior-most
        position = np.array([-ras[0], -ras[1], ras[2]])  # RAS -> LPS
        positions.append(position)
        pixels = np.ascontiguousarray(data[::-1, ::-1, k].T)  # rows anterior->posterior, columns right->left
        slices.append(StoredSlice(f"{path.name}#{k}", pixels, position, orientation, 1.0, 0.0, None))
    dz, dy, dx = float(zooms[2]), float(zooms[1]), float(zooms[0])
    volume = Volume(
        array=np.empty((n_k, 0, 0), dtype=np.float32), spacing=(dz, dy, dx), thickness=dz,
        orientation=orientation, positions=np.stack(positions), meta={}, spacing_between_slices=dz,
        files=[s.name for s in slices], folder=str(path.parent),
    )  # fmt: skip
    return slices, volume


def read_phase_slices(
    path: str | os.PathLike, files: Sequence[str] | None = None, *, header: bool = True, buffer: Any = None
) -> tuple[list[Any], Any]:
    """The stored slices and geometry of one phase cell, whatever its form: a NIfTI file
    (:func:`read_nifti_slices`), a single multi-frame DICOM file (:func:`read_multiframe_slices`), or a
    series folder (some of its ``files``, or all) read by
    :func:`~breastlab.data.duke.dicom.read_series_slices`."""
    path = Path(path)
    if path.name.lower().endswith(NIFTI_SUFFIXES):
        return read_nifti_slices(path)
    if path.is_file():
        return read_multiframe_slices(path)
    from breastlab.data.duke.dicom import read_series_slices

    return read_series_slices(path, header=header, buffer=buffer, names=files)


def _frame_item(ds: Any, frame: int | None, sequence: str) -> Any:
    """The first item of a functional-group macro (``PlanePositionSequence`` ..) of one frame: its own
    (PerFrameFunctionalGroupsSequence) where present, else the shared one; None where neither has it."""
    groups = []
    per = ds.get("PerFrameFunctionalGroupsSequence")
    if frame is not None and per is not None and frame < len(per):
        groups.append(per[frame])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    for group in groups:
        seq = group.get(sequence)
        if seq:
            return seq[0]
    return None


def _frame_value(ds: Any, frame: int | None, sequence: str, keyword: str) -> Any:
    """``keyword`` of a frame from its functional groups (per-frame, then shared), else the top-level value."""
    item = _frame_item(ds, frame, sequence)
    value = item.get(keyword) if item is not None else None
    return value if value not in (None, "") else ds.get(keyword)


def read_multiframe_slices(path: str | os.PathLike) -> tuple[list[Any], Any]:
    """One multi-frame DICOM file (enhanced MR, or any file with NumberOfFrames > 1) as the slice stack
    :func:`~breastlab.data.duke.dicom.read_series_slices` gives for a series of single-frame files.

    Each frame's position is its PlanePositionSequence (PerFrameFunctionalGroupsSequence) where present;
    a file without per-frame positions places frame ``k`` at ImagePositionPatient + ``k`` times
    SpacingBetweenSlices (or SliceThickness) along the slice normal. Orientation, PixelSpacing and the
    rescale come from the functional groups (per-frame, then shared) or the top-level header. Frames
    are ordered by position along the normal and checked as a series is (one orientation, no
    duplicated or missing positions). Compressed pixel data decode through pydicom's decoders.
    Raises :class:`BreastlabInputError` naming the file.
    """
    from breastlab.data.duke.dicom import (
        StoredSlice,
        Volume,
        _check_consistent,
        _check_slice,
        _check_spacing,
        _decoder_message,
        _normal,
        header_meta,
        shown,
    )

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure of a user's file is bad input
        raise BreastlabInputError(f"{shown(path)}: not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames < 2 or "PixelData" not in ds:
        raise BreastlabInputError(f"{shown(path)}: not a multi-frame image (NumberOfFrames {frames}); name its "
                                  "series folder instead")  # fmt: skip
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise BreastlabInputError(
            f"{shown(path)}: SamplesPerPixel={ds.SamplesPerPixel}; expected a grey-level MR image"
        )
    try:
        pixels = np.asarray(ds.pixel_array)
    except (RuntimeError, NotImplementedError) as exc:
        raise BreastlabInputError(_decoder_message(ds, path, exc)) from exc
    except (ValueError, AttributeError, TypeError, EOFError) as exc:
        raise BreastlabInputError(f"{shown(path)}: corrupt or truncated pixel data ({exc})") from exc

    def numbers(value: Any, n: int, what: str, frame: int) -> np.ndarray:
        try:
            out = np.asarray([float(v) for v in value], dtype=float)
        except (TypeError, ValueError):
            out = np.empty(0)
        if out.shape != (n,):
            raise BreastlabInputError(f"{shown(path)}: frame {frame + 1} has no valid {what}; frames cannot be "
                                      "placed in space without it")  # fmt: skip
        return out

    first = numbers(_frame_value(ds, 0, "PlaneOrientationSequence", "ImageOrientationPatient"), 6,
                    "ImageOrientationPatient", 0)  # fmt: skip
    per_frame = _frame_item(ds, 0, "PlanePositionSequence") is not None
    if not per_frame:
        step = _number(_frame_value(ds, None, "PixelMeasuresSequence", "SpacingBetweenSlices")) or _number(
            _frame_value(ds, None, "PixelMeasuresSequence", "SliceThickness")
        )
        if ds.get("ImagePositionPatient") is None or not step:
            raise BreastlabInputError(
                f"{shown(path)}: {frames} frames without PlanePositionSequence, and no ImagePositionPatient with "
                "SpacingBetweenSlices or SliceThickness to place them; the frames cannot be ordered in space"
            )
        origin = numbers(ds.ImagePositionPatient, 3, "ImagePositionPatient", 0)
    slices = []
    for k in range(frames):
        orientation = numbers(_frame_value(ds, k, "PlaneOrientationSequence", "ImageOrientationPatient"), 6,
                              "ImageOrientationPatient", k)  # fmt: skip
        if per_frame:
            position = numbers(_frame_value(ds, k, "PlanePositionSequence", "ImagePositionPatient"), 3,
                               "ImagePositionPatient", k)  # fmt: skip
        else:
            position = origin + k * step * _normal(first)
        slope = _number(_frame_value(ds, k, "PixelValueTransformationSequence", "RescaleSlope"))
        intercept = _number(_frame_value(ds, k, "PixelValueTransformationSequence", "RescaleIntercept"))
        sl = StoredSlice(f"{path.name}#{k + 1}", pixels[k], position, orientation,
                         1.0 if slope is None else slope, intercept or 0.0, None)  # fmt: skip
        _check_slice(sl, path)
        slices.append(sl)
    _check_consistent(path, slices, 1e-4)
    depth = np.array([s.position @ _normal(first) for s in slices])
    order = np.argsort(depth, kind="stable")
    slices = [slices[i] for i in order]
    dz = _check_spacing(path, slices, depth[order], 1.5)
    spacing = _frame_value(ds, 0, "PixelMeasuresSequence", "PixelSpacing")
    dy, dx = (float(spacing[0]), float(spacing[1])) if spacing else (1.0, 1.0)
    thickness = _number(_frame_value(ds, 0, "PixelMeasuresSequence", "SliceThickness"))
    between = _number(_frame_value(ds, 0, "PixelMeasuresSequence", "SpacingBetweenSlices"))
    volume = Volume(
        array=np.empty((frames, 0, 0), dtype=np.float32), spacing=(float(dz), dy, dx), thickness=thickness,
        orientation=first, positions=np.stack([s.position for s in slices]), meta=header_meta(ds),
        spacing_between_slices=between, files=[s.name for s in slices], folder=str(path.parent),
    )  # fmt: skip
    return slices, volume


def frame_count(path: str | os.PathLike) -> int:
    """NumberOfFrames of a DICOM file from its header (1 where absent or unreadable: the reader judges)."""
    try:
        return int(_number(read_header(path).get("NumberOfFrames")) or 1)
    except BreastlabInputError:
        return 1


MASK_COLUMN = "mask"


def _box_from_mask(
    root: Path, cell: str, folder: Path, names: list[str] | None, row: pd.Series, pid: str
) -> pd.DataFrame:
    """Duke's box (1-based inclusive rows, columns and slices) around the voxels of a mask on the image's
    grid: a NIfTI mask (voxels > 0.5, laid out as :func:`read_nifti_slices` lays out images, with the
    image's slices and matrix) or a DICOM SEG (:func:`read_seg_mask`: any segment, frames placed on
    the image's slices by position)."""
    given = [c for c in BOX_COLUMNS if c in row.index and str(row[c]).strip()]
    if given:
        raise BreastlabInputError(
            f"column {MASK_COLUMN} and box column(s) {', '.join(given)} both given; give the label one way"
        )
    if Path(cell).is_absolute() or ".." in Path(cell).parts:
        raise BreastlabInputError(
            f"column {MASK_COLUMN}: {cell} must be a NIfTI file (.nii, .nii.gz) or a DICOM SEG file relative to "
            "--root, inside it"
        )
    path = _resolve(root, cell, MASK_COLUMN)
    if not path.is_file():
        raise BreastlabInputError(f"column {MASK_COLUMN}: file {cell} does not exist under --root")
    if cell.lower().endswith(NIFTI_SUFFIXES):
        voxels = _nifti_mask(path, cell, folder, names)
    else:
        voxels = read_seg_mask(path, folder, names, cell)
    if not voxels.any():
        raise BreastlabInputError(f"column {MASK_COLUMN}: mask {cell} is empty (no voxel > 0.5)")
    (z0, z1), (r0, r1), (c0, c1) = (
        (int(i[0]) + 1, int(i[-1]) + 1)
        for i in (np.flatnonzero(voxels.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1)))
    )
    values = dict(zip(BOX_COLUMNS, (r0, r1, c0, c1, z0, z1), strict=True))
    return pd.DataFrame([{"patient_id": pid, **values}])


def _nifti_mask(path: Path, cell: str, folder: Path, names: list[str] | None) -> np.ndarray:
    """The voxels > 0.5 of a NIfTI mask as (slices, rows, columns), checked to lie on the image's grid."""
    slices, _ = read_nifti_slices(path)
    voxels = np.stack([sl.pixels > 0.5 for sl in slices])
    image = _image_shape(folder, names)
    if voxels.shape != image:
        raise BreastlabInputError(
            f"column {MASK_COLUMN}: mask {cell} has {voxels.shape[0]} slices of {voxels.shape[1]}x{voxels.shape[2]} "
            f"but the image has {image[0]} slices of {image[1]}x{image[2]}; the mask must be drawn on the image's grid"
        )
    if folder.is_file() and folder.name.lower().endswith(NIFTI_SUFFIXES):  # where the image lies, not only its shape
        import nibabel as nib

        image_affine = nib.as_closest_canonical(nib.load(folder)).affine
        mask_affine = nib.as_closest_canonical(nib.load(path)).affine
        if not np.allclose(image_affine, mask_affine, atol=1e-3 * max(1.0, float(np.abs(image_affine).max()))):
            raise BreastlabInputError(
                f"column {MASK_COLUMN}: mask {cell} has the image's shape but another affine (position, spacing "
                "or orientation); the mask must be drawn on the image's grid"
            )
    return voxels


SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"  # Segmentation Storage SOP class
# Largest distance (a fraction of the smallest voxel side) between a SEG frame and the image slice it is placed on.
SEG_POSITION_TOL = 0.05


def read_seg_mask(
    path: str | os.PathLike, image: str | os.PathLike, names: Sequence[str] | None = None, shown_as: str = ""
) -> np.ndarray:
    """A DICOM SEG (highdicom) as a boolean mask on the grid of its image, (slices, rows, columns) in the
    slice order of the image's reader: a voxel is set where any segment covers it.

    Each SEG frame is placed on the image slice at its position (PlanePositionSequence, within
    ``SEG_POSITION_TOL`` of the smallest voxel side); the SEG's orientation, pixel spacing and matrix must
    be the image's. Frames the SEG omits (highdicom leaves empty frames out) are empty. Raises
    :class:`BreastlabInputError` naming the file for a file that is not a SEG, or a SEG that does not lie
    on the image's grid (another matrix, spacing, orientation, or a frame between or beyond the slices).
    """
    import highdicom as hd

    path = Path(path)
    name = shown_as or path.name
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except Exception as exc:  # noqa: BLE001 - any parse failure of a user's file is bad input
        raise BreastlabInputError(f"column {MASK_COLUMN}: {name} is neither NIfTI (.nii, .nii.gz) nor a readable "
                                  f"DICOM file ({type(exc).__name__})") from exc  # fmt: skip
    if str(header.get("SOPClassUID", "")) != SEG_STORAGE:
        raise BreastlabInputError(
            f"column {MASK_COLUMN}: {name} is a DICOM file but not a segmentation (SOPClassUID "
            f"{header.get('SOPClassUID', 'missing')}, expected {SEG_STORAGE}); give a DICOM SEG or a NIfTI mask"
        )
    try:
        seg = hd.seg.segread(path)
        volume = seg.get_volume(combine_segments=True, skip_overlap_checks=True)
    except Exception as exc:  # noqa: BLE001 - highdicom raises many types on a malformed SEG
        raise BreastlabInputError(f"column {MASK_COLUMN}: {name}: not a readable DICOM SEG "
                                  f"({type(exc).__name__}: {exc})") from exc  # fmt: skip
    slices, vol = read_phase_slices(image, names, header=False)
    rows, cols = slices[0].pixels.shape
    array = np.asarray(volume.array)
    array = array.reshape(array.shape[:3]) if array.ndim == 4 and array.shape[3] == 1 else array
    affine = np.asarray(volume.affine, dtype=float)  # (slice, row, column) index -> patient (LPS) mm
    row_step, col_step = affine[:3, 1], affine[:3, 2]  # along a column (down the rows), along a row
    dy, dx = float(np.linalg.norm(row_step)), float(np.linalg.norm(col_step))
    orientation = np.concatenate([col_step / dx, row_step / dy])
    problems = []
    if array.shape[1:] != (rows, cols):
        problems.append(f"frames of {array.shape[1]}x{array.shape[2]}, the image's slices {rows}x{cols}")
    if not np.allclose((dy, dx), vol.spacing[1:], rtol=1e-3):
        problems.append(f"pixel spacing {dy:g}x{dx:g} mm, the image's {vol.spacing[1]:g}x{vol.spacing[2]:g} mm")
    if not np.allclose(orientation, vol.orientation, atol=1e-3):
        problems.append(f"orientation {orientation.round(4).tolist()}, the image's {vol.orientation.round(4).tolist()}")
    tol = SEG_POSITION_TOL * min(vol.spacing)
    placed = []
    if not problems:
        for k in range(array.shape[0]):
            position = affine[:3, 3] + k * affine[:3, 0]
            distance = np.linalg.norm(vol.positions - position, axis=1)
            nearest = int(np.argmin(distance))
            if distance[nearest] > tol and array[k].any():
                problems.append(f"a frame at {position.round(2).tolist()} mm lies on no slice of the image "
                                f"(nearest {distance[nearest]:.2f} mm away)")  # fmt: skip
                break
            placed.append((nearest, k))
    if problems:
        raise BreastlabInputError(
            f"column {MASK_COLUMN}: SEG {name} does not lie on its image's grid ({'; '.join(problems)}); the "
            "mask must be drawn on the image's slices"
        )
    voxels = np.zeros((len(slices), rows, cols), dtype=bool)
    for slice_index, frame in placed:
        voxels[slice_index] |= array[frame] > 0
    return voxels


def _image_shape(folder: Path, names: list[str] | None) -> tuple[int, int, int]:
    """(slices, rows, columns) of a phase without reading its pixels: a NIfTI's header, or the DICOM file
    count and the first file's matrix."""
    if folder.is_file() and not folder.name.lower().endswith(NIFTI_SUFFIXES):  # one multi-frame DICOM file
        header = read_header(folder)
        return frame_count(folder), int(header.get("Rows", 0)), int(header.get("Columns", 0))
    if folder.is_file():  # NIfTI
        import nibabel as nib

        img = nib.load(folder)
        ornt = nib.orientations.io_orientation(img.affine)
        shape = [img.shape[int(np.flatnonzero(ornt[:, 0] == axis)[0])] for axis in range(3)]  # (x, y, z) extents
        return shape[2], shape[1], shape[0]
    from breastlab.data.duke.dicom import _dicom_names

    files = names if names is not None else _dicom_names(folder)
    header = read_header(folder / files[0])
    return len(files), int(header.get("Rows", 0)), int(header.get("Columns", 0))


def _box(row: pd.Series, pid: str) -> pd.DataFrame:
    """One-row box frame (read_boxes columns) from a table row, validated; rows and columns are
    <NA> where the row gives only the slice range (all four blank or absent)."""
    values: dict[str, Any] = {}
    given = [c for c in BOX_COLUMNS[:4] if str(row.get(c, "")).strip()]
    if 0 < len(given) < 4:
        blank = [c for c in BOX_COLUMNS[:4] if c not in given]
        raise BreastlabInputError(
            f"box column(s) {', '.join(blank)} blank but {', '.join(given)} given; give all four or none"
        )
    for c in BOX_COLUMNS if given else BOX_COLUMNS[4:]:
        text = str(row[c]).strip()
        if not re.fullmatch(r"\+?\d+(\.0*)?", text) or int(float(text)) < 1:
            raise BreastlabInputError(f"column {c} = {text!r}: expected a positive integer (1-based, inclusive)")
        values[c] = int(float(text))
    for c in BOX_COLUMNS[:4]:
        values.setdefault(c, pd.NA)
    for a, b in (("start_row", "end_row"), ("start_column", "end_column"), ("start_slice", "end_slice")):
        if not pd.isna(values[a]) and values[a] > values[b]:
            raise BreastlabInputError(f"{a} {values[a]} is after {b} {values[b]}")
    return pd.DataFrame([{"patient_id": pid, **{c: values[c] for c in BOX_COLUMNS}}])


# ============================================================================ the Duke adapter
def duke_cohort(duke_dir: str | os.PathLike, problems: ProblemLog | None = None) -> pd.DataFrame:
    """The cohort table of a Duke-layout folder (``Duke-Breast-Cancer-MRI/``, the clinical workbook
    and ``Annotation_Boxes``): one row per boxed patient with the series folder of each DCE phase
    (relative to ``duke_dir``, from :func:`~breastlab.data.duke.dicom.index_dicom_tree`), the box,
    and the decoded clinical columns as attributes. :func:`import_mri` on it with
    ``root=duke_dir`` gives the store ``breastlab export duke_dir`` gives.
    """
    from breastlab.data.duke.boxes import read_boxes
    from breastlab.data.duke.clinical import read_clinical
    from breastlab.data.duke.dicom import index_dicom_tree
    from breastlab.data.export import resolve_source

    duke_dir = Path(duke_dir)
    dicom_root, clinical_path, boxes_path = resolve_source(duke_dir)
    problems = problems if problems is not None else ProblemLog()
    index = index_dicom_tree(dicom_root, problems=problems)
    boxes = read_boxes(boxes_path)
    clinical = read_clinical(clinical_path).set_index("patient_id")
    rows = []
    for box in boxes.itertuples(index=False):
        pid = box.patient_id
        series = index[index["patient_id"] == pid]
        if series.empty:
            problems.add(pid, "duke_cohort", f"patient {pid} is in {boxes_path.name} but not in the DICOM tree")
            continue
        row: dict[str, Any] = {"patient_id": pid}
        for phase in PHASE_COLUMNS:
            chosen = series[series["sequence"] == phase]
            if len(chosen) == 1:
                row[phase] = undated(os.path.relpath(chosen["path"].iloc[0], duke_dir))
            elif len(chosen) > 1:
                problems.add(pid, "duke_cohort", f"patient {pid}: {len(chosen)} series identified as {phase}; "
                                                 "column left empty")  # fmt: skip
        row["phase_rule"] = "series description"
        row.update({c: getattr(box, c) for c in BOX_COLUMNS})
        if pid in clinical.index:
            row.update(clinical.loc[pid].to_dict())
        else:
            problems.add(pid, "duke_cohort", f"patient {pid} is not in {clinical_path.name}; no attributes")
        rows.append(row)
    table = pd.DataFrame(rows)
    phases = [c for c in PHASE_COLUMNS if c in table.columns]
    first = ["patient_id", *phases]
    return table[first + [c for c in table.columns if c not in first]]


def write_duke_cohort(duke_dir: str | os.PathLike, out: str | os.PathLike) -> tuple[pd.DataFrame, ProblemLog]:
    """:func:`duke_cohort` written to ``out`` (CSV) and ``problems.csv`` beside it."""
    return write_draft_table(lambda problems: duke_cohort(duke_dir, problems), out)
