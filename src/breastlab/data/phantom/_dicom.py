"""Write a phantom study as TCIA-style DICOM files (MR Image Storage, explicit VR little endian).

pydicom serialises the first slice of a series once; the other slices reuse those bytes
and re-encode only the five elements that change per slice (SOP Instance UID twice,
InstanceNumber, ImagePositionPatient, SliceLocation) and the pixel data, which makes
writing several times faster than ``Dataset.save_as`` per file (benchmarks/bench_phantom.py). The test suite checks
that the result is byte-identical to pydicom's own output. UIDs are ``2.25.<38 digits>``
derived from the cohort seed by SHA-256 (fixed length, so the file meta group length is
the same for every slice), and there are no timestamps: the same seed gives the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import struct
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from breastlab import __version__
from breastlab.data.phantom._spec import MRIPatient, Series

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
STUDY_DATE = _dt.date(1990, 1, 1)  # TCIA's Duke studies are date-shifted to 01-01-1990
STUDY_DESCRIPTION = "BREAST^ROUTINE DYNAMICS"
INSTITUTION = "Phantom General Hospital"  # fake identifying values: the reader must drop them


def uid(patient: MRIPatient, *parts: object) -> str:
    """Deterministic UID for ``parts`` of this patient's study."""
    return _uid_from("breastlab-phantom", patient.seed, patient.patient_id, *parts)


def _uid_from(*parts: object) -> str:
    """``2.25.<n>`` with ``n`` a 38-digit integer below 2**128 hashed (SHA-256) from ``parts``."""
    digest = int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:16], "big")
    return f"2.25.{digest % (9 * 10**37) + 10**37}"


def _date(days: int | None) -> str:
    return "" if days is None else (STUDY_DATE + _dt.timedelta(days=int(days))).strftime("%Y%m%d")


def _patient_study(patient: MRIPatient, ds: Dataset) -> None:
    n = patient.number
    days_to_mri = patient.days_to_mri or 0
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.SOPClassUID = MR_IMAGE_STORAGE
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = _date(0)
    ds.AccessionNumber = f"PH{n:07d}"
    ds.Modality = "MR"
    ds.Manufacturer = patient.manufacturer
    ds.InstitutionName = INSTITUTION
    ds.InstitutionAddress = f"{n} Imaginary Road, Nowhere"
    ds.ReferringPhysicianName = "Referrer^Fake"
    ds.StationName = f"PHANTOM{n % 7}"
    ds.StudyDescription = STUDY_DESCRIPTION
    ds.OperatorsName = "Operator^Fake"
    ds.ManufacturerModelName = patient.model
    ds.PatientName = f"Phantom^{n:03d}"
    ds.PatientID = patient.patient_id
    # birth date relative to the (shifted) study date: diagnosis = study date - days to MRI
    birth = None if patient.birth_days is None else patient.birth_days - days_to_mri
    ds.PatientBirthDate = _date(birth)
    ds.PatientSex = "F"
    if birth is not None:
        ds.PatientAge = f"{int(-birth // 365.25):03d}Y"
    ds.PatientAddress = f"{n} Fictional Street, Nowhere"
    ds.BodyPartExamined = "BREAST"
    ds.ScanningSequence = "GR"
    ds.SequenceVariant = ["SP", "SS"]
    ds.ScanOptions = patient.scan_options.split("\\")
    ds.MRAcquisitionType = "3D"
    ds.SliceThickness = f"{patient.slice_thickness:g}"
    ds.RepetitionTime = f"{patient.tr:g}"
    ds.EchoTime = f"{patient.te:g}"
    ds.MagneticFieldStrength = f"{patient.field_strength:g}"
    ds.SpacingBetweenSlices = f"{patient.spacing:g}"
    ds.SoftwareVersions = f"breastlab {__version__} phantom"
    ds.AcquisitionMatrix = [0, patient.acquisition_matrix[0], patient.acquisition_matrix[1], 0]
    ds.FlipAngle = f"{patient.flip_angle:g}"
    ds.PatientPosition = patient.patient_position
    ds.StudyInstanceUID = uid(patient, "study")
    ds.StudyID = f"{n}"
    ds.FrameOfReferenceUID = uid(patient, "frame")
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = patient.shape[1], patient.shape[2]
    ds.PixelSpacing = [f"{patient.pixel_spacing:.6g}"] * 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "US"


def series_dataset(patient: MRIPatient, series: Series, volume: np.ndarray) -> Dataset:
    """The series' dataset, filled for its first instance (see :func:`set_instance`)."""
    k = patient.phases.index(series.phase)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _uid_from("breastlab", __version__)
    meta.ImplementationVersionName = f"BREASTLAB_{__version__}"[:16]
    ds = Dataset()
    ds.file_meta = meta
    _patient_study(patient, ds)
    # DCE timing: pre-contrast at 09:00:00, one post-contrast phase every 90 s
    seconds = 9 * 3600 + 90 * k
    clock = f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = clock
    ds.SeriesDescription = series.description
    if patient.contrast_agent is not None and series.phase != "pre":
        ds.ContrastBolusAgent = patient.contrast_agent[:64]
    ds.SeriesInstanceUID = uid(patient, "series", series.number)
    ds.SeriesNumber = series.number
    ds.AcquisitionNumber = 1
    ds.TemporalPositionIdentifier = k + 1
    ds.NumberOfTemporalPositions = len(patient.phases)
    window = np.percentile(volume[:, ::4, ::4], [1, 99.5])
    ds.WindowCenter = f"{(window[0] + window[1]) / 2:.0f}"
    ds.WindowWidth = f"{max(window[1] - window[0], 1):.0f}"
    set_instance(ds, patient, series, volume, 1)
    return ds


def set_instance(ds: Dataset, patient: MRIPatient, series: Series, volume: np.ndarray, instance: int) -> int:
    """Fill the per-slice elements of ``ds`` for ``instance`` (1-based); returns the slice index."""
    n = patient.n_slices
    index = n - instance if patient.descending else instance - 1
    x, y, z = patient.position(index)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid(patient, "image", series.number, instance)
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [f"{x:.4f}", f"{y:.4f}", f"{z:.4f}"]
    ds.SliceLocation = f"{z:.4f}"
    ds.PixelData = np.ascontiguousarray(volume[index], dtype="<u2").tobytes()
    return index


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# Per-slice elements, in file order: (group, element, VR, padding byte).
_VARYING = [
    (0x0002, 0x0003, b"UI", b"\0"),
    (0x0008, 0x0018, b"UI", b"\0"),
    (0x0020, 0x0013, b"IS", b" "),
    (0x0020, 0x0032, b"DS", b" "),
    (0x0020, 0x1041, b"DS", b" "),
]


def _element(group: int, elem: int, vr: bytes, pad: bytes, value: str) -> bytes:
    """One explicit-VR little-endian element with a 2-byte length (UI, IS, DS), padded to even length."""
    raw = value.encode("ascii")
    raw += pad * (len(raw) % 2)
    return struct.pack("<HH2sH", group, elem, vr, len(raw)) + raw


def _segments(template: bytes, n_pixel_bytes: int) -> list[bytes]:
    """Split a serialised first slice around the per-slice elements and the pixel values."""
    header = template[: len(template) - n_pixel_bytes]
    cuts, start = [], 0
    for group, elem, vr, _ in _VARYING:
        pos = header.find(struct.pack("<HH2s", group, elem, vr), start)
        if pos < 0:
            raise RuntimeError(f"({group:04X},{elem:04X}) not found in the serialised template")
        (length,) = struct.unpack_from("<H", header, pos + 6)
        cuts.append((pos, pos + 8 + length))
        start = pos + 8 + length
    pieces, prev = [], 0
    for a, b in cuts:
        pieces.append(header[prev:a])
        prev = b
    pieces.append(header[prev:])
    return pieces


def write_series(patient: MRIPatient, series: Series, volume: np.ndarray, folder: Path) -> int:
    """Write ``volume`` (slice-index order) as ``folder/1-NNN.dcm``; returns the number of files."""
    folder.mkdir(parents=True, exist_ok=True)
    ds = series_dataset(patient, series, volume)
    n_pixel_bytes = volume.shape[1] * volume.shape[2] * 2
    segments = _segments(to_bytes(ds), n_pixel_bytes)
    x, y, _ = patient.position(0)
    for instance in range(1, patient.n_slices + 1):
        index = patient.n_slices - instance if patient.descending else instance - 1
        z = patient.position(index)[2]
        sop = uid(patient, "image", series.number, instance)
        values = [sop, sop, str(instance), f"{x:.4f}\\{y:.4f}\\{z:.4f}", f"{z:.4f}"]
        parts = [segments[0]]
        for (group, elem, vr, pad), value, tail in zip(_VARYING, values, segments[1:], strict=True):
            parts += [_element(group, elem, vr, pad, value), tail]
        parts.append(np.ascontiguousarray(volume[index], dtype="<u2").tobytes())
        (folder / f"1-{instance:03d}.dcm").write_bytes(b"".join(parts))
    return patient.n_slices
