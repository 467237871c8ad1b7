"""A series is either right or refused with a reason: the exact cases of the adversarial review.

Each case damages a copy of a small phantom cohort (TCIA layout) or a synthetic series the
way the review did, and checks that the reader refuses it naming the file and the rule, and
that an export lists the patient in problems.csv and goes on with the others.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from breastlab.data.duke.dicom import index_dicom_tree, read_series
from breastlab.data.export import export_slices, read_problems
from breastlab.data.phantom import make_mri_cohort
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog

N_PATIENTS, N_SLICES, MATRIX, SEED, SIZE = 3, 12, 32, 5, 16
DATE_OR_ABSOLUTE = re.compile(r"(?:^|[\s'\"(])/[^\s]|\d{2}-\d{2}-\d{4}|\b(?:19|20)\d{6}\b")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantom") / "cohort"
    make_mri_cohort(out, N_PATIENTS, seed=SEED, n_slices=N_SLICES, matrix=MATRIX, n_post=2, progress=False)
    return out


def _copy(cohort: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(cohort, tmp_path / "cohort"))


def _series(cohort: Path, patient: str, sequence: str = "pre") -> Path:
    index = index_dicom_tree(cohort, problems=ProblemLog(), counts=None)
    row = index[(index["patient_id"] == patient) & (index["sequence"] == sequence)]
    return Path(row["path"].iloc[0])


def _by_position(series: Path) -> list[Path]:
    """The series' files ordered along the slice normal (the phantom is axial: +z)."""
    files = sorted(series.glob("*.dcm"))
    z = [float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]) for f in files]
    return [f for _, f in sorted(zip(z, files, strict=True))]


def _edit(path: Path, **tags) -> None:
    ds = pydicom.dcmread(path)
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.save_as(path)


def _export(work: Path, tmp_path: Path, **kwargs) -> tuple[pd.DataFrame, dict[str, str]]:
    store = export_slices(work, tmp_path / "store", size=SIZE, workers=1, progress=False, **kwargs)
    problems = read_problems(tmp_path / "store")
    print(problems.to_string(index=False))
    for message in problems["message"]:  # shareable: no local absolute path, no study date
        assert not DATE_OR_ABSOLUTE.search(message), message
    messages: dict[str, str] = {}
    for item, message in zip(problems["item"], problems["message"], strict=True):
        messages[item] = f"{messages[item]} | {message}" if item in messages else message
    return store.manifest, messages


# ---------------------------------------------------------------------------- unreadable files
@pytest.mark.parametrize("where", ["first", "middle"])
def test_truncated_file_goes_to_problems_naming_the_file(cohort: Path, tmp_path: Path, where: str) -> None:
    work = _copy(cohort, tmp_path)
    files = sorted(_series(work, "Breast_MRI_001").glob("*.dcm"))
    victim = files[0] if where == "first" else files[len(files) // 2]
    data = victim.read_bytes()
    victim.write_bytes(data[:300] if where == "first" else data[: len(data) - 500])
    man, msg = _export(work, tmp_path)
    assert set(msg) == {"Breast_MRI_001"}
    assert victim.name in msg["Breast_MRI_001"] and victim.parent.name in msg["Breast_MRI_001"]
    assert set(man["patient_id"]) == {"Breast_MRI_002", "Breast_MRI_003"}  # the others went on


def test_garbage_first_file_is_named(cohort: Path, tmp_path: Path) -> None:
    work = _copy(cohort, tmp_path)
    series = _series(work, "Breast_MRI_002")
    victim = sorted(series.glob("*.dcm"))[0]
    victim.write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 400)
    # pydicom reads such a file leniently (an empty dataset): refused for what it lacks
    with pytest.raises(
        BreastlabInputError, match=rf"{re.escape(victim.name)}: (not a readable DICOM|Image\w+ missing)"
    ):
        read_series(series)


# ---------------------------------------------------------------------------- one file unlike the others
def test_non_finite_position_is_refused(cohort: Path, tmp_path: Path) -> None:
    work = _copy(cohort, tmp_path)
    series = _series(work, "Breast_MRI_001")
    victim = series / "1-004.dcm"
    ds = pydicom.dcmread(victim)
    x, y, _ = ds.ImagePositionPatient
    ds.ImagePositionPatient = [x, y, "NaN"]
    ds.save_as(victim)
    with pytest.raises(BreastlabInputError, match=r"1-004\.dcm: ImagePositionPatient .*not finite"):
        read_series(series)
    _edit(victim, ImagePositionPatient=["inf", y, 0])
    man, msg = _export(work, tmp_path)
    assert "1-004.dcm" in msg["Breast_MRI_001"] and "not finite" in msg["Breast_MRI_001"]
    assert "Breast_MRI_001" not in set(man["patient_id"])


def test_eight_bit_file_in_a_sixteen_bit_series(cohort: Path, tmp_path: Path) -> None:
    work = _copy(cohort, tmp_path)
    series = _series(work, "Breast_MRI_001")
    victim = series / "1-006.dcm"
    ds = pydicom.dcmread(victim)
    pixels = ds.pixel_array
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = (pixels // 16).astype(np.uint8).tobytes()
    ds.save_as(victim)
    with pytest.raises(BreastlabInputError, match=r"BitsAllocated differs between 1-\d+\.dcm and 1-006\.dcm: 16 .* 8"):
        read_series(series)
    with pytest.raises(BreastlabInputError, match=r"BitsAllocated differs"):
        read_series(series, fast=False)  # pydicom's path applies the same rule


@pytest.mark.parametrize("slope", ["0", "NaN"])
def test_rescale_slope_zero_or_not_finite(cohort: Path, tmp_path: Path, slope: str) -> None:
    work = _copy(cohort, tmp_path)
    series = _series(work, "Breast_MRI_003")
    _edit(series / "1-002.dcm", RescaleSlope=slope)
    for fast in (True, False):
        with pytest.raises(BreastlabInputError, match=r"1-002\.dcm: RescaleSlope .* finite number other than 0"):
            read_series(series, fast=fast)


@pytest.mark.parametrize("tag", ["PatientID", "StudyInstanceUID", "SeriesInstanceUID", "PixelRepresentation"])
def test_values_a_series_shares(cohort: Path, tmp_path: Path, tag: str) -> None:
    work = _copy(cohort, tmp_path)
    series = _series(work, "Breast_MRI_002")
    value = {"PatientID": "Breast_MRI_999", "PixelRepresentation": 1}.get(tag, "1.2.826.0.1.3680043.2.1125.1")
    _edit(series / "1-003.dcm", **{tag: value})
    with pytest.raises(BreastlabInputError, match=rf"{tag} differs between 1-\d+\.dcm and 1-003\.dcm") as err:
        read_series(series)
    assert "Breast_MRI_999" not in str(err.value) and "1.2.826" not in str(err.value)  # no identifiers repeated


def test_an_extra_slice_between_two_others_is_uneven_spacing(cohort: Path, tmp_path: Path) -> None:
    work = _copy(cohort, tmp_path)
    series = _series(work, "Breast_MRI_001")
    files = _by_position(series)
    ds = pydicom.dcmread(files[3])
    z3, z4 = (float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in files[3:5])
    ds.ImagePositionPatient = [*ds.ImagePositionPatient[:2], f"{(z3 + z4) / 2:.4f}"]
    ds.save_as(series / "1-099.dcm")
    with pytest.raises(BreastlabInputError, match=r"uneven slice spacing.*1-099\.dcm"):
        read_series(series)


# ---------------------------------------------------------------------------- a slice missing at one end
def test_slice_missing_at_one_end_is_caught_by_the_other_phases(cohort: Path, tmp_path: Path) -> None:
    work = _copy(cohort, tmp_path)
    pre = _series(work, "Breast_MRI_001", "pre")
    _by_position(pre)[-1].unlink()  # no gap is left: only the other phases tell
    read_series(pre)  # the series alone is regular
    man, msg = _export(work, tmp_path)
    assert set(msg) == {"Breast_MRI_001"}
    assert pre.name in msg["Breast_MRI_001"] and "slice is missing" in msg["Breast_MRI_001"]
    assert f"pre {N_SLICES - 1}, post1 {N_SLICES}, post2 {N_SLICES}" in msg["Breast_MRI_001"]
    assert set(man["patient_id"]) == {"Breast_MRI_002", "Breast_MRI_003"}
    # the majority phases are sound: post1 of that patient still exports
    man1, msg1 = _export(work, tmp_path / "post1", sequence="post1")
    assert "Breast_MRI_001" in set(man1["patient_id"])


def test_slice_count_table_catches_a_slice_missing_in_every_phase(cohort: Path, tmp_path: Path) -> None:
    work = _copy(cohort, tmp_path)
    index = index_dicom_tree(work)
    dce = index[index["sequence"] != "other"]
    pd.DataFrame({"patient_id": dce["patient_id"], "series": dce["series"], "n_slices": dce["n_files"],
                  "phase": dce["sequence"]}).to_csv(work / "slice_counts.csv", index=False)  # fmt: skip
    for series in [_series(work, "Breast_MRI_003", phase) for phase in ("pre", "post1", "post2")]:
        _by_position(series)[0].unlink()
    man, msg = _export(work, tmp_path)
    assert set(msg) == {"Breast_MRI_003"}
    assert "slice_counts.csv gives 12" in msg["Breast_MRI_003"] and "holds 11 files" in msg["Breast_MRI_003"]
    assert "Breast_MRI_003" not in set(man["patient_id"])
    with pytest.raises(BreastlabInputError, match=r"Breast_MRI_003.*slice_counts\.csv gives 12"):
        index_dicom_tree(work)  # without a problems log the first refusal is raised
    assert len(index_dicom_tree(work, problems=ProblemLog(), counts=None)) == len(index)  # no table: no check
