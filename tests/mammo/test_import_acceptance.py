"""Acceptance: a mixed export in one flat folder through `breastlab import mammo` into the classifier.

The folder holds the real mini-MIAS films converted to PNG, phantom mammography DICOMs renamed
without ``.dcm``, and a MONOCHROME1 DICOM with a VOI LUT written here. `import mammo --scan` drafts
the table (the PNGs are listed in problems.csv: no header), the user's review is simulated (labels
from the phantom's truth, PNG rows from the mini-MIAS adapter), `import mammo` builds the store and
`mammo classify` (small CNN, a few iterations) runs on it; the ragged store of the same table goes
through `mammo detect train/predict/evaluate`, and the predictions written as COCO files evaluate to
the same FROC table.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from breastlab.cli import main
from breastlab.data.mammo import preprocess as pp
from breastlab.data.mammo import read_mini_mias, read_pgm
from breastlab.data.mammo.table_import import dataset_table
from breastlab.data.phantom.mammo import make_mammo_cohort
from breastlab.data.store import ArrayStore

SPACING, SIZE = 3.2, (64, 48)  # a CPU-sized store: 205 mm films in 64 rows


def voi_lut_dicom(path: Path) -> np.ndarray:
    """A MONOCHROME1 mammogram with a VOI LUT Sequence; returns its display values computed by hand."""
    shape = (160, 120)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    breast = ((rows - 80) / 64.0) ** 2 + (cols / 90.0) ** 2 <= 1
    density = np.where(breast, 1800 + 900 * np.sin(rows / 9.0) * np.cos(cols / 6.0), 0)
    stored = np.clip(np.rint(3900 - density), 0, 4095).astype(np.uint16)  # MONOCHROME1: dense = low
    first, n = 500, 3000
    lut = np.rint(4095 * np.linspace(0, 1, n) ** 0.7).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID, ds.ImageLaterality, ds.ViewPosition = "MG", "site2_0001", "R", "CC"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImagerPixelSpacing = [0.1, 0.1]
    ds.Rows, ds.Columns = shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    item = Dataset()
    item.add_new(0x00283002, "US", [n, first, 12])  # LUT Descriptor
    item.add_new(0x00283006, "US", lut.tolist())  # LUT Data
    ds.VOILUTSequence = pydicom.Sequence([item])
    ds.PixelData = stored.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    # PS3.3 C.11.2.1.1: values below the first mapped go to the first entry, above the last to the last;
    # MONOCHROME1 inverted within the LUT's 12-bit range
    return (4095 - lut[np.clip(stored.astype(int) - first, 0, n - 1)]).astype(np.uint16)


@pytest.fixture(scope="module")
def export(tmp_path_factory, mammo_dir: Path) -> tuple[Path, pd.DataFrame, np.ndarray]:
    """(flat folder, the phantom's truth with the new file names, the VOI LUT image's display values)."""
    base = tmp_path_factory.mktemp("acceptance")
    cohort = make_mammo_cohort(base / "phantom", 10, seed=11, matrix=128, progress=False)
    folder = base / "export"
    folder.mkdir()
    truth = pd.read_csv(cohort / "phantom_truth.csv")
    truth["file"] = [f"IM{k:04d}" for k in range(len(truth))]
    for rel, name in zip(truth["path"], truth["file"], strict=True):
        shutil.copyfile(cohort / rel, folder / name)
    for pgm in sorted((mammo_dir / "mini-mias").glob("mdb*.pgm")):
        Image.fromarray(read_pgm(pgm)).save(folder / f"{pgm.stem}.png")
    display = voi_lut_dicom(folder / "IM9999")
    return folder, truth, display


def test_flat_export_scan_import_classify(export, mammo_dir: Path, tmp_path: Path, capsys) -> None:
    folder, truth, display = export
    table_path = tmp_path / "images.csv"
    assert main(["import", "mammo", "--scan", str(folder), "--out", str(table_path)]) == 0
    scanned = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    problems = pd.read_csv(tmp_path / "problems.csv")
    assert sorted(problems["item"]) == sorted(f"{p.stem}.png" for p in (mammo_dir / "mini-mias").glob("mdb*.pgm"))
    assert len(scanned) == len(truth) + 1 and scanned["label"].eq("").all()
    by_file = scanned.set_index("path")
    assert by_file.loc[truth["file"], "laterality"].tolist() == truth["laterality"].tolist()
    assert by_file.loc[truth["file"], "view"].tolist() == truth["view"].tolist()
    assert by_file.loc["IM9999", ["laterality", "view", "photometric", "presentation"]].tolist() == [
        "R", "CC", "MONOCHROME1", "for presentation"]  # fmt: skip

    # the review: labels from the phantom's truth and the VOI LUT image; the PNGs' rows from the adapter
    labels = dict(zip(truth["file"], truth["label"], strict=True)) | {"IM9999": "malignant"}
    scanned["label"] = scanned["path"].map(labels)
    mias, mias_findings = dataset_table(read_mini_mias(mammo_dir / "mini-mias"), mammo_dir / "mini-mias")
    mias["path"] = mias["path"].str.replace(".pgm", ".png")
    pd.concat([scanned, mias], ignore_index=True).to_csv(table_path, index=False)
    boxed = truth[truth["x0"].notna()]
    phantom_findings = pd.DataFrame({"path": boxed["file"], "class": boxed["finding_class"],
                                     **{k: boxed[k].astype(int) for k in ("x0", "y0", "x1", "y1")}})  # fmt: skip
    pd.concat([mias_findings, phantom_findings], ignore_index=True).to_csv(tmp_path / "findings.csv", index=False)

    store_dir = tmp_path / "store"
    argv = ["import", "mammo", str(table_path), "--root", str(folder), "--out", str(store_dir), "--findings",
            str(tmp_path / "findings.csv"), "--spacing", str(SPACING), "--layout", "fixed", "--size",
            *map(str, SIZE)]  # fmt: skip
    assert main(argv) == 0
    store = ArrayStore(store_dir)
    assert len(store) == len(truth) + 1 + len(mias) and pd.read_csv(store_dir / "problems.csv").empty
    assert store.images.shape[1:] == SIZE
    # the PNG films give the pixels of the PGM films (same store rows as the preprocessing of the PGMs)
    settings = pp.PreprocessSettings(spacing=SPACING, layout="fixed", size=SIZE)
    man = store.manifest.set_index("image_id")
    film = read_pgm(mammo_dir / "mini-mias" / "mdb028.pgm")
    np.testing.assert_array_equal(store[int(man.loc["mdb028", "row"])], pp.preprocess_mammogram(
        film, (0.2, 0.2), "MLO", settings).image)  # fmt: skip
    # the MONOCHROME1 + VOI LUT image holds the preprocessing of its display values computed by hand
    voi_id = man.index[(man["patient_id"] == "site2_0001")][0]
    expected = pp.preprocess_mammogram(display, (0.1, 0.1), "CC", settings)
    np.testing.assert_array_equal(store[int(man.loc[voi_id, "row"])], expected.image)
    assert (man.loc[voi_id, "map_low"], man.loc[voi_id, "map_high"]) == (expected.map_low, expected.map_high)
    assert len(store.findings) == len(mias_findings) + len(boxed)
    phantom_ids = man.index[man["source"].str.startswith("image table")]
    assert store.findings["image_id"].isin(phantom_ids).sum() == len(boxed)

    out = tmp_path / "classify"
    assert main(["mammo", "classify", str(store_dir), "--out", str(out), "--scenario", "malignant_vs_rest",
                 "--model", "small_cnn", "--weights", "none", "--iterations", "3", "--batch-size", "8",
                 "--image-size", "32", "--test-fraction", "0.3", "--n-boot", "20", "--device", "cpu",
                 "--no-progress"]) == 0  # fmt: skip
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert set(predictions["image_id"]) <= set(store.manifest["image_id"]) and len(predictions) > 0
    assert (out / "report.html").exists() and "malignant_vs_rest" in capsys.readouterr().out

    # the detector (which reads ragged stores) trains, predicts and is evaluated on the same table's
    # ragged store (one iteration: the plumbing)
    ragged = tmp_path / "ragged"
    argv = [*argv[: argv.index("--out") + 1], str(ragged), "--findings", str(tmp_path / "findings.csv"),
            "--spacing", str(SPACING)]  # fmt: skip
    assert main(argv) == 0
    run, pred = tmp_path / "run", tmp_path / "pred"
    assert main(["mammo", "detect", "train", str(ragged), "--out", str(run), "--split", "all", "--iterations",
                 "1", "--batch-size", "2", "--spacing", str(SPACING)]) == 0  # fmt: skip
    assert main(["mammo", "detect", "predict", str(run), str(ragged), "--out", str(pred), "--min-score", "0",
                 "--no-png", "--coco"]) == 0  # fmt: skip
    assert main(["mammo", "detect", "evaluate", str(ragged), str(pred / "detections.csv"), "--out",
                 str(tmp_path / "ev")]) == 0  # fmt: skip
    froc = pd.read_csv(tmp_path / "ev" / "froc.csv")
    assert froc["n_findings"].sum() == len(ArrayStore(ragged).findings.dropna(subset=["x0"])) > 0
    # the same detections as a COCO result file against the store's findings as COCO ground truth
    coco = ["--coco-gt", str(pred / "coco_ground_truth.json"), "--coco-results", str(pred / "coco_results.json")]
    assert main(["mammo", "detect", "evaluate", *coco, "--out", str(tmp_path / "ev_coco")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "ev_coco" / "froc.csv"), froc)


# ---------------------------------------------------------------------------- README
def _readme_mammography_commands() -> list[str]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Your own data", 1)[1].split("\n## ", 1)[0]
    block = section.split("### Mammography", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.startswith("breastlab ")]


def test_readme_mammography_commands_run(export, mammo_dir: Path, tmp_path: Path) -> None:
    """The README's mammography commands on the flat export: scan, review (labels; the PNG films' rows),
    import with the CPU preset's store flags, classify (a few iterations for a test)."""
    import re
    import shlex

    folder, truth, _ = export
    names = {"DICOM_DIR": folder, "images.csv": tmp_path / "images.csv", "STORE": tmp_path / "store",
             "RUNS": tmp_path / "runs", "findings.csv": tmp_path / "findings.csv"}  # fmt: skip
    extra = {"classify": ["--iterations", "2", "--weights", "none", "--scenario", "malignant_vs_rest", "--n-boot",
                          "20", "--test-fraction", "0.3", "--device", "cpu", "--no-progress"]}  # fmt: skip
    commands = _readme_mammography_commands()
    assert [c.split()[1:3] for c in commands] == [["import", "mammo"], ["import", "mammo"], ["mammo", "classify"]]
    for command in commands:
        argv = [str(names.get(a, a)) for a in shlex.split(re.sub(r"\[[^\]]*\]", "", command))[1:]]
        argv += next((v for k, v in extra.items() if k in command.split()), [])
        assert main(argv) == 0, command
        if "--scan" in argv:  # the review: labels filled in, the PNG films added with their spacing
            table = pd.read_csv(names["images.csv"], dtype=str, keep_default_na=False)
            labels = dict(zip(truth["file"], truth["label"], strict=True)) | {"IM9999": "malignant"}
            table["label"] = table["path"].map(labels)
            mias, _ = dataset_table(read_mini_mias(mammo_dir / "mini-mias"), mammo_dir / "mini-mias")
            mias["path"] = mias["path"].str.replace(".pgm", ".png")
            pd.concat([table, mias], ignore_index=True).to_csv(names["images.csv"], index=False)
    store = ArrayStore(names["STORE"])
    assert store.images.shape[1:] == (128, 96) and len(store) == len(truth) + 6
    assert (names["RUNS"] / "report.html").exists()
