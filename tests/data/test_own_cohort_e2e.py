"""Acceptance: a hospital-style export of the phantom MRI cohort through the whole command line.

The phantom's DICOM files renamed (no ``.dcm``) into one flat folder per patient (two patients share
one folder), one patient exported as NIfTI, one labelled by a DICOM SEG: ``import mri --scan`` finds
every series and phase, ``import mri`` builds the store with the phantom's labels, ``curate splits``
builds a spurious split on the field strength read from the headers, then ``train``, ``evaluate`` and
``report`` run on it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from breastlab.cli import main
from breastlab.data.cohort_scan import BOX_COLUMNS
from breastlab.data.duke.boxes import read_boxes
from breastlab.data.duke.dicom import COLLECTION, index_dicom_tree, read_series
from breastlab.data.phantom import make_mri_cohort, plan_mri_cohort, tumour_mask
from breastlab.data.store import ArrayStore

N_PATIENTS, N_SLICES, MATRIX, SEED, BUFFER = 12, 24, 32, 0, 1
SHARED, NIFTI, SEG = (0, 1), 2, 3  # patients by position: two in one folder, one as NIfTI, one labelled by SEG


def _nifti(series: Path, out: Path) -> None:
    """A DICOM series as NIfTI as dcm2niix writes it: voxel (i, j, k) = (column, row, slice), the affine
    from ImageOrientationPatient, PixelSpacing and the first position, LPS -> RAS."""
    import nibabel as nib

    vol = read_series(series)
    x, y = vol.orientation[:3], vol.orientation[3:]
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1] = x * vol.spacing[2], y * vol.spacing[1]
    lps[:3, 2], lps[:3, 3] = np.cross(x, y) * vol.spacing[0], vol.positions[0]
    nib.save(nib.Nifti1Image(np.transpose(vol.array, (2, 1, 0)), np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps), out)


def test_hospital_export_through_the_command_line(tmp_path: Path, write_seg: Callable) -> None:
    cohort = tmp_path / "phantom"
    make_mri_cohort(cohort, N_PATIENTS, seed=SEED, n_slices=N_SLICES, matrix=MATRIX, n_post=1, progress=False)
    index = index_dicom_tree(cohort)
    ids = sorted(index["patient_id"].unique())
    truth = read_boxes(cohort / "Annotation_Boxes.csv").set_index("patient_id")
    plan = {p.patient_id: p for p in plan_mri_cohort(N_PATIENTS, SEED, n_slices=N_SLICES, matrix=MATRIX,
                                                      n_post=1).patients}  # fmt: skip

    # ---- the export: flat folders, names without .dcm, two patients in one folder, one as NIfTI
    pacs = tmp_path / "pacs"
    origin = {}  # exported file -> the phantom's series folder
    for k, pid in enumerate(ids):
        folder = pacs / ("shared" if k in SHARED else f"patient{k:02d}")
        folder.mkdir(parents=True, exist_ok=True)
        if k == NIFTI:
            for phase in ("pre", "post1"):
                series = index[(index["patient_id"] == pid) & (index["sequence"] == phase)]["path"].iloc[0]
                _nifti(Path(series), folder / f"{pid}_{phase}.nii.gz")
            continue
        for j, f in enumerate(sorted((cohort / COLLECTION / pid).rglob("*.dcm"))):
            shutil.copyfile(f, folder / f"{k}_{j:04d}")
            origin[f"{folder.name}/{k}_{j:04d}"] = str(f.parent)

    # ---- scan: every DICOM patient, both phases, each cell holding exactly the files of its series
    cohort_csv = tmp_path / "cohort.csv"
    assert main(["import", "mri", "--scan", str(pacs), "--out", str(cohort_csv)]) == 0
    table = pd.read_csv(cohort_csv, dtype={c: "object" for c in BOX_COLUMNS})
    assert sorted(table["patient_id"]) == [pid for k, pid in enumerate(ids) if k != NIFTI]
    series_of = dict(zip(index["path"].map(str), zip(index["patient_id"], index["sequence"], strict=True), strict=True))
    for row in table.itertuples(index=False):
        for phase in ("pre", "post1"):
            cell = getattr(row, phase)
            files = cell.split(";") if ";" in cell else [f"{cell}/{f.name}" for f in (pacs / cell).iterdir()]
            assert len(files) == N_SLICES
            assert {series_of[origin[f]] for f in files} == {(row.patient_id, phase)}
    assert (table["field_strength_t"].notna()).all() and (table["phase_rule"] == "series description").all()
    scan_problems = pd.read_csv(tmp_path / "problems.csv")
    nifti_folder = f"patient{NIFTI:02d}"
    assert sorted(scan_problems["item"]) == [f"{nifti_folder}/{ids[NIFTI]}_{p}.nii.gz" for p in ("post1", "pre")]

    # ---- the user's review: boxes, a SEG for one patient, the NIfTI patient's row by hand
    for c in BOX_COLUMNS:
        table[c] = table["patient_id"].map(truth[c]).astype("Int64").astype(str)
    seg_row = table.index[table["patient_id"] == ids[SEG]][0]
    sources = sorted((pydicom.dcmread(pacs / f) for f in table.at[seg_row, "pre"].split(";")),
                     key=lambda d: float(d.ImagePositionPatient[2]))  # fmt: skip
    write_seg(sources, tumour_mask(plan[ids[SEG]]), pacs / "lesion_seg.dcm")
    table["mask"] = ""
    table.loc[seg_row, ["mask", *BOX_COLUMNS]] = ["lesion_seg.dcm", *[""] * 6]
    nifti = f"{nifti_folder}/{ids[NIFTI]}"
    nifti_row = {"patient_id": ids[NIFTI], "exam": 1, "pre": f"{nifti}_pre.nii.gz", "post1": f"{nifti}_post1.nii.gz",
                 "field_strength_t": plan[ids[NIFTI]].field_strength,  # no header: the user gives it
                 **{c: str(truth.at[ids[NIFTI], c]) for c in BOX_COLUMNS}}  # fmt: skip
    table = pd.concat([table, pd.DataFrame([nifti_row])], ignore_index=True)
    table.to_csv(cohort_csv, index=False)

    # ---- import: the store's labels are the phantom's truth, for every patient
    store_dir = tmp_path / "store"
    assert main(["import", "mri", str(cohort_csv), "--root", str(pacs), "--out", str(store_dir), "--size", "32",
                 "--workers", "1", "--buffer", str(BUFFER)]) == 0  # fmt: skip
    assert pd.read_csv(store_dir / "problems.csv").empty
    man = ArrayStore(store_dir).manifest
    assert sorted(man["patient_id"].unique()) == ids
    one_based = man["slice_index"] + 1
    start, end = man["patient_id"].map(truth["start_slice"]), man["patient_id"].map(truth["end_slice"])
    assert (man["label"] == ((one_based >= start) & (one_based <= end)).astype(int)).all()
    assert (man["n_slices"] == N_SLICES).all()
    boxed = man[man["label"] == 1]
    for c in BOX_COLUMNS:  # the SEG's box and the NIfTI patient's box are the phantom's
        assert (boxed[c].astype(int) == boxed["patient_id"].map(truth[c])).all(), c
    fields = dict(zip(man["patient_id"], man["field_strength_t"].astype(float), strict=False))
    assert fields == {pid: pytest.approx(plan[pid].field_strength) for pid in ids}

    # ---- a spurious split on the field strength read from the headers, a small CNN, its evaluation, the report
    splits = tmp_path / "splits"
    assert main(["curate", "splits", "--store", str(store_dir), "--feature", "field_strength_t", "--groups", "1.5",
                 "3.0", "--out", str(splits), "--train", "6", "--val", "2", "--test", "2"]) == 0  # fmt: skip
    split = splits / "field_strength_t" / "rep00"
    manifest = pd.read_parquet(split / "manifest.parquet")
    fitted = manifest[manifest["split"].isin(["train", "val"])]  # rho = 1 there; the test set is balanced
    assert set(zip(fitted["label"], fitted["attribute"].astype(float), strict=True)) == {(1, 1.5), (0, 3.0)}
    run = tmp_path / "run"
    assert main(["train", "--store", str(store_dir), "--split", str(split), "--out", str(run), "--model",
                 "small_cnn", "--epochs", "1", "--batch-size", "16", "--image-size", "24", "--optimizer", "adam",
                 "--device", "cpu", "--no-progress"]) == 0  # fmt: skip
    assert main(["evaluate", str(run), "--bootstrap", "20"]) == 0
    metrics = json.loads((run / "evaluation" / "metrics.json").read_text())
    assert {g["group"] for g in metrics["groups"] if g["split"] == "train"} == {"1|1.5", "0|3.0"}
    assert main(["report", str(run), "--out", str(tmp_path / "report.html"), "--bootstrap", "20",
                 "--no-gallery"]) == 0  # fmt: skip
    html = (tmp_path / "report.html").read_text()
    assert "Shortcut" in html and "1|1.5" in html and "0|3.0" in html
