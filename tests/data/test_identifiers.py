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

import pandas as pd
import pydicom
import pytest

from breastlab.data.mammo._dataset import SOURCES_FILE
from breastlab.data.phantom import make_mri_cohort
from breastlab.data.phantom._dicom import INSTITUTION
from breastlab.data.phantom.mammo import make_mammo_cohort

UID = re.compile(r"(?<![\w.])[0-2](?:\.(?:0|[1-9]\d*)){2,}(?![\w.])")  # DICOM UID syntax (PS3.5 9.1)
TCIA_STUDY_DATE = re.compile(r"\b\d{2}-\d{2}-(?:19|20)\d{2}-")  # "01-01-1990-NA-..." study folders
SHARED_SUFFIXES = {".csv", ".json", ".parquet", ".txt", ".html", ".md"}


def _texts(folder: Path) -> dict[Path, str]:
    """Every shareable file under ``folder`` (the local sources file excluded) as text."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name == SOURCES_FILE or path.suffix not in SHARED_SUFFIXES:
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


def _scan(folder: Path, identifying: set[str], local_roots: list[Path]) -> list[str]:
    found = []
    for path, text in _texts(folder).items():
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
