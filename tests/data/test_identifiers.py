"""No identifiers out: every file a user shares from the phantom runs is scanned for identifying values.

The phantoms write the identifying values real DICOMs carry (names ``Phantom^NNN``, the
institution and its address, physicians, accession numbers, birth and study dates, DICOM
UIDs, TCIA study folders whose names start with the study date). Outputs a user shares --
manifests, findings, problems.csv, store.json and other JSON or CSV -- must hold none of
them, no DICOM UID at all and no absolute local path. The one file allowed to map image ids
to local source files is ``sources.local.csv`` (never shared, never in a report).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import yaml

from breastlab.data.mammo._dataset import SOURCES_FILE
from breastlab.data.phantom import make_mri_cohort
from breastlab.data.phantom._dicom import INSTITUTION
from breastlab.data.phantom.mammo import make_mammo_cohort
from breastlab.errors import BreastlabInputError
from breastlab.problems import holds_uid, mask_uids, shareable_name

UID = re.compile(
    r"(?<![\w.])[0-2](?:\.(?:0|[1-9]\d*)){2,}(?=\.[A-Za-z]|[^\w.]|$)"
)  # DICOM UID syntax (PS3.5 9.1), also before a file suffix
TCIA_STUDY_DATE = re.compile(r"\b\d{2}-\d{2}-(?:19|20)\d{2}-")  # "01-01-1990-NA-..." study folders
SHARED_SUFFIXES = {".csv", ".json", ".parquet", ".txt", ".html", ".md"}


def _texts(folder: Path, yaml: bool = False) -> dict[Path, str]:
    """Every shareable file under ``folder`` (the local sources file excluded) as text (``yaml``: the
    config.yaml files too)."""
    out = {}
    suffixes = SHARED_SUFFIXES | ({".yaml"} if yaml else set())
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name == SOURCES_FILE or path.suffix not in suffixes:
            continue
        if path.suffix == ".parquet":
            out[path] = pd.read_parquet(path).to_csv(index=False)
        else:
            out[path] = path.read_text(errors="replace")
    return out


def _identifying_values(dicom_files: list[Path]) -> set[str]:
    """The identifying values the phantom put into these DICOM headers (every value, not a sample)."""
    keys = ["PatientName", "PatientBirthDate", "StudyDate", "AccessionNumber", "InstitutionName",
            "InstitutionAddress", "ReferringPhysicianName", "OperatorsName", "PatientAddress", "StationName",
            "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"]  # fmt: skip
    values = {INSTITUTION}
    for f in dicom_files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        for k in keys:
            v = str(ds.get(k, "") or "")
            if len(v) >= 6:  # shorter ones (station names) are too generic to search for
                values.add(v)
    return values


def _scan(folder: Path, identifying: set[str], local_roots: list[Path], yaml: bool = False) -> list[str]:
    found = []
    for path, text in _texts(folder, yaml).items():
        name = path.relative_to(folder)
        for value in identifying:
            if value in text:
                found.append(f"{name}: identifying value {value!r}")
        uids = [u for u in UID.findall(text) if len(u) >= 12]  # not short dotted numbers (versions)
        if uids:
            found.append(f"{name}: {len(uids)} DICOM UIDs, e.g. {uids[0]!r}")
        if m := TCIA_STUDY_DATE.search(text):
            found.append(f"{name}: dated study folder {m.group()!r}")
        for root in local_roots:
            if str(root) in text:
                found.append(f"{name}: absolute local path {str(root)!r}")
    return found


# ---------------------------------------------------------------------------- MRI: slice export and MIP store
def test_mri_outputs_hold_no_identifiers(tmp_path: Path) -> None:
    from breastlab.anomaly import MipSettings, build_mip_store
    from breastlab.data.export import export_slices

    cohort = make_mri_cohort(tmp_path / "cohort", 3, seed=21, n_slices=12, matrix=32, n_post=1, progress=False)
    dicoms = sorted(cohort.rglob("*.dcm"))
    identifying = _identifying_values(dicoms)
    victim = sorted(p for p in dicoms if "Breast_MRI_002" in str(p))[2]  # a damaged file: a problems.csv row
    victim.write_bytes(victim.read_bytes()[:400])
    shutil.copytree(cohort / "Duke-Breast-Cancer-MRI" / "Breast_MRI_001",
                    cohort / "Duke-Breast-Cancer-MRI" / "Breast_MRI_077")  # in the tree, not in the boxes  # fmt: skip
    out = tmp_path / "shared"
    export_slices(cohort, out / "store", size=16, workers=1, progress=False, png_dir=out / "png")
    build_mip_store(cohort, out / "mip", MipSettings(size=32), progress=False)
    problems = pd.concat([pd.read_csv(out / d / "problems.csv") for d in ("store", "mip")])
    assert {"Breast_MRI_002", "Breast_MRI_077"} <= set(problems["item"])  # the scan covers real messages
    found = _scan(out, identifying, [tmp_path, cohort])
    print("\n".join(found) or f"clean: {len(_texts(out))} files")
    assert not found


# ---------------------------------------------------------------------------- mammography: readers and stores
@pytest.fixture(scope="module")
def mammo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mammo_cohort(tmp_path_factory.mktemp("mammo") / "c", 4, seed=5, matrix=64, progress=False)


def test_mammography_outputs_hold_no_identifiers(mammo: Path, tmp_path: Path) -> None:
    from breastlab.cli import main

    identifying = _identifying_values(sorted(mammo.rglob("*.dcm")) + sorted(mammo.rglob("*.dicom")))
    work = Path(shutil.copytree(mammo, tmp_path / "cohort"))
    first = sorted((work / "CBIS-DDSM").rglob("*.dcm"))[0]
    first.write_bytes(first.read_bytes()[:300])  # a damaged image: a problems.csv row naming it
    out = tmp_path / "shared"
    assert main(["mammo", "preprocess", "--cbis", str(work), "--dicom", str(work / "CBIS-DDSM"),
                 "--out", str(out / "cbis"), "--spacing", "2"]) == 0  # fmt: skip
    assert main(["mammo", "preprocess", "--vindr", str(work / "vindr"), "--out", str(out / "vindr"),
                 "--spacing", "2"]) == 0  # fmt: skip
    from breastlab.data.mammo import read_cbis_ddsm, read_vindr_mammo

    read_cbis_ddsm(work, work / "CBIS-DDSM").write(out / "cbis_tables")  # the reader's own tables
    read_vindr_mammo(work / "vindr").write(out / "vindr_tables")
    assert pd.read_csv(out / "cbis_tables" / SOURCES_FILE)["kind"].tolist().count("roi_mask") >= 1
    problems = pd.read_csv(out / "cbis" / "problems.csv")
    assert len(problems) >= 1
    found = _scan(out, identifying, [tmp_path, work])
    print("\n".join(found) or f"clean: {len(_texts(out))} files")
    assert not found
    # the mapping image id -> source file is kept, in the one local file
    for store in ("cbis", "vindr"):
        sources = pd.read_csv(out / store / SOURCES_FILE)
        manifest = pd.read_parquet(out / store / "manifest.parquet")
        assert set(manifest["image_id"]) <= set(sources["image_id"])
        assert all(Path(p).is_file() for p in sources["path"])
        assert "path" not in manifest.columns
    meta = json.loads((out / "cbis" / "store.json").read_text())
    assert not _scan_text(json.dumps(meta), identifying)


def _scan_text(text: str, identifying: set[str]) -> list[str]:
    return [v for v in identifying if v in text] + [u for u in UID.findall(text) if len(u) >= 12]


# ---------------------------------------------------------------------------- own data named by DICOM UIDs
def _uid_named_copy(files: list[Path], dest: Path, *, flat: bool = False) -> dict[Path, Path]:
    """Each file copied to ``dest/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` (a PACS
    export; ``flat``: ``dest/<StudyInstanceUID>/<SOPInstanceUID>``, no suffix); returns source -> copy."""
    copies = {}
    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        target = (dest / str(ds.StudyInstanceUID) / str(ds.SOPInstanceUID) if flat else
                  dest / str(ds.StudyInstanceUID) / str(ds.SeriesInstanceUID) / f"{ds.SOPInstanceUID}.dcm")  # fmt: skip
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
        copies[f] = target
    return copies


def test_own_mri_named_by_uids_holds_no_identifiers(tmp_path: Path) -> None:
    """``import mri --scan`` and ``import mri`` (with its MIP store) on a tree whose folders and files are
    named by the DICOM UIDs (and one TCIA-dated study folder): the store, the MIP store and their
    problems.csv hold none of them; ``sources.local.csv`` keeps the way back to the files."""
    from breastlab.cli import main
    from breastlab.data.duke.boxes import read_boxes

    cohort = make_mri_cohort(tmp_path / "cohort", 4, seed=21, n_slices=12, matrix=32, n_post=1, progress=False)
    dicoms = sorted(cohort.rglob("*.dcm"))
    identifying = _identifying_values(dicoms)
    pacs = tmp_path / "pacs"
    ids = sorted(p.name for p in (cohort / "Duke-Breast-Cancer-MRI").iterdir())
    for k, pid in enumerate(ids):
        files = sorted((cohort / "Duke-Breast-Cancer-MRI" / pid).rglob("*.dcm"))
        if k == 3:  # the TCIA layout itself: a dated study folder, files named by their SOPInstanceUID
            for f in files:
                ds = pydicom.dcmread(f, stop_before_pixels=True)
                target = (
                    pacs / pid / f.parent.relative_to(cohort / "Duke-Breast-Cancer-MRI" / pid) / str(ds.SOPInstanceUID)
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)
        else:
            copies = _uid_named_copy(files, pacs, flat=k == 2)
            if k == 0:  # an export that set the PatientID to the StudyInstanceUID
                for copy in copies.values():
                    ds = pydicom.dcmread(copy)
                    ds.PatientID = uid_id = str(ds.StudyInstanceUID)
                    ds.save_as(copy)
    broken = sorted(pacs.rglob("*.dcm"))[0]
    (broken.parent / f"{broken.stem}.9.dcm").write_bytes(broken.read_bytes()[:300])  # not a DICOM: a scan problem

    draft = tmp_path / "draft"  # the draft table and its problems.csv address the local files by design
    draft.mkdir()
    assert main(["import", "mri", "--scan", str(pacs), "--out", str(draft / "cohort.csv")]) == 0
    table = pd.read_csv(draft / "cohort.csv", dtype=str, keep_default_na=False)
    pseudonym = shareable_name(uid_id, "patient-")  # the UID PatientID drafted as a pseudonym, noted once
    assert sorted(table["patient_id"]) == sorted([pseudonym, *ids[1:]]) and re.fullmatch(r"patient-[0-9a-f]{12}",
                                                                                         pseudonym)  # fmt: skip
    notes = pd.read_csv(draft / "problems.csv")
    assert notes["item"].tolist().count(pseudonym) == 1
    boxes = read_boxes(cohort / "Annotation_Boxes.csv").set_index("patient_id")
    from breastlab.data.cohort_scan import BOX_COLUMNS

    for c in BOX_COLUMNS:
        table[c] = table["patient_id"].replace(pseudonym, ids[0]).map(boxes[c]).astype(str)
    victim = table.loc[table["patient_id"] == ids[1], "pre"].iloc[0]  # a series damaged after the scan
    first = sorted((pacs / victim).iterdir())[3]
    first.write_bytes(first.read_bytes()[:400])
    missing = {
        **table.iloc[0].to_dict(),
        "patient_id": "Breast_MRI_099",
        "pre": f"{victim}/../{Path(victim).name}.1",
    }  # a series folder that does not exist
    table = pd.concat([table, pd.DataFrame([missing])], ignore_index=True)
    table.to_csv(draft / "cohort.csv", index=False)

    out = tmp_path / "shared"
    assert main(["import", "mri", str(draft / "cohort.csv"), "--root", str(pacs), "--out", str(out / "store"),
                 "--size", "16", "--workers", "1", "--buffer", "1", "--mip", str(out / "mip"),
                 "--mip-size", "32"]) == 0  # fmt: skip
    problems = pd.read_csv(out / "store" / "problems.csv")
    assert len(problems) == 2 and {ids[1], "Breast_MRI_099"} == set(problems["item"])
    assert problems["message"].str.contains("cohort.csv row").all()  # the row of the user's table
    man = pd.read_parquet(out / "store" / "manifest.parquet")
    assert sorted(man["patient_id"].unique()) == sorted([pseudonym, ids[2], ids[3]])
    assert man["series"].str.fullmatch(r"series-[0-9a-f]{12}|\d+\.000000-.+").all()  # TCIA's series names kept
    found = _scan(out, identifying | {uid_id}, [tmp_path, pacs])
    print("\n".join(found) or f"clean: {len(_texts(out))} files")
    assert not found


def test_own_mammography_named_by_uids_holds_no_identifiers(tmp_path: Path) -> None:
    """``import mammo --scan`` and ``import mammo`` (findings by path, one bad row, one bad finding) on
    images whose folders and files are named by their UIDs, then ``mammo classify`` on the store: no
    UID, dated folder or local path in the store, its problems.csv or the run folder."""
    from breastlab.cli import main

    mammo = make_mammo_cohort(tmp_path / "phantom", 10, seed=11, matrix=64, progress=False)  # both classes tested
    truth = pd.read_csv(mammo / "phantom_truth.csv")
    identifying = _identifying_values(sorted(mammo.rglob("*.dcm")) + sorted(mammo.rglob("*.dicom")))
    pacs = tmp_path / "pacs"
    copies = _uid_named_copy([mammo / p for p in truth["path"]], pacs)
    truth["file"] = [str(copies[mammo / p].relative_to(pacs)) for p in truth["path"]]
    first_patient = truth[truth["patient_id"] == truth["patient_id"].iloc[0]]
    uid_id = str(pydicom.dcmread(pacs / first_patient["file"].iloc[0]).StudyInstanceUID)
    for file in first_patient["file"]:  # an export that set the PatientID to a UID
        ds = pydicom.dcmread(pacs / file)
        ds.PatientID = uid_id
        ds.save_as(pacs / file)
    damaged = copies[mammo / truth["path"].iloc[0]]
    bad = damaged.with_name(f"{damaged.stem}.7.dcm")
    bad.write_bytes(damaged.read_bytes()[:300])  # not a DICOM: a scan problem, then an import problem

    draft = tmp_path / "draft"
    draft.mkdir()
    assert main(["import", "mammo", "--scan", str(pacs), "--out", str(draft / "images.csv")]) == 0
    table = pd.read_csv(draft / "images.csv", dtype=str, keep_default_na=False)
    assert sorted(table["path"]) == sorted(truth["file"])
    pseudonym = shareable_name(uid_id, "patient-")  # one pseudonym for the patient's images, noted once
    assert sorted(table.loc[table["path"].isin(first_patient["file"]), "patient_id"]) == [pseudonym] * 4
    assert pd.read_csv(draft / "problems.csv")["item"].tolist().count(pseudonym) == 1
    table["label"] = table["path"].map(dict(zip(truth["file"], truth["label"], strict=True)))
    extra = [
        {**table.iloc[0].to_dict(), "path": str(bad.relative_to(pacs))},  # the unreadable file
        {**table.iloc[1].to_dict(), "path": str(bad.relative_to(pacs).with_suffix(".8.dcm"))},
    ]  # absent
    pd.concat([table, pd.DataFrame(extra)], ignore_index=True).to_csv(draft / "images.csv", index=False)
    boxed = truth[truth["x0"].notna()]
    findings = pd.DataFrame({"path": boxed["file"], "class": boxed["finding_class"],
                             **{k: boxed[k].astype(int) for k in ("x0", "y0", "x1", "y1")}})  # fmt: skip
    findings.loc[len(findings)] = [str(bad.relative_to(pacs).with_suffix(".6.dcm")), "mass", 1, 1, 4, 4]
    findings.to_csv(draft / "findings.csv", index=False)

    out = tmp_path / "shared"
    assert main(["import", "mammo", str(draft / "images.csv"), "--root", str(pacs), "--out", str(out / "store"),
                 "--findings", str(draft / "findings.csv"), "--spacing", "3.2", "--layout", "fixed", "--size",
                 "64", "48"]) == 0  # fmt: skip
    problems = pd.read_csv(out / "store" / "problems.csv")
    assert len(problems) == 3
    assert problems["message"].str.contains("images.csv row|findings.csv row").all()
    man = pd.read_parquet(out / "store" / "manifest.parquet")
    assert len(man) == len(truth)
    sources = pd.read_csv(out / "store" / SOURCES_FILE)  # the way back to the files, kept locally
    assert set(man["image_id"]) <= set(sources["image_id"]) and all(Path(p).is_file() for p in sources["path"])
    assert main(["mammo", "classify", str(out / "store"), "--out", str(out / "run"), "--scenario",
                 "malignant_vs_rest", "--model", "small_cnn", "--weights", "none", "--iterations", "2",
                 "--batch-size", "8", "--image-size", "32", "--test-fraction", "0.3", "--n-boot", "10",
                 "--device", "cpu", "--no-progress"]) == 0  # fmt: skip
    found = _scan(out, identifying | {uid_id}, [tmp_path, pacs])
    print("\n".join(found) or f"clean: {len(_texts(out))} files")
    assert not found


def test_names_holding_uids_or_dates_become_pseudonyms() -> None:
    uid = "1.2.840.113619.2.55.3.1234.5678"
    for name in (uid, f"{uid}.dcm", f"{uid}.7.dcm", "01-01-1990-NA-BREASTROUTINE DYNAMICS-72864", "20230115"):
        pseudonym = shareable_name(name, "series-")
        assert re.fullmatch(r"series-[0-9a-f]{12}", pseudonym) and shareable_name(name, "series-") == pseudonym
    assert shareable_name(f"{uid}.dcm", "s-") != shareable_name(f"{uid}.7.dcm", "s-")
    for name in ("3.000000-ax dyn pre-54896", "Breast_MRI_001", "IM0001", "v1.2.3", "1.2.3.dcm"):
        assert shareable_name(name, "series-") == name and not holds_uid(name)
    assert mask_uids(f"a/{uid}/{uid}.dcm: unreadable") == "a/<UID>/<UID>.dcm: unreadable"
    assert mask_uids("breastlab 1.2.3 read 2.5 mm") == "breastlab 1.2.3 read 2.5 mm"


def test_tables_with_uids_in_shared_columns_are_refused(tmp_path: Path) -> None:
    """A cohort or image table whose id or attribute column holds DICOM UIDs is refused before anything is
    read, naming the table, the column and the rows, never the UIDs."""
    from breastlab.data.cohort_import import import_mri
    from breastlab.data.mammo.table_import import read_image_table

    uid = "1.2.826.0.1.3680043.8.498.10245"
    (tmp_path / "root").mkdir()
    mri = pd.DataFrame({"patient_id": ["Breast_MRI_001", uid], "pre": ["a", "b"], "start_slice": ["1", "1"],
                        "end_slice": ["2", "2"]})  # fmt: skip
    mri.to_csv(tmp_path / "cohort.csv", index=False)
    with pytest.raises(
        BreastlabInputError, match=r"cohort.csv: column patient_id holds DICOM UIDs \(row\(s\) 2\)"
    ) as e:
        import_mri(tmp_path / "cohort.csv", tmp_path / "root", tmp_path / "store", progress=False)
    assert uid not in str(e.value)
    mri.assign(patient_id=["a", "b"], study=[uid, uid]).to_csv(tmp_path / "cohort.csv", index=False)
    with pytest.raises(BreastlabInputError, match=r"column study holds DICOM UIDs \(row\(s\) 1, 2\).*drop the column"):
        import_mri(tmp_path / "cohort.csv", tmp_path / "root", tmp_path / "store", progress=False)
    images = pd.DataFrame({"patient_id": ["p1", "p1"], "image_id": ["", f"{uid}.dcm"], "path": [f"{uid}.dcm"] * 2,
                           "laterality": ["L", "R"], "view": ["CC", "CC"], "label": ["negative"] * 2})  # fmt: skip
    images.to_csv(tmp_path / "images.csv", index=False)
    with pytest.raises(BreastlabInputError, match=r"images.csv: column image_id holds DICOM UIDs \(row\(s\) 2\).*"
                                                  "leave image_id blank"):  # fmt: skip
        read_image_table(tmp_path / "images.csv", tmp_path / "root")
    images.assign(image_id="").to_csv(tmp_path / "images.csv", index=False)  # a path named by its UID is fine
    pd.DataFrame({"image_id": [uid], "class": ["mass"], "x0": [1], "y0": [1], "x1": [2], "y1": [2]}).to_csv(
        tmp_path / "findings.csv", index=False
    )
    with pytest.raises(BreastlabInputError, match=r"findings.csv: column image_id holds DICOM UIDs"):
        read_image_table(tmp_path / "images.csv", tmp_path / "root", findings=tmp_path / "findings.csv")


# ---------------------------------------------------------------------------- SpurBreast: split, run, report
def _slice_store(path: Path, n_patients: int = 24, per_patient: int = 4) -> Path:
    """A store of 24 px slices (a bright square marks the tumour ones) with a field-strength column."""
    from breastlab.data.store import write_store

    rng = np.random.default_rng(3)
    rows, images = [], []
    for p in range(n_patients):
        for s in range(per_patient):
            label = int(s < per_patient // 2)
            img = rng.integers(0, 60, (24, 24)).astype(np.uint8)
            if label:
                img[8:16, 8:16] += 120
            images.append(img)
            rows.append({"image_id": f"Breast_MRI_{p + 1:03d}:{s}", "patient_id": f"Breast_MRI_{p + 1:03d}",
                         "slice_index": s, "label": label, "field_strength_t": 1.5 if p % 2 else 3.0})  # fmt: skip
    write_store(path, np.stack(images), pd.DataFrame(rows))
    return path


def _spurbreast_project(project: Path) -> dict[str, Path]:
    """store -> curate splits -> train -> evaluate -> sweep -> export-split -> import-release, all inside
    ``project`` (paths given absolute, the worst case); returns the folders a user shares."""
    from breastlab.cli import main

    store = _slice_store(project / "store")
    splits = project / "splits"
    assert main(["curate", "splits", "--store", str(store), "--feature", "field_strength_t", "--groups", "1.5",
                 "3.0", "--out", str(splits), "--train", "12", "--val", "4", "--test", "6"]) == 0  # fmt: skip
    split = splits / "field_strength_t" / "rep00"
    run = project / "runs" / "r1"
    assert main(["train", "--store", str(store), "--split", str(split), "--out", str(run), "--model", "small_cnn",
                 "--epochs", "1", "--batch-size", "16", "--image-size", "24", "--device", "cpu",
                 "--no-progress"]) == 0  # fmt: skip
    assert main(["evaluate", str(run), "--n-boot", "20"]) == 0
    sweep = project / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"store": str(store), "split": str(split), "model": "small_cnn",
                                     "optimizers": ["adam"], "lrs": [1e-3], "wds": [0.0], "epochs": 1,
                                     "out": str(project / "sweeps" / "s1"),
                                     "train": {"batch_size": 16, "image_size": 24, "progress": False}}))  # fmt: skip
    assert main(["sweep", str(sweep)]) == 0
    release = project / "release" / "field_strength"
    assert main(["curate", "export-split", str(split), "--store", str(store), "--out", str(release)]) == 0
    assert main(["curate", "import-release", str(release.parent), "--out", str(project / "imported")]) == 0
    return {"store": store, "splits": splits, "split": split, "run": run, "sweeps": project / "sweeps",
            "release": release.parent, "imported": project / "imported"}  # fmt: skip


def test_spurbreast_outputs_hold_no_local_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Split, run (config.json and config.yaml), evaluation, sweep trials, report and the imported release
    name their inputs relative to themselves: no absolute path, neither of the data nor of the working folder."""
    from breastlab.cli import main

    project = tmp_path / "project"
    work = project / "work"  # the working folder: inside the project, as a user runs the commands
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    folders = _spurbreast_project(project)
    assert main(["report", str(folders["run"]), str(folders["sweeps"]), "--out", str(project / "report.html"),
                 "--n-boot", "20"]) == 0  # fmt: skip
    found = []
    for name in ("splits", "run", "sweeps", "release", "imported"):
        found += [f"{name}/{line}" for line in _scan(folders[name], set(), [tmp_path, work], yaml=True)]
    html = (project / "report.html").read_text()
    found += [f"report.html: {root}" for root in (tmp_path, work) if str(root) in html]
    print("\n".join(found) or "clean")
    assert not found
    config = json.loads((folders["run"] / "config.json").read_text())
    assert (config["store"], config["split"]) == ("../../store", "../../splits/field_strength_t/rep00")
    assert json.loads((folders["split"] / "config.json").read_text())["store"] == "../../../store"


def test_moved_project_still_evaluates_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The project (store, splits, runs together) copied elsewhere: its runs evaluate and report there, with
    the same figures and the gallery read from the copied store; the original is gone."""
    from breastlab.cli import main
    from breastlab.curate import check_split
    from breastlab.evaluate.metrics import evaluate_run

    monkeypatch.chdir(tmp_path)
    folders = _spurbreast_project(tmp_path / "before")
    first = json.loads((folders["run"] / "evaluation" / "metrics.json").read_text())
    moved = tmp_path / "elsewhere" / "after"
    shutil.copytree(tmp_path / "before", moved)
    shutil.rmtree(tmp_path / "before")
    run = moved / "runs" / "r1"
    ev = evaluate_run(run, n_boot=20, reuse=False)
    assert ev.run_dir == run
    again = json.loads((run / "evaluation" / "metrics.json").read_text())
    assert again["overall"] == first["overall"] and again["groups"] == first["groups"]
    assert main(["report", str(run), str(moved / "sweeps"), "--out", str(tmp_path / "moved.html"),
                 "--n-boot", "20"]) == 0  # fmt: skip
    html = (tmp_path / "moved.html").read_text()
    assert "Grad-CAM gallery" in html and "Gallery not available" not in html  # the copied store's slices
    assert str(tmp_path) not in html
    report = check_split(moved / "splits" / "field_strength_t" / "rep00")  # its store found from config.json
    assert [c.passed for c in report.checks if c.name == "store_rows"] == [True], report.checks
    assert main(["train", "--store", str(moved / "store"), "--split", str(moved / "splits" / "field_strength_t" /
                 "rep00"), "--out", str(run), "--model", "small_cnn", "--epochs", "1", "--batch-size", "16",
                 "--image-size", "24", "--device", "cpu", "--no-progress", "--resume"]) == 0  # fmt: skip


def test_runs_of_earlier_versions_with_absolute_paths_still_evaluate_and_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run and split folders that recorded absolute paths (earlier versions) are read as they are."""
    from breastlab.cli import main
    from breastlab.schemas import run_split_dir, run_store_dir

    monkeypatch.chdir(tmp_path)
    folders = _spurbreast_project(tmp_path / "p")
    run, split = folders["run"], folders["split"]
    for path, keys in ((run / "config.json", {"store": folders["store"], "split": split}),
                       (split / "config.json", {"store": folders["store"]})):  # fmt: skip
        saved = json.loads(path.read_text())
        path.write_text(json.dumps({**saved, **{k: str(v) for k, v in keys.items()}}))
    config = json.loads((run / "config.json").read_text())
    assert run_store_dir(config, run) == folders["store"] and run_split_dir(config, run) == split
    assert main(["evaluate", str(run), "--n-boot", "20"]) == 0
    assert main(["report", str(run), "--out", str(tmp_path / "old.html"), "--n-boot", "20"]) == 0
    html = (tmp_path / "old.html").read_text()
    assert "Grad-CAM gallery" in html and "Gallery not available" not in html
