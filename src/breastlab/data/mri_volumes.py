"""MRI volumes read for the cohort table: DICOM headers without pixels (the scan's fast header reader),
NIfTI images and multi-frame DICOM files as the axial slice stack
:func:`~breastlab.data.duke.dicom.read_series_slices` gives for a series of single-slice files."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from breastlab.errors import BreastlabInputError

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


def header_seconds(value: Any) -> float | None:
    """DICOM TM ``HHMMSS.ffffff`` (or ``HH:MM:SS``) as seconds after midnight; None if unreadable."""
    text = str(value or "").replace(":", "").strip().split("\\")[0]
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(\.\d+)?", text)
    if not m:
        return None
    h, mi, s = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    return h * 3600 + mi * 60 + s + float(m.group(4) or 0)


def header_number(value: Any) -> float | None:
    try:
        v = float(str(value).split("\\")[0])
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


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
        step = header_number(_frame_value(ds, None, "PixelMeasuresSequence", "SpacingBetweenSlices")) or header_number(
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
        slope = header_number(_frame_value(ds, k, "PixelValueTransformationSequence", "RescaleSlope"))
        intercept = header_number(_frame_value(ds, k, "PixelValueTransformationSequence", "RescaleIntercept"))
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
    thickness = header_number(_frame_value(ds, 0, "PixelMeasuresSequence", "SliceThickness"))
    between = header_number(_frame_value(ds, 0, "PixelMeasuresSequence", "SpacingBetweenSlices"))
    volume = Volume(
        array=np.empty((frames, 0, 0), dtype=np.float32), spacing=(float(dz), dy, dx), thickness=thickness,
        orientation=first, positions=np.stack([s.position for s in slices]), meta=header_meta(ds),
        spacing_between_slices=between, files=[s.name for s in slices], folder=str(path.parent),
    )  # fmt: skip
    return slices, volume


def frame_count(path: str | os.PathLike) -> int:
    """NumberOfFrames of a DICOM file from its header (1 where absent or unreadable: the reader judges)."""
    try:
        return int(header_number(read_header(path).get("NumberOfFrames")) or 1)
    except BreastlabInputError:
        return 1
