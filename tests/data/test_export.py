"""Slice store export on a tiny phantom cohort: content, resume, problems report, CLI."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import torch

from breastlab.data import export as export_mod
from breastlab.data.duke.boxes import read_boxes
from breastlab.data.duke.clinical import read_clinical
from breastlab.data.duke.dicom import index_dicom_tree, read_series
from breastlab.data.duke.labels import label_slices
from breastlab.data.export import export_slices, export_summary, read_problems, scale_box
from breastlab.data.phantom import make_mri_cohort, plan_mri_cohort, render_patient
from breastlab.errors import BreastlabInputError

N_PATIENTS, N_SLICES, MATRIX, SEED = 5, 16, 32, 3
SIZE = 16
# Identifying values the phantom writes into every header (see phantom/_dicom.py).
PHANTOM_IDENTIFYING = ["Phantom General Hospital", "Phantom^", "Referrer^Fake", "Operator^Fake",
                       "Fictional Street", "Imaginary Road"]  # fmt: skip


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantom") / "cohort"
    make_mri_cohort(out, N_PATIENTS, seed=SEED, n_slices=N_SLICES, matrix=MATRIX, n_post=1, progress=False)
    return out


@pytest.fixture(scope="module")
def store(cohort: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("store") / "store"
    png = out.parent / "png"
    return export_slices(cohort, out, size=SIZE, workers=1, png_dir=png, progress=False)


def _copy_cohort(cohort: Path, dst: Path) -> Path:
    shutil.copytree(cohort, dst)
    return dst


# ---------------------------------------------------------------------------- the reader on the phantom
def test_read_series_equals_the_phantom_volumes(cohort: Path) -> None:
    """Position order, rescale and 12-bit pixels against the phantom's own rendering."""
    plan = plan_mri_cohort(N_PATIENTS, SEED, n_slices=N_SLICES, matrix=MATRIX, n_post=1)
    index = index_dicom_tree(cohort)
    assert set(index["sequence"]) == {"pre", "post1"}
    descending = 0
    for patient in plan.patients:
        truth = render_patient(patient)
        for phase in ("pre", "post1"):
            path = index[(index["patient_id"] == patient.patient_id) & (index["sequence"] == phase)]["path"]
            vol = read_series(path.iloc[0])
            np.testing.assert_array_equal(vol.array, truth[phase].astype(np.float32))
        descending += patient.descending
    print(f"{descending}/{len(plan.patients)} phantom patients store their files in descending position order")
    assert 0 < descending < len(plan.patients)  # both file orders are exercised


# ---------------------------------------------------------------------------- store content
def test_manifest_rows_match_label_slices(cohort: Path, store) -> None:
    boxes = read_boxes(cohort / "Annotation_Boxes.csv")
    index = index_dicom_tree(cohort)
    pre = index[index["sequence"] == "pre"]
    expected = label_slices(boxes, dict(zip(pre["patient_id"], pre["n_files"], strict=True)), buffer=5)
    got = store.manifest[["patient_id", "slice_index", "label"]]
    pd.testing.assert_frame_equal(
        got.sort_values(["patient_id", "slice_index"]).reset_index(drop=True),
        expected.sort_values(["patient_id", "slice_index"]).reset_index(drop=True),
        check_dtype=False,
    )
    man = store.manifest
    assert list(man["row"]) == list(range(len(man)))
    assert (man["image_id"] == man["patient_id"] + ":" + man["slice_index"].astype(str)).all()
    assert set(man["sequence"]) == {"pre"} and store.images.shape == (len(man), SIZE, SIZE)
    assert store.images.dtype == np.uint8
    print(export_summary(store).to_string(index=False))


def test_pixels_match_an_independent_pipeline(cohort: Path, store) -> None:
    """pydicom + sort by position + numpy percentiles + torch antialiased resize, per patient."""
    index = index_dicom_tree(cohort)
    for pid, rows in store.manifest.groupby("patient_id"):
        folder = Path(index[(index["patient_id"] == pid) & (index["sequence"] == "pre")]["path"].iloc[0])
        dss = [pydicom.dcmread(f) for f in folder.glob("*.dcm")]
        normal = np.cross(np.array(dss[0].ImageOrientationPatient[:3], float),
                          np.array(dss[0].ImageOrientationPatient[3:], float))  # fmt: skip
        dss.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), normal)))
        vol = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss])
        lo, hi = np.percentile(vol[:, ::8, ::8].astype(np.float32), [0.5, 99.5])
        sel = torch.from_numpy(vol[rows["slice_index"].to_numpy()].astype(np.float32))[:, None]
        small = torch.nn.functional.interpolate(sel, size=(SIZE, SIZE), mode="bilinear", antialias=True,
                                                align_corners=False)[:, 0].numpy()  # fmt: skip
        ref = np.rint(np.clip((small - lo) / (hi - lo), 0, 1) * 255)
        got = store.batch(rows["row"].to_numpy()).astype(float)
        assert np.abs(got - ref).max() <= 1, pid  # PIL vs torch float rounding
        assert rows["window_low"].iloc[0] == pytest.approx(lo) and rows["window_high"].iloc[0] == pytest.approx(hi)


def test_boxes_and_findings(cohort: Path, store) -> None:
    man = store.manifest
    boxes = read_boxes(cohort / "Annotation_Boxes.csv").set_index("patient_id")
    for pid, rows in man.groupby("patient_id"):
        box = boxes.loc[pid]
        r = rows.iloc[0]
        for col in ("start_row", "end_row", "start_column", "end_column", "start_slice", "end_slice"):
            assert r[col] == box[col]
        sy, sx = SIZE / r["dicom_rows"], SIZE / r["dicom_columns"]  # hand formula of the docstring
        assert r["box_x0"] == math.floor((box["start_column"] - 1) * sx + 1e-9)
        assert r["box_x1"] == math.ceil(box["end_column"] * sx - 1e-9)
        assert r["box_y0"] == math.floor((box["start_row"] - 1) * sy + 1e-9)
        assert r["box_y1"] == math.ceil(box["end_row"] * sy - 1e-9)
    pos = man[man["label"] == 1]
    assert sorted(store.findings["image_id"]) == sorted(pos["image_id"])
    assert set(store.findings["finding_class"]) == {"tumour"}
    # 512-matrix box rows 101..150 -> 320 pixels: [62.5 -> 62, 93.75 -> 94)
    assert scale_box(pd.Series({"start_row": 101, "end_row": 150, "start_column": 1, "end_column": 512}),
                     (512, 512), (320, 320)) == (0, 62, 320, 94)  # fmt: skip


def test_clinical_columns_and_no_identifying_values(cohort: Path, store) -> None:
    man = store.manifest
    clinical = read_clinical(cohort / "Clinical_and_Other_Features.xlsx").set_index("patient_id")
    for col in ("field_strength_t", "manufacturer", "menopause", "race_ethnicity", "surgery_type"):
        assert col in man.columns
        got = man.groupby("patient_id")[col].first()
        exp = clinical.loc[got.index, col]
        assert [None if pd.isna(v) else v for v in got] == [None if pd.isna(v) else v for v in exp]
    assert str(man["field_strength_t"].dtype) == str(clinical["field_strength_t"].dtype)
    lowered = {c.lower() for c in man.columns}
    for name in ("patientname", "patient_name", "patientbirthdate", "accessionnumber", "institutionname",
                 "referringphysicianname", "patientaddress"):  # fmt: skip
        assert name not in lowered
    text = man.astype(str).to_csv()
    for value in PHANTOM_IDENTIFYING:
        assert value not in text
    vol = read_series(Path(index_dicom_tree(cohort)["path"].iloc[0]))
    assert not any(v in repr(vol.meta) for v in PHANTOM_IDENTIFYING)


def test_png_files_follow_the_spurbreast_naming(store) -> None:
    png = store.path.parent / "png"
    files = sorted(png.glob("*/*.png"))
    assert len(files) == len(store)
    from PIL import Image

    by_id = store.manifest.set_index("image_id")
    for f in files[:: max(1, len(files) // 10)]:
        sequence, slice_id, patient_id = f.stem.split("-")  # as SpurBreast's dataset class parses them
        rec = by_id.loc[f"{patient_id}:{slice_id}"]
        assert sequence == "pre" and int(f.parent.name) == rec["label"]
        np.testing.assert_array_equal(np.asarray(Image.open(f)), store[int(rec["row"])])


# ---------------------------------------------------------------------------- resume, workers, settings
def test_resume_after_interruption_gives_the_same_store(cohort: Path, store, tmp_path: Path, monkeypatch) -> None:
    real = export_mod._export_patient
    calls: list[str] = []

    def dies_on_third(job):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the job is killed half-way
        calls.append(job.patient_id)
        return real(job)

    monkeypatch.setattr(export_mod, "_export_patient", dies_on_third)
    out = tmp_path / "store"
    with pytest.raises(KeyboardInterrupt):
        export_slices(cohort, out, size=SIZE, workers=1, progress=False)
    assert not (out / "store.json").exists() and len(list((out / ".shards").glob("*.done"))) == 2

    second: list[str] = []
    monkeypatch.setattr(export_mod, "_export_patient", lambda job: (second.append(job.patient_id), real(job))[1])
    resumed = export_slices(cohort, out, size=SIZE, workers=1, progress=False)
    assert sorted(second) == sorted(set(store.manifest["patient_id"]) - set(calls))  # done patients skipped
    pd.testing.assert_frame_equal(resumed.manifest, store.manifest)
    np.testing.assert_array_equal(resumed.images, store.images)

    # a finished store with the same settings is returned without work; other settings are refused
    again = export_slices(cohort, out, size=SIZE, workers=1, progress=False)
    assert again.checksum == store.checksum
    with pytest.raises(BreastlabInputError, match="buffer"):
        export_slices(cohort, out, size=SIZE, buffer=2, workers=1, progress=False)


def test_two_workers_give_the_same_store(cohort: Path, store, tmp_path: Path) -> None:
    par = export_slices(cohort, tmp_path / "par", size=SIZE, workers=2, progress=False)
    pd.testing.assert_frame_equal(par.manifest, store.manifest)
    np.testing.assert_array_equal(par.images, store.images)
    assert par.checksum == store.checksum


def test_negatives_match_and_tuple_source(cohort: Path, tmp_path: Path) -> None:
    src = (cohort / "Duke-Breast-Cancer-MRI", cohort / "Clinical_and_Other_Features.xlsx",
           cohort / "Annotation_Boxes.csv")  # fmt: skip
    st = export_slices(src, tmp_path / "m", size=SIZE, negatives="match", buffer=1, workers=1, progress=False)
    counts = st.manifest.groupby(["patient_id", "label"]).size().unstack(fill_value=0)
    assert (counts[0] <= counts[1]).all()
    assert st.meta["export"]["negatives"] == "match" and st.meta["export"]["buffer"] == 1


# ---------------------------------------------------------------------------- bad input and problems report
def test_failing_patients_go_to_problems_csv(cohort: Path, tmp_path: Path) -> None:
    work = _copy_cohort(cohort, tmp_path / "cohort")
    base = work / "Duke-Breast-Cancer-MRI"
    index = index_dicom_tree(work)
    # 001: a corrupt slice file in the pre-contrast series
    pre1 = Path(index[(index["patient_id"] == "Breast_MRI_001") & (index["sequence"] == "pre")]["path"].iloc[0])
    victim = sorted(pre1.glob("*.dcm"))[3]
    victim.write_bytes(victim.read_bytes()[:200])
    # 002: in the box file but not in the DICOM tree
    shutil.rmtree(base / "Breast_MRI_002")
    # 003: a slice missing in the middle of the pre-contrast series
    pre3 = Path(index[(index["patient_id"] == "Breast_MRI_003") & (index["sequence"] == "pre")]["path"].iloc[0])
    positions = sorted(pre3.glob("*.dcm"), key=lambda f: float(pydicom.dcmread(f).ImagePositionPatient[2]))
    positions[N_SLICES // 2].unlink()
    # 099: in the DICOM tree but not in the box file
    shutil.copytree(base / "Breast_MRI_004", base / "Breast_MRI_099")

    st = export_slices(work, tmp_path / "store", size=SIZE, workers=1, progress=False)
    problems = read_problems(tmp_path / "store")
    print(problems.to_string(index=False))
    msg: dict[str, str] = {}
    for item, message in zip(problems["item"], problems["message"], strict=True):
        msg[item] = msg.get(item, "") + message + " | "
    assert set(msg) == {"Breast_MRI_001", "Breast_MRI_002", "Breast_MRI_003", "Breast_MRI_099"}
    assert victim.name in msg["Breast_MRI_001"]
    assert "not in the DICOM tree" in msg["Breast_MRI_002"] and "Annotation_Boxes.csv" in msg["Breast_MRI_002"]
    # the pre phase lost a slice: it no longer matches post1's count (checked before any pixel is read)
    assert f"holds {N_SLICES - 1} files" in msg["Breast_MRI_003"] and pre3.name in msg["Breast_MRI_003"]
    assert "not in the box file" in msg["Breast_MRI_099"]
    assert set(st.manifest["patient_id"]) == {"Breast_MRI_004", "Breast_MRI_005"}  # the export went on

    with pytest.raises(BreastlabInputError, match="Breast_MRI_0"):
        export_slices(work, tmp_path / "strict", size=SIZE, workers=1, progress=False, errors="raise")


@pytest.mark.parametrize(
    "kwargs, match",
    [({"sequence": "post9"}, "sequence"), ({"size": 0}, "size"), ({"negatives": "some"}, "negatives"),
     ({"buffer": -1}, "buffer"), ({"workers": 0}, "workers")],
)  # fmt: skip
def test_bad_arguments(cohort: Path, tmp_path: Path, kwargs, match) -> None:
    with pytest.raises(BreastlabInputError, match=match):
        export_slices(cohort, tmp_path / "s", progress=False, **kwargs)


def test_cli_export(cohort: Path, tmp_path: Path, capsys) -> None:
    from breastlab.cli import main

    out = tmp_path / "cli_store"
    rc = main(["export", str(cohort), "--out", str(out), "--size", str(SIZE), "--workers", "1", "--negatives", "3"])
    text = capsys.readouterr().out
    print(text)
    assert rc == 0 and "tumour (1)" in text and "all" in text
    summary = pd.read_csv(out / "export_summary.csv")
    man = pd.read_parquet(out / "manifest.parquet")
    assert summary.loc[summary.iloc[:, 0] == "all", "slices"].iloc[0] == len(man)
    assert (man[man["label"] == 0].groupby("patient_id").size() <= 3).all()
    assert main(["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2


# ---------------------------------------------------------------------------- one owner, verified history
@pytest.fixture(scope="module")
def two_cohorts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The case of the issue: two phantom cohorts of 4 and 3 patients."""
    root = tmp_path_factory.mktemp("two")
    a = make_mri_cohort(root / "A", 4, seed=1, n_slices=N_SLICES, matrix=MATRIX, n_post=1, progress=False)
    c = make_mri_cohort(root / "C", 3, seed=2, n_slices=N_SLICES, matrix=MATRIX, n_post=1, progress=False)
    return a, c


def _cli_export(cohort: Path, out: Path) -> subprocess.Popen:
    code = "import sys; from breastlab.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = ["export", str(cohort), "--out", str(out), "--size", str(SIZE), "--workers", "1"]
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip


def test_two_exports_into_one_folder_never_both_succeed(two_cohorts, tmp_path: Path) -> None:
    """`breastlab export A --out S & breastlab export C --out S`: one store of one cohort, the other
    command refused (by the lock while the first runs, by the fingerprint once it has finished)."""
    a, c = two_cohorts
    for round_, together in enumerate((True, False)):
        out = tmp_path / f"S{round_}"
        first = _cli_export(a, out)
        if not together:
            first.wait(120)
        second = _cli_export(c, out)
        results = [(p.wait(120), *p.communicate()) for p in (first, second)]
        codes = [r[0] for r in results]
        assert sorted(codes) == [0, 2], results
        loser_err = results[codes.index(2)][2]
        assert "Traceback" not in loser_err
        assert "in use by process" in loser_err or "made from other inputs" in loser_err, loser_err
        winner = (a, c)[codes.index(0)]
        clean = export_slices(winner, tmp_path / f"clean{round_}", size=SIZE, workers=1, progress=False)
        store = export_mod.ArrayStore(out)
        assert store.manifest["patient_id"].nunique() == (4 if winner == a else 3)
        pd.testing.assert_frame_equal(store.manifest, clean.manifest)
        np.testing.assert_array_equal(store.images, clean.images)


def test_resume_into_a_folder_of_another_cohort_is_refused(two_cohorts, tmp_path: Path, monkeypatch) -> None:
    a, c = two_cohorts
    real, calls = export_mod._export_patient, []

    def dies_on_third(job):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(job.patient_id)
        return real(job)

    monkeypatch.setattr(export_mod, "_export_patient", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        export_slices(a, tmp_path / "S", size=SIZE, workers=1, progress=False)
    monkeypatch.setattr(export_mod, "_export_patient", real)
    with pytest.raises(
        BreastlabInputError, match=r"interrupted job .*\(DICOM series, box file, clinical table differ\)"
    ):
        export_slices(c, tmp_path / "S", size=SIZE, workers=1, progress=False)
    with pytest.raises(BreastlabInputError, match=r"\(patients differ\)"):  # the same cohort, other patients
        export_slices(a, tmp_path / "S", size=SIZE, workers=1, progress=False, patients=["Breast_MRI_001"])
    done = export_slices(a, tmp_path / "S", size=SIZE, workers=1, progress=False)  # the same inputs resume
    assert done.manifest["patient_id"].nunique() == 4
    with pytest.raises(
        BreastlabInputError, match=r"finished store .*\(DICOM series, box file, clinical table differ\)"
    ):
        export_slices(c, tmp_path / "S", size=SIZE, workers=1, progress=False)


# ---------------------------------------------------------------------------- interrupted, killed, resumed
SLOW = """
import time
from breastlab.data import export

_real = export._export_patient


def slow_patient(job):
    time.sleep(float(__import__("os").environ["SLOW_EXPORT_S"]))
    return _real(job)
"""
RUN = (
    "import sys, slowexport; from breastlab.data import export; export._export_patient = slowexport.slow_patient; "
    "from breastlab.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _export_process(cohort: Path, out: Path, helper_dir: Path, seconds: float, workers: int = 2) -> subprocess.Popen:
    """`breastlab export` in a new process group whose patients each take ``seconds`` longer (in the workers too)."""
    (helper_dir / "slowexport.py").write_text(SLOW)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(helper_dir), *sys.path]), "SLOW_EXPORT_S": str(seconds)}
    args = ["export", str(cohort), "--out", str(out), "--size", str(SIZE), "--workers", str(workers)]
    return subprocess.Popen([sys.executable, "-c", RUN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)  # fmt: skip


def _descendants(pid: int, depth: int = 99) -> list[int]:
    """Processes below ``pid`` down to ``depth`` levels (workers are children of the fork server, a child
    of ``pid``: depth 2)."""
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                if fields[0] != "Z":
                    parent[int(d)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                pass
    out, frontier = [], [pid]
    for _ in range(depth):
        frontier = [p for p, pp in parent.items() if pp in frontier]
        out += frontier
    return out


def _workers(pid: int) -> list[int]:
    """The worker processes of the command ``pid``: below its children (the fork server)."""
    return sorted(set(_descendants(pid, 2)) - set(_descendants(pid, 1)))


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        except OSError:
            pass
    return alive


def _wait_gone(pids: list[int], seconds: float = 15.0) -> list[int]:
    end = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < end:
        time.sleep(0.1)
    return _alive(pids)


def _wait_workers(proc: subprocess.Popen, n: int, seconds: float = 60.0) -> list[int]:
    """The process ids below ``proc`` once the fork server and ``n`` workers run ([] if it ended first)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and proc.poll() is None:
        if len(_workers(proc.pid)) >= n:
            return _descendants(proc.pid)
        time.sleep(0.05)
    return []


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_the_workers_with_a_message(cohort: Path, tmp_path: Path, sig, code) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM (to the command
    only): the workers stop, "interrupted; run the same command to resume", exit code 130 / 143, no
    traceback; the same command then finishes the store."""
    proc = _export_process(cohort, tmp_path / "S", tmp_path, seconds=30)
    below = _wait_workers(proc, 2)
    assert below, proc.communicate()
    time.sleep(0.5)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert time.monotonic() - t0 < 20  # the running 30-second patients were not waited for
    assert "interrupted; run the same command to resume" in err and "Traceback" not in err, err
    assert not _wait_gone(below)
    resumed = _export_process(cohort, tmp_path / "S", tmp_path, seconds=0)
    assert resumed.wait(120) == 0, resumed.communicate()


def test_chaos_kills_then_resume_give_the_uninterrupted_store(cohort: Path, tmp_path: Path) -> None:
    """Five SIGKILLs at random points (the command, or one of its workers), each followed by the same
    command: the final folder is byte for byte that of an uninterrupted export. A killed command's
    workers and fork server exit by themselves; a killed worker stops its command with the message."""
    ref = _export_process(cohort, tmp_path / "ref", tmp_path, seconds=0)
    assert ref.wait(120) == 0, ref.communicate()
    rng = np.random.default_rng(2024)
    out = tmp_path / "S"
    killed = 0
    for round_ in range(5):
        proc = _export_process(cohort, out, tmp_path, seconds=0.4)
        below = _wait_workers(proc, 2)  # then a random point of the work (patients, finalize)
        time.sleep(float(rng.uniform(0.0, 1.2)))
        if proc.poll() is None:
            killed += 1
            if round_ % 2 == 0:  # the command itself
                below = _descendants(proc.pid)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(30)
                assert not _wait_gone(below), "workers outlived their killed command"
            else:  # one worker
                workers = _alive(_workers(proc.pid))
                if workers:
                    os.kill(workers[-1], signal.SIGKILL)
                _, err = proc.communicate(timeout=60)
                assert "Traceback" not in err, err
                if proc.returncode != 0:
                    assert proc.returncode == 1 and "interrupted; run the same command to resume" in err, err
                assert not _wait_gone(below)
        else:
            proc.communicate()
    final = _export_process(cohort, out, tmp_path, seconds=0)
    assert final.wait(120) == 0, final.communicate()
    print(f"{killed} of 5 rounds killed a running export")
    assert killed >= 2 and _files(out) == _files(tmp_path / "ref")  # most rounds kill mid-work (4-5 of 5 here)
