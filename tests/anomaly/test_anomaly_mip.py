"""Breast MIPs: geometry on a phantom cohort, midline, orientation, labels, bad input, resume, CLI."""

from __future__ import annotations

import shutil
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter

from breastlab.data.duke import read_boxes
from breastlab.data.duke.dicom import index_dicom_tree, read_series
from breastlab.data.mip import (
    MipSettings,
    box_to_canonical,
    breast_counts,
    breast_labels,
    build_mip_store,
    canonical_axes,
    contact_sheet,
    exam_mips,
    find_midline,
    subtraction_volume,
)
from breastlab.errors import BreastlabInputError

N_PATIENTS, SEED = 10, 3
SETTINGS = MipSettings(size=64)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from breastlab.data.phantom import make_mri_cohort

    out = tmp_path_factory.mktemp("anomaly_cohort")
    return make_mri_cohort(out / "c", N_PATIENTS, seed=SEED, matrix=96, n_slices=16, n_post=1, progress=False)


@pytest.fixture(scope="module")
def store(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("anomaly_store") / "mips"
    return build_mip_store(cohort, out, SETTINGS, progress=False)


def test_projected_box_contains_the_subtraction_maximum(cohort):
    """Every abnormal breast: the lesion-scale maximum (MIP smoothed by 1 px) lies in the projected box;
    and the raw pixel maximum does wherever the phantom's tumour holds the subtraction maximum of that
    breast (checked independently with the phantom's tumour mask; otherwise an enhancing vessel is brighter)."""
    from breastlab.data.phantom import plan_mri_cohort, tumour_mask

    plan = {p.patient_id: p for p in plan_mri_cohort(N_PATIENTS, SEED, n_slices=16, matrix=96, n_post=1).patients}
    index = index_dicom_tree(cohort)
    boxes = read_boxes(cohort / "Annotation_Boxes.csv").set_index("patient_id")
    n_raw = 0
    for pid, grp in index.groupby("patient_id"):
        pre = read_series(grp.loc[grp["sequence"] == "pre", "path"].iloc[0])
        post = read_series(grp.loc[grp["sequence"] == "post1", "path"].iloc[0])
        box = {k: int(boxes.loc[pid, k]) for k in ("start_row", "end_row", "start_column", "end_column")}
        ex = exam_mips(pre, post, SETTINGS, box, pid)
        patient = plan[pid]
        assert ex.box_side == patient.tumour.side, pid  # the box is in the breast the phantom put the tumour in
        b = ex.breasts[ex.box_side]
        x0, y0, x1, y1 = b.box
        sy, sx = np.unravel_index(np.argmax(gaussian_filter(b.image, 1.0)), b.image.shape)
        assert x0 <= sx < x1 and y0 <= sy < y1, (pid, (sx, sy), b.box)
        sub = subtraction_volume(pre, post)
        half = slice(0, ex.midline) if ex.box_side == "R" else slice(ex.midline, None)  # canonical == DICOM here
        mask = tumour_mask(patient)[:, ex.band[0] : ex.band[1], half]
        vol = sub[:, ex.band[0] : ex.band[1], half]
        if vol[mask].max() >= vol[~mask].max():
            n_raw += 1
            ry, rx = np.unravel_index(np.argmax(b.image), b.image.shape)
            assert x0 <= rx < x1 and y0 <= ry < y1, (pid, (rx, ry), b.box)
    print(f"raw-maximum check applied to {n_raw} of {N_PATIENTS} abnormal breasts")
    assert n_raw >= N_PATIENTS // 2


def test_store_rows_labels_and_findings(store, cohort):
    from breastlab.data.duke import read_clinical

    st, problems = store
    man = st.manifest
    assert st.shape == (64, 64) and st.images.dtype == np.uint8
    clinical = read_clinical(cohort / "Clinical_and_Other_Features.xlsx").set_index("patient_id")
    excluded = set(problems.to_frame().query("stage == 'anomaly_mip'")["item"])
    both = clinical.index[(clinical["bilateral"] == "yes") | (clinical["contralateral_involvement"] == "yes")]
    assert excluded == set(both)  # the only bad input of a clean phantom: both breasts abnormal
    assert set(man["patient_id"]) == set(clinical.index) - excluded
    for pid, grp in man.groupby("patient_id"):
        assert sorted(grp["side"]) == ["L", "R"] and grp["label"].sum() == 1
        loc = clinical.loc[pid, "tumor_location"]
        if not pd.isna(loc):
            assert grp.loc[grp["label"] == 1, "laterality"].item() == loc
    abnormal = man.loc[man["label"] == 1, "image_id"]
    assert sorted(st.findings["image_id"]) == sorted(abnormal)
    assert (st.findings["finding_class"] == "tumour_box").all()
    # lesions are visible: the box holds brighter pixels than the rest of the breast
    for rec in st.findings.itertuples():
        img = st[int(man.loc[man["image_id"] == rec.image_id, "row"].item())].astype(float)
        inside = img[rec.y0 : rec.y1, rec.x0 : rec.x1]
        assert inside.max() > np.percentile(img[img > 0], 95), rec.image_id


def test_breast_counts_per_side_and_label(store):
    from collections import Counter

    man = store[0].manifest
    counts = breast_counts(man)
    by_hand = Counter(zip(man["side"], man["label"], strict=True))
    got = {(r.side, r.label): r.breasts for r in counts.table.itertuples()}
    assert got == dict(by_hand) and list(counts.table.columns) == ["side", "label", "breasts"]
    assert counts.breasts == sum(by_hand.values()) == len(man)
    assert counts.patients == len(set(man["patient_id"])) and counts.breasts == 2 * counts.patients
    with pytest.raises(BreastlabInputError, match=r"lacks the column\(s\) \['label'\]"):
        breast_counts(man.drop(columns="label"))


def test_contact_sheet(store, tmp_path):
    from PIL import Image

    path = contact_sheet(store[0], tmp_path / "sheet.png", n_per_class=3)
    im = Image.open(path)
    assert im.size == (3 * 68, 2 * 68)


def test_find_midline_follows_the_image():
    w = 100
    yy, xx = np.mgrid[:60, :w]
    for axis in (37.5, 50.5, 58.0):  # symmetry axis in pixel-centre coordinates
        img = sum(np.exp(-((xx - (axis + d)) ** 2 + (yy - 20) ** 2) / 60.0) for d in (-18, 18))
        img[40:] = 0.5  # a body block across the image below the breasts
        assert find_midline(img) == round(axis + 0.5)


def test_canonical_axes_and_box():
    assert canonical_axes([1, 0, 0, 0, 1, 0]) == (False, False, False)
    assert canonical_axes([-1, 0, 0, 0, 1, 0]) == (False, False, True)
    assert canonical_axes([1, 0, 0, 0, -1, 0]) == (False, True, False)
    with pytest.raises(BreastlabInputError, match="not axial"):
        canonical_axes([0, 1, 0, 0, 0, -1])  # sagittal
    box = {"start_row": 3, "end_row": 5, "start_column": 2, "end_column": 4}
    assert box_to_canonical(box, (10, 20), (False, False, False)) == (2, 5, 1, 4)
    assert box_to_canonical(box, (10, 20), (False, True, True)) == (5, 8, 16, 19)


def test_breast_labels_rules():
    labels, notes = breast_labels({"tumor_location": "left"}, "L")
    assert labels == {"R": 0, "L": 1} and not notes
    labels, notes = breast_labels({"tumor_location": None}, "R", patient="P1")
    assert labels == {"R": 1, "L": 0} and "P1" in notes[0]
    with pytest.raises(BreastlabInputError, match="P2.*says left.*right breast"):
        breast_labels({"tumor_location": "left"}, "R", patient="P2")
    with pytest.raises(BreastlabInputError, match="P3: both breasts abnormal"):
        breast_labels({"tumor_location": "left", "bilateral": "yes"}, "L", patient="P3")
    labels, notes = breast_labels(
        {"tumor_location": "left", "contralateral_involvement": "yes"}, "L", bilateral="include", patient="P4"
    )
    assert labels == {"R": 1, "L": 1} and "P4" in notes[0]


def _vol(shape, orientation=(1, 0, 0, 0, 1, 0), dz=0.0):
    z = np.arange(shape[0], dtype=float)
    return types.SimpleNamespace(
        array=np.ones(shape, np.float32),
        orientation=np.array(orientation, float),
        positions=np.stack([np.zeros_like(z), np.zeros_like(z), z * 2 + dz], 1),
        spacing=(2.0, 1.0, 1.0),
        folder="/x/series",
    )


def test_subtraction_geometry_checks():
    with pytest.raises(BreastlabInputError, match="patient P9: pre-contrast .* shape"):
        subtraction_volume(_vol((4, 8, 8)), _vol((4, 8, 6)), "P9")
    with pytest.raises(BreastlabInputError, match="P9: pre- and post-contrast orientations differ"):
        subtraction_volume(_vol((4, 8, 8)), _vol((4, 8, 8), (0.9, 0.1, 0, 0, 1, 0)), "P9")
    with pytest.raises(BreastlabInputError, match="P9: .*positions differ"):
        subtraction_volume(_vol((4, 8, 8)), _vol((4, 8, 8), dz=1.5), "P9")
    pre, post = _vol((2, 3, 3)), _vol((2, 3, 3))
    post.array[0, 0, 0], post.array[1, 1, 1] = 3.0, 0.0
    sub = subtraction_volume(pre, post)
    assert sub[0, 0, 0] == 2.0 and sub[1, 1, 1] == 0.0 and sub.min() == 0.0  # negatives clipped


def test_bad_exams_are_reported_and_the_rest_processed(cohort, tmp_path):
    bad = tmp_path / "cohort"
    shutil.copytree(cohort, bad)
    index = index_dicom_tree(bad)
    victim = sorted(index["patient_id"].unique())[0]
    post = index[(index["patient_id"] == victim) & (index["sequence"] == "post1")]["path"].iloc[0]
    shutil.rmtree(post)
    st, problems = build_mip_store(bad, tmp_path / "mips", SETTINGS, progress=False)
    frame = problems.to_frame()
    msg = frame.loc[frame["item"] == victim, "message"].iloc[0]
    assert victim in msg and "post1" in msg
    assert victim not in set(st.manifest["patient_id"]) and len(st.manifest) > 0
    assert (tmp_path / "mips" / "problems.csv").exists()
    # a finished store with the same settings is returned as is; other settings are refused
    again, _ = build_mip_store(bad, tmp_path / "mips", SETTINGS, progress=False)
    assert again.checksum == st.checksum
    with pytest.raises(BreastlabInputError, match="same settings"):
        build_mip_store(bad, tmp_path / "mips", MipSettings(size=32), progress=False)


def test_both_abnormal_patients_are_left_out_unread(cohort, tmp_path):
    """A patient whose clinical flags make both breasts abnormal is reported without reading the exam
    (a broken series of theirs does not matter); with bilateral='include' the exam is read."""
    from breastlab.data.duke.clinical import read_clinical_raw, write_clinical_xlsx

    bad = tmp_path / "cohort"
    shutil.copytree(cohort, bad)
    raw = read_clinical_raw(bad / "Clinical_and_Other_Features.xlsx")
    victim = sorted(raw["Patient ID"])[1]
    raw.loc[raw["Patient ID"] == victim, "Contralateral Breast Involvement"] = 1  # TCIA's code for yes
    write_clinical_xlsx(raw, bad / "Clinical_and_Other_Features.xlsx")
    index = index_dicom_tree(bad)
    post = index[(index["patient_id"] == victim) & (index["sequence"] == "post1")]["path"].iloc[0]
    first = sorted(Path(post).glob("*.dcm"))[0]
    first.write_bytes(first.read_bytes()[:300])  # truncated: reading this series fails
    for workers in (1, 2):  # with worker processes the exam may be read, but only this message is kept
        st, problems = build_mip_store(bad, tmp_path / f"exclude{workers}", SETTINGS, workers=workers, progress=False)
        assert problems.to_frame()["item"].tolist().count(victim) == 1
        msg = problems.to_frame().set_index("item").loc[victim, "message"]
        assert msg == (
            f"patient {victim}: both breasts abnormal (contralateral_involvement = yes); left out "
            "(bilateral='exclude'; use bilateral='include' to keep both breasts labelled abnormal)"
        )
        assert victim not in set(st.manifest["patient_id"]) and len(st.manifest) == 2 * (N_PATIENTS - 1)
    st, problems = build_mip_store(
        bad, tmp_path / "include", MipSettings(size=64, bilateral="include"), patients=[victim], progress=False
    )
    msg = problems.to_frame().query("stage == 'anomaly_mip'").set_index("item").loc[victim, "message"]
    assert first.name in msg and len(st.manifest) == 0  # read this time: the broken file is named


def test_worker_processes_give_the_same_store(cohort, store, tmp_path):
    st, problems = store
    par, par_problems = build_mip_store(cohort, tmp_path / "par", SETTINGS, workers=2, progress=False)
    np.testing.assert_array_equal(np.asarray(par.images), np.asarray(st.images))
    pd.testing.assert_frame_equal(par.manifest, st.manifest)
    pd.testing.assert_frame_equal(par.findings, st.findings)
    key = ["item", "stage", "message"]
    ours, theirs = par_problems.to_frame()[key].values, problems.to_frame()[key].values
    assert sorted(map(tuple, ours)) == sorted(map(tuple, theirs))


def test_interrupted_build_resumes_from_its_last_checkpoint(cohort, store, tmp_path, monkeypatch):
    """Patients go to disk in checkpoint batches: a job interrupted after some checkpoints redoes only
    the patients after the last one and gives the uninterrupted store (notes included)."""
    import breastlab.data.mip as mip
    from breastlab.data.store import StoreWriter

    class EveryPatient(StoreWriter):  # a checkpoint after every patient (as if each took checkpoint_s)
        def __init__(self, *args, **kwargs):
            super().__init__(*args, checkpoint_bytes=0, **kwargs)

    real, seen = mip._exam_images, []

    def interrupted(job):
        if len(seen) == 4:
            raise KeyboardInterrupt
        seen.append(job.patient_id)
        return real(job)

    monkeypatch.setattr(mip, "StoreWriter", EveryPatient)
    monkeypatch.setattr(mip, "_exam_images", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_mip_store(cohort, tmp_path / "mips", SETTINGS, progress=False)
    assert len(list((tmp_path / "mips" / ".shards" / "batches").glob("*.keys.json"))) == 4
    redone = []
    monkeypatch.setattr(mip, "StoreWriter", StoreWriter)
    monkeypatch.setattr(mip, "_exam_images", lambda job: (redone.append(job.patient_id), real(job))[1])
    st, problems = build_mip_store(cohort, tmp_path / "mips", SETTINGS, progress=False)
    assert not set(redone) & set(seen) and len(redone) + len(seen) == len(store[0].manifest["patient_id"].unique())
    np.testing.assert_array_equal(np.asarray(st.images), np.asarray(store[0].images))
    pd.testing.assert_frame_equal(st.manifest, store[0].manifest)
    pd.testing.assert_frame_equal(st.findings, store[0].findings)
    assert st.checksum == store[0].checksum
    key = ["item", "stage", "message"]
    assert problems.to_frame()[key].values.tolist() == store[1].to_frame()[key].values.tolist()


def test_cli_mip(cohort, tmp_path, capsys):
    from breastlab.cli import main

    out = tmp_path / "cli_mips"
    assert (
        main(["anomaly", "mip", str(cohort), "--out", str(out), "--size", "32", "--sheet", str(tmp_path / "sheet.png")])
        == 0
    )
    text = capsys.readouterr().out
    assert "breasts of" in text and (tmp_path / "sheet.png").exists() and (out / "store.json").exists()


def test_otsu_matches_scikit_image():
    from skimage.filters import threshold_otsu

    from breastlab.data.mip import _otsu

    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(10, 2, 5000), rng.normal(40, 5, 3000)]
    assert _otsu(x) == pytest.approx(threshold_otsu(x))
    assert _otsu(np.round(x)) == pytest.approx(threshold_otsu(np.round(x)))  # integer images: bincount path


def test_integer_histogram_equals_numpy():
    """Images of integers are histogrammed through their distinct values: np.histogram's exact counts."""
    from breastlab.data.mip import _histogram

    rng = np.random.default_rng(1)
    images = [
        rng.integers(0, 4096, 5000),
        rng.integers(-300, 300, 777),
        np.round(rng.normal(100, 50, 4000)),
        np.r_[rng.integers(0, 50, 100), 10**6],
        (rng.random(1000) * 1000).astype(np.float32),
    ]
    for v in images:
        v = np.asarray(v, dtype=np.float64)
        lo, hi = float(v.min()), float(v.max())
        for bins in (256, 7, 1000):
            counts, edges = _histogram(v, bins, lo, hi)
            want, want_edges = np.histogram(v, bins=bins, range=(lo, hi))
            assert counts.dtype == want.dtype
            np.testing.assert_array_equal(counts, want)
            np.testing.assert_array_equal(edges, want_edges)


def test_slice_wise_projections_equal_the_volume_path(cohort):
    """subtraction_mips (stored slices, int16 here) == max over the float32 volumes, exactly."""
    from breastlab.data.duke.dicom import ReadBuffer, read_series_slices
    from breastlab.data.mip import subtraction_mips

    index = index_dicom_tree(cohort)
    buffers = ReadBuffer(), ReadBuffer()
    for _pid, grp in list(index.groupby("patient_id"))[:3]:
        paths = [grp.loc[grp["sequence"] == p, "path"].iloc[0] for p in ("pre", "post1")]
        pre, post = read_series(paths[0]), read_series(paths[1])
        ps, pv = read_series_slices(paths[0], header=False, buffer=buffers[0])
        qs, qv = read_series_slices(paths[1], header=False, buffer=buffers[1])
        assert ps[0].bits_stored <= 15  # the int16 path is the one checked here
        sub, top = subtraction_mips(ps, pv, qs, qv)
        np.testing.assert_array_equal(sub, np.clip(post.array - pre.array, 0, None).max(axis=0))
        np.testing.assert_array_equal(top, pre.array.max(axis=0))


@pytest.mark.parametrize("case", ["int32", "rescaled"])
def test_slice_wise_projections_other_paths(case):
    """16-bit values (int32 differences) and per-slice rescale (float32), against NumPy on stacked volumes."""
    from breastlab.data.duke.dicom import StoredSlice
    from breastlab.data.mip import subtraction_mips

    rng = np.random.default_rng(1)
    n, shape = 5, (7, 6)
    raw = rng.integers(0, 65535, (2, n, *shape)).astype(np.uint16)  # full 16 bits: int16 would overflow
    slopes = rng.uniform(0.5, 2, (2, n)) if case == "rescaled" else np.ones((2, n))
    inters = rng.uniform(-50, 50, (2, n)) if case == "rescaled" else np.zeros((2, n))
    vols, slices = [], []
    for s in range(2):
        sl = [
            StoredSlice(
                f"{k}",
                raw[s, k],
                np.array([0, 0, 2.0 * k]),
                np.array([1.0, 0, 0, 0, 1, 0]),
                float(slopes[s, k]),
                float(inters[s, k]),
                None,
                bits_stored=16,
            )
            for k in range(n)
        ]
        slices.append(sl)
        vols.append(
            types.SimpleNamespace(
                array=np.stack([x.rescaled() for x in sl]),
                orientation=sl[0].orientation,
                positions=np.stack([x.position for x in sl]),
                spacing=(2.0, 1.0, 1.0),
                folder="/x/s",
            )
        )
    sub, top = subtraction_mips(slices[0], vols[0], slices[1], vols[1])
    np.testing.assert_array_equal(sub, subtraction_volume(vols[0], vols[1]).max(axis=0))
    np.testing.assert_array_equal(top, vols[0].array.max(axis=0))
    if case == "int32":  # and against exact integer arithmetic
        np.testing.assert_array_equal(sub, np.clip(raw[1].astype(np.int64) - raw[0], 0, None).max(axis=0))
        assert sub.max() > 32767


def test_the_anomaly_study_uses_the_data_layer_builder():
    """MIP building lives in breastlab.data (no study imported there); the anomaly package re-exports it."""
    import ast
    import inspect

    import breastlab.anomaly as anomaly
    import breastlab.anomaly.mip as thin
    import breastlab.data.mip as mip

    assert thin.build_mip_store is mip.build_mip_store is anomaly.build_mip_store
    tree = ast.parse(inspect.getsource(mip))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith(("breastlab.anomaly", "breastlab.mammo", "breastlab.train"))]


def test_a_finished_or_interrupted_store_of_other_inputs_is_refused(cohort, store, tmp_path):
    """A MIP store folder holds one cohort: building another cohort or other patients into it is refused,
    naming what differs (resuming reuses nothing of the other inputs)."""
    other = tmp_path / "other"
    shutil.copytree(cohort, other)
    boxes = other / "Annotation_Boxes.csv"
    boxes.write_text(boxes.read_text().replace("\n", "\n", 1) + "\n")  # same boxes, another file
    built = store[0].path
    with pytest.raises(BreastlabInputError, match=r"finished store .*\(box file differ\)"):
        build_mip_store(other, built, SETTINGS, progress=False)
    again, _ = build_mip_store(cohort, built, SETTINGS, progress=False)  # the same inputs: returned as it is
    assert again.checksum == store[0].checksum
