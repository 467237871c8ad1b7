"""Phantom MRI cohort: TCIA layout, DICOM validity, determinism, boxes, contrast, acquisition effects."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.uid import UID
from skimage.transform import resize
from sklearn.metrics import roc_auc_score

from breastlab.cli import main
from breastlab.data.phantom import make_mri_cohort, plan_mri_cohort, tumour_mask
from breastlab.data.phantom._dicom import series_dataset, set_instance, to_bytes
from breastlab.errors import BreastlabInputError

# seed 7 with 6 patients gives both field strengths, both vendors, three matrix sizes,
# both tumour sides and both InstanceNumber orders (asserted below, so the tests stay meaningful)
ARGS = dict(n_patients=6, seed=7, n_slices=16, matrix=64)
N_POST = 2


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return make_mri_cohort(tmp_path_factory.mktemp("phantom") / "cohort", progress=False, **ARGS)


@pytest.fixture(scope="module")
def plan():
    return plan_mri_cohort(ARGS["n_patients"], ARGS["seed"], n_slices=ARGS["n_slices"], matrix=ARGS["matrix"])


def _read_volume(series_dir: Path) -> tuple[np.ndarray, list[pydicom.Dataset]]:
    """Independent reader: sort by ImagePositionPatient along the slice normal (the Duke reader's order)."""
    dss = [pydicom.dcmread(f) for f in series_dir.glob("*.dcm")]
    normal = np.cross(*np.reshape(np.asarray(dss[0].ImageOrientationPatient, float), (2, 3)))
    dss.sort(key=lambda d: float(np.dot(normal, np.asarray(d.ImagePositionPatient, float))))
    vol = np.stack([d.pixel_array.astype(np.float32) * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss])
    return vol, dss


def _series_dirs(cohort: Path, patient_id: str) -> dict[str, Path]:
    """Phase by series number order: the lowest is pre-contrast, then post1, post2."""
    dirs = sorted(
        (cohort / "Duke-Breast-Cancer-MRI" / patient_id).glob("*/*"), key=lambda d: float(d.name.split("-")[0])
    )
    return dict(zip(["pre", *(f"post{k}" for k in range(1, N_POST + 1))], dirs, strict=True))


def test_plan_covers_the_cases_the_tests_need(plan):
    ps = plan.patients
    assert {p.field_strength for p in ps} == {1.5, 3.0}
    assert {p.manufacturer for p in ps} == {"GE MEDICAL SYSTEMS", "SIEMENS"}
    assert {p.descending for p in ps} == {True, False}
    assert {p.tumour.side for p in ps} == {"L", "R"}


def test_layout_and_file_count(cohort):
    root = cohort / "Duke-Breast-Cancer-MRI"
    patients = sorted(p.name for p in root.iterdir())
    assert patients == [f"Breast_MRI_{i:03d}" for i in range(1, ARGS["n_patients"] + 1)]
    for pid in patients:
        studies = list((root / pid).iterdir())
        assert len(studies) == 1 and re.fullmatch(r"\d{2}-\d{2}-\d{4}-NA-[^/]+-\d{5}", studies[0].name)
        series = list(studies[0].iterdir())
        assert len(series) == 1 + N_POST
        for s in series:
            # the pattern every series name of the real slice_counts.csv matches
            assert re.fullmatch(r"\d+\.000000-.+-\d{5}", s.name), s.name
            names = sorted(f.name for f in s.iterdir())
            assert names == [f"1-{i:03d}.dcm" for i in range(1, ARGS["n_slices"] + 1)]
    assert sum(1 for _ in root.rglob("*.dcm")) == ARGS["n_patients"] * (1 + N_POST) * ARGS["n_slices"]
    assert (cohort / "Clinical_and_Other_Features.xlsx").is_file()
    boxes = pd.read_csv(cohort / "Annotation_Boxes.csv")
    assert list(boxes.columns) == [
        "Patient ID",
        "Start Row",
        "End Row",
        "Start Column",
        "End Column",
        "Start Slice",
        "End Slice",
    ]


def test_same_seed_is_byte_identical_other_seed_differs(cohort, tmp_path):
    again = make_mri_cohort(tmp_path / "again", workers=2, progress=False, **ARGS)  # workers must not matter
    assert _tree_hash(again) == _tree_hash(cohort)
    other = make_mri_cohort(tmp_path / "other", progress=False, **{**ARGS, "seed": ARGS["seed"] + 1})
    assert _tree_hash(other) != _tree_hash(cohort)


def test_every_file_is_valid_mr_dicom(cohort):
    clinical = pd.read_excel(cohort / "Clinical_and_Other_Features.xlsx", header=[0, 1, 2])
    manufacturer_code = dict(zip(clinical.iloc[:, 0], clinical.iloc[:, 2], strict=True))
    sops, orders = set(), set()
    for pid in (f"Breast_MRI_{i:03d}" for i in range(1, ARGS["n_patients"] + 1)):
        studies = set()
        for phase, folder in _series_dirs(cohort, pid).items():
            files = sorted(folder.glob("*.dcm"))
            dss = [pydicom.dcmread(f) for f in files]
            for f, ds in zip(files, dss, strict=True):
                assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
                assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4" and ds.Modality == "MR"
                assert ds.pixel_array.shape == (ds.Rows, ds.Columns) and ds.pixel_array.dtype == np.uint16
                assert ds.PatientID == pid and str(ds.PatientName) == f"Phantom^{pid[-3:]}"
                assert ds.InstitutionName and ds.PatientBirthDate  # fake identifying values for de-identification
                assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
                assert f.name == f"1-{int(ds.InstanceNumber):03d}.dcm"
                assert UID(ds.SOPInstanceUID).is_valid and ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
                assert folder.name.split("-")[1] == ds.SeriesDescription
                assert float(folder.name.split("-")[0]) == ds.SeriesNumber
                sops.add(ds.SOPInstanceUID)
                studies.add(ds.StudyInstanceUID)
            z = [float(ds.ImagePositionPatient[2]) for ds in dss]
            orders.add("ascending" if z == sorted(z) else "descending" if z == sorted(z)[::-1] else "mixed")
            assert float(dss[0].SpacingBetweenSlices) == pytest.approx(abs(z[1] - z[0]), abs=1e-3)
            assert (phase == "pre") == ("ContrastBolusAgent" not in dss[0] or phase == "pre")
        assert len(studies) == 1
        expected = {0: "GE MEDICAL SYSTEMS", 2: "SIEMENS"}[manufacturer_code[pid]]
        assert dss[0].Manufacturer == expected
    assert len(sops) == ARGS["n_patients"] * (1 + N_POST) * ARGS["n_slices"]
    assert orders == {"ascending", "descending"}  # readers must sort by position


def test_fast_writer_matches_pydicom(plan, cohort):
    from breastlab.data.phantom import render_patient

    p = next(p for p in plan.patients if p.descending)
    series = p.series[1]
    volume = render_patient(p, [series.phase])[series.phase]
    ds = series_dataset(p, series, volume)
    folder = next(_series_dirs(cohort, p.patient_id)[series.phase].parent.glob(f"{series.number}.000000-*"))
    for instance in (1, 2, ARGS["n_slices"]):
        set_instance(ds, p, series, volume, instance)
        assert (folder / f"1-{instance:03d}.dcm").read_bytes() == to_bytes(ds)


def test_box_is_the_tight_bounding_box_of_the_tumour_mask(cohort, plan):
    boxes = pd.read_csv(cohort / "Annotation_Boxes.csv").set_index("Patient ID")
    for p in plan.patients:
        mask = tumour_mask(p)
        z, r, c = np.nonzero(mask)
        b = boxes.loc[p.patient_id]
        assert (b["Start Slice"], b["End Slice"]) == (z.min() + 1, z.max() + 1)
        assert (b["Start Row"], b["End Row"]) == (r.min() + 1, r.max() + 1)
        assert (b["Start Column"], b["End Column"]) == (c.min() + 1, c.max() + 1)
        assert b["End Slice"] - b["Start Slice"] >= 2  # spans several slices


def test_tumour_enhances_inside_the_box_and_sits_on_the_clinical_side(cohort, plan):
    from breastlab.data.duke.clinical import read_clinical

    clinical = read_clinical(cohort / "Clinical_and_Other_Features.xlsx").set_index("patient_id")
    boxes = pd.read_csv(cohort / "Annotation_Boxes.csv").set_index("Patient ID")
    for p in plan.patients:
        dirs = _series_dirs(cohort, p.patient_id)
        pre, _ = _read_volume(dirs["pre"])
        post, _ = _read_volume(dirs["post1"])
        mask = tumour_mask(p)
        b = boxes.loc[p.patient_id]
        box = (
            slice(b["Start Slice"] - 1, b["End Slice"]),
            slice(b["Start Row"] - 1, b["End Row"]),
            slice(b["Start Column"] - 1, b["End Column"]),
        )
        enhancement = post[mask].mean() / pre[mask].mean()
        breast = np.zeros_like(mask)
        breast[:, : pre.shape[1] // 2] = True  # anterior half: breasts (heart and chest excluded)
        background = (pre > 3 * pre[:, :4].mean()) & breast & ~mask
        print(
            p.patient_id,
            f"tumour post/pre {enhancement:.2f}",
            f"breast post/pre {post[background].mean() / pre[background].mean():.2f}",
        )
        assert enhancement > 1.8
        assert post[background].mean() / pre[background].mean() < 1.4  # mild background enhancement
        assert post[box].mean() - pre[box].mean() > 2 * (post[background].mean() - pre[background].mean())
        side = clinical.loc[p.patient_id, "tumor_location"]
        if not pd.isna(side):
            # ImageOrientationPatient [1,0,0,...]: columns run towards the patient's left
            side = {"left": "L", "right": "R"}[side]
            assert side == p.tumour.side
            centre = (b["Start Column"] + b["End Column"]) / 2
            assert (centre > pre.shape[2] / 2) == (side == "L")


def test_field_strength_changes_noise_and_is_learnable_after_resizing(cohort, plan):
    """Slices resized to a common size: the relative noise in the air above the breasts alone
    separates 1.5 T from 3 T (AUC from scikit-learn)."""
    features, labels = [], []
    for p in plan.patients:
        vol, _ = _read_volume(_series_dirs(cohort, p.patient_id)["pre"])
        for img in vol:
            img = resize(img, (48, 48), anti_aliasing=True, preserve_range=True)
            air = img[:5]  # rows above the breast tips
            body = np.median(img[img > 4 * air.mean()])
            features.append(np.sqrt(np.mean(air**2) / 2) / body)  # Rayleigh sigma / tissue signal
            labels.append(int(p.field_strength < 2))
    features, labels = np.asarray(features), np.asarray(labels)
    auc = roc_auc_score(labels, features)
    ratio = np.median(features[labels == 1]) / np.median(features[labels == 0])
    print(f"relative noise 1.5 T / 3 T = {ratio:.2f}, AUC = {auc:.3f}")
    assert ratio > 1.4
    assert auc > 0.9


def test_matrix_follows_the_scanner(cohort, plan):
    # real table: GE 512 (628 of 628); Siemens Skyra/TrioTim 448, Avanto 448 or 320
    allowed = {"Avanto": {448, 320}, "Skyra": {448}, "TrioTim": {448}, "Trio": {448}}
    full = plan_mri_cohort(40, 3, n_slices=8)
    for p in full.patients:
        expected = {512} if p.manufacturer == "GE MEDICAL SYSTEMS" else allowed[p.model]
        assert p.shape[1] == p.shape[2] and p.shape[1] in expected
        assert p.nominal_matrix == p.shape[1]
    for p in plan.patients:  # matrix=64: 512 -> 64, 448 -> 56, 320 -> 40
        assert p.shape[1] == {512: 64, 448: 56, 320: 40}[p.nominal_matrix]
        ds = pydicom.dcmread(next(_series_dirs(cohort, p.patient_id)["pre"].glob("*.dcm")), stop_before_pixels=True)
        assert (ds.Rows, ds.Columns) == p.shape[1:]
        assert float(ds.PixelSpacing[0]) * ds.Rows == pytest.approx(p.fov_mm, rel=1e-4)
        assert float(ds.MagneticFieldStrength) == p.field_strength


def test_clinical_marginals_are_realistic(tmp_path):
    from breastlab.data.duke.clinical import CLINICAL_SPEC, read_clinical
    from breastlab.data.phantom.mri import write_clinical

    n = 400
    plan = plan_mri_cohort(n, 11, n_slices=8)
    path = write_clinical(plan.clinical, tmp_path / "Clinical_and_Other_Features.xlsx")
    df = read_clinical(path)
    assert df.shape == (n, len(CLINICAL_SPEC)) and list(df["patient_id"]) == [p.patient_id for p in plan.patients]
    # figures of the real table (shared/data/duke/README.md): 468/922 at 1.5 T, 628/922 GE
    for value, p_real in (
        (df["field_strength_t"] == 1.5, 468 / 922),
        (df["manufacturer"] == "GE MEDICAL SYSTEMS", 628 / 922),
    ):
        assert abs(value.mean() - p_real) < 4 * np.sqrt(p_real * (1 - p_real) / n)
    siemens = {"Avanto", "Skyra", "Trio", "TrioTim"}
    assert ((df["manufacturer"] == "SIEMENS") == df["manufacturer_model"].isin(siemens)).all()
    # the image metadata agrees with the table
    for p, (_, row) in zip(plan.patients, df.iterrows(), strict=True):
        assert (p.manufacturer, p.model, p.field_strength, p.nominal_matrix) == (
            row["manufacturer"],
            row["manufacturer_model"],
            row["field_strength_t"],
            row["rows"],
        )


def test_clinical_marginals_match_the_real_table(duke_dir, tmp_path):
    from breastlab.data.duke.clinical import read_clinical
    from breastlab.data.phantom.mri import write_clinical

    real = read_clinical(duke_dir / "Clinical_and_Other_Features.xlsx")
    n = 500
    fake = read_clinical(write_clinical(plan_mri_cohort(n, 5, n_slices=8).clinical, tmp_path / "c.xlsx"))
    for col in (
        "field_strength_t",
        "manufacturer",
        "manufacturer_model",
        "rows",
        "menopause",
        "race_ethnicity",
        "surgery_type",
        "er",
        "her2",
        "mol_subtype",
        "tumor_location",
    ):
        a = real[col].astype("string").fillna("<NA>").value_counts(normalize=True)
        b = fake[col].astype("string").fillna("<NA>").value_counts(normalize=True)
        tvd = 0.5 * a.subtract(b, fill_value=0).abs().sum()
        print(f"{col}: total variation distance real vs phantom (n={n}) {tvd:.3f}")
        assert tvd < 0.1, col
    # joint structure kept: molecular subtype agrees with receptor status as in the real table
    for table in (real, fake):
        tn = table["mol_subtype"].astype("string").str.contains("trip", case=False, na=False)
        assert tn.any() and (table.loc[tn, "er"].astype("string").str.contains("neg")).all()


def test_resume_and_refusals(tmp_path):
    args = dict(n_patients=2, seed=1, n_slices=8, matrix=32, progress=False)
    out = make_mri_cohort(tmp_path / "c", **args)
    digest = _tree_hash(out)
    import shutil

    shutil.rmtree(out / "Duke-Breast-Cancer-MRI" / "Breast_MRI_002")
    (out / "Duke-Breast-Cancer-MRI" / ".Breast_MRI_002.partial" / "junk").mkdir(parents=True)  # a crashed run
    make_mri_cohort(out, **args)
    assert _tree_hash(out) == digest
    with pytest.raises(BreastlabInputError, match="other arguments"):
        make_mri_cohort(out, **{**args, "seed": 2})
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(BreastlabInputError, match="not empty"):
        make_mri_cohort(tmp_path / "full", **args)
    for bad in (dict(n_patients=0), dict(matrix=8), dict(n_slices=2), dict(seed=-1)):
        with pytest.raises(BreastlabInputError):
            plan_mri_cohort(**{"n_patients": 2, "seed": 0, **bad})


def test_cli(tmp_path, capsys):
    rc = main(
        [
            "phantom",
            "mri",
            str(tmp_path / "c"),
            "--patients",
            "2",
            "--seed",
            "3",
            "--slices",
            "8",
            "--matrix",
            "32",
            "--post",
            "1",
        ]
    )
    assert rc == 0
    assert "2 patients, 32 DICOM files" in capsys.readouterr().out
    assert main(["phantom", "mri", str(tmp_path / "c"), "--patients", "3", "--slices", "8"]) == 2
