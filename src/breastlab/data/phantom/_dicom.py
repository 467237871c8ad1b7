"""Write a phantom study as TCIA-style DICOM files (MR Image Storage, explicit VR little endian).

One :class:`pydicom.Dataset` per series is reused for every slice (only the per-slice
elements change), which keeps writing at about a millisecond per file. UIDs are
``2.25.<hash>`` values derived from the cohort seed (``pydicom.uid.generate_uid`` with
fixed entropy sources), and there are no timestamps: the same seed gives the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import io
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from breastlab import __version__
from breastlab.data.phantom._spec import MRIPatient, Series

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
STUDY_DATE = _dt.date(1990, 1, 1)  # TCIA's Duke studies are date-shifted to 01-01-1990
STUDY_DESCRIPTION = "BREAST^ROUTINE DYNAMICS"
INSTITUTION = "Phantom General Hospital"  # fake identifying values: the reader must drop them


def uid(patient: MRIPatient, *parts: object) -> str:
    """Deterministic UID for ``parts`` of this patient's study."""
    return generate_uid(prefix=None, entropy_srcs=["breastlab-phantom", str(patient.seed), patient.patient_id,
                                                   *map(str, parts)])


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


def write_series(patient: MRIPatient, series: Series, volume: np.ndarray, folder: Path) -> int:
    """Write ``volume`` (slice-index order) as ``folder/1-NNN.dcm``; returns the number of files."""
    folder.mkdir(parents=True, exist_ok=True)
    k = patient.phases.index(series.phase)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = generate_uid(prefix=None, entropy_srcs=["breastlab", __version__])
    meta.ImplementationVersionName = f"BREASTLAB_{__version__}"[:16]
    ds = Dataset()
    ds.file_meta = meta
    _patient_study(patient, ds)
    # DCE timing: pre-contrast at 09:00:00, one post-contrast phase every 90 s
    seconds = 9 * 3600 + 90 * k
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"
    ds.SeriesDescription = series.description
    if patient.contrast_agent is not None and series.phase != "pre":
        ds.ContrastBolusAgent = patient.contrast_agent[:64]
    ds.SeriesInstanceUID = uid(patient, "series", series.number)
    ds.SeriesNumber = series.number
    ds.AcquisitionNumber = 1
    ds.TemporalPositionIdentifier = k + 1
    ds.NumberOfTemporalPositions = len(patient.phases)
    window = np.percentile(volume[:, :: 4, :: 4], [1, 99.5])
    ds.WindowCenter = f"{(window[0] + window[1]) / 2:.0f}"
    ds.WindowWidth = f"{max(window[1] - window[0], 1):.0f}"
    n = patient.n_slices
    for instance in range(1, n + 1):
        index = n - instance if patient.descending else instance - 1
        x, y, z = patient.position(index)
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID = uid(patient, "image", series.number, instance)
        ds.InstanceNumber = instance
        ds.ImagePositionPatient = [f"{x:.4f}", f"{y:.4f}", f"{z:.4f}"]
        ds.SliceLocation = f"{z:.4f}"
        ds.PixelData = np.ascontiguousarray(volume[index], dtype="<u2").tobytes()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        (folder / f"1-{instance:03d}.dcm").write_bytes(buffer.getvalue())
    return n
