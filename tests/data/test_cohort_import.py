"""Your own MRI cohort: scanning any DICOM tree, importing a cohort table, the Duke adapter."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from breastlab.cli import main
from breastlab.data import mri_volumes
from breastlab.data.cohort_import import import_mri
from breastlab.data.cohort_scan import (
    BOX_COLUMNS,
    duke_cohort,
    fat_suppression,
    identify_phases,
    resolve_series,
    scan_mri_tree,
    undated,
)
from breastlab.data.duke.boxes import read_boxes
from breastlab.data.duke.clinical import read_clinical
from breastlab.data.duke.dicom import COLLECTION, index_dicom_tree
from breastlab.data.export import SLICE_COLUMNS, export_slices
from breastlab.data.mri_volumes import read_header
from breastlab.data.phantom import make_mri_cohort
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog

N_PATIENTS, N_SLICES, MATRIX, SEED, SIZE = 3, 16, 64, 0, 32
UID = re.compile(r"(?<![\w.])[0-2](?:\.(?:0|[1-9]\d*)){2,}(?![\w.])")  # DICOM UID syntax (PS3.5 9.1)
TCIA_STUDY_DATE = re.compile(r"\b\d{2}-\d{2}-(?:19|20)\d{2}-")  # "01-01-1990-NA-..." study folders


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantom") / "cohort"
    make_mri_cohort(out, N_PATIENTS, seed=SEED, n_slices=N_SLICES, matrix=MATRIX, n_post=2, progress=False)
    return out


@pytest.fixture(scope="module")
def flat(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """The phantom's files renamed (no .dcm, names that say nothing) into one flat folder per patient,
    plus a text file that is not DICOM. Returns the folder and new name -> original file."""
    root = tmp_path_factory.mktemp("flat") / "export"
    origin = {}
    for k, patient in enumerate(sorted((cohort / COLLECTION).iterdir())):
        folder = root / f"subject{k}"
        folder.mkdir(parents=True)
        files = sorted(patient.rglob("*.dcm"), key=lambda p: p.name[::-1] + str(p))  # phases interleaved
        for j, f in enumerate(files):
            shutil.copyfile(f, folder / f"IM{j:05d}")
            origin[f"subject{k}/IM{j:05d}"] = f
    (root / "subject0" / "README.txt").write_text("exported from PACS")
    return root, origin


@pytest.fixture(scope="module")
def export_store(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> ArrayStore:
    return export_slices(cohort, tmp_path_factory.mktemp("export") / "store", size=SIZE, workers=1, progress=False)


def _with_boxes(table: pd.DataFrame, cohort: Path) -> pd.DataFrame:
    boxes = read_boxes(cohort / "Annotation_Boxes.csv").set_index("patient_id")
    table = table.copy()
    for c in BOX_COLUMNS:
        table[c] = table["patient_id"].map(boxes[c])
    return table


# ---------------------------------------------------------------------------- scan
def test_scan_finds_every_series_and_phase_in_flat_folders(cohort: Path, flat: tuple[Path, dict[str, Path]]) -> None:
    root, origin = flat
    problems = ProblemLog()
    table = scan_mri_tree(root, problems)
    index = index_dicom_tree(cohort)  # the Duke reader on the original layout: the reference
    clinical = read_clinical(cohort / "Clinical_and_Other_Features.xlsx").set_index("patient_id")
    assert sorted(table["patient_id"]) == sorted(index["patient_id"].unique())
    assert (table["exam"] == 1).all()
    for row in table.itertuples(index=False):
        series = index[index["patient_id"] == row.patient_id]
        assert row.n_series == len(series) == 3
        for phase in ("pre", "post1", "post2"):
            files = getattr(row, phase).split(";")
            folders = {origin[f].parent for f in files}  # every file of the cell from one original series
            assert folders == {Path(series.loc[series["sequence"] == phase, "path"].iloc[0])}
            assert len(files) == N_SLICES
        assert row.phase_rule == "series description"
        assert row.n_slices == N_SLICES
        assert row.field_strength_t == pytest.approx(float(clinical.at[row.patient_id, "field_strength_t"]))
        assert row.manufacturer == series["manufacturer"].iloc[0]
        assert row.manufacturer_model == series["manufacturer_model"].iloc[0]
        assert (row.rows, row.columns) == (series["rows"].iloc[0], series["columns"].iloc[0])
        ds = pydicom.dcmread(origin[files[0]], stop_before_pixels=True)
        assert row.slice_thickness_mm == pytest.approx(float(ds.SliceThickness))
    assert problems.to_frame()["item"].tolist() == ["subject0/README.txt"]
    assert "not a readable DICOM file" in problems.to_frame()["message"].iloc[0]


def test_scan_table_is_deidentified(flat: tuple[Path, dict[str, Path]], tmp_path: Path) -> None:
    root, origin = flat
    assert main(["import", "mri", "--scan", str(root), "--out", str(tmp_path / "cohort.csv")]) == 0
    text = (tmp_path / "cohort.csv").read_text() + (tmp_path / "problems.csv").read_text()
    ds = pydicom.dcmread(next(iter(origin.values())), stop_before_pixels=True)
    for value in (ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.StudyDate, str(ds.PatientName), ds.InstitutionName,
                  str(root), str(tmp_path)):  # fmt: skip
        assert str(value) not in text


def test_scan_of_a_tcia_tree_leaves_dates_out_and_finds_the_folders(cohort: Path, tmp_path: Path) -> None:
    problems = ProblemLog()
    table = scan_mri_tree(cohort, problems)
    text = table.to_csv()
    assert not TCIA_STUDY_DATE.search(text) and not UID.search(text)
    index = index_dicom_tree(cohort)
    for row in table.itertuples(index=False):
        for phase in ("pre", "post1", "post2"):
            folder, names = resolve_series(cohort, getattr(row, phase), phase)
            want = index[(index["patient_id"] == row.patient_id) & (index["sequence"] == phase)]["path"]
            assert names is None and folder == Path(want.iloc[0])
    # the tables beside the DICOM tree are not DICOM
    assert sorted(problems.to_frame()["item"]) == ["Annotation_Boxes.csv", "Clinical_and_Other_Features.xlsx"]
    # two studies whose folder names differ only by their date: the cell names no single folder, and says so
    patient = next((cohort / COLLECTION).iterdir())
    twin = tmp_path / COLLECTION / patient.name
    shutil.copytree(patient, twin)
    study = next(twin.iterdir())
    shutil.copytree(study, twin / study.name.replace("1990", "1991"))
    assert undated(f"{twin.name}/{study.name}") == f"{twin.name}/*-NA-{study.name.split('-NA-')[1]}"
    with pytest.raises(BreastlabInputError, match="matches 2 paths"):
        resolve_series(tmp_path / COLLECTION, undated(f"{twin.name}/{study.name}"), "pre")


def test_scan_groups_by_series_uid_not_folder(flat: tuple[Path, dict[str, Path]], tmp_path: Path) -> None:
    """Every file of every patient in one folder: still one exam per patient, three series each."""
    root, _ = flat
    one = tmp_path / "all"
    one.mkdir()
    for f in root.rglob("IM*"):
        shutil.copyfile(f, one / f"{f.parent.name}_{f.name}")
    (one / "DICOMDIR").write_bytes(b"\0" * 200)  # a media index: skipped, not a problem
    problems = ProblemLog()
    table = scan_mri_tree(one, problems)
    assert len(table) == N_PATIENTS and (table["n_series"] == 3).all() and len(problems) == 0
    assert all(len(cell.split(";")) == N_SLICES for cell in table["post2"])
    # a folder holding one series and a DICOMDIR: the files are listed (the reader would take the DICOMDIR too)
    pre = one / "pre"
    pre.mkdir()
    for name in [Path(f).name for f in table["pre"].iloc[0].split(";")]:
        shutil.move(one / name, pre / name)
    (pre / "DICOMDIR").write_bytes(b"\0" * 200)
    cell = scan_mri_tree(pre)["pre"].iloc[0]
    assert cell.count(";") == N_SLICES - 1 and resolve_series(pre, cell, "pre")[1] is not None


def test_phases_from_acquisition_times_when_descriptions_name_none() -> None:
    def item(desc: str, number: int, t: float, geometry: tuple = (64, 64, 16)) -> dict:
        return {"description": desc, "number": number, "geometry": geometry, "times": {"AcquisitionTime": t}}

    series = [item("t2 tse", 1, 100.0, (64, 64, 30)), item("3D T1", 7, 500.0), item("3D T1", 5, 200.0),
              item("3D T1", 6, 350.0), item("dwi", 9, 600.0, (32, 32, 20))]  # fmt: skip
    phases, rule = identify_phases(series)
    assert phases == {"pre": 2, "post1": 3, "post2": 1}
    assert rule == "acquisition time"
    phases, rule = identify_phases([item("ax dyn pre", 3, 10.0), item("ax dyn 1st pass", 4, 20.0)])
    assert phases == {"pre": 0, "post1": 1} and rule == "series description"


def test_scan_orders_phases_by_acquisition_time_when_descriptions_say_nothing(
    flat: tuple[Path, dict[str, Path]], cohort: Path, tmp_path: Path
) -> None:
    """Every series renamed "T1 3D" (no phase words) and the series numbers shuffled: the phases come
    from AcquisitionTime and equal the Duke reader's phases of the original files."""
    root, origin = flat
    index = index_dicom_tree(cohort)
    phase_of = dict(zip(index["path"].map(str), index["sequence"], strict=True))
    for rel in [r for r in origin if r.startswith("subject1/")]:
        ds = pydicom.dcmread(root / rel)
        ds.SeriesDescription = "T1 3D"
        ds.SeriesNumber = 100 - int(ds.SeriesNumber) % 50  # later phases get lower numbers
        (tmp_path / "subject1").mkdir(exist_ok=True)
        ds.save_as(tmp_path / rel)
    table = scan_mri_tree(tmp_path)
    assert len(table) == 1 and table["phase_rule"].iloc[0] == "acquisition time"
    for phase in ("pre", "post1", "post2"):
        originals = {phase_of[str(origin[f].parent)] for f in table[phase].iloc[0].split(";")}
        assert originals == {phase}


@pytest.mark.parametrize("clock", [True, False])
def test_one_series_holding_every_phase_is_drafted_phase_by_phase(
    flat: tuple[Path, dict[str, Path]], cohort: Path, export_store: ArrayStore, tmp_path: Path, clock: bool
) -> None:
    """Patient 1's three phases rewritten as one series (one SeriesInstanceUID, number and description, as
    scanners that store a dynamic run together write it), told apart by TemporalPositionIdentifier: each
    phase is drafted with its own files, ordered by acquisition time or, without clock times, by the
    temporal position; the import gives export's pixels and labels."""
    root, origin = flat
    index = index_dicom_tree(cohort)
    phase_of = dict(zip(index["path"].map(str), index["sequence"], strict=True))
    series_uid = pydicom.uid.generate_uid()
    shutil.copytree(root, tmp_path / "pacs", ignore=shutil.ignore_patterns("subject1"))
    (tmp_path / "pacs" / "subject1").mkdir()
    for rel in [r for r in origin if r.startswith("subject1/")]:
        ds = pydicom.dcmread(root / rel)
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.SeriesDescription = series_uid, 600, "ax 3d dyn multiphase"
        if not clock:
            for keyword in ("AcquisitionTime", "ContentTime", "SeriesTime"):
                delattr(ds, keyword)
        ds.save_as(tmp_path / "pacs" / rel)
    table = scan_mri_tree(tmp_path / "pacs").sort_values("patient_id").reset_index(drop=True)
    row = table.iloc[1]
    assert row["phase_rule"] == ("acquisition time" if clock else "temporal position") and row["n_series"] == 3
    for phase in ("pre", "post1", "post2"):
        files = row[phase].split(";")
        assert len(files) == N_SLICES and {phase_of[str(origin[f].parent)] for f in files} == {phase}
    _with_boxes(table, cohort).to_csv(tmp_path / "cohort.csv", index=False)
    store = import_mri(tmp_path / "cohort.csv", tmp_path / "pacs", tmp_path / "store", size=SIZE, workers=1,
                       progress=False)  # fmt: skip
    np.testing.assert_array_equal(store.images, export_store.images)
    pd.testing.assert_series_equal(store.manifest["label"], export_store.manifest["label"])
    pd.testing.assert_frame_equal(store.findings, export_store.findings)


def test_fat_suppression_from_scan_options_or_description() -> None:
    assert fat_suppression("FS\\PFP", "ax t1") == "yes"
    assert fat_suppression("", "Ax T1 FS post") == "yes"
    assert fat_suppression("", "t1 non fs") == "no"
    assert fat_suppression("PFP", "ax vibrant") == ""


def test_read_header_fast_path_equals_pydicom(flat: tuple[Path, dict[str, Path]]) -> None:
    root, origin = flat
    for path in list(origin.values())[:: max(1, len(origin) // 10)]:
        fast = mri_volumes._header_fast(path)
        assert fast is not None  # the phantom's files are plain explicit VR little endian
        assert fast == mri_volumes._header_pydicom(path)
        assert read_header(path) == fast
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert fast["SeriesDescription"] == ds.SeriesDescription and fast["Rows"] == ds.Rows
    with pytest.raises(BreastlabInputError, match="not a readable DICOM"):
        read_header(root / "subject0" / "README.txt")


def test_header_scanner_equals_pydicom_on_pydicom_test_files() -> None:
    """Every file of pydicom's test set the scanner reads gives pydicom's values (the others fall back)."""
    read = 0
    for path in sorted((Path(pydicom.data.__file__).parent / "test_files").rglob("*.dcm")):  # shipped, local
        fast = mri_volumes._header_fast(path)
        if fast is None:
            continue
        read += 1
        assert fast == mri_volumes._header_pydicom(path), path
    assert read >= 10


# ---------------------------------------------------------------------------- import
def test_import_flat_cohort_gives_phantom_truth_and_export_pixels(
    cohort: Path, flat: tuple[Path, dict[str, Path]], export_store: ArrayStore, tmp_path: Path
) -> None:
    root, _ = flat
    table = _with_boxes(scan_mri_tree(root), cohort)
    table.to_csv(tmp_path / "cohort.csv", index=False)
    store = import_mri(tmp_path / "cohort.csv", root, tmp_path / "store", size=SIZE, workers=1, progress=False)
    man = store.manifest
    truth = pd.read_csv(cohort / "Annotation_Boxes.csv").set_index("Patient ID")
    for pid, rows in man.groupby("patient_id"):
        start, end = truth.at[pid, "Start Slice"], truth.at[pid, "End Slice"]
        one_based = rows["slice_index"] + 1
        assert (rows["label"] == ((one_based >= start) & (one_based <= end)).astype(int)).all()
        assert set(range(start, end + 1)) <= set(one_based)  # every tumour slice stored
        assert not ((one_based >= start - 5) & (one_based < start)).any()  # buffer left out
    np.testing.assert_array_equal(store.images, export_store.images)
    assert man["field_strength_t"].tolist() == export_store.manifest["field_strength_t"].astype(float).tolist()
    assert (tmp_path / "store" / "problems.csv").read_text().strip() == "item,stage,message"


def test_import_slice_range_labels_without_in_plane_box(
    cohort: Path, flat: tuple[Path, dict[str, Path]], export_store: ArrayStore, tmp_path: Path
) -> None:
    root, _ = flat
    table = _with_boxes(scan_mri_tree(root), cohort).drop(columns=list(BOX_COLUMNS[:4]))
    table.to_csv(tmp_path / "cohort.csv", index=False)
    store = import_mri(tmp_path / "cohort.csv", root, tmp_path / "store", size=SIZE, workers=1, progress=False)
    assert store.manifest["label"].tolist() == export_store.manifest["label"].tolist()
    assert store.manifest["box_x0"].isna().all() and len(store.findings) == 0
    np.testing.assert_array_equal(store.images, export_store.images)


def test_bad_rows_go_to_problems_and_others_go_on(
    cohort: Path, flat: tuple[Path, dict[str, Path]], tmp_path: Path
) -> None:
    root, _ = flat
    table = _with_boxes(scan_mri_tree(root), cohort).sort_values("patient_id").reset_index(drop=True)
    first = table.at[0, "pre"].split(";")
    table.at[0, "pre"] = ";".join([*first[:-1], "subject0/IM_gone"])  # row 1: a file that does not exist
    table.at[1, "end_slice"] = N_SLICES + 4  # row 2: label beyond the series' slices
    dup = table.iloc[[2]].assign(pre=table.at[2, "pre"])
    table = pd.concat([table, dup, dup.assign(patient_id="Breast_MRI_009")], ignore_index=True)
    table.to_csv(tmp_path / "cohort.csv", index=False)  # rows 3 and 4: duplicate ids; row 5 fine
    store = import_mri(tmp_path / "cohort.csv", root, tmp_path / "store", size=SIZE, workers=1, progress=False)
    assert sorted(store.manifest["patient_id"].unique()) == ["Breast_MRI_009"]
    problems = pd.read_csv(tmp_path / "store" / "problems.csv")
    msg = dict(zip(problems["item"] + "|" + problems["message"].str.extract(r"row (\d)")[0], problems["message"],
                   strict=True))  # fmt: skip
    assert set(msg) == {"Breast_MRI_001|1", "Breast_MRI_002|2", "Breast_MRI_003|3", "Breast_MRI_003|4"}
    assert "subject0/IM_gone does not exist" in msg["Breast_MRI_001|1"]
    assert "subject1/IM" in msg["Breast_MRI_002|2"] and str(N_SLICES) in msg["Breast_MRI_002|2"]
    assert "also on row(s) 4" in msg["Breast_MRI_003|3"] and "subject2/IM" in msg["Breast_MRI_003|3"]
    assert str(root) not in problems.to_csv()
    with pytest.raises(BreastlabInputError, match="row 1"):
        import_mri(tmp_path / "cohort.csv", root, tmp_path / "store2", size=SIZE, workers=1, progress=False,
                   errors="raise")  # fmt: skip


def test_table_without_required_columns_or_not_utf8_is_refused(tmp_path: Path) -> None:
    pd.DataFrame({"patient_id": ["a"], "pre": ["x"]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(BreastlabInputError, match="missing column.*start_slice"):
        import_mri(tmp_path / "t.csv", tmp_path, tmp_path / "s", workers=1, progress=False)
    latin = "patient_id,pre,start_slice,end_slice,site\na,x,1,2,Z\xfcrich\n".encode("latin-1")
    (tmp_path / "latin.csv").write_bytes(latin)
    with pytest.raises(BreastlabInputError, match="not UTF-8"):
        import_mri(tmp_path / "latin.csv", tmp_path, tmp_path / "s", workers=1, progress=False)
    with pytest.raises(BreastlabInputError, match="not found"):
        import_mri(tmp_path / "gone.csv", tmp_path, tmp_path / "s", workers=1, progress=False)


def _dicom_to_nifti(
    series_folder: Path, out: Path, rotate_deg: float = 0.0, axes: tuple = (0, 1, 2), array: np.ndarray | None = None
) -> None:
    """A DICOM series as NIfTI the usual way (dcm2niix's convention): voxel (i, j, k) = (column, row,
    slice), affine from ImageOrientationPatient, PixelSpacing and the first position, LPS -> RAS;
    ``axes`` stores the voxel axes in another order (the affine follows: the same image in space);
    ``array`` (slices, rows, columns) is written on the series' grid instead of its pixels (a mask)."""
    import nibabel as nib

    from breastlab.data.duke.dicom import read_series

    vol = read_series(series_folder)
    x, y = vol.orientation[:3], vol.orientation[3:]
    lps = np.eye(4)
    lps[:3, 0] = x * vol.spacing[2]
    lps[:3, 1] = y * vol.spacing[1]
    lps[:3, 2] = np.cross(x, y) * vol.spacing[0]
    lps[:3, 3] = vol.positions[0]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    if rotate_deg:
        c, s = np.cos(np.radians(rotate_deg)), np.sin(np.radians(rotate_deg))
        affine = np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]) @ affine
    data = np.transpose(vol.array if array is None else array.astype(np.uint8), (2, 1, 0))
    nib.save(nib.Nifti1Image(np.transpose(data, axes), affine[:, [*axes, 3]]), out)


def test_import_nifti_phase_gives_the_dicom_pixels(
    cohort: Path, flat: tuple[Path, dict[str, Path]], export_store: ArrayStore, tmp_path: Path
) -> None:
    """One patient's pre-contrast series as NIfTI (the others DICOM): same slices, same pixels."""
    root = tmp_path / "pacs"
    shutil.copytree(flat[0], root)  # the shared folder stays as the other tests expect it
    table = _with_boxes(scan_mri_tree(root), cohort).sort_values("patient_id").reset_index(drop=True)
    index = index_dicom_tree(cohort)
    pid = table.at[1, "patient_id"]
    pre = Path(index[(index["patient_id"] == pid) & (index["sequence"] == "pre")]["path"].iloc[0])
    _dicom_to_nifti(pre, root / "subject1_pre.nii.gz", axes=(2, 0, 1))  # stored slice axis first
    scan_problems = ProblemLog()
    scan_mri_tree(root, scan_problems)
    nifti = scan_problems.to_frame().set_index("item")
    assert "name it in a phase column" in nifti.at["subject1_pre.nii.gz", "message"]
    table.at[1, "pre"] = "subject1_pre.nii.gz"
    table.to_csv(tmp_path / "cohort.csv", index=False)
    store = import_mri(tmp_path / "cohort.csv", root, tmp_path / "store", size=SIZE, workers=1, progress=False)
    np.testing.assert_array_equal(store.images, export_store.images)
    pd.testing.assert_series_equal(store.manifest["label"], export_store.manifest["label"])
    cols = ["pixel_spacing_row_mm", "pixel_spacing_col_mm", "slice_spacing_mm", "box_x0", "box_y1"]
    pd.testing.assert_frame_equal(store.manifest[cols], export_store.manifest[cols], check_exact=False, rtol=1e-5)
    # an oblique volume (axes 30 degrees off) is refused, naming the row and file; the others go on
    _dicom_to_nifti(pre, root / "oblique.nii.gz", rotate_deg=30)
    table.at[1, "pre"] = "oblique.nii.gz"
    table.to_csv(tmp_path / "oblique.csv", index=False)
    store = import_mri(tmp_path / "oblique.csv", root, tmp_path / "s2", size=SIZE, workers=1, progress=False)
    assert pid not in set(store.manifest["patient_id"]) and store.manifest["patient_id"].nunique() == N_PATIENTS - 1
    message = pd.read_csv(tmp_path / "s2" / "problems.csv")["message"].iloc[0]
    assert "row 2" in message and "oblique.nii.gz" in message and "not axial-like" in message


def test_labels_from_a_nifti_mask_equal_the_phantom_boxes(
    cohort: Path, flat: tuple[Path, dict[str, Path]], export_store: ArrayStore, tmp_path: Path
) -> None:
    """One patient labelled by the phantom's tumour mask written as NIfTI (on the DICOM grid, axes stored
    in another order): the box derived from it equals Annotation_Boxes and the store equals export's."""
    from breastlab.data.phantom import plan_mri_cohort, tumour_mask

    root = tmp_path / "pacs"
    shutil.copytree(flat[0], root)
    table = _with_boxes(scan_mri_tree(root), cohort).sort_values("patient_id").reset_index(drop=True)
    plan = {
        p.patient_id: p for p in plan_mri_cohort(N_PATIENTS, SEED, n_slices=N_SLICES, matrix=MATRIX, n_post=2).patients
    }
    index = index_dicom_tree(cohort)
    pid = table.at[2, "patient_id"]
    pre = Path(index[(index["patient_id"] == pid) & (index["sequence"] == "pre")]["path"].iloc[0])
    _dicom_to_nifti(pre, root / "mask.nii.gz", axes=(1, 2, 0), array=tumour_mask(plan[pid]))
    table = table.astype({c: "object" for c in BOX_COLUMNS}).assign(mask="")
    table.loc[2, ["mask", *BOX_COLUMNS]] = ["mask.nii.gz", *[""] * 6]
    table.to_csv(tmp_path / "cohort.csv", index=False)
    store = import_mri(tmp_path / "cohort.csv", root, tmp_path / "store", size=SIZE, workers=1, progress=False)
    np.testing.assert_array_equal(store.images, export_store.images)
    same = [c for c in SLICE_COLUMNS if c != "series"]  # the series is named by its folder: subject2, not TCIA's
    pd.testing.assert_frame_equal(store.manifest[same], export_store.manifest[same])
    # a mask on another grid is refused, naming the row, the file and both shapes; the others go on
    _dicom_to_nifti(pre, root / "small.nii.gz", array=tumour_mask(plan[pid])[:-2])
    table.at[2, "mask"] = "small.nii.gz"
    table.to_csv(tmp_path / "bad.csv", index=False)
    store = import_mri(tmp_path / "bad.csv", root, tmp_path / "s2", size=SIZE, workers=1, progress=False)
    assert store.manifest["patient_id"].nunique() == N_PATIENTS - 1
    message = pd.read_csv(tmp_path / "s2" / "problems.csv")["message"].iloc[0]
    assert "row 3" in message and "small.nii.gz" in message and f"{N_SLICES - 2} slices" in message
    # NIfTI image and mask: same shape but shifted by the rotation of the affine: refused
    _dicom_to_nifti(pre, root / "image.nii.gz")
    _dicom_to_nifti(pre, root / "turned.nii.gz", rotate_deg=5, array=tumour_mask(plan[pid]))
    table.loc[2, ["pre", "mask"]] = ["image.nii.gz", "turned.nii.gz"]
    table.to_csv(tmp_path / "turned.csv", index=False)
    import_mri(tmp_path / "turned.csv", root, tmp_path / "s3", size=SIZE, workers=1, progress=False)
    message = pd.read_csv(tmp_path / "s3" / "problems.csv")["message"].iloc[0]
    assert "row 3" in message and "turned.nii.gz" in message and "another affine" in message


def test_a_dicom_seg_labels_the_same_series_given_as_nifti(
    cohort: Path, flat: tuple[Path, dict[str, Path]], export_store: ArrayStore, tmp_path: Path, write_seg
) -> None:
    """A SEG drawn on the DICOM series labels that series converted to NIfTI (dcm2niix's convention, slice
    axis stored first): its frames are placed on the NIfTI's slices by position, and store and findings
    equal export's; the SEG over a series half a slice off lies on no slice of the NIfTI and is refused."""
    import copy

    from breastlab.data.phantom import plan_mri_cohort, tumour_mask

    root = tmp_path / "pacs"
    shutil.copytree(flat[0], root)
    table = _with_boxes(scan_mri_tree(root), cohort).sort_values("patient_id").reset_index(drop=True)
    plan = {
        p.patient_id: p for p in plan_mri_cohort(N_PATIENTS, SEED, n_slices=N_SLICES, matrix=MATRIX, n_post=2).patients
    }
    index = index_dicom_tree(cohort)
    pid = table.at[2, "patient_id"]
    pre = Path(index[(index["patient_id"] == pid) & (index["sequence"] == "pre")]["path"].iloc[0])
    _dicom_to_nifti(pre, root / "subject2_pre.nii.gz", axes=(2, 0, 1))
    sources = sorted((pydicom.dcmread(f) for f in pre.glob("*.dcm")), key=lambda d: float(d.ImagePositionPatient[2]))
    write_seg(sources, tumour_mask(plan[pid]), root / "seg.dcm")
    table = table.astype({c: "object" for c in BOX_COLUMNS}).assign(mask="")
    table.loc[2, ["pre", "mask", *BOX_COLUMNS]] = ["subject2_pre.nii.gz", "seg.dcm", *[""] * 6]
    table.to_csv(tmp_path / "cohort.csv", index=False)
    store = import_mri(tmp_path / "cohort.csv", root, tmp_path / "store", size=SIZE, workers=1, progress=False)
    np.testing.assert_array_equal(store.images, export_store.images)
    pd.testing.assert_series_equal(store.manifest["label"], export_store.manifest["label"])
    pd.testing.assert_frame_equal(store.findings, export_store.findings)
    shifted = [copy.deepcopy(d) for d in sources]
    for d in shifted:
        position = d.ImagePositionPatient
        d.ImagePositionPatient = [*position[:2], float(position[2]) + 0.5 * float(d.SpacingBetweenSlices)]
    write_seg(shifted, tumour_mask(plan[pid]), root / "shifted.dcm")
    table.at[2, "mask"] = "shifted.dcm"
    table.to_csv(tmp_path / "shifted.csv", index=False)
    store = import_mri(tmp_path / "shifted.csv", root, tmp_path / "s2", size=SIZE, workers=1, progress=False)
    assert pid not in set(store.manifest["patient_id"])
    message = pd.read_csv(tmp_path / "s2" / "problems.csv").set_index("item").at[pid, "message"]
    assert "row 3" in message and "shifted.dcm" in message and "lies on no slice" in message


# ---------------------------------------------------------------------------- Duke adapter
def test_duke_cohort_imports_to_the_export_store(cohort: Path, export_store: ArrayStore, tmp_path: Path) -> None:
    assert main(["duke", "cohort", str(cohort), "--out", str(tmp_path / "duke.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "duke.csv")) == len(duke_cohort(cohort)) == N_PATIENTS
    assert main(["import", "mri", str(tmp_path / "duke.csv"), "--root", str(cohort), "--out", str(tmp_path / "s"),
                 "--size", str(SIZE), "--workers", "1"]) == 0  # fmt: skip
    text = (tmp_path / "duke.csv").read_text()
    assert not TCIA_STUDY_DATE.search(text) and not UID.search(text) and str(cohort) not in text
    store = ArrayStore(tmp_path / "s")
    np.testing.assert_array_equal(store.images, export_store.images)
    pd.testing.assert_frame_equal(store.manifest[SLICE_COLUMNS], export_store.manifest[SLICE_COLUMNS])
    pd.testing.assert_frame_equal(store.findings, export_store.findings)
    for column in ("field_strength_t", "manufacturer", "tumor_location", "er"):
        pd.testing.assert_series_equal(store.manifest[column].astype(str), export_store.manifest[column].astype(str))
