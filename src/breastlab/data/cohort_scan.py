"""Your own MRI cohort, step one: draft a cohort table from any DICOM tree (or a Duke-layout folder).

:func:`scan_mri_tree` walks any DICOM tree (any folder layout, files with or without ``.dcm``,
several series in one folder), reads headers only and groups files by SeriesInstanceUID (never by
folder). It drafts one row per exam (patient + study) with the series of each DCE phase, the rule
that identified the phases, the matrix, the slice count and the acquisition attributes read from
the headers. Like the Duke reader it keeps only the pseudonymous PatientID: no UIDs, dates or
absolute paths are written (series are referenced by a path relative to the scanned folder).
:func:`duke_cohort` drafts the same table for a Duke-layout folder. The table's columns and how a
phase cell addresses its files (:func:`resolve_series`) are defined here;
:mod:`breastlab.data.cohort_import` builds stores from the table.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from breastlab._io import write_table
from breastlab.data.mri_volumes import NIFTI_SUFFIXES, frame_count, header_number, header_seconds, read_header
from breastlab.errors import BreastlabInputError
from breastlab.problems import DATE_IN_NAME, ProblemLog

PHASE_COLUMNS = ("pre", "post1", "post2", "post3", "post4")
BOX_COLUMNS = ("start_row", "end_row", "start_column", "end_column", "start_slice", "end_slice")
FILE_SEPARATOR = ";"
SCAN_STAGE = "scan_dicom"
IMPORT_STAGE = "import_mri"
# Clock times that order the phases of one exam, in order of preference.
_TIME_FIELDS = ("AcquisitionTime", "ContentTime", "SeriesTime")
# Orders the phases of one series that holds them all (told apart by TemporalPositionIdentifier) where
# no clock time does.
_TEMPORAL = "TemporalPositionIdentifier"
_FAT_SAT_WORDS = re.compile(r"(?<![a-z])(fs|fat ?sat\w*|fat ?supp\w*|spair|spir|spectral|fatsat)(?![a-z])")
_NO_FAT_SAT_WORDS = re.compile(r"(?<![a-z])(non ?fs|no ?fs|non ?fat ?sat\w*|w/?o fs)(?![a-z])")


# ============================================================================ scan
@dataclasses.dataclass
class _Series:
    files: list[str]  # relative to the scanned root, sorted
    header: dict[str, Any]  # the first file's
    times: dict[str, float]  # earliest clock time per field of _TIME_FIELDS; the temporal position
    matrices: set[tuple[int, int]]

    @property
    def n_slices(self) -> int:
        """Files of the series, or the frames of its one multi-frame file."""
        frames = int(header_number(self.header.get("NumberOfFrames")) or 1)
        return frames if len(self.files) == 1 and frames > 1 else len(self.files)


def scan_mri_tree(root: str | os.PathLike, problems: ProblemLog | None = None) -> pd.DataFrame:
    """Draft cohort table of every MR exam under ``root`` (one row per patient and study).

    Columns: ``patient_id``, ``exam`` (1, 2 .. per patient, in study order), one column per DCE
    phase found (``pre``, ``post1`` ..: the series folder relative to ``root`` where the folder holds
    that series alone, else its files joined by ``;``), ``phase_rule`` (how the phases were
    identified: ``series description`` by :func:`~breastlab.data.duke.dicom.resolve_sequences`, or
    ``acquisition time``/``content time``/``series time``/``temporal position`` ordering series of one
    geometry when the descriptions name no phases), ``n_series`` (series of the exam; a series that
    holds every phase, told apart by TemporalPositionIdentifier, counts once per phase and each phase
    cell lists its files), ``rows``, ``columns``,
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
    files = walk_files(root)
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
        # One series may hold every DCE phase (one temporal position each): each is drafted as a phase.
        temporal = header_number(header.get(_TEMPORAL))
        key = (header["SeriesInstanceUID"], temporal)
        s = series.get(key)
        if s is None:
            s = series[key] = _Series([], header, {} if temporal is None else {_TEMPORAL: temporal}, set())
        s.files.append(rel)
        s.matrices.add((int(header.get("Rows", 0)), int(header.get("Columns", 0))))
        for field in _TIME_FIELDS:
            t = header_seconds(header.get(field))
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


def walk_files(root: Path) -> list[str]:
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


_GLOB = re.compile(r"[*?\[]")


def undated(folder: str) -> str:
    """A relative folder path with each date in its folder names replaced by the wildcard ``*`` (the
    rest escaped for glob); unchanged where no name holds a date. :func:`resolve_series` finds the
    folder again (it must be the only match)."""
    parts = Path(folder).parts
    if not any(DATE_IN_NAME.search(p) for p in parts):
        return folder
    import glob

    return "/".join("*".join(glob.escape(piece) for piece in DATE_IN_NAME.split(p)) for p in parts)


def resolve_cell(root: Path, rel: str, column: str) -> Path:
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

    Each item has ``description``, ``number`` (SeriesNumber), ``geometry`` (rows, columns, files),
    ``times`` (earliest clock time per header field) and optionally ``shares_series`` (one temporal
    position of a series holding several). The descriptions decide first
    (:func:`~breastlab.data.duke.dicom.resolve_sequences`, the Duke rules), unless an item shares its
    series (then they cannot tell the phases apart). Where they name no
    pre-contrast phase, series of the most common geometry among the non-DCE-excluded ones, with
    distinct clock times, are ordered by time: the earliest is ``pre``, then ``post1``, ``post2`` ...;
    where no clock time tells them apart, by their ``TemporalPositionIdentifier`` (the phases of one
    series that holds them all).
    """
    from breastlab.data.duke.dicom import _NON_DCE, resolve_sequences

    found: dict[str, int] = {}
    duplicated = set()
    # The phases of one series share its description and number: only their times tell them apart.
    if not any(s.get("shares_series") for s in series):
        labels = resolve_sequences([s["description"] for s in series], [s["number"] for s in series])
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
    for field in (*_TIME_FIELDS, _TEMPORAL):
        best: list[int] = []
        for members in groups.values():
            timed = [i for i in members if field in series[i]["times"]]
            distinct = {series[i]["times"][field] for i in timed}
            if len(timed) >= 2 and len(distinct) == len(timed) and len(timed) > len(best):
                best = timed
        if best:
            ordered = sorted(best, key=lambda i: series[i]["times"][field])
            phases = {("pre" if k == 0 else f"post{k}"): i for k, i in enumerate(ordered)}
            return phases, "temporal position" if field == _TEMPORAL else field.replace("Time", " time").lower()
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
    series = sorted(
        series,
        key=lambda s: (
            header_number(s.header.get("SeriesNumber")) or float("inf"),
            s.times.get(_TEMPORAL, 0),
            s.files[0],
        ),
    )
    parts = Counter(s.header["SeriesInstanceUID"] for s in series)
    items = [
        {
            "description": str(s.header.get("SeriesDescription", "")),
            "number": header_number(s.header.get("SeriesNumber")),
            "geometry": (*next(iter(s.matrices)), s.n_slices),
            "times": s.times,
            "shares_series": parts[s.header["SeriesInstanceUID"]] > 1,
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
            "field_strength_t": header_number(h.get("MagneticFieldStrength")),
            "manufacturer": h.get("Manufacturer", ""),
            "manufacturer_model": h.get("ManufacturerModelName", ""),
            "slice_thickness_mm": header_number(h.get("SliceThickness")),
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
        path = resolve_cell(root, parts[0], column) if _GLOB.search(parts[0]) else root / parts[0]
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
    folder = resolve_cell(root, text, column) if text else root
    names = [os.path.basename(p) for p in parts]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        shown = f"{text}/{missing[0]}" if text else missing[0]
        raise BreastlabInputError(f"column {column}: file {shown}{more} does not exist under --root")
    return folder, names


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
