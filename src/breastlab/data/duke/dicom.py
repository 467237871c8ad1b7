"""DICOM half of the Duke-Breast-Cancer-MRI reader.

TCIA ships the collection in its "Classic Directory Name" layout::

    Duke-Breast-Cancer-MRI/Breast_MRI_NNN/<study>/<series>/1-NNN.dcm

with series folders named ``<SeriesNumber>-<SeriesDescription>-<5 digits>``,
e.g. ``3.000000-ax dyn pre-93877``. This module

* indexes the tree (:func:`index_dicom_tree`, one header per series, no pixels),
* identifies the dynamic contrast-enhanced (DCE) phase of each series
  (:func:`identify_sequence`: "pre", "post1" .. "post4" or "other"),
* reads one series into a :class:`Volume` (:func:`read_series`), ordered by
  ImagePositionPatient along the slice normal, rescaled, with geometry and a
  de-identified header (an allow-list, :data:`META_ALLOW`).

Slice numbering (project convention): slices are sorted by ``p . n`` ascending,
where ``p`` is ImagePositionPatient and ``n = r x c`` the cross product of the
row and column direction cosines of ImageOrientationPatient (DICOM PS3.3
C.7.6.2.1.1). ``slice_index`` is 0-based in that order; Duke's 1-based
``Start Slice``/``End Slice`` equal ``slice_index + 1``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydicom
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog

COLLECTION = "Duke-Breast-Cancer-MRI"
SEQUENCES = ("pre", "post1", "post2", "post3", "post4", "other")

# Non-identifying header fields kept in Volume.meta (DICOM keywords). Everything
# else is dropped: names, dates, times, UIDs, institution, physicians, accession
# number, device serial number, age, weight ... Only the pseudonymous PatientID
# (TCIA's "Breast_MRI_NNN") is kept, to link a volume to the tables.
META_ALLOW: tuple[str, ...] = (
    "PatientID",
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "MagneticFieldStrength",
    "ImagedNucleus",
    "ImagingFrequency",
    "SeriesDescription",
    "SeriesNumber",
    "ProtocolName",
    "SequenceName",
    "ScanningSequence",
    "SequenceVariant",
    "ScanOptions",
    "MRAcquisitionType",
    "RepetitionTime",
    "EchoTime",
    "InversionTime",
    "FlipAngle",
    "EchoTrainLength",
    "NumberOfAverages",
    "PercentSampling",
    "PercentPhaseFieldOfView",
    "PixelBandwidth",
    "AcquisitionMatrix",
    "InPlanePhaseEncodingDirection",
    "ReceiveCoilName",
    "TransmitCoilName",
    "ContrastBolusAgent",
    "ContrastBolusRoute",
    "TemporalPositionIdentifier",
    "NumberOfTemporalPositions",
    "TriggerTime",
    "PatientPosition",
    "BodyPartExamined",
    "Laterality",
    "Rows",
    "Columns",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "ImageOrientationPatient",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "RescaleSlope",
    "RescaleIntercept",
    "WindowCenter",
    "WindowWidth",
)

# Tags an index needs (read with ``specific_tags`` so the rest of the header is skipped).
_INDEX_TAGS = [
    "PatientID",
    "SeriesDescription",
    "SeriesNumber",
    "Manufacturer",
    "ManufacturerModelName",
    "MagneticFieldStrength",
    "Rows",
    "Columns",
    "ContrastBolusAgent",
]
_SERIES_FOLDER = re.compile(r"^(?P<number>\d+)(?:\.\d+)?-(?P<description>.*)-(?P<suffix>\d{5})$")
_UNCOMPRESSED = {
    "1.2.840.10008.1.2": "<",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1": "<",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.1.99": "<",  # Deflated Explicit VR Little Endian (pydicom inflates on read)
    "1.2.840.10008.1.2.2": ">",  # Explicit VR Big Endian
}


# ============================================================================ volume
@dataclasses.dataclass
class Volume:
    """One MRI series as a 3-D array with its geometry.

    Attributes
    ----------
    array : (n_slices, rows, cols) float32, ``stored * RescaleSlope + RescaleIntercept``,
        slices ordered by position along the slice normal (ascending).
    spacing : (dz, dy, dx) in mm along the array axes: dz the median distance between
        consecutive slice positions along the normal, (dy, dx) = PixelSpacing (row, column).
    thickness : SliceThickness (mm) or None.
    orientation : (6,) ImageOrientationPatient (row cosines, then column cosines).
    positions : (n_slices, 3) ImagePositionPatient of each slice, in array order.
    meta : de-identified header of the first slice (keys of :data:`META_ALLOW` present).
    spacing_between_slices : the header's SpacingBetweenSlices (mm) or None.
    files : file names (within ``folder``) in array order.
    folder : the series folder.
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    thickness: float | None
    orientation: np.ndarray
    positions: np.ndarray
    meta: dict[str, Any]
    spacing_between_slices: float | None = None
    files: list[str] = dataclasses.field(default_factory=list)
    folder: str = ""

    @property
    def normal(self) -> np.ndarray:
        """Unit slice normal ``r x c``."""
        return _normal(self.orientation)

    @property
    def pixel_spacing(self) -> tuple[float, float]:
        return self.spacing[1], self.spacing[2]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    def __len__(self) -> int:
        return int(self.array.shape[0])


def _normal(orientation: np.ndarray) -> np.ndarray:
    n = np.cross(orientation[:3], orientation[3:6])
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else n


# ============================================================================ de-identification
def _plain(value: Any) -> Any:
    """DICOM element value -> JSON/parquet-friendly Python value."""
    if isinstance(value, PersonName):  # never reached through the allow-list; defensive
        return None
    if isinstance(value, MultiValue | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, pydicom.valuerep.DSfloat | pydicom.valuerep.DSdecimal):
        return float(value)
    if isinstance(value, pydicom.valuerep.IS):
        return int(value)
    if isinstance(value, bytes):
        return None
    if isinstance(value, int | float | str):
        return value
    return str(value)


def header_meta(ds: pydicom.Dataset, allow: Iterable[str] = META_ALLOW) -> dict[str, Any]:
    """The allow-listed, non-identifying fields of ``ds`` as plain Python values."""
    out: dict[str, Any] = {}
    for key in allow:
        value = ds.get(key)
        if value is None or value == "":
            continue
        plain = _plain(value)
        if plain is not None:
            out[key] = plain
    return out


# ============================================================================ sequence identification
_NON_DCE = re.compile(
    r"\bt2|stir|dwi|diffusion|\badc\b|local|scout|survey|calib|\bsub\b|subtract|\bmip\b|\bmpr\b|"
    r"segment|reformat|\bcad\b|screen ?save|report|\bpd\b"
)
_DCE = re.compile(r"dyn|vibrant|multi ?phase|\bdce\b|vibe|thrive")
_PRE = re.compile(r"(?<![a-z])pre(?:[\s_-]?contrast)?(?![a-z])")
_PH = re.compile(r"^\s*ph(?:ase)?\s*([1-9])")
_ORDINAL = re.compile(r"(?<![a-z0-9])([1-9])\s*(?:st|nd|rd|th)(?![a-z])")
_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4}
_WORD_ORDINAL = re.compile(r"\b(first|second|third|fourth)\b")
_POST = re.compile(r"(?<![a-z])post(?:[\s_-]?contrast)?(?:[\s_-]*([1-9]))?(?![a-z0-9])")
_PHASE_WORDS = re.compile(
    r"^\s*ph(?:ase)?\s*[1-9]|(?<![a-z])pre(?:[\s_-]?contrast)?(?![a-z])|(?<![a-z0-9])[1-9]\s*(?:st|nd|rd|th)(?![a-z])|"
    r"\b(?:first|second|third|fourth)\b|(?<![a-z])post(?:[\s_-]?contrast)?(?:[\s_-]*[1-9])?(?![a-z0-9])|\bpass?\b"
)


def _base_label(description: str) -> str:
    """Phase from the description alone: "pre", "postN", "post?" (post, phase unknown),
    "bare" (a DCE series without phase words) or "other"."""
    d = " ".join(str(description).lower().replace("_", " ").split())
    if not d or _NON_DCE.search(d):
        return "other"
    if m := _PH.search(d):
        return f"post{m.group(1)}"
    if m := _ORDINAL.search(d):
        return f"post{m.group(1)}"
    if m := _WORD_ORDINAL.search(d):
        return f"post{_WORDS[m.group(1)]}"
    if m := _POST.search(d):
        return f"post{m.group(1)}" if m.group(1) else "post?"
    if _PRE.search(d):
        return "pre"
    return "bare" if _DCE.search(d) else "other"


def _stem(description: str) -> str:
    """The description without its phase words: series of one DCE acquisition share it."""
    d = " ".join(str(description).lower().replace("_", " ").split())
    return " ".join(_PHASE_WORDS.sub(" ", d).split())


def resolve_sequences(
    descriptions: Sequence[str], series_numbers: Sequence[float | int | None] | None = None
) -> list[str]:
    """Identify the DCE phase of every series of ONE patient (see :func:`identify_sequence`)."""
    n = len(descriptions)
    numbers = [float("inf") if v is None or pd.isna(v) else float(v) for v in (series_numbers or [None] * n)]
    base = [_base_label(d) for d in descriptions]
    stems = [_stem(d) for d in descriptions]
    out = ["pre" if b == "bare" else b for b in base]
    for stem in set(stems):
        group = [i for i in range(n) if stems[i] == stem]
        bare = sorted((i for i in group if base[i] == "bare"), key=lambda i: (numbers[i], i))
        if not bare:
            continue
        explicit_pre = [numbers[i] for i in group if base[i] == "pre"]
        taken = {int(base[i][4:]) for i in group if re.fullmatch(r"post[1-9]", base[i])}
        if explicit_pre:
            # "ax dyn pre" + "ax dyn": the bare series after the pre are the post-contrast phases.
            posts = [i for i in bare if numbers[i] > min(explicit_pre)]
            for i in bare:
                if i not in posts:
                    out[i] = "other"
        else:
            # GE convention: the bare description is the pre-contrast phase ("ax 3d dyn" +
            # "Ph1ax 3d dyn"); several bare ones of one stem are the phases in series order.
            out[bare[0]] = "pre"
            posts = bare[1:]
        k = 1
        for i in posts:
            while k in taken:
                k += 1
            out[i] = f"post{k}" if k <= 4 else "other"
            k += 1
    return ["other" if (s == "post?" or s not in SEQUENCES) else s for s in out]


def identify_sequence(
    description: str | pydicom.Dataset,
    series_number: float | int | None = None,
    peers: Sequence[tuple[str, float | int | None]] | None = None,
) -> str:
    """DCE phase of a series: "pre", "post1" .. "post4" or "other".

    Parameters
    ----------
    description : SeriesDescription (or a pydicom Dataset: SeriesDescription and
        SeriesNumber are taken from it; a TCIA folder name works too).
    series_number : SeriesNumber, used to order series of the same acquisition.
    peers : (description, series_number) of the patient's OTHER series. Some Duke
        names only make sense in context: patients 120 and 279 have two series
        with the same bare name (the lower series number is the pre-contrast one),
        and patient 596 has "ax dyn pre" followed by bare "ax dyn" (post-contrast).

    Rules, in order: non-DCE names (T2, STIR, DWI, localizer, subtraction, MIP,
    MPR/reformats, CAD ...) are "other"; a ``Ph<k>`` prefix (GE), an ordinal
    ("1st pass", "2nd pass", the typo "1st pas", "1st ax dyn") or ``post<k>`` gives
    "post<k>"; the word "pre" gives "pre"; a DCE name without phase words (GE's
    "ax 3d dyn", "Ax Vibrant MultiPhase", "ax dynamic") is the pre-contrast phase,
    unless peers of the same acquisition (same name without phase words) say
    otherwise as described above.
    """
    if isinstance(description, pydicom.Dataset):
        ds = description
        description = str(ds.get("SeriesDescription", ""))
        if series_number is None and ds.get("SeriesNumber") is not None:
            series_number = float(ds.SeriesNumber)
    else:
        description, folder_number = _split_folder_name(str(description))
        if series_number is None:
            series_number = folder_number
    peer_desc, peer_numbers = [], []
    for d, number in peers or []:
        desc, folder_number = _split_folder_name(str(d))
        peer_desc.append(desc)
        peer_numbers.append(folder_number if number is None else number)
    return resolve_sequences([description, *peer_desc], [series_number, *peer_numbers])[0]


def _split_folder_name(name: str) -> tuple[str, float | None]:
    """``"3.000000-ax dyn pre-93877"`` -> ("ax dyn pre", 3.0); other strings pass through."""
    m = _SERIES_FOLDER.match(name)
    if m:
        return m.group("description"), float(m.group("number"))
    return name, None


# ============================================================================ tree index
def shown(path: str | os.PathLike) -> str:
    """How messages name a file: its series folder and its name (``<series folder>/<file>``).

    Messages end up in ``problems.csv``, which users share: no absolute local paths, and
    not the TCIA study folder either (its name starts with the study date). The patient
    is named by the message's item.
    """
    parts = Path(path).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else str(path)


def _dicom_names(folder: str | os.PathLike) -> list[str]:
    """Names of the DICOM files of a series folder: ``*.dcm`` if any, else every visible file."""
    # os.scandir: the entry type comes with the listing, no stat per file (as Path.is_file needs)
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it if not e.name.startswith(".") and e.is_file())
    dcm = [n for n in names if n[-4:].lower() == ".dcm"]
    return dcm or names


def _dicom_files(folder: Path) -> list[Path]:
    """DICOM files of a series folder: ``*.dcm`` if any, else every visible file."""
    return [folder / n for n in _dicom_names(folder)]


def _series_folders(patient: Path) -> list[Path]:
    """Folders under ``patient`` holding at least one visible file (symlinked folders not entered)."""
    found, stack = set(), [patient]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(Path(e.path))
                    elif not e.name.startswith(".") and e.is_file():
                        found.add(folder)
        except PermissionError:  # as Path.rglob: unreadable folders are skipped
            continue
    return sorted(found)


def collection_root(root: str | os.PathLike) -> Path:
    """``root`` itself or its ``Duke-Breast-Cancer-MRI`` subfolder (a cohort folder)."""
    root = Path(root)
    if (root / COLLECTION).is_dir():
        return root / COLLECTION
    if not root.is_dir():
        raise BreastlabInputError(
            f"{root}: DICOM root not found; give the folder holding {COLLECTION}/ or the "
            f"{COLLECTION}/ folder itself (Breast_MRI_NNN/<study>/<series>/*.dcm)"
        )
    return root


COUNTS_FILE = "slice_counts.csv"
DCE_PHASES = ("pre", "post1", "post2", "post3", "post4")


def index_dicom_tree(
    root: str | os.PathLike,
    problems: ProblemLog | None = None,
    counts: str | os.PathLike | pd.DataFrame | None = "auto",
) -> pd.DataFrame:
    """One row per series of a TCIA tree (headers only, one file per series).

    Columns: patient_id (the patient folder name), study, series (folder name), path,
    n_files, series_number, series_description, manufacturer, manufacturer_model,
    field_strength_t, rows, columns, sequence (:func:`identify_sequence` in the
    context of the patient's other series).

    Slice counts are checked, because a slice missing at one end of a series shifts every
    slice index (and Duke's box slices land on the wrong anatomy) without leaving a gap:

    * all DCE phases of an exam (pre, post1 .. post4) cover the same slice positions, so
      they hold the same number of files; a phase that differs from the majority is left
      out (every phase is, where no count has a majority);
    * where a slice-count table is given (``counts``: Duke's ``slice_counts.csv`` with
      ``patient_id, series, n_slices, phase``, or its frame; ``"auto"`` takes
      ``slice_counts.csv`` beside the collection folder if there is one), a series' file
      count must equal the table's (matched on the series folder, else on the phase).

    A series whose files cannot be read, or that fails a count, raises
    :class:`BreastlabInputError`, or, with ``problems``, is logged there (naming the
    series and the rule) and left out.
    """
    base = collection_root(root)
    table = _counts_table(base, counts)
    rows = []
    for patient in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        series_dirs = _series_folders(patient)
        if not series_dirs:
            _fail(problems, patient.name, "index_dicom", f"{patient}: patient folder holds no DICOM files")
            continue
        for folder in series_dirs:
            try:
                rows.append(_index_series(patient.name, patient, folder))
            except BreastlabInputError as exc:
                _fail(problems, patient.name, "index_dicom", exc)
    columns = [
        "patient_id",
        "study",
        "series",
        "path",
        "n_files",
        "series_number",
        "series_description",
        "manufacturer",
        "manufacturer_model",
        "field_strength_t",
        "rows",
        "columns",
    ]
    index = pd.DataFrame(rows, columns=columns)
    by_patient: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_patient.setdefault(row["patient_id"], []).append(i)
    sequence: list[Any] = [None] * len(rows)
    for at in by_patient.values():  # each series in the context of the patient's others
        found = resolve_sequences([rows[i]["series_description"] for i in at], [rows[i]["series_number"] for i in at])
        for i, seq in zip(at, found, strict=True):
            sequence[i] = seq
    index["sequence"] = pd.Series(sequence, dtype="object")
    refused = _check_counts(index, table, problems)
    return index.drop(index=sorted(refused)).reset_index(drop=True) if refused else index


def _counts_table(base: Path, counts: str | os.PathLike | pd.DataFrame | None) -> pd.DataFrame | None:
    if counts is None or isinstance(counts, pd.DataFrame):
        return counts
    if isinstance(counts, str) and counts == "auto":
        path = base.parent / COUNTS_FILE
        if not path.is_file():
            return None
    else:
        path = Path(counts)
    from breastlab.data.duke.boxes import read_slice_counts

    table = read_slice_counts(path)
    table.attrs["name"] = path.name
    return table


def _check_counts(index: pd.DataFrame, table: pd.DataFrame | None, problems: ProblemLog | None) -> set[int]:
    """Rows of ``index`` whose file count disagrees with the exam's other phases or with ``table``."""
    refused: set[int] = set()
    for pid, rows in index.groupby("patient_id", sort=False):
        dce = rows[rows["sequence"].isin(DCE_PHASES)]
        n = dce["n_files"].astype(int)
        if n.nunique() > 1:
            top = n.value_counts()
            majority = int(top.index[0]) if top.iloc[0] * 2 > len(n) else None
            listed = ", ".join(f"{q} {c}" for q, c in zip(dce["sequence"], n, strict=True))
            for i, seq, count in zip(dce.index, dce["sequence"], n, strict=True):
                if count == majority:
                    continue
                refused.add(i)
                _fail(problems, pid, "index_dicom",
                      f"patient {pid}: series {index.at[i, 'series']} ({seq}) holds {count} files but the DCE phases "
                      f"of the exam hold {listed}; all phases share their slice positions, so a slice is missing "
                      "or extra at one end (every slice index would shift); series left out")  # fmt: skip
    if table is None:
        return refused
    name = table.attrs.get("name", "the slice-count table")
    by_series = {
        (p, s): int(c) for p, s, c in zip(table["patient_id"], table["series"], table["n_slices"], strict=True)
    }
    by_phase = {(p, q): int(c) for p, q, c in zip(table["patient_id"], table["phase"], table["n_slices"], strict=True)}
    for i, pid, series, seq, count in zip(index.index, index["patient_id"], index["series"], index["sequence"],
                                          index["n_files"], strict=True):  # fmt: skip
        want = by_series.get((pid, series), by_phase.get((pid, seq)))
        if want is None or i in refused or int(count) == want:
            continue
        refused.add(i)
        _fail(problems, pid, "index_dicom",
              f"patient {pid}: series {series} ({seq}) holds {int(count)} files but {name} gives {want} slices; "
              "a slice missing at one end would shift every slice index; series left out")  # fmt: skip
    return refused


def _fail(problems: ProblemLog | None, item: str, stage: str, message: str | BaseException) -> None:
    if problems is None:
        raise message if isinstance(message, BreastlabInputError) else BreastlabInputError(str(message))
    problems.add(item, stage, message)


def _index_series(patient_id: str, patient: Path, folder: Path, fast: bool = True) -> dict[str, Any]:
    names = _dicom_names(folder)
    ds: Any = None
    errors = []
    for name in names:  # the first readable header describes the series
        f = folder / name
        if fast and (ds := _index_header_fast(f)) is not None:
            break
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=_INDEX_TAGS)
            break
        except Exception as exc:  # noqa: BLE001 - any parse failure of a user's file is bad input
            errors.append(f"{f.name}: {type(exc).__name__}: {str(exc).replace(os.fspath(f), f.name)}")
    if ds is None:
        raise BreastlabInputError(
            f"{Path(folder).name}: no readable DICOM header among {len(names)} files ({errors[:3]})"
        )
    name_desc, name_number = _split_folder_name(folder.name)
    description = str(ds.get("SeriesDescription", "") or name_desc)
    number = ds.get("SeriesNumber")
    strength = ds.get("MagneticFieldStrength")
    return {
        "patient_id": patient_id,
        "study": str(folder.parent.relative_to(patient)),
        "series": folder.name,
        "path": str(folder),
        "n_files": len(names),
        "series_number": float(number) if number not in (None, "") else name_number,
        "series_description": description,
        "manufacturer": str(ds.get("Manufacturer", "")) or None,
        "manufacturer_model": str(ds.get("ManufacturerModelName", "")) or None,
        "field_strength_t": float(strength) if strength not in (None, "") else None,
        "rows": int(ds.get("Rows")) if "Rows" in ds else None,  # ds: a pydicom Dataset or the scanner's dict
        "columns": int(ds.get("Columns")) if "Columns" in ds else None,
    }


# The index's tags as the scanner reads them: (name, VR); values are given only where they are
# plain (ASCII text of one value, numbers pydicom reads the same way), else pydicom reads the file.
_INDEX_FAST = {
    0x0008103E: ("SeriesDescription", b"LO"), 0x00080070: ("Manufacturer", b"LO"),
    0x00081090: ("ManufacturerModelName", b"LO"), 0x00200011: ("SeriesNumber", b"IS"),
    0x00180087: ("MagneticFieldStrength", b"DS"), 0x00280010: ("Rows", b"US"), 0x00280011: ("Columns", b"US"),
}  # fmt: skip
# Character sets in which ASCII bytes decode to the same characters (no escape sequences)
_ASCII_CHARSETS = frozenset(
    {
        "",
        "ISO_IR 6",
        "ISO_IR 100",
        "ISO_IR 101",
        "ISO_IR 109",
        "ISO_IR 110",
        "ISO_IR 144",
        "ISO_IR 127",
        "ISO_IR 126",
        "ISO_IR 138",
        "ISO_IR 148",
        "ISO_IR 203",
        "ISO_IR 192",
    }
)
_IS_TEXT = re.compile(rb"[ ]*[+-]?[0-9]+[ ]*")
_DS_TEXT = re.compile(rb"[ ]*[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?[ ]*")


def _index_header_fast(path: Path) -> dict[str, Any] | None:
    """The values :func:`_index_series` takes from a pydicom header (``ds.get`` of each index tag:
    text stripped as pydicom strips it, IS/DS as float, US as int, absent as None), by the scanner;
    None where the file or a value is anything but plain (pydicom then reads it)."""
    try:
        buf = _read_file(path)
    except OSError:
        return None
    walk = _walk(buf)
    if walk is None:
        return None
    elems, explicit = walk[0], walk[1]
    values: dict[str, Any] = {}
    for tag, vr, _, start, length, _ in elems:
        if tag == 0x00080005:  # SpecificCharacterSet
            raw = buf[start : start + length]
            if length == _UNDEFINED or not raw.isascii() or raw.strip(b" \x00").decode() not in _ASCII_CHARSETS:
                return None
            continue
        spec = _INDEX_FAST.get(tag)
        if spec is None:
            continue
        name, want = spec
        if length == _UNDEFINED or (explicit and vr != want):
            return None
        raw = buf[start : start + length]
        if want == b"US":
            if length != 2:
                return None
            values[name] = _u16(buf, start)[0]
        elif not raw.isascii() or b"\\" in raw or b"\x1b" in raw:
            return None  # several values, another character set: as pydicom decodes them
        elif want == b"LO":
            values[name] = raw.decode("ascii").rstrip("\x00 ")
        elif not length:
            values[name] = None  # pydicom's empty IS/DS
        elif (_IS_TEXT if want == b"IS" else _DS_TEXT).fullmatch(raw):
            values[name] = float(raw)
        else:
            return None
    return values


# ============================================================================ reading a series
@dataclasses.dataclass
class StoredSlice:
    """One file of a series: stored pixels, position, orientation, rescale."""

    name: str
    pixels: np.ndarray  # stored values (rows, cols), before rescale
    position: np.ndarray
    orientation: np.ndarray
    slope: float
    intercept: float
    ds: pydicom.Dataset | None  # None when read by the fast scanner
    geometry: dict[str, list[float]] | None = None  # the scanner's PixelSpacing, SliceThickness ... (fast path)
    # BitsStored where ``pixels`` is known to hold only values of that many bits (unsigned) or
    # their sign extension (signed), as after pydicom's masking; 0 where not checked.
    bits_stored: int = 0
    # Values every file of a series must share: PatientID, StudyInstanceUID, SeriesInstanceUID,
    # and the pixel format (BitsAllocated, BitsStored, PixelRepresentation, PhotometricInterpretation).
    identity: tuple[str, str, str] = ("", "", "")
    pixel_format: tuple[int, int, int, str] = (0, 0, 0, "")

    def rescaled(self, out: np.ndarray | None = None) -> np.ndarray:
        """``stored * RescaleSlope + RescaleIntercept`` as float32."""
        if out is None:
            out = np.empty(self.pixels.shape, dtype=np.float32)
        np.multiply(self.pixels, np.float32(self.slope), out=out, casting="unsafe")
        if self.intercept:
            out += np.float32(self.intercept)
        return out


def _decoder_message(ds: pydicom.Dataset, path: Path, exc: BaseException) -> str:
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    name = getattr(ts, "name", str(ts))
    hint = ""
    try:
        from pydicom.pixels import get_decoder

        decoder = get_decoder(ts)
        if not decoder.is_available:
            hint = (
                f"; no installed decoder handles {name} (install one of: "
                + "; ".join(decoder.missing_dependencies)
                + ", e.g. `pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg` or `pip install python-gdcm`)"
            )
    except Exception:  # unknown transfer syntax: pydicom has no decoder class at all
        hint = f"; transfer syntax {name} is not supported by pydicom"
    return f"{shown(path)}: cannot decode pixel data ({type(exc).__name__}: {exc}){hint}"


def _pixels(ds: pydicom.Dataset, path: Path) -> np.ndarray:
    """Stored pixel values of a single-frame grey-level image, with minimal overhead.

    Uncompressed transfer syntaxes are viewed straight from the PixelData bytes
    (``np.frombuffer``: no copy, no decoder dispatch); compressed ones go through
    pydicom's decoders.
    """
    for tag in ("Rows", "Columns", "BitsAllocated", "PixelRepresentation"):
        if tag not in ds:
            raise BreastlabInputError(f"{shown(path)}: image header lacks {tag}; not an image DICOM")
    if "PixelData" not in ds:
        raise BreastlabInputError(f"{shown(path)}: no PixelData element (file truncated or not an image)")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames != 1:
        raise BreastlabInputError(
            f"{shown(path)}: multi-frame file ({frames} frames, e.g. Enhanced MR); read_series expects one slice "
            "per file as in TCIA's Duke layout"
        )
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise BreastlabInputError(
            f"{shown(path)}: SamplesPerPixel={ds.SamplesPerPixel}; expected a grey-level MR image"
        )
    rows, cols, bits = int(ds.Rows), int(ds.Columns), int(ds.BitsAllocated)
    ts = str(ds.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2")) if hasattr(ds, "file_meta") else ""
    stored = int(ds.get("BitsStored", bits))
    if ts in _UNCOMPRESSED and bits in (8, 16, 32) and 1 <= stored <= bits:
        kind = "i" if int(ds.PixelRepresentation) == 1 else "u"
        dtype = np.dtype(f"{_UNCOMPRESSED[ts]}{kind}{bits // 8}")
        raw = ds.PixelData
        need = rows * cols * dtype.itemsize
        if len(raw) < need:
            raise BreastlabInputError(
                f"{shown(path)}: truncated pixel data ({len(raw)} bytes, {rows}x{cols}x{bits} bits needs {need})"
            )
        # Extra bytes are padding (odd lengths, trailing pad) and are ignored.
        return stored_bits(np.frombuffer(raw, dtype=dtype, count=rows * cols).reshape(rows, cols), stored)
    try:
        return np.asarray(ds.pixel_array)
    except (RuntimeError, NotImplementedError) as exc:
        raise BreastlabInputError(_decoder_message(ds, path, exc)) from exc
    except (ValueError, AttributeError, TypeError, EOFError) as exc:
        raise BreastlabInputError(f"{shown(path)}: corrupt or truncated pixel data ({exc})") from exc


# ---------------------------------------------------------------------------- fast native reader
# pydicom builds a DataElement for each of the ~70-100 header elements of a slice
# (about 1-2 ms a file); the reader needs a dozen of them. For the two
# uncompressed little-endian transfer syntaxes TCIA's Duke files use, the scanner
# below walks the element headers of the file (in memory) and keeps only those,
# then views the pixel data with np.frombuffer. Anything it does not expect
# (other transfer syntaxes, encapsulated pixel data, odd value lengths, truncation)
# returns None and the file is read by pydicom instead, which also gives the
# error messages. Tests compare it with pydicom on every test file pydicom ships.
_US_TAGS = {
    0x00280010: "Rows", 0x00280011: "Columns", 0x00280100: "BitsAllocated", 0x00280101: "BitsStored",
    0x00280103: "PixelRepresentation", 0x00280002: "SamplesPerPixel",
}  # fmt: skip
_TEXT_TAGS = {
    0x00200032: "ImagePositionPatient", 0x00200037: "ImageOrientationPatient", 0x00281053: "RescaleSlope",
    0x00281052: "RescaleIntercept", 0x00280008: "NumberOfFrames", 0x00280030: "PixelSpacing",
    0x00180050: "SliceThickness", 0x00180088: "SpacingBetweenSlices",
}  # fmt: skip
# Text values every file of a series must share (compared as stripped text, see _check_consistent)
_ID_TAGS = {
    0x00100020: "PatientID", 0x0020000D: "StudyInstanceUID", 0x0020000E: "SeriesInstanceUID",
    0x00280004: "PhotometricInterpretation",
}  # fmt: skip
_WANTED = {**_US_TAGS, **_TEXT_TAGS, **_ID_TAGS}
# The dictionary VR of every wanted text tag: an explicit VR file that says otherwise is read by pydicom
_TEXT_VR = {
    **{t: b"DS" for t in _TEXT_TAGS}, 0x00280008: b"IS", 0x00100020: b"LO", 0x0020000D: b"UI", 0x0020000E: b"UI",
    0x00280004: b"CS",
}  # fmt: skip
_CHARSET = 0x00080005
_GEOMETRY = ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices")
_LONG_VRS = frozenset({b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV", b"SV", b"UV"})
_SHORT_VRS = frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
                        b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"})  # fmt: skip
_UNDEFINED = 0xFFFFFFFF
_u16, _u32, _tag = struct.Struct("<H").unpack_from, struct.Struct("<I").unpack_from, struct.Struct("<HH").unpack_from


def _element(buf: bytes, pos: int, explicit: bool) -> tuple[int, bytes, int, int]:
    """(tag, VR or b"", value length, value offset) of the element header at ``pos``."""
    group, elem = _tag(buf, pos)
    tag = (group << 16) | elem
    if group == 0xFFFE or not explicit:  # item/delimiter tags never carry a VR
        return tag, b"", _u32(buf, pos + 4)[0], pos + 8
    vr = buf[pos + 4 : pos + 6]
    if vr in _LONG_VRS:
        return tag, vr, _u32(buf, pos + 8)[0], pos + 12
    if vr not in _SHORT_VRS:  # pydicom guesses on (implicit VR, a dictionary VR): it judges such a file
        raise ValueError(f"unknown VR {vr!r}")
    return tag, vr, _u16(buf, pos + 6)[0], pos + 8


def _skip_sequence(buf: bytes, pos: int, explicit: bool, depth: int = 0) -> int:
    """Offset after an undefined-length sequence whose items start at ``pos``."""
    if depth > 16:
        raise ValueError("sequences nested too deep")
    while True:
        tag, _, length, pos = _element(buf, pos, False)
        if tag == 0xFFFEE0DD:  # sequence delimitation item
            return pos
        if tag != 0xFFFEE000:
            raise ValueError(f"expected an item tag, found {tag:08X}")
        if length != _UNDEFINED:
            pos += length
            continue
        while True:  # an undefined-length item: elements up to the item delimiter
            tag, vr, length, pos = _element(buf, pos, explicit)
            if tag == 0xFFFEE00D:
                break
            if length == _UNDEFINED:
                pos = _skip_sequence(buf, pos, explicit and vr != b"UN", depth + 1)
            else:
                pos += length


# One top-level element: (tag, VR, header offset, value offset, value length as stored, end offset).
_Elem = tuple[int, bytes, int, int, int, int]


def _walk(buf: bytes) -> tuple[list[_Elem], bool, int, int, int] | None:
    """Top-level elements of an uncompressed little-endian file up to PixelData, or None.

    Returns ``(elements, explicit VR, PixelData header offset, pixel offset, pixel length)``.
    Undefined-length sequences are walked (their items skipped) and count as one element.
    """
    try:
        if len(buf) < 144 or buf[128:132] != b"DICM":
            return None
        pos, ts, elems, last = 132, None, [], -1
        while _tag(buf, pos)[0] == 0x0002:  # file meta group: always explicit VR little endian
            tag, vr, length, start = _element(buf, pos, True)
            if length == _UNDEFINED or tag <= last:
                return None
            last = tag
            if tag == 0x00020010:
                if vr != b"UI":  # pydicom would not take it as a transfer syntax
                    return None
                ts = buf[start : start + length].rstrip(b"\x00 ").decode("ascii")
            elems.append((tag, vr, pos, start, length, start + length))
            pos = start + length
        if ts not in ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2"):
            return None
        explicit = ts == "1.2.840.10008.1.2.1"
        n = len(buf)
        while pos + 8 <= n:
            tag, vr, length, start = _element(buf, pos, explicit)
            if tag <= last or (tag == _CHARSET and not _plain_charset(buf, vr, start, length, explicit)):
                return None  # tags ascend in a valid file: anything else is damage pydicom judges
            last = tag
            if tag == 0x7FE00010:  # PixelData: the header ends here
                if length == _UNDEFINED or not _complete_tail(buf, start + length, last, explicit):
                    return None
                return elems, explicit, pos, start, length
            end = _skip_sequence(buf, start, explicit and vr != b"UN") if length == _UNDEFINED else start + length
            elems.append((tag, vr, pos, start, length, end))
            pos = end
        return None
    except (struct.error, ValueError, UnicodeDecodeError):
        return None


def _plain_charset(buf: bytes, vr: bytes, start: int, length: int, explicit: bool) -> bool:
    """Whether SpecificCharacterSet is one value in which ASCII text reads as ASCII (pydicom
    decodes the character set while it reads a file; any other value is left to it)."""
    if length == _UNDEFINED or (explicit and vr != b"CS"):
        return False
    raw = buf[start : start + length]
    return raw.isascii() and raw.strip(b" \x00").decode() in _ASCII_CHARSETS


def _complete_tail(buf: bytes, pos: int, last: int, explicit: bool) -> bool:
    """Whether the bytes after the pixel data are whole elements (trailing padding, as pydicom
    reads them), ascending after ``last``, ending exactly at the end of the file."""
    n = len(buf)
    while pos < n:
        if pos + 8 > n:
            return False
        tag, _, length, start = _element(buf, pos, explicit)
        if tag <= last or length == _UNDEFINED or start + length > n:
            return False
        last, pos = tag, start + length
    return pos == n


def _parse_value(buf: bytes, tag: int, vr: bytes, start: int, length: int, explicit: bool) -> Any:
    """Value of a wanted tag (US -> int, DS/IS text -> list of floats); ValueError if malformed."""
    if tag in _US_TAGS:
        if length != 2 or (explicit and vr != b"US"):
            raise ValueError(f"unexpected {tag:08X}")
        return _u16(buf, start)[0]
    if explicit and vr != _TEXT_VR[tag]:
        raise ValueError(f"unexpected VR of {tag:08X}")
    text = buf[start : start + length].decode("ascii").strip(" \x00")
    if tag in _ID_TAGS:
        if "\\" in text or "\x1b" in text:
            raise ValueError("several values or a character set escape: pydicom reads it")
        return text
    return [float(v) for v in text.split("\\")] if text else []


def _values(buf: bytes, elems: Iterable[_Elem], explicit: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for tag, vr, _, start, length, _ in elems:
        if length != _UNDEFINED and tag in _WANTED:
            values[_WANTED[tag]] = _parse_value(buf, tag, vr, start, length, explicit)
    return values


def _scan_native(buf: bytes) -> tuple[dict[str, Any], int, int] | None:
    """(values, pixel offset, pixel length) of an uncompressed little-endian file, or None."""
    walk = _walk(buf)
    if walk is None:
        return None
    elems, explicit, _, offset, length = walk
    try:
        return _values(buf, elems, explicit), offset, length
    except (struct.error, ValueError, UnicodeDecodeError):
        return None


class SeriesLayout:
    """Header layout shared by the files of one series, so most files skip the element walk.

    Files of one series are written by one scanner: the same elements in the same order,
    only a few values differing from file to file (SOP instance UID, instance number,
    position, slice location ...). The first file is walked fully and kept as the
    reference; the second is walked too and every top-level element whose bytes differ
    from the reference is marked *varying*. From then on a file is checked against a
    *plan*: the reference bytes between varying elements must be byte-identical
    (``bytes.startswith``, no copies), each varying element must have the reference's
    tag and VR (its length may differ: it is read and the following offsets shift), and
    the PixelData element header must match. Since the walk reads only element headers,
    which all lie in the compared bytes or are checked, a file that passes gives exactly
    the elements, values and pixel offset of a full walk (wanted values of constant
    elements come from the reference). A file that does not pass is walked fully, and,
    if it has the reference's elements, its differences join the varying set.
    Thread-safe in effect: a plan is replaced as a whole, never modified.
    """

    def __init__(self) -> None:
        # (header bytes, walk) of the reference file: one attribute, so threads see both or neither
        self.reference: tuple[bytes, tuple[list[_Elem], bool, int, int, int]] | None = None
        self.varying: frozenset[int] = frozenset()
        self.plan: tuple | None = None
        self.hits = 0  # files read through the plan (tests and benchmarks look at it)

    def head_size(self, size: int) -> int:
        """How many leading bytes of a ``size``-byte file :meth:`scan` needs as ``buf`` (the
        reference header plus 8 kB of slack for longer values; the whole file at first)."""
        reference = self.reference
        return size if reference is None else min(size, len(reference[0]) + 8192)

    def scan(
        self, buf: bytes, size: int | None = None, whole: Callable[[], bytes] | None = None
    ) -> tuple[dict[str, Any], int, int] | None:
        """:func:`_scan_native` of a file. ``buf`` may be only the first :meth:`head_size` bytes of
        a ``size``-byte file, with ``whole()`` giving all of it where a full walk is needed."""
        plan = self.plan
        if plan is not None:
            got = _follow(buf, plan, len(buf) if size is None else size)
            if got is not None:
                self.hits += 1
                return got
        if whole is not None:
            buf = whole()
        walk = _walk(buf)
        if walk is None:
            return None
        elems, explicit, _, offset, length = walk
        try:
            values = _values(buf, elems, explicit)
        except (struct.error, ValueError, UnicodeDecodeError):
            return None
        if self.reference is None:
            self.reference = (buf[:offset], walk)
        else:
            self._learn(buf, walk)
        return values, offset, length

    def _learn(self, buf: bytes, walk: tuple[list[_Elem], bool, int, int, int]) -> None:
        ref, (relems, rexplicit, rpix, roff, rlen) = self.reference
        elems, explicit, pix, off, length = walk
        same = (explicit == rexplicit and length == rlen and len(elems) == len(relems)
                and buf[pix:off] == ref[rpix:roff]
                and all(a[0] == b[0] and a[1] == b[1] for a, b in zip(elems, relems, strict=True)))  # fmt: skip
        if not same:
            return
        differ = {i for i, (a, b) in enumerate(zip(elems, relems, strict=True))
                  if buf[a[2] : a[5]] != ref[b[2] : b[5]]}  # fmt: skip
        varying = frozenset(self.varying | differ)
        if varying == self.varying and self.plan is not None:
            return
        # Any varying set gives an exact plan (following it checks everything else byte for byte);
        # a better one only means fewer full walks.
        self.varying = varying
        self.plan = _make_plan(ref, relems, rexplicit, rpix, roff, rlen, varying)


def _make_plan(
    ref: bytes, elems: list[_Elem], explicit: bool, pix: int, off: int, length: int, varying: frozenset[int]
) -> tuple | None:
    """Steps for :func:`_follow`, or None where a plan cannot be exact."""
    tags = [e[0] for e in elems]
    steps: list[tuple] = []
    pos = 128  # the preamble is not read by the walk either
    for i in sorted(varying):
        tag, vr, hdr, start, vlen, end = elems[i]
        if tag == 0x00020010 or vlen == _UNDEFINED or (tag in _WANTED and tags.count(tag) > 1):
            return None  # transfer syntax, a walked sequence or a repeated wanted tag: walk instead
        steps.append((ref[pos:hdr], False, 0, b"", 0, 0, False))
        hl = start - hdr
        ex = explicit or tag >> 16 == 0x0002  # the file meta group is always explicit VR
        if hl == 12:
            prefix, lpos, wide = ref[hdr : hdr + 8], 8, True
        elif ex and tag >> 16 != 0xFFFE:
            prefix, lpos, wide = ref[hdr : hdr + 6], 6, False
        else:
            prefix, lpos, wide = ref[hdr : hdr + 4], 4, True
        steps.append((prefix, True, tag if tag in _WANTED else 0, vr, lpos, hl, wide))
        pos = end
    steps.append((ref[pos:off], False, 0, b"", 0, 0, False))  # up to the PixelData header, included
    try:
        const = _values(ref, [e for i, e in enumerate(elems) if i not in varying], explicit)
    except (struct.error, ValueError, UnicodeDecodeError):
        return None
    return tuple(steps), const, length, explicit


def _follow(buf: bytes, plan: tuple, size: int) -> tuple[dict[str, Any], int, int] | None:
    """A full walk's result for a ``size``-byte file that has the plan's layout, or None.
    ``buf`` holds at least the file's header (its first bytes, up to the pixel data)."""
    steps, const, length, explicit = plan
    values = dict(const)
    pos = 128
    try:
        for prefix, var, tag, vr, lpos, hl, wide in steps:
            if not buf.startswith(prefix, pos):
                return None
            if not var:  # reference bytes
                pos += len(prefix)
                continue
            vlen = _u32(buf, pos + lpos)[0] if wide else _u16(buf, pos + lpos)[0]
            if vlen == _UNDEFINED:
                return None
            start = pos + hl
            if tag:
                values[_WANTED[tag]] = _parse_value(buf, tag, vr, start, vlen, explicit)
            pos = start + vlen
        if pos > len(buf) or pos + length != size:  # every byte read lies before pos; nothing may trail the pixels
            return None
        return values, pos, length
    except (struct.error, ValueError, UnicodeDecodeError):
        return None


def _read_file(path: str | Path) -> bytes:
    """The whole file, with one ``read`` of its size (Path.read_bytes is ~5x slower on 128 kB files)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        parts, want = [], os.fstat(fd).st_size + 1
        while chunk := os.read(fd, want):  # to end of file (short reads, a file that grew)
            parts.append(chunk)
            want = 1 << 20
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


def stored_bits(arr: np.ndarray, stored: int) -> np.ndarray:
    """``arr`` with the bits above ``stored`` cleared (unsigned) or the sign extended from bit ``stored`` - 1
    (signed), as pydicom's ``pixel_array`` returns them; ``arr`` itself when that changes nothing.

    Scanners leave the unused high bits 0 (or the sign): two read-only passes then replace a masked
    copy of every image (a new array, page faults included); old files may hold overlays there.
    """
    bits = arr.dtype.itemsize * 8
    if stored >= bits:
        return arr
    if arr.dtype.kind == "u":
        if int(arr.max()) < (1 << stored):
            return arr
        return arr & arr.dtype.type((1 << stored) - 1)
    if -(1 << (stored - 1)) <= int(arr.min()) and int(arr.max()) < (1 << (stored - 1)):
        return arr
    unused = bits - stored
    return (arr << unused) >> unused


def _file_into(path: str | Path, row: np.ndarray) -> int:
    """Read ``path`` into the uint8 array ``row``; its size, or -1 where it does not fit."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size >= len(row):
            return -1
        got = os.readv(fd, [row])
        while got < size and (more := os.readv(fd, [row[got:]])):  # short reads
            got += more
        return got if got < len(row) else -1
    finally:
        os.close(fd)


def _read_slice_fast(
    path: str | Path, layout: SeriesLayout | None = None, row: np.ndarray | None = None
) -> StoredSlice | None:
    """One file by the scanner, or None. With ``layout`` and ``row`` (a uint8 array longer than
    the file, see :class:`ReadBuffer`) the file is read into ``row`` and the pixels view it."""
    try:
        size = _file_into(path, row) if (row is not None and layout is not None) else -1
        buf = row[:size] if size >= 0 else _read_file(path)
    except OSError as exc:
        raise BreastlabInputError(f"{shown(path)}: cannot read file ({exc})") from exc
    if layout is None:
        scan = _scan_native(buf)
    elif size >= 0:
        data = buf
        scan = layout.scan(data[: layout.head_size(size)].tobytes(), size, data.tobytes)
    else:
        scan = layout.scan(buf)
    if scan is None:
        return None
    v, offset, length = scan
    need = ("Rows", "Columns", "BitsAllocated", "PixelRepresentation", "ImagePositionPatient",
            "ImageOrientationPatient")  # fmt: skip
    if any(k not in v for k in need) or len(v["ImagePositionPatient"]) != 3 or len(v["ImageOrientationPatient"]) != 6:
        return None
    rows, cols, bits = v["Rows"], v["Columns"], v["BitsAllocated"]
    stored = v.get("BitsStored", bits)
    frames = v.get("NumberOfFrames", [1])
    if bits not in (8, 16, 32) or not 1 <= stored <= bits or v.get("SamplesPerPixel", 1) != 1:
        return None
    if frames not in ([], [1.0]):
        return None  # multi-frame: pydicom's path explains
    dtype = np.dtype(f"<{'i' if v['PixelRepresentation'] == 1 else 'u'}{bits // 8}")
    if length < rows * cols * dtype.itemsize:
        return None  # pydicom's path reports the truncation
    arr = stored_bits(np.frombuffer(buf, dtype=dtype, count=rows * cols, offset=offset).reshape(rows, cols), stored)
    slope, intercept = v.get("RescaleSlope") or [1.0], v.get("RescaleIntercept") or [0.0]
    if len(slope) != 1 or len(intercept) != 1:
        return None  # several values: pydicom's path explains
    return StoredSlice(
        name=os.path.basename(path),
        pixels=arr,
        position=np.asarray(v["ImagePositionPatient"]),
        orientation=np.asarray(v["ImageOrientationPatient"]),
        slope=float(slope[0]),
        intercept=float(intercept[0]),
        ds=None,
        geometry={k: v[k] for k in _GEOMETRY if k in v},
        bits_stored=stored,
        identity=(v.get("PatientID", ""), v.get("StudyInstanceUID", ""), v.get("SeriesInstanceUID", "")),
        pixel_format=(bits, stored, v["PixelRepresentation"], v.get("PhotometricInterpretation", "")),
    )


def _read_slice(
    path: str | Path, fast: bool = True, layout: SeriesLayout | None = None, row: np.ndarray | None = None
) -> StoredSlice:
    """One file of a series, checked (:func:`_check_slice`): by the scanner where it understands the
    file, else by pydicom. Raises only :class:`BreastlabInputError`, naming the file."""
    sl = None
    if fast:
        try:
            sl = _read_slice_fast(path, layout, row)
        except BreastlabInputError:
            raise
        except Exception:  # noqa: BLE001 - whatever the scanner did not foresee, pydicom judges
            sl = None
    if sl is None:
        try:
            sl = _read_slice_pydicom(path)
        except BreastlabInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to parse a user's file is bad input
            raise BreastlabInputError(
                f"{shown(path)}: not a readable DICOM file ({type(exc).__name__}: {exc})"
            ) from exc
    _check_slice(sl, path)
    return sl


def _read_slice_pydicom(path: str | Path) -> StoredSlice:
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on a damaged file
        text = str(exc).replace(os.fspath(path), shown(path))  # pydicom names the file in some messages
        raise BreastlabInputError(f"{shown(path)}: not a readable DICOM file ({type(exc).__name__}: {text})") from exc
    geometry = {}
    for tag in ("ImagePositionPatient", "ImageOrientationPatient"):
        value = ds.get(tag)
        if value is None or len(value) != (3 if tag == "ImagePositionPatient" else 6):
            raise BreastlabInputError(
                f"{shown(path)}: {tag} missing or malformed; slices cannot be ordered in space without it"
            )
        geometry[tag] = np.asarray([float(v) for v in value])
    pixels = _pixels(ds, path)
    slope = ds.get("RescaleSlope")
    intercept = ds.get("RescaleIntercept")
    bits = int(ds.BitsAllocated)
    return StoredSlice(
        name=os.path.basename(path),
        pixels=pixels,
        position=geometry["ImagePositionPatient"],
        orientation=geometry["ImageOrientationPatient"],
        slope=float(slope) if slope not in (None, "") else 1.0,
        intercept=float(intercept) if intercept not in (None, "") else 0.0,
        ds=ds,
        identity=tuple(_text(ds.get(k)) for k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")),  # type: ignore[arg-type]
        pixel_format=(
            bits,
            int(ds.get("BitsStored", bits)),
            int(ds.PixelRepresentation),
            _text(ds.get("PhotometricInterpretation")),
        ),  # fmt: skip
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip(" \x00")


def _check_slice(sl: StoredSlice, path: str | Path) -> None:
    """Values of one file that no series may hold: non-finite geometry, a zero or non-finite rescale."""
    for what, values in (("ImagePositionPatient", sl.position), ("ImageOrientationPatient", sl.orientation)):
        if not np.all(np.isfinite(values)):
            raise BreastlabInputError(
                f"{shown(path)}: {what} {values.tolist()} is not finite; slices cannot be ordered in space"
            )
    row, col = sl.orientation[:3], sl.orientation[3:]
    if abs(row @ row - 1) > 1e-2 or abs(col @ col - 1) > 1e-2 or abs(row @ col) > 1e-2:
        raise BreastlabInputError(
            f"{shown(path)}: ImageOrientationPatient {sl.orientation.tolist()} is not two orthogonal unit vectors"
        )
    if not (np.isfinite(sl.slope) and sl.slope != 0):
        raise BreastlabInputError(
            f"{shown(path)}: RescaleSlope {sl.slope!r} is invalid; it must be a finite number other than 0"
        )
    if not np.isfinite(sl.intercept):
        raise BreastlabInputError(f"{shown(path)}: RescaleIntercept {sl.intercept!r} is not finite")


def read_series(
    folder: str | os.PathLike,
    threads: int = 1,
    orientation_tol: float = 1e-4,
    gap_factor: float = 1.5,
    fast: bool = True,
    header: bool = True,
) -> Volume:
    """Read one series folder (one slice per file) into a :class:`Volume`.

    Slices are ordered by position along the slice normal (not by file name).
    Raises :class:`BreastlabInputError` naming the file or series for: unreadable,
    corrupt or truncated files; compressed pixel data without an installed decoder;
    non-finite ImagePositionPatient or ImageOrientationPatient, an orientation that is
    not two orthogonal unit vectors, a RescaleSlope of 0 or a non-finite rescale; files
    that differ in PatientID, StudyInstanceUID, SeriesInstanceUID or pixel format
    (BitsAllocated, BitsStored, PixelRepresentation, PhotometricInterpretation); mixed
    matrix sizes; mixed orientations (any direction cosine differing by more than
    ``orientation_tol``); two slices at the same position; missing slices (a step
    between consecutive positions larger than ``gap_factor`` times the median step) and
    extra ones (a step smaller than the median over ``gap_factor``). A slice missing at
    either end leaves no gap: :func:`index_dicom_tree` checks the counts.

    ``threads`` > 1 reads files in a thread pool (helps on network file systems;
    parsing holds the GIL, so on a local disk 1 is as fast). ``fast`` reads
    uncompressed little-endian files with a minimal header scanner (falling back to
    pydicom for anything else; files after the second one of a series usually only
    have their header checked against the layout of the first, see :class:`SeriesLayout`);
    ``fast=False`` reads every file with pydicom. ``header=False`` skips reading the full
    header of the first slice: ``meta`` is then empty (spacing and thickness come from
    the scanner, as pydicom would give them).
    """
    slices, volume = read_series_slices(folder, threads, orientation_tol, gap_factor, fast, header)
    rows, cols = slices[0].pixels.shape
    array = np.empty((len(slices), rows, cols), dtype=np.float32)
    for k, s in enumerate(slices):
        s.rescaled(out=array[k])
    volume.array = array
    return volume


class ReadBuffer:
    """Memory reused for the file bytes of one series after another (:func:`read_series_slices`).

    Fresh memory costs a page fault per 4 kB on first touch (~0.6 ms for a 128 kB slice on a
    virtual machine, more than reading it); a buffer kept for the next series avoids that.
    The slices of a read view the buffer: they are overwritten by the next read into it.
    """

    def __init__(self) -> None:
        self._array = np.empty((0, 0), np.uint8)

    def rows(self, n: int, size: int) -> np.ndarray:
        """``n`` rows longer than ``size`` bytes (rows start 64-byte aligned)."""
        stride = (size // 64 + 2) * 64
        if n > self._array.shape[0] or stride > self._array.shape[1]:
            self._array = np.empty((max(n, self._array.shape[0]), max(stride, self._array.shape[1])), np.uint8)
        return self._array[:n]


def read_series_slices(
    folder: str | os.PathLike,
    threads: int = 1,
    orientation_tol: float = 1e-4,
    gap_factor: float = 1.5,
    fast: bool = True,
    header: bool = True,
    buffer: ReadBuffer | None = None,
    names: Sequence[str] | None = None,
) -> tuple[list[StoredSlice], Volume]:
    """:func:`read_series` without the float32 array: the slices' stored pixels in order.

    Returns ``(slices, volume)``: ``slices[k].pixels`` holds the stored values of slice
    ``k`` and ``slices[k].rescaled()`` its float32 values; ``volume`` has every field of
    :func:`read_series` but an empty ``array`` (shape (n, 0, 0)). The exporter uses it to
    convert only the slices it keeps. With a :class:`ReadBuffer` the scanner reads the
    files into it (the slices of the previous read into that buffer are overwritten).
    ``names``: the series' files in ``folder`` (default: every DICOM file of the folder), for
    folders that hold several series.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BreastlabInputError(f"{Path(folder).name}: series folder not found")
    base = os.fspath(folder)
    listed = _dicom_names(folder) if names is None else list(names)
    files = [os.path.join(base, n) for n in listed]  # strings: a Path per file costs ~4 us
    if not files:
        raise BreastlabInputError(f"{Path(folder).name}: series folder holds no DICOM files")
    layout = SeriesLayout() if fast else None
    rows: Any = [None] * len(files)
    if fast and buffer is not None:
        with contextlib.suppress(OSError):  # the read below reports it
            rows = buffer.rows(len(files), os.stat(files[0]).st_size)
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            slices = list(pool.map(lambda k: _read_slice(files[k], fast, layout, rows[k]), range(len(files))))
    else:
        slices = [_read_slice(f, fast, layout, row) for f, row in zip(files, rows, strict=True)]
    _check_consistent(folder, slices, orientation_tol)
    orientation = slices[0].orientation
    normal = _normal(orientation)
    depth = np.array([s.position @ normal for s in slices])
    order = np.argsort(depth, kind="stable")
    slices = [slices[i] for i in order]
    depth = depth[order]
    dz = _check_spacing(folder, slices, depth, gap_factor)

    try:
        first, (dy, dx), thickness, between, meta = _first_header(folder, slices[0], header)
    except BreastlabInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged value pydicom parses only now
        raise BreastlabInputError(
            f"{shown(folder / slices[0].name)}: header value not readable ({type(exc).__name__}: {exc})"
        ) from exc
    if dz is None:  # a single slice: the header is all there is
        dz = between or thickness or 1.0
    for sl in slices:
        sl.ds = None  # headers are not needed any more; keep memory to the pixels
    volume = Volume(
        array=np.empty((len(slices), 0, 0), dtype=np.float32),
        spacing=(float(dz), dy, dx),
        thickness=thickness,
        orientation=orientation.copy(),
        positions=np.stack([sl.position for sl in slices]),
        meta=meta,
        spacing_between_slices=between,
        files=[sl.name for sl in slices],
        folder=str(folder),
    )
    return slices, volume


def _first_header(
    folder: Path, sl: StoredSlice, header: bool
) -> tuple[Any, tuple[float, float], float | None, float | None, dict[str, Any]]:
    """(header, PixelSpacing (row, column), SliceThickness, SpacingBetweenSlices, de-identified meta)
    of the first slice; the full header is read by pydicom where the scanner read the slice."""
    first: Any = sl.ds
    if first is None and header:  # read by the fast scanner: the full header of one slice gives the rest
        first = pydicom.dcmread(folder / sl.name, stop_before_pixels=True)
    elif first is None:  # the scanner's values, empty ones as missing (pydicom's None)
        first = {k: (v if len(v) > 1 else v[0]) for k, v in (sl.geometry or {}).items() if v}
    pixel_spacing = first.get("PixelSpacing")
    dy, dx = (float(pixel_spacing[0]), float(pixel_spacing[1])) if pixel_spacing else (1.0, 1.0)
    if not (np.isfinite(dy) and np.isfinite(dx) and dy > 0 and dx > 0):
        raise BreastlabInputError(f"{shown(folder / sl.name)}: PixelSpacing {[dy, dx]} must be two positive numbers")
    thickness = first.get("SliceThickness")
    between = first.get("SpacingBetweenSlices")
    thickness = float(thickness) if thickness not in (None, "") else None
    between = float(between) if between not in (None, "") else None
    meta = header_meta(first) if isinstance(first, pydicom.Dataset) else {}
    return first, (dy, dx), thickness, between, meta


_IDENTITY = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")
_PIXEL_FORMAT = ("BitsAllocated", "BitsStored", "PixelRepresentation", "PhotometricInterpretation")


def _check_consistent(folder: Path, slices: list[StoredSlice], tol: float) -> None:
    ref = slices[0]
    for field, names in (("identity", _IDENTITY), ("pixel_format", _PIXEL_FORMAT)):
        mine = getattr(ref, field)
        for s in slices[1:]:
            theirs = getattr(s, field)
            if theirs != mine:
                k = next(i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b)
                # identifying values are not repeated in the message (it goes to problems.csv)
                values = "" if field == "identity" else f": {mine[k]!r} in {ref.name}, {theirs[k]!r} in {s.name}"
                raise BreastlabInputError(
                    f"{Path(folder).name}: {names[k]} differs between {ref.name} and {s.name}{values}; "
                    "every file of a series must share it (a file from another series, patient or format)"
                )
    shapes: dict[tuple[int, int], str] = {}
    for s in slices:
        shapes.setdefault(tuple(s.pixels.shape), s.name)
    if len(shapes) > 1:
        listed = ", ".join(f"{r}x{c} (e.g. {name})" for (r, c), name in shapes.items())
        raise BreastlabInputError(f"{Path(folder).name}: mixed matrix sizes in one series: {listed}")
    cosines = np.stack([s.orientation for s in slices])  # one array operation for the series
    off = np.flatnonzero(np.max(np.abs(cosines - ref.orientation), axis=1) > tol)
    if len(off):
        s = slices[int(off[0])]  # the first in file order, as a loop would find it
        raise BreastlabInputError(
            f"{Path(folder).name}: mixed orientations in one series: {ref.name} has ImageOrientationPatient "
            f"{ref.orientation.round(4).tolist()} but {s.name} has {s.orientation.round(4).tolist()}"
        )


def _check_spacing(folder: Path, slices: list[StoredSlice], depth: np.ndarray, gap_factor: float) -> float | None:
    if len(slices) < 2:
        return None
    steps = np.diff(depth)
    dup = np.flatnonzero(steps < 1e-3)
    if len(dup):
        i = int(dup[0])
        raise BreastlabInputError(
            f"{Path(folder).name}: {slices[i].name} and {slices[i + 1].name} lie at the same position "
            f"({depth[i]:.3f} mm along the normal): duplicated slice, or several phases mixed in one series"
        )
    step = float(np.median(steps))
    if len(steps) >= 2:
        short = np.flatnonzero(steps < step / gap_factor)
        if len(short):
            i = int(short[0])
            raise BreastlabInputError(
                f"{Path(folder).name}: uneven slice spacing: the step between {slices[i].name} ({depth[i]:.2f} mm) and "
                f"{slices[i + 1].name} ({depth[i + 1]:.2f} mm) is {steps[i]:.2f} mm, the series' usual step is "
                f"{step:.2f} mm (an extra slice, or slices of another acquisition)"
            )
        gaps = np.flatnonzero(steps > gap_factor * step)
        if len(gaps):
            i = int(gaps[0])
            missing = int(round(steps[i] / step)) - 1
            raise BreastlabInputError(
                f"{Path(folder).name}: missing slices: the step between {slices[i].name} ({depth[i]:.2f} mm) and "
                f"{slices[i + 1].name} ({depth[i + 1]:.2f} mm) is {steps[i]:.2f} mm, the series' usual step is "
                f"{step:.2f} mm (about {max(missing, 1)} slice(s) missing; {len(gaps)} gap(s) in all)"
            )
    return step
