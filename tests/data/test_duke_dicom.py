"""DICOM reader of the Duke layout: sequence identification, volume order, geometry, de-identification, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from breastlab.data.duke.dicom import (
    META_ALLOW,
    identify_sequence,
    index_dicom_tree,
    read_series,
    resolve_sequences,
)
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog

IDENTIFYING = {
    "PatientName": "Doe^Jane",
    "PatientBirthDate": "19600101",
    "AccessionNumber": "A123456",
    "InstitutionName": "General Hospital",
    "InstitutionAddress": "1 Main Street",
    "ReferringPhysicianName": "House^Greg",
    "PerformingPhysicianName": "Grey^Meredith",
    "OperatorsName": "Tech^One",
    "StudyDate": "20100101",
    "SeriesDate": "20100101",
    "AcquisitionDate": "20100101",
    "StudyTime": "101010",
    "PatientAddress": "2 Elm Street",
    "OtherPatientIDs": "MRN999",
    "PatientAge": "050Y",
    "PatientWeight": 70.0,
    "DeviceSerialNumber": "SN123",
    "StationName": "MRI-ROOM-3",
    "StudyID": "S1",
}


# ---------------------------------------------------------------------------- synthetic DICOM helpers
def write_slice(
    path: Path,
    pixels: np.ndarray,
    position: tuple[float, float, float],
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    slope: float | None = None,
    intercept: float | None = None,
    **tags,
) -> None:
    """A minimal MR image file (uint16, Explicit VR Little Endian) with identifying tags filled in."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = "1.2.3.4.5"
    ds.Modality = "MR"
    ds.PatientID = "Breast_MRI_901"
    for key, value in IDENTIFYING.items():
        setattr(ds, key, value)
    ds.Manufacturer = "SIEMENS"
    ds.MagneticFieldStrength = 1.5
    ds.SeriesDescription = "ax dyn pre"
    ds.SeriesNumber = 3
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [0.7, 0.8]
    ds.SliceThickness = 1.1
    ds.SpacingBetweenSlices = 1.1
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def write_series(
    folder: Path,
    n: int = 6,
    shape: tuple[int, int] = (6, 5),
    step: float = 1.1,
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    origin: tuple[float, float, float] = (-10.0, -20.0, 30.0),
    names: list[int] | None = None,
    seed: int = 0,
    **tags,
) -> np.ndarray:
    """Slice k (k = 0..n-1) sits at origin + k*step*normal and holds value-coded pixels.

    Returns the (n, rows, cols) stored pixels in spatial order. ``names[k]`` is the
    file number of slice k (default k+1, TCIA's 1-NNN.dcm).
    """
    rng = np.random.default_rng(seed)
    o = np.asarray(orientation, dtype=float)
    normal = np.cross(o[:3], o[3:])
    vol = rng.integers(0, 1000, size=(n, *shape)).astype(np.uint16)
    vol[:, 0, 0] = np.arange(n) * 1000  # slice k is recognisable by its corner pixel
    names = names or list(range(1, n + 1))
    for k in range(n):
        pos = np.asarray(origin) + k * step * normal
        write_slice(folder / f"1-{names[k]:03d}.dcm", vol[k], tuple(pos), orientation, **tags)
    return vol


# ---------------------------------------------------------------------------- sequence identification
def test_identify_sequence_on_every_real_series_name(duke_dir: Path) -> None:
    counts = pd.read_csv(duke_dir / "slice_counts.csv")
    exceptions = {("Breast_MRI_700", "post1"): "post2"}  # the source's post1 is the 2nd pass (README)
    wrong = []
    for pid, grp in counts.groupby("patient_id"):
        rows = list(zip(grp["series"], grp["phase"], strict=True))
        for i, (series, phase) in enumerate(rows):
            peers = [(s, None) for j, (s, _) in enumerate(rows) if j != i]
            got = identify_sequence(series, peers=peers)
            if got != exceptions.get((pid, phase), phase):
                wrong.append((pid, series, phase, got))
    n_pre = int((counts["phase"] == "pre").sum())
    n_post = int((counts["phase"] == "post1").sum())
    print(f"identified {len(counts) - len(wrong)}/{len(counts)} series ({n_pre} pre, {n_post} post1); wrong: {wrong}")
    assert len(counts) == 1840
    assert wrong == []


def test_identify_sequence_documented_quirks() -> None:
    # patient 120: two bare "ax dyn" series; the lower series number is pre-contrast
    assert resolve_sequences(["ax dyn", "ax dyn"], [8, 7]) == ["post1", "pre"]
    # patient 596: "ax dyn pre" then bare "ax dyn": the bare one is post-contrast
    assert resolve_sequences(["ax dyn pre", "ax dyn"], [6, 7]) == ["pre", "post1"]
    # patient 279: GE name without Ph prefix twice
    assert resolve_sequences(["Ax Vibrant MultiPhase", "Ax Vibrant MultiPhase"], [400, 500]) == ["pre", "post1"]
    # patient 700: 2nd pass is the second post-contrast phase
    assert identify_sequence("9.000000-ax dyn 2nd pass-18489") == "post2"
    # typo of patient 881 and the ordinal-first spelling
    assert identify_sequence("ax dyn 1st pas") == "post1"
    assert identify_sequence("1st ax dyn") == "post1"
    # the bare GE description alone is pre-contrast; its phases carry Ph1..Ph4
    assert identify_sequence("ax 3d dyn") == "pre"
    assert [identify_sequence(f"Ph{k}ax 3d dyn") for k in range(1, 5)] == ["post1", "post2", "post3", "post4"]
    assert identify_sequence("t1fl3dtradynVIEWSspair pre") == "pre"
    assert identify_sequence("t1fl3dtradynVIEWSspair 1st pass") == "post1"


@pytest.mark.parametrize(
    "description", ["ax t2 fse", "AX STIR", "DWI b800", "3 plane loc", "ax t1", "SUB ax dyn 1st pass", "MIP ax dyn"]
)
def test_identify_sequence_non_dce_is_other(description: str) -> None:
    assert identify_sequence(description) == "other"


def test_identify_sequence_from_dataset() -> None:
    ds = Dataset()
    ds.SeriesDescription = "Ph2Ax Vibrant MultiPhase"
    ds.SeriesNumber = 502
    assert identify_sequence(ds) == "post2"


# ---------------------------------------------------------------------------- reading a series
@pytest.mark.parametrize(
    "orientation",
    [
        (1, 0, 0, 0, 1, 0),  # axial, normal +z
        (1, 0, 0, 0, -1, 0),  # axial with flipped columns: normal -z, so the order reverses in z
        (0.8660254, 0.5, 0, 0, 0, -1),  # oblique
    ],
)
def test_read_series_orders_by_position_not_file_name(tmp_path: Path, orientation) -> None:
    n = 7
    names = [5, 2, 7, 1, 3, 6, 4]  # file number of spatial slice k: shuffled against position
    truth = write_series(tmp_path / "s", n=n, step=1.5, orientation=orientation, names=names)
    vol = read_series(tmp_path / "s")
    assert vol.array.shape == (n, 6, 5) and vol.array.dtype == np.float32
    np.testing.assert_array_equal(vol.array, truth.astype(np.float32))
    assert vol.files == [f"1-{k:03d}.dcm" for k in names]
    # independent check of the convention: projections on r x c are ascending
    o = np.asarray(orientation, dtype=float)
    depth = vol.positions @ np.cross(o[:3], o[3:])
    assert np.all(np.diff(depth) > 0)
    assert vol.spacing == pytest.approx((1.5, 0.7, 0.8))
    assert vol.thickness == pytest.approx(1.1)
    assert vol.spacing_between_slices == pytest.approx(1.1)
    np.testing.assert_allclose(vol.orientation, orientation)


def test_read_series_applies_rescale_per_slice(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    pix = np.arange(12, dtype=np.uint16).reshape(3, 4)
    write_slice(folder / "1-001.dcm", pix, (0, 0, 0), slope=2.0, intercept=-5.0)
    write_slice(folder / "1-002.dcm", pix, (0, 0, 1), slope=0.5, intercept=10.0)
    vol = read_series(folder)
    np.testing.assert_allclose(vol.array[0], pix * 2.0 - 5.0)
    np.testing.assert_allclose(vol.array[1], pix * 0.5 + 10.0)


def test_volume_meta_is_deidentified(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=3)
    vol = read_series(tmp_path / "s")
    assert set(vol.meta) <= set(META_ALLOW)
    for key in IDENTIFYING:
        assert key not in vol.meta
    flat = repr(vol.meta)
    for value in IDENTIFYING.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in flat
    assert "UID" not in flat and "1.2.3.4" not in flat
    assert vol.meta["PatientID"] == "Breast_MRI_901"
    assert vol.meta["SeriesDescription"] == "ax dyn pre"
    assert vol.meta["MagneticFieldStrength"] == 1.5


# ---------------------------------------------------------------------------- pydicom's real MR test files
def _mr_small_reference() -> np.ndarray:
    return pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array.astype(np.float32)


@pytest.mark.filterwarnings("ignore:The pixel data is .* bytes long")
@pytest.mark.parametrize(
    "name", ["MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "MR_small_expb.dcm",
             "MR_small_padded.dcm", "MR_small_RLE.dcm"],
)  # fmt: skip
def test_read_series_on_pydicom_mr_files(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    shutil.copy(get_testdata_file(name), folder / "1-001.dcm")
    vol = read_series(folder)
    assert vol.array.shape == (1, 64, 64)
    np.testing.assert_array_equal(vol.array[0], _mr_small_reference())
    assert vol.spacing[1:] == pytest.approx((0.3125, 0.3125))
    assert "PatientName" not in vol.meta


@pytest.mark.parametrize("name", ["MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"])
def test_compressed_mr_decodes_or_says_which_decoder_is_missing(tmp_path: Path, name: str) -> None:
    from pydicom.pixels import get_decoder

    folder = tmp_path / "s"
    folder.mkdir()
    shutil.copy(get_testdata_file(name), folder / "1-001.dcm")
    ts = pydicom.dcmread(folder / "1-001.dcm", stop_before_pixels=True).file_meta.TransferSyntaxUID
    if get_decoder(ts).is_available:
        vol = read_series(folder)
        np.testing.assert_array_equal(vol.array[0], _mr_small_reference())
        print(f"{name}: decoded ({ts.name})")
    else:
        with pytest.raises(BreastlabInputError) as err:
            read_series(folder)
        msg = str(err.value)
        print(msg)
        assert "1-001.dcm" in msg and ts.name in msg and "install" in msg


def test_truncated_pydicom_file(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    shutil.copy(get_testdata_file("MR_truncated.dcm"), folder / "1-001.dcm")
    with pytest.raises(BreastlabInputError, match=r"1-001\.dcm.*truncated"):
        read_series(folder)


# ---------------------------------------------------------------------------- bad input
def test_corrupt_file_is_named(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=4)
    (tmp_path / "s" / "1-003.dcm").write_bytes(b"this is not a DICOM file" * 10)
    with pytest.raises(BreastlabInputError, match=r"1-003\.dcm.*not a readable DICOM"):
        read_series(tmp_path / "s")


def test_truncated_file_is_named(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=4, shape=(16, 16))
    path = tmp_path / "s" / "1-002.dcm"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])
    with pytest.raises(BreastlabInputError, match=r"1-002\.dcm"):
        read_series(tmp_path / "s")


def test_missing_slice_is_a_gap(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=8, step=2.0)
    (tmp_path / "s" / "1-005.dcm").unlink()
    with pytest.raises(BreastlabInputError, match=r"missing slices.*1-004\.dcm.*1-006\.dcm.*4\.00 mm.*2\.00 mm"):
        read_series(tmp_path / "s")


def test_mixed_orientations(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=4)
    write_slice(tmp_path / "s" / "1-009.dcm", np.zeros((6, 5)), (0, 0, 99), orientation=(0, 1, 0, 0, 0, -1))
    with pytest.raises(BreastlabInputError, match=r"mixed orientations.*1-009\.dcm"):
        read_series(tmp_path / "s")


def test_mixed_matrix_sizes(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=4, shape=(6, 5))
    write_slice(tmp_path / "s" / "1-009.dcm", np.zeros((8, 8)), (-10, -20, 30 + 4 * 1.1))
    with pytest.raises(BreastlabInputError, match=r"mixed matrix sizes.*6x5.*8x8 \(e\.g\. 1-009\.dcm\)"):
        read_series(tmp_path / "s")


def test_duplicate_position(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=4)
    shutil.copy(tmp_path / "s" / "1-002.dcm", tmp_path / "s" / "1-010.dcm")
    with pytest.raises(BreastlabInputError, match=r"same position"):
        read_series(tmp_path / "s")


def test_missing_position_and_empty_folder(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=2)
    ds = pydicom.dcmread(tmp_path / "s" / "1-001.dcm")
    del ds.ImagePositionPatient
    ds.save_as(tmp_path / "s" / "1-001.dcm")
    with pytest.raises(BreastlabInputError, match=r"1-001\.dcm: ImagePositionPatient missing"):
        read_series(tmp_path / "s")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BreastlabInputError, match="no DICOM files"):
        read_series(tmp_path / "empty")


# ---------------------------------------------------------------------------- index
def _tree(root: Path) -> Path:
    base = root / "Duke-Breast-Cancer-MRI"
    study = "01-01-1990-NA-BREAST PRONE-12345"
    for number, desc in [(3, "ax dyn pre"), (5, "ax dyn 1st pass"), (6, "ax dyn 2nd pass"), (2, "ax t2")]:
        write_series(base / "Breast_MRI_001" / study / f"{number}.000000-{desc}-1{number:04d}", n=3,
                     SeriesDescription=desc, SeriesNumber=number)  # fmt: skip
    for number, desc in [(600, "ax 3d dyn"), (601, "Ph1ax 3d dyn"), (602, "Ph2ax 3d dyn")]:
        write_series(base / "Breast_MRI_002" / study / f"{number}.000000-{desc}-2{number:04d}", n=4,
                     SeriesDescription=desc, SeriesNumber=number, Manufacturer="GE MEDICAL SYSTEMS")  # fmt: skip
    return base


def test_index_dicom_tree(tmp_path: Path) -> None:
    _tree(tmp_path)
    index = index_dicom_tree(tmp_path)  # the cohort folder; the collection folder works too
    assert len(index) == 7
    got = dict(zip(index["series_description"], index["sequence"], strict=True))
    assert got == {"ax dyn pre": "pre", "ax dyn 1st pass": "post1", "ax dyn 2nd pass": "post2", "ax t2": "other",
                   "ax 3d dyn": "pre", "Ph1ax 3d dyn": "post1", "Ph2ax 3d dyn": "post2"}  # fmt: skip
    p2 = index[index["patient_id"] == "Breast_MRI_002"]
    assert set(p2["n_files"]) == {4} and set(p2["manufacturer"]) == {"GE MEDICAL SYSTEMS"}
    assert set(index["rows"]) == {6} and set(index["field_strength_t"]) == {1.5}
    assert list(index_dicom_tree(tmp_path / "Duke-Breast-Cancer-MRI")["series"]) == list(index["series"])
    for key in ("PatientName", "patient_name", "institution"):
        assert key not in index.columns


def test_index_reports_unreadable_series(tmp_path: Path) -> None:
    base = _tree(tmp_path)
    bad = base / "Breast_MRI_003" / "study" / "3.000000-ax dyn pre-99999"
    bad.mkdir(parents=True)
    (bad / "1-001.dcm").write_bytes(b"garbage")
    with pytest.raises(BreastlabInputError, match="3.000000-ax dyn pre-99999"):
        index_dicom_tree(tmp_path)
    log = ProblemLog()
    index = index_dicom_tree(tmp_path, problems=log)
    assert "Breast_MRI_003" not in set(index["patient_id"])
    assert log.to_frame()["item"].tolist() == ["Breast_MRI_003"]


# ---------------------------------------------------------------------------- fast header scanner
@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the odd files it ships
def test_fast_scanner_agrees_with_pydicom_on_every_shipped_test_file() -> None:
    """Every file the scanner accepts must give pydicom's pixels, position, orientation and rescale."""
    from breastlab.data.duke.dicom import _read_slice_fast

    folder = Path(get_testdata_file("MR_small.dcm")).parent
    accepted = 0
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            fast = _read_slice_fast(path)
        except BreastlabInputError:
            continue
        if fast is None:
            continue
        accepted += 1
        ds = pydicom.dcmread(path)
        np.testing.assert_array_equal(fast.pixels, ds.pixel_array, err_msg=path.name)
        np.testing.assert_allclose(fast.position, [float(v) for v in ds.ImagePositionPatient], err_msg=path.name)
        np.testing.assert_allclose(fast.orientation, [float(v) for v in ds.ImageOrientationPatient], err_msg=path.name)
        assert fast.slope == float(ds.get("RescaleSlope", 1) or 1), path.name
        assert fast.intercept == float(ds.get("RescaleIntercept", 0) or 0), path.name
    print(f"fast scanner accepted {accepted} of pydicom's test files, all identical to pydicom")
    assert accepted >= 5


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fast_header_walk_agrees_with_pydicom() -> None:
    """The element walk (sequences, implicit and explicit VR) finds pydicom's values and pixel bytes."""
    from breastlab.data.duke.dicom import _scan_native

    folder = Path(get_testdata_file("MR_small.dcm")).parent
    walked = 0
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        scan = _scan_native(path.read_bytes())
        if scan is None:
            continue
        walked += 1
        values, offset, length = scan
        ds = pydicom.dcmread(path)
        assert path.read_bytes()[offset : offset + length] == ds.PixelData, path.name
        for key, value in values.items():
            ref = ds[key].value
            if key in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "PhotometricInterpretation"):
                assert value == str(ref or "").strip(" \x00"), (path.name, key)  # text, as pydicom strips it
                continue
            if ref in (None, ""):  # an empty element: the scanner gives []
                assert value == [], (path.name, key)
                continue
            ref = (
                [float(v) for v in ref]
                if key in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")
                else ref
            )
            ref = (
                [float(ref)]
                if key
                in ("RescaleSlope", "RescaleIntercept", "NumberOfFrames", "SliceThickness", "SpacingBetweenSlices")
                else ref
            )
            assert value == ref, (path.name, key)
    print(f"fast header walk parsed {walked} of pydicom's test files, all identical to pydicom")
    assert walked >= 12  # the others are compressed, big-endian, pixel-less or unreadable: pydicom reads them


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("undefined", [False, True])
def test_fast_scanner_skips_nested_sequences(tmp_path: Path, implicit: bool, undefined: bool) -> None:
    from pydicom.sequence import Sequence
    from pydicom.uid import ImplicitVRLittleEndian

    inner = Dataset()
    inner.CodeValue, inner.CodeMeaning = "T-04000", "Breast"
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    item.AnatomicRegionSequence = Sequence([inner, inner])
    write_slice(tmp_path / "s" / "1-001.dcm", np.arange(20, dtype=np.uint16).reshape(4, 5), (1, 2, 3),
                ReferencedImageSequence=Sequence([item, Dataset()]), RescaleSlope=2, RescaleIntercept=-1)  # fmt: skip
    path = tmp_path / "s" / "1-001.dcm"
    ds = pydicom.dcmread(path)
    for elem in (ds["ReferencedImageSequence"], ds.ReferencedImageSequence[0]["AnatomicRegionSequence"]):
        elem.is_undefined_length = undefined
    for it in [*ds.ReferencedImageSequence, *ds.ReferencedImageSequence[0].AnatomicRegionSequence]:
        it.is_undefined_length_sequence_item = undefined
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(path, implicit_vr=implicit, little_endian=True)
    from breastlab.data.duke.dicom import _read_slice_fast

    assert (b"\xff\xff\xff\xff" in path.read_bytes()) == undefined
    assert _read_slice_fast(path) is not None  # the scanner walked past the sequences itself
    fast, slow = read_series(tmp_path / "s", fast=True), read_series(tmp_path / "s", fast=False)
    np.testing.assert_array_equal(fast.array, slow.array)
    np.testing.assert_array_equal(fast.array[0], np.arange(20).reshape(4, 5) * 2.0 - 1)
    np.testing.assert_array_equal(fast.positions, [[1, 2, 3]])


@pytest.mark.parametrize("signed", [False, True])
def test_unused_high_bits_are_masked_like_pydicom(tmp_path: Path, signed: bool) -> None:
    stored = np.array([[0x0FFF, 0xF123], [0x0800, 0x07FF]], dtype="<u2")
    write_slice(tmp_path / "s" / "1-001.dcm", stored, (0, 0, 0), BitsStored=12, HighBit=11,
                PixelRepresentation=int(signed))  # fmt: skip
    ref = pydicom.dcmread(tmp_path / "s" / "1-001.dcm").pixel_array.astype(np.float32)
    for fast in (True, False):
        np.testing.assert_array_equal(read_series(tmp_path / "s", fast=fast).array[0], ref)
    assert ref[0, 0] == (-1 if signed else 4095) and ref[0, 1] == 291  # hand-computed 12-bit values


# ---------------------------------------------------------------------------- per-series header layout
def _pydicom_slice(path: Path) -> tuple[np.ndarray, list[float], float, float]:
    ds = pydicom.dcmread(path)
    return (
        ds.pixel_array,
        [float(v) for v in ds.ImagePositionPatient],
        float(ds.get("RescaleSlope", 1) or 1),
        float(ds.get("RescaleIntercept", 0) or 0),
    )


@pytest.mark.parametrize("buffered", [False, True])
def test_series_layout_reuses_the_header_walk_and_falls_back_exactly(tmp_path: Path, buffered: bool) -> None:
    """Files after the second are checked against the first one's layout; any file whose header
    differs elsewhere (an extra element, a changed constant value, a value grown by more than the
    read-ahead) is walked fully. Every value must be pydicom's either way."""
    from breastlab.data.duke.dicom import ReadBuffer, SeriesLayout, _read_slice_fast

    folder = tmp_path / "s"
    rng = np.random.default_rng(4)
    n = 10
    for k in range(n):
        tags = {"ImageComments": f"slice {k}", "InstanceNumber": k + 1}
        if k == 4:  # one more element: the header is longer, the layout does not hold
            tags["ImageType"] = ["ORIGINAL", "PRIMARY", "M", "ND"]
        if k == 6:  # a value that was the same in the first files (RescaleSlope) changes
            tags["RescaleSlope"] = "2.5"
        if k == 8:  # a varying value grows past the 8 kB read beyond the reference header
            tags["ImageComments"] = "x" * 9000
        # positions of different text lengths: the varying elements change length, the rest shifts
        pos = (-10.123456 if k % 2 else -10.0, -20.5, 30.0 + 1.25 * k)
        write_slice(
            folder / f"1-{k + 1:03d}.dcm",
            rng.integers(0, 4000, (6, 5)).astype(np.uint16),
            pos,
            **({"RescaleSlope": "1"} | tags),
        )
    files = sorted(folder.glob("*.dcm"))
    layout, rows = SeriesLayout(), ReadBuffer().rows(n, max(f.stat().st_size for f in files)) if buffered else None
    walked = []
    for k, path in enumerate(files):
        before = layout.hits
        sl = _read_slice_fast(path, layout, rows[k] if buffered else None)
        if layout.hits == before:
            walked.append(k + 1)
        pixels, position, slope, intercept = _pydicom_slice(path)
        np.testing.assert_array_equal(sl.pixels, pixels, err_msg=path.name)
        assert sl.position.tolist() == position and (sl.slope, sl.intercept) == (slope, intercept), path.name
    # Files 1-2 teach the layout; 5 and 7 do not fit it and are walked, and so is 9 where only the
    # reference header + 8 kB was looked at (buffered); from a whole file its long value just shifts the
    # rest. At most one other file is walked: the random UIDs of files 1-2 may have the same length, so
    # the file meta group length looks constant until a file shows otherwise.
    expected = {1, 2, 5, 7} | ({9} if buffered else set())
    assert expected <= set(walked) and len(walked) <= len(expected) + 1, walked
    fast, slow = read_series(folder), read_series(folder, fast=False)
    np.testing.assert_array_equal(fast.array, slow.array)
    np.testing.assert_array_equal(fast.positions, slow.positions)
    assert fast.spacing == slow.spacing and fast.meta == slow.meta
    assert fast.array[6].max() > 0 and np.array_equal(fast.array[6], slow.array[6])  # rescaled by 2.5 like pydicom


def test_header_free_read_gives_pydicom_geometry(tmp_path: Path) -> None:
    """read_series_slices(header=False): spacing and thickness from the scanner, as pydicom reads them."""
    from breastlab.data.duke.dicom import ReadBuffer, read_series_slices

    write_series(tmp_path / "s", n=5, step=1.3)
    buf = ReadBuffer()
    slices, vol = read_series_slices(tmp_path / "s", header=False, buffer=buf)
    ref = read_series(tmp_path / "s", fast=False)
    assert vol.meta == {} and vol.spacing == ref.spacing and vol.thickness == ref.thickness == 1.1
    assert vol.spacing_between_slices == ref.spacing_between_slices
    np.testing.assert_array_equal(np.stack([s.pixels for s in slices]), ref.array)
    assert np.shares_memory(slices[0].pixels, buf._array)  # the pixels view the reused buffer


def test_series_layout_on_implicit_vr_files(tmp_path: Path) -> None:
    """Implicit VR (no VR in the element headers): the layout check still gives pydicom's values."""
    from pydicom.uid import ImplicitVRLittleEndian

    from breastlab.data.duke.dicom import ReadBuffer, read_series_slices

    vol = write_series(tmp_path / "s", n=7, step=1.37)  # positions of different text lengths
    for path in sorted((tmp_path / "s").glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(path, implicit_vr=True, little_endian=True)
    slices, vol_fast = read_series_slices(tmp_path / "s", buffer=ReadBuffer())
    ref = read_series(tmp_path / "s", fast=False)
    assert all(s.ds is None for s in slices)  # all read by the scanner
    np.testing.assert_array_equal(np.stack([s.pixels for s in slices]), vol)
    np.testing.assert_array_equal(vol_fast.positions, ref.positions)
    assert vol_fast.spacing == ref.spacing and vol_fast.meta == ref.meta


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_index_header_scanner_agrees_with_pydicom(tmp_path: Path) -> None:
    """The index row of a series is the same whether its header is scanned or read by pydicom: on
    every file pydicom ships and on plain, padded, empty, multi-valued and non-ASCII values."""
    from breastlab.data.duke.dicom import _index_header_fast, _index_series

    cases = {
        "plain": {},
        "padded": {"SeriesDescription": "  Ph1/ax dyn  ", "Manufacturer": "GE MEDICAL SYSTEMS "},
        "empty": {"SeriesDescription": "", "Manufacturer": "", "SeriesNumber": None, "MagneticFieldStrength": None},
        "numbers": {"SeriesNumber": "+0012", "MagneticFieldStrength": " 2.8936e0"},
        "multi": {"SeriesDescription": ["ax", "dyn"], "MagneticFieldStrength": [1.5, 3.0]},
        "latin1": {"SeriesDescription": "ax dyn pré", "SpecificCharacterSet": "ISO_IR 100"},
        "utf8": {"SeriesDescription": "ax dyn pre", "SpecificCharacterSet": "ISO_IR 192"},
        "japanese": {"SeriesDescription": "ax dyn pre", "SpecificCharacterSet": ["", "ISO 2022 IR 87"]},
        "charset only": {"SpecificCharacterSet": "ISO_IR 144"},
    }
    folders = []
    for name, tags in cases.items():
        folder = tmp_path / "Breast_MRI_001" / "study" / f"3.000000-{name}-12345"
        write_series(folder, n=1, **{k: v for k, v in tags.items() if v is not None})
        ds = pydicom.dcmread(folder / "1-001.dcm")
        for k, v in tags.items():
            if v is None:
                setattr(ds, k, None)  # present, empty value
        ds.save_as(folder / "1-001.dcm")
        folders.append(folder)
    shipped = Path(get_testdata_file("MR_small.dcm")).parent
    for path in sorted(p for p in shipped.iterdir() if p.is_file() and p.suffix == ".dcm"):
        folder = tmp_path / "shipped" / f"1.000000-{path.stem}-00000"
        folder.mkdir(parents=True)
        shutil.copy(path, folder / path.name)
        folders.append(folder)
    scanned = 0
    for folder in folders:
        patient = folder.parent.parent
        try:
            slow = _index_series(patient.name, patient, folder, fast=False)
        except Exception as exc:  # noqa: BLE001 - then the scanner must leave the file to pydicom
            with pytest.raises(type(exc)):
                _index_series(patient.name, patient, folder)
            continue
        scanned += _index_header_fast(next(folder.iterdir())) is not None
        assert _index_series(patient.name, patient, folder) == slow, folder.name
    assert scanned >= 8
