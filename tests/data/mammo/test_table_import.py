"""`breastlab import mammo`: the scan of any DICOM tree, the display values of a DICOM (by hand), the
import of an image table (bad rows reported, the others stored), and the mini-MIAS adapter (same store
as `mammo preprocess --mias`)."""

from __future__ import annotations

import json
import re
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
from breastlab.data.mammo import read_mini_mias
from breastlab.data.mammo.dicom import read_display_mammogram, read_raster
from breastlab.data.mammo.preprocess import build_mammo_store
from breastlab.data.mammo.table_import import (
    MAMMO_TAGS,
    dataset_table,
    import_mammo,
    laterality_and_view,
    read_image_table,
    scan_mammo_tree,
)
from breastlab.data.phantom.mammo import make_mammo_cohort
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog

UID = re.compile(r"\d+\.\d+\.\d+\.\d+\.\d+")
DATE = re.compile(r"19980101")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return make_mammo_cohort(tmp_path_factory.mktemp("mammo") / "c", 4, seed=7, matrix=128, progress=False)


def flat_copy(cohort: Path, folder: Path) -> pd.DataFrame:
    """The phantom's full images copied into one folder as ``img<k>`` (no suffix); the truth rows
    with the new file name in ``file``."""
    truth = pd.read_csv(cohort / "phantom_truth.csv")
    folder.mkdir(parents=True, exist_ok=True)
    truth["file"] = [f"img{k}" for k in range(len(truth))]
    for rel, name in zip(truth["path"], truth["file"], strict=True):
        shutil.copyfile(cohort / rel, folder / name)
    return truth


def write_dicom(path: Path, stored: np.ndarray, **tags) -> Path:
    """A mammography DICOM with ``stored`` values (unsigned 16-bit, 12 stored) and ``tags`` set."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "MG", "anon1"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = stored.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def window_by_hand(x: np.ndarray, center: float, width: float, y_min: float, y_max: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 (LINEAR), written out."""
    c, w = center - 0.5, width - 1
    out = ((x - c) / w + 0.5) * (y_max - y_min) + y_min
    out = np.where(x <= c - w / 2, y_min, out)
    return np.where(x > c + w / 2, y_max, out)


def breast_stored(shape=(96, 80), seed=0) -> np.ndarray:
    """Stored 12-bit values of a MONOCHROME1 image: a half-elliptic breast (low values: bright) from
    the left edge on a high (dark) background."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    breast = ((rows - shape[0] / 2) / (shape[0] * 0.42)) ** 2 + (cols / (shape[1] * 0.7)) ** 2 <= 1
    density = np.where(breast, 1500 + 1200 * np.sin(rows / 7.0) * np.cos(cols / 5.0), 0) + rng.normal(0, 30, shape)
    return np.clip(np.rint(4000 - density), 0, 4095).astype(np.uint16)


# ============================================================================ scan
def test_scan_flat_folder_headers_to_table(cohort: Path, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    truth = flat_copy(cohort, folder)
    # one image names its side and view only in the description; one nowhere; one file is no DICOM
    first = pydicom.dcmread(folder / "img0")
    for tag in ("ImageLaterality", "Laterality", "ViewPosition"):
        delattr(first, tag)
    first.SeriesDescription = f"{truth['laterality'][0]} {truth['view'][0]} (tomo-less)"
    first.save_as(folder / "img0")
    blind = pydicom.dcmread(folder / "img1")
    for tag in ("ImageLaterality", "Laterality", "ViewPosition"):
        delattr(blind, tag)
    blind.SeriesDescription = "full mammogram images"
    blind.save_as(folder / "img1")
    (folder / "notes.txt").write_text("exported from PACS")
    problems = ProblemLog()
    table = scan_mammo_tree(folder, problems)
    assert len(table) == len(truth) and table["label"].eq("").all()
    got = table.set_index("path").loc[truth["file"]]
    assert got["patient_id"].tolist() == truth["patient_id"].tolist()
    expected_lat = truth["laterality"].where(truth["file"] != "img1", "")
    expected_view = truth["view"].where(truth["file"] != "img1", "")
    assert got["laterality"].tolist() == expected_lat.tolist() and got["view"].tolist() == expected_view.tolist()
    assert got["rows"].tolist() == truth["rows"].tolist() and got["columns"].tolist() == truth["columns"].tolist()
    np.testing.assert_allclose(got["spacing_mm"].astype(float), truth["spacing_mm"], rtol=1e-5)
    assert set(got["photometric"]) == {"MONOCHROME2"}
    # digital images are stored as MG For Presentation, film ones as Secondary Capture (no intent)
    intent = np.where(truth["site"] == "digital", "for presentation", "")
    assert got["presentation"].tolist() == intent.tolist()
    items = problems.to_frame().set_index("item")["message"]
    assert sorted(items.index) == ["img1", "notes.txt"]
    assert "laterality" in items["img1"] and "L or R" in items["img1"] and "MLO" in items["img1"]
    text = table.to_csv(index=False)
    assert not UID.search(text) and not DATE.search(text) and str(tmp_path) not in text and "Phantom" not in text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"SeriesDescription": "R MLO"}, ("R", "MLO")),
        ({"SeriesDescription": "LCC tomo"}, ("L", "CC")),
        ({"SeriesDescription": "left cc"}, ("L", "CC")),
        ({"SeriesDescription": "RIGHT_MLO"}, ("R", "MLO")),
        ({"SeriesDescription": "full mammogram images"}, ("", "")),  # no view inside words
        ({"ViewPosition": "MLO", "Laterality": "L", "SeriesDescription": "R CC"}, ("L", "MLO")),  # tags first
        ({"ViewPosition": "RXCCL"}, ("R", "XCCL")),
        ({"ImageLaterality": "B", "SeriesDescription": "R ML"}, ("R", "ML")),  # B is no side of one breast
    ],
)
def test_laterality_and_view_from_tags_then_words(header, expected) -> None:
    assert laterality_and_view(header) == expected


def test_cli_refuses_incomplete_commands(tmp_path: Path, capsys) -> None:
    assert main(["import", "mammo", "--out", str(tmp_path / "s")]) == 2
    assert main(["import", "mammo", str(tmp_path / "t.csv"), "--scan", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert main(["import", "mammo", "--scan", str(tmp_path / "nowhere"), "--out", str(tmp_path / "t.csv")]) == 2
    assert main(["import", "mammo", str(tmp_path / "t.csv"), "--root", str(tmp_path / "nowhere"), "--out",
                 str(tmp_path / "s")]) == 2  # fmt: skip
    assert main(["import", "mammo", "--scan", str(tmp_path), "--out", str(tmp_path / "t.txt")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_mammography_header_fast_path_equals_pydicom(cohort: Path) -> None:
    from breastlab.data import mri_volumes

    truth = pd.read_csv(cohort / "phantom_truth.csv")
    for rel in truth["path"]:
        fast = mri_volumes._header_fast(cohort / rel, MAMMO_TAGS)
        assert fast is not None and fast == mri_volumes._header_pydicom(cohort / rel, MAMMO_TAGS)
    assert {"ImageLaterality", "ViewPosition", "PatientID", "Rows"} <= set(fast)


# ============================================================================ display values
def test_display_values_monochrome1_rescale_window_by_hand(tmp_path: Path) -> None:
    stored = breast_stored()
    path = write_dicom(tmp_path / "m1", stored, PhotometricInterpretation="MONOCHROME1", RescaleSlope=2,
                       RescaleIntercept=-100, WindowCenter=5000, WindowWidth=4001,
                       ImagerPixelSpacing=[0.5, 0.5], PixelSpacing=[0.4, 0.4])  # fmt: skip
    m = read_display_mammogram(path)
    # the output range of the window: the stored range through the rescale, [-100, 8090]
    lo, hi = 0 * 2 - 100, 4095 * 2 - 100
    windowed = window_by_hand(stored * 2.0 - 100, 5000, 4001, lo, hi)
    expected = np.rint(hi - windowed).astype(np.uint16)  # MONOCHROME1: bright = low values, inverted
    np.testing.assert_array_equal(m.pixels, expected)
    assert m.spacing == (0.5, 0.5) and m.spacing_tag == "ImagerPixelSpacing"
    assert expected.min() == 0 and expected.max() == hi - lo  # the window clips at both ends


def test_display_values_voi_lut_sequence_by_hand(tmp_path: Path) -> None:
    stored = breast_stored(seed=1)
    first, n = 2000, 1500
    lut = np.rint(4095 * np.sqrt(np.linspace(0, 1, n))).astype(np.uint16)
    item = Dataset()
    item.add_new(0x00283002, "US", [n, first, 12])  # LUT Descriptor: entries, first value mapped, bits
    item.add_new(0x00283006, "US", lut.tolist())  # LUT Data
    path = write_dicom(tmp_path / "lut", stored, PhotometricInterpretation="MONOCHROME1",
                       VOILUTSequence=pydicom.Sequence([item]))  # fmt: skip
    expected = 4095 - lut[np.clip(stored.astype(int) - first, 0, n - 1)]
    np.testing.assert_array_equal(read_display_mammogram(path).pixels, expected)


def test_raster_images_grey_levels(tmp_path: Path) -> None:
    grey16 = np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 500
    Image.fromarray(grey16).save(tmp_path / "a.png")
    Image.fromarray(grey16).save(tmp_path / "a.tif")
    np.testing.assert_array_equal(read_raster(tmp_path / "a.png"), grey16)
    np.testing.assert_array_equal(read_raster(tmp_path / "a.tif"), grey16)
    grey8 = (np.arange(120, dtype=np.uint8).reshape(12, 10) * 2).astype(np.uint8)
    Image.fromarray(np.stack([grey8] * 3, axis=-1)).save(tmp_path / "rgb.png")  # grey saved as RGB
    np.testing.assert_array_equal(read_raster(tmp_path / "rgb.png"), grey8)
    colour = np.stack([grey8, grey8[::-1], grey8], axis=-1)
    Image.fromarray(colour).save(tmp_path / "colour.png")
    with pytest.raises(BreastlabInputError, match="colour image"):
        read_raster(tmp_path / "colour.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(BreastlabInputError, match="broken.png: not a readable image"):
        read_raster(tmp_path / "broken.png")


# ============================================================================ import
def test_imported_pixels_are_the_preprocessed_display_values(tmp_path: Path) -> None:
    """The store of a MONOCHROME1 + rescale + window DICOM holds the preprocessing of the display values
    computed by hand (not of the stored values)."""
    stored = breast_stored()
    root = tmp_path / "root"
    root.mkdir()
    write_dicom(root / "x", stored, PhotometricInterpretation="MONOCHROME1", RescaleSlope=2, RescaleIntercept=-100,
                WindowCenter=4500, WindowWidth=5001, ImagerPixelSpacing=[0.5, 0.5])  # fmt: skip
    pd.DataFrame([{"patient_id": "p1", "path": "x", "laterality": "L", "view": "CC", "label": "malignant"}]).to_csv(
        tmp_path / "images.csv", index=False
    )
    store = import_mammo(tmp_path / "images.csv", root, tmp_path / "store", spacing=0.6, progress=False)
    hi = 4095 * 2 - 100
    display = np.rint(hi - window_by_hand(stored * 2.0 - 100, 4500, 5001, -100, hi)).astype(np.uint16)
    reference = pp.preprocess_mammogram(display, (0.5, 0.5), "CC", pp.PreprocessSettings(spacing=0.6))
    np.testing.assert_array_equal(store[0], reference.image)
    rec = store.manifest.iloc[0]
    assert (rec["image_id"], rec["laterality"], rec["label"]) == ("p1_L_CC", "L", "malignant")
    assert (rec["map_low"], rec["map_high"]) == (reference.map_low, reference.map_high)
    assert store.meta["pixels"] == "display"
    stored_path = pp.preprocess_mammogram(stored, (0.5, 0.5), "CC", pp.PreprocessSettings(spacing=0.6))
    assert stored_path.image.shape != reference.image.shape or not np.array_equal(stored_path.image, store[0])


def _table(cohort: Path, truth: pd.DataFrame) -> pd.DataFrame:
    columns = {"patient_id": "patient_id", "path": "file", "laterality": "laterality", "view": "view", "label": "label"}
    return pd.DataFrame({name: truth[column] for name, column in columns.items()})


def test_bad_rows_are_reported_and_the_others_stored(cohort: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    truth = flat_copy(cohort, root)
    table = _table(cohort, truth)
    n = len(table)
    Image.fromarray(np.full((40, 30), 7, np.uint8)).save(root / "nospacing.png")
    (root / "garbage").write_bytes(b"not an image at all" * 20)
    bad = pd.DataFrame([
        {"patient_id": "q1", "path": "missing.dcm", "laterality": "L", "view": "CC", "label": "negative"},
        {"patient_id": "q2", "path": "garbage", "laterality": "L", "view": "CC", "label": "negative"},
        {"patient_id": "q3", "path": truth["file"][0], "laterality": "L", "view": "CC", "label": "negative"},
        {"patient_id": "q4", "path": truth["file"][1], "laterality": "B", "view": "CC", "label": "negative"},
        {"patient_id": "q5", "path": "nospacing.png", "laterality": "L", "view": "CC", "label": "negative"},
        {"patient_id": "q6", "path": "../outside.dcm", "laterality": "L", "view": "CC", "label": "negative"},
    ])  # fmt: skip
    table.loc[2, "label"] = "suspicious"
    pd.concat([table, bad], ignore_index=True).to_csv(tmp_path / "images.csv", index=False)
    box_row = truth.index[truth["x0"].notna() & (truth.index >= 4)][0]  # an image the other rows leave alone
    findings = pd.DataFrame([
        {"path": truth["file"][box_row], "class": truth["finding_class"][box_row],
         **{k: int(truth[k][box_row]) for k in ("x0", "y0", "x1", "y1")}},
        {"path": truth["file"][3], "class": "mass", "x0": 5, "y0": 5, "x1": 9999, "y1": 20},
        {"path": "nowhere.png", "class": "mass", "x0": 1, "y0": 1, "x1": 2, "y1": 2},
    ])  # fmt: skip
    findings.to_csv(tmp_path / "findings.csv", index=False)
    problems = ProblemLog()
    ds = read_image_table(tmp_path / "images.csv", root, findings=tmp_path / "findings.csv", problems=problems)
    messages = problems.to_frame()["message"].tolist()

    def said(row: int, *words: str) -> bool:
        return any(m.startswith(f"images.csv row {row} ") and all(w in m for w in words) for m in messages)

    assert said(1, "img0", "rows 1,", "list each image once")  # a duplicate: both rows refused
    assert said(n + 3, "img0", f"rows 1, {n + 3}")
    assert said(2, "img1", f"rows 2, {n + 4}") and said(n + 4, "img1")
    assert said(3, "'suspicious'", "negative, recalled-benign, malignant")
    assert said(n + 1, "missing.dcm does not exist")
    assert said(n + 2, "garbage", "not a readable DICOM")
    assert said(n + 5, "nospacing.png", "spacing_mm", "--fallback-spacing")
    assert said(n + 6, "relative to --root, inside it")
    assert any("findings.csv row 2" in m and "0 <= x0 < x1 <= " in m for m in messages)
    assert any("findings.csv row 3" in m and "nowhere.png is no image" in m for m in messages)
    left_out = {"img0", "img1", "img2", "img3"}
    kept = set(truth["file"]) - left_out
    assert sorted(Path(p).name for p in ds.manifest["path"]) == sorted(kept)
    # the one valid finding, on its image, with the box as given
    box = ["x0", "y0", "x1", "y1"]
    image_of_box = ds.manifest["image_id"][[Path(p).name for p in ds.manifest["path"]].index(truth["file"][box_row])]
    assert ds.findings["image_id"].tolist() == [image_of_box]
    assert ds.findings[box].astype(int).values.tolist() == [truth.loc[box_row, box].astype(int).tolist()]
    # through the store builder: the same images; the problems file holds the table's rows
    store = import_mammo(tmp_path / "images.csv", root, tmp_path / "store", findings=tmp_path / "findings.csv",
                         progress=False)  # fmt: skip
    assert len(store) == len(kept)
    written = pd.read_csv(tmp_path / "store" / "problems.csv")
    assert len(written) == len(messages) and str(root) not in written.to_csv()
    with pytest.raises(BreastlabInputError, match="missing column"):
        table.drop(columns="label").to_csv(tmp_path / "nolabel.csv", index=False)
        read_image_table(tmp_path / "nolabel.csv", root)


def test_declared_labels_and_fallback_spacing(cohort: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    image = np.zeros((60, 40), np.uint8)
    image[10:50, :25] = 180
    Image.fromarray(image).save(root / "a.png")
    Image.fromarray(image).save(root / "b.jpg", quality=100)
    rows = [{"patient_id": "p1", "path": "a.png", "laterality": "r", "view": "cc", "label": "birads4"},
            {"patient_id": "p2", "path": "b.jpg", "laterality": "LEFT", "view": "mlo", "label": "birads2"}]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    problems = ProblemLog()
    read_image_table(tmp_path / "t.csv", root, problems=problems)
    assert len(problems) == 2  # labels outside the default set, and no spacing for either
    ds = read_image_table(tmp_path / "t.csv", root, labels="birads2,birads4", fallback_spacing=0.1)
    assert ds.manifest[["laterality", "view", "label"]].values.tolist() == [["R", "CC", "birads4"],
                                                                             ["L", "MLO", "birads2"]]  # fmt: skip
    store = import_mammo(tmp_path / "t.csv", root, tmp_path / "s", labels="birads2,birads4", fallback_spacing=0.1,
                         spacing=0.2, progress=False)  # fmt: skip
    assert len(store) == 2 and set(store.manifest["label"]) == {"birads2", "birads4"}
    np.testing.assert_allclose(store.manifest["source_spacing_row_mm"], 0.1)


def test_coco_annotations_give_the_findings_of_the_table(cohort: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    truth = flat_copy(cohort, root)
    _table(cohort, truth).to_csv(tmp_path / "images.csv", index=False)
    boxed = truth[truth["x0"].notna()].reset_index(drop=True)
    assert len(boxed) >= 2
    pd.DataFrame({"path": boxed["file"], "class": boxed["finding_class"],
                  **{k: boxed[k].astype(int) for k in ("x0", "y0", "x1", "y1")}}).to_csv(
        tmp_path / "findings.csv", index=False)  # fmt: skip
    classes = sorted(set(boxed["finding_class"]))
    coco = {
        "images": [{"id": i + 10, "file_name": f, "width": int(c), "height": int(r)}
                   for i, (f, r, c) in enumerate(zip(truth["file"], truth["rows"], truth["columns"], strict=True))],
        "categories": [{"id": k + 1, "name": c} for k, c in enumerate(classes)],
        "annotations": [{"id": k + 1, "image_id": int(truth.index[truth["file"] == f][0]) + 10,
                         "category_id": classes.index(c) + 1, "bbox": [x0, y0, x1 - x0, y1 - y0]}
                        for k, (f, c, x0, y0, x1, y1) in enumerate(zip(boxed["file"], boxed["finding_class"],
                        boxed["x0"], boxed["y0"], boxed["x1"], boxed["y1"], strict=True))],
    }  # fmt: skip
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    from_table = read_image_table(tmp_path / "images.csv", root, findings=tmp_path / "findings.csv")
    from_coco = read_image_table(tmp_path / "images.csv", root, coco=tmp_path / "coco.json")
    columns = ["image_id", "finding_id", "finding_class", "x0", "y0", "x1", "y1"]
    pd.testing.assert_frame_equal(from_table.findings[columns], from_coco.findings[columns])
    assert from_coco.findings[["x0", "y0", "x1", "y1"]].values.tolist() == boxed[["x0", "y0", "x1", "y1"]].astype(
        int).values.tolist()  # fmt: skip
    (tmp_path / "bad.json").write_text('{"images": []}')
    with pytest.raises(BreastlabInputError, match="not a COCO annotation file"):
        read_image_table(tmp_path / "images.csv", root, coco=tmp_path / "bad.json")


# ============================================================================ adapters
@pytest.mark.parametrize("layout", ["cbis", "vindr"])
def test_phantom_public_layout_tables_import_to_the_preprocess_store(cohort: Path, tmp_path: Path, layout) -> None:
    """CBIS-DDSM and VinDr-Mammo layouts (the phantom writes both): `mammo table` then `import mammo` gives
    `mammo preprocess`'s store."""
    from breastlab.data.mammo import read_cbis_ddsm, read_vindr_mammo

    if layout == "cbis":
        source, root = ["--cbis", str(cohort), "--dicom", str(cohort / "CBIS-DDSM")], cohort / "CBIS-DDSM"
        dataset = read_cbis_ddsm(cohort, cohort / "CBIS-DDSM")
    else:
        source, root = ["--vindr", str(cohort / "vindr")], cohort / "vindr"
        dataset = read_vindr_mammo(cohort / "vindr")
    assert main(["mammo", "table", *source, "--out", str(tmp_path / "t" / "images.csv")]) == 0
    text = (tmp_path / "t" / "images.csv").read_text()
    assert str(cohort) not in text
    assert main(["import", "mammo", str(tmp_path / "t" / "images.csv"), "--root", str(root),
                 "--findings", str(tmp_path / "t" / "findings.csv"), "--out", str(tmp_path / "imp"),
                 "--workers", "2"]) == 0  # fmt: skip
    build_mammo_store(dataset, tmp_path / "pre", progress=False)
    assert len(ArrayStore(tmp_path / "pre")) == len(dataset.manifest) > 0
    _assert_same_store(ArrayStore(tmp_path / "imp"), ArrayStore(tmp_path / "pre"))


def test_mini_mias_table_imports_to_the_preprocess_store(mammo_dir: Path, tmp_path: Path) -> None:
    """Real mini-MIAS films: the adapter's table through `import mammo` equals `mammo preprocess --mias`."""
    mias = mammo_dir / "mini-mias"
    assert main(["mammo", "table", "--mias", str(mias), "--out", str(tmp_path / "images.csv")]) == 0
    assert main(["import", "mammo", str(tmp_path / "images.csv"), "--root", str(mias), "--findings",
                 str(tmp_path / "findings.csv"), "--out", str(tmp_path / "imp")]) == 0  # fmt: skip
    assert main(["mammo", "preprocess", "--mias", str(mias), "--out", str(tmp_path / "pre")]) == 0
    imported, reference = ArrayStore(tmp_path / "imp"), ArrayStore(tmp_path / "pre")
    assert len(reference) == 5
    _assert_same_store(imported, reference)
    # the data pack's README: mdb223 has two calcifications
    assert (imported.findings["image_id"] == "mdb223").sum() == 2


def _assert_same_store(a: ArrayStore, b: ArrayStore) -> None:
    assert len(a) == len(b) and a.manifest["image_id"].tolist() == b.manifest["image_id"].tolist()
    for i in range(len(a)):
        np.testing.assert_array_equal(a[i], b[i])
    columns = [c for c in b.manifest.columns if c not in ("source", "offset", "row")]
    pd.testing.assert_frame_equal(_text(a.manifest[columns]), _text(b.manifest[columns]))
    boxes = ["image_id", "finding_id", "finding_class", "x0", "y0", "x1", "y1",
             "orig_x0", "orig_y0", "orig_x1", "orig_y1"]  # fmt: skip
    pd.testing.assert_frame_equal(a.findings[boxes], b.findings[boxes])


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as text, missing as "" (an empty cell of the table reads back as missing)."""
    return frame.astype(object).map(lambda v: "" if v is None or (np.isscalar(v) and pd.isna(v)) else str(v))


def test_dataset_table_leaves_out_files_outside_the_root(mammo_dir: Path, tmp_path: Path) -> None:
    ds = read_mini_mias(mammo_dir / "mini-mias")
    images, findings = dataset_table(ds, tmp_path)
    assert images.empty and findings.empty and len(ds.problems) == 5


def test_a_table_whose_every_image_fails_to_decode_is_refused_and_leaves_problems_only(tmp_path: Path) -> None:
    """DICOM files whose headers read but whose pixel data is cut short pass the table checks and fail
    in the workers: with none stored, the import is refused (no empty store) and the folder keeps
    problems.csv alone, one row per image."""
    root = tmp_path / "root"
    root.mkdir()
    for name in ("a.dcm", "b.dcm"):
        path = write_dicom(root / name, breast_stored(), ImagerPixelSpacing=[0.1, 0.1])
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 2000])  # the pixel data loses its last 1,000 values
    rows = [{"patient_id": "p1", "path": "a.dcm", "laterality": "R", "view": "CC", "label": "negative"},
            {"patient_id": "p2", "path": "b.dcm", "laterality": "L", "view": "CC", "label": "malignant"}]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(BreastlabInputError, match="no patient was stored") as err:
        import_mammo(tmp_path / "t.csv", root, tmp_path / "s", spacing=0.2, progress=False)
    assert "problems.csv" in str(err.value)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["problems.csv"]
    assert len(pd.read_csv(tmp_path / "s" / "problems.csv")) == 2
