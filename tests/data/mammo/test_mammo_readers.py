"""Mammography readers: real CBIS-DDSM tables and mini-MIAS images, VinDr format, bad input."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image

from breastlab.data.mammo import read_cbis_ddsm, read_cbis_table, read_mini_mias, read_pgm, read_vindr_mammo
from breastlab.data.mammo import vocabulary as vocab
from breastlab.data.mammo.mias import read_mias_info
from breastlab.data.phantom.mammo import make_mammo_cohort
from breastlab.errors import BreastlabInputError

# figures from the data pack README (verified there with pandas), never from our code
CBIS_ROWS = {
    "mass_case_description_train_set.csv": 1318,
    "mass_case_description_test_set.csv": 378,
    "calc_case_description_train_set.csv": 1546,
    "calc_case_description_test_set.csv": 326,
}
CBIS_PATHOLOGY = {
    "mass_case_description_train_set.csv": {"MALIGNANT": 637, "BENIGN": 577, "BENIGN_WITHOUT_CALLBACK": 104},
    "mass_case_description_test_set.csv": {"BENIGN": 194, "MALIGNANT": 147, "BENIGN_WITHOUT_CALLBACK": 37},
    "calc_case_description_train_set.csv": {"MALIGNANT": 544, "BENIGN": 528, "BENIGN_WITHOUT_CALLBACK": 474},
    "calc_case_description_test_set.csv": {"BENIGN": 130, "MALIGNANT": 129, "BENIGN_WITHOUT_CALLBACK": 67},
}
CBIS_MAX_ABNORMALITY = {
    "mass_case_description_train_set.csv": 6,
    "mass_case_description_test_set.csv": 4,
    "calc_case_description_train_set.csv": 7,
    "calc_case_description_test_set.csv": 5,
}
MIAS_CLASS_SEVERITY = {
    ("CALC", "B"): 15,
    ("CALC", "M"): 15,
    ("CIRC", "B"): 21,
    ("CIRC", "M"): 4,
    ("ARCH", "B"): 9,
    ("ARCH", "M"): 10,
    ("SPIC", "B"): 11,
    ("SPIC", "M"): 8,
    ("MISC", "B"): 7,
    ("MISC", "M"): 8,
    ("ASYM", "B"): 6,
    ("ASYM", "M"): 9,
}
MIAS_PIXELS = {
    "mdb027": (0, 220, 43.4),
    "mdb028": (0, 218, 41.1),
    "mdb104": (0, 217, 32.0),
    "mdb115": (0, 240, 50.1),
    "mdb223": (0, 232, 19.6),
}


# ============================================================================ real CBIS-DDSM
def test_cbis_real_tables_in_full(mammo_dir: Path) -> None:
    folder = mammo_dir / "cbis-ddsm"
    for name, n in CBIS_ROWS.items():
        table = read_cbis_table(folder / name)
        counts = table["pathology"].value_counts().to_dict()
        print(
            f"{name}: {len(table)} rows; pathology {counts}; type {table['abnormality_type'].value_counts().to_dict()}"
        )
        assert len(table) == n
        assert counts == CBIS_PATHOLOGY[name]
        assert table["abnormality_id"].astype(int).max() == CBIS_MAX_ABNORMALITY[name]
        # both density spellings land in one column; no path keeps its embedded newline
        assert table["density"].isin(["0", "1", "2", "3", "4"]).all()
        for col in ("image_path", "crop_path", "roi_path"):
            assert not table[col].str.contains(r"[\r\n]").any()
            assert table[col].str.endswith(".dcm").all()


def test_cbis_real_dataset(mammo_dir: Path) -> None:
    ds = read_cbis_ddsm(mammo_dir / "cbis-ddsm")
    fin, man = ds.findings, ds.manifest
    by_class = fin["finding_class"].value_counts().to_dict()
    by_type_path = fin.groupby(["abnormality_type", "pathology"]).size().to_dict()
    print("findings per class:", by_class)
    print("findings per type and pathology:", by_type_path)
    print("images per label:", man["label"].value_counts().to_dict(), "problems:", len(ds.problems))
    assert len(fin) == sum(CBIS_ROWS.values())
    assert len(man) == 3103 and man["patient_id"].nunique() == 1566  # README: distinct full images / patients
    for kind, files in (
        ("mass", ("mass_case_description_train_set.csv", "mass_case_description_test_set.csv")),
        ("calcification", ("calc_case_description_train_set.csv", "calc_case_description_test_set.csv")),
    ):
        for p in ("MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK"):
            assert by_type_path[(kind, p)] == sum(CBIS_PATHOLOGY[f][p] for f in files)
    assert by_class["calcification"] == 1546 + 326
    assert by_class["mass"] + by_class["asymmetry"] + by_class["architectural_distortion"] == 1318 + 378
    # the README's invalid values are reported with file and row, and set to NA
    messages = ds.problems.to_frame()["message"]
    assert messages.str.contains("calc_case_description_test_set.csv row .* density '0'").sum() == 2
    assert messages.str.contains("mass_case_description_train_set.csv row .* subtlety '0'").sum() == 2
    assert man["density"].isna().sum() >= 1 and fin["subtlety"].isna().sum() == 2
    assert set(man["split"]) == {"train", "test"} and set(man["view"]) == {"CC", "MLO"}
    # label rule: an image with a malignant finding is malignant
    malignant_images = set(fin.loc[fin["pathology"] == "MALIGNANT", "image_id"])
    assert set(man.loc[man["label"] == "malignant", "image_id"]) == malignant_images


# ============================================================================ real mini-MIAS
def test_mias_truth_table(mammo_dir: Path) -> None:
    truth = read_mias_info(mammo_dir / "mini-mias" / "Info.txt")
    abnormal = truth[truth["class"] != "NORM"]
    table = abnormal.groupby(["class", "severity"]).size().to_dict()
    print("mini-MIAS rows", len(truth), "class x severity", table)
    assert len(truth) == 330 and (truth["class"] == "NORM").sum() == 207
    assert table == MIAS_CLASS_SEVERITY
    assert sorted(abnormal.loc[abnormal["x"].isna(), "refnum"]) == ["mdb059", "mdb216", "mdb233", "mdb245"]
    multi = truth["refnum"].value_counts()
    assert sorted(multi[multi > 1].index) == ["mdb005", "mdb132", "mdb144", "mdb223", "mdb226", "mdb239", "mdb249"]
    assert truth.drop_duplicates("refnum")["background"].value_counts().to_dict() == {"D": 112, "F": 106, "G": 104}


def test_mias_images_and_bottom_left_origin(mammo_dir: Path) -> None:
    folder = mammo_dir / "mini-mias"
    ds = read_mini_mias(folder)
    assert sorted(ds.manifest["image_id"]) == sorted(MIAS_PIXELS)
    for image_id, (lo, hi, mean) in MIAS_PIXELS.items():
        img = read_pgm(folder / f"{image_id}.pgm")
        np.testing.assert_array_equal(img, np.asarray(Image.open(folder / f"{image_id}.pgm")))  # Pillow agrees
        assert img.shape == (1024, 1024) and (int(img.min()), int(img.max())) == (lo, hi)
        assert round(float(img.mean()), 1) == mean
    labels = ds.manifest.set_index("image_id")["label"].to_dict()
    assert labels == {
        "mdb027": "negative",
        "mdb028": "malignant",
        "mdb104": "recalled-benign",
        "mdb115": "malignant",
        "mdb223": "recalled-benign",
    }
    assert ds.manifest.set_index("image_id").loc[["mdb027", "mdb028"], "patient_id"].nunique() == 1
    assert (ds.findings["image_id"] == "mdb223").sum() == 2
    # mdb028 CIRC M 338 314 56: inside-circle mean with row = 1023 - y vs the wrong top-left reading
    f = ds.findings.set_index("image_id").loc["mdb028"]
    img = read_pgm(folder / "mdb028.pgm").astype(float)
    yy, xx = np.mgrid[:1024, :1024]
    right = img[(yy - int(f["cy"])) ** 2 + (xx - int(f["cx"])) ** 2 <= 56**2].mean()
    wrong = img[(yy - 314) ** 2 + (xx - 338) ** 2 <= 56**2].mean()
    ring = img[
        ((yy - (1023 - 314)) ** 2 + (xx - 338) ** 2 > 56**2) & ((yy - (1023 - 314)) ** 2 + (xx - 338) ** 2 <= 90**2)
    ].mean()
    print(f"mdb028 circle mean: bottom-left {right:.1f}, ring {ring:.1f}, wrong top-left {wrong:.1f}")
    assert int(f["cy"]) == 1023 - 314
    assert right == pytest.approx(193.7, abs=0.5) and wrong == pytest.approx(107.4, abs=0.5)
    assert right > ring + 30 and right > wrong + 50
    assert (f["x0"], f["y0"], f["x1"], f["y1"]) == (338 - 56, 709 - 56, 338 + 57, 709 + 57)


def test_pgm_with_comments_and_16bit(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    (tmp_path / "a.pgm").write_bytes(b"P5\n# a comment\n4 3\n# another\n65535\n" + data.astype(">u2").tobytes())
    np.testing.assert_array_equal(read_pgm(tmp_path / "a.pgm"), data)


# ============================================================================ VinDr format
FINDING_ROWS = [  # study, series, image, lat, view, h, w, breast_birads, density, categories, f_birads, box, split
    (
        "s1",
        "x1",
        "i1",
        "L",
        "CC",
        300,
        200,
        "BI-RADS 4",
        "DENSITY C",
        "['Mass', 'Suspicious Calcification']",
        "BI-RADS 4",
        ("10.5", "20.2", "60.1", "80.9"),
        "training",
    ),
    (
        "s1",
        "x1",
        "i2",
        "L",
        "MLO",
        300,
        200,
        "BI-RADS 4",
        "DENSITY C",
        "['Mass']",
        "BI-RADS 4",
        ("150", "250", "230", "330"),
        "training",
    ),  # 30 px past both edges: reported, kept as given
    (
        "s1",
        "x2",
        "i3",
        "R",
        "CC",
        300,
        200,
        "BI-RADS 1",
        "DENSITY C",
        "['No Finding']",
        "",
        ("", "", "", ""),
        "training",
    ),
    (
        "s1",
        "x2",
        "i4",
        "R",
        "MLO",
        300,
        200,
        "BI-RADS 1",
        "DENSITY C",
        "['No Finding']",
        "",
        ("", "", "", ""),
        "training",
    ),
    (
        "s2",
        "x3",
        "i5",
        "L",
        "CC",
        300,
        200,
        "BI-RADS 3",
        "DENSITY A",
        "['Focal Asymmetry']",
        "BI-RADS 3",
        ("210", "10", "260", "40"),
        "test",
    ),  # outside the image: reported, dropped
    (
        "s2",
        "x3",
        "i6",
        "L",
        "MLO",
        300,
        200,
        "BI-RADS 3",
        "DENSITY A",
        "['Alien Object']",
        "BI-RADS 3",
        ("1", "1", "5", "5"),
        "test",
    ),  # unknown category: reported
    (
        "s2",
        "x3",
        "i6",
        "L",
        "MLO",
        300,
        200,
        "BI-RADS 3",
        "DENSITY A",
        "['Architectural Distortion', 'Skin Thickening']",
        "BI-RADS 3",
        ("5", "5", "50", "50"),
        "test",
    ),
]


def _write_vindr(folder: Path) -> None:
    header = (
        "study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,breast_density,"
        "finding_categories,finding_birads,xmin,ymin,xmax,ymax,split"
    )
    lines = [header]
    for r in FINDING_ROWS:
        cells = [*r[:9], f'"{r[9]}"', r[10], *r[11], r[12]]
        lines.append(",".join(str(c) for c in cells))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "finding_annotations.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    breast = [
        "study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,breast_density,split",
        "s2,x4,i7,R,CC,300,200,BI-RADS 2,DENSITY A,test",
    ]
    (folder / "breast-level_annotations.csv").write_bytes(("\r\n".join(breast) + "\r\n").encode())


def test_vindr_reader_on_format_tables(tmp_path: Path) -> None:
    _write_vindr(tmp_path)
    ds = read_vindr_mammo(tmp_path)
    man = ds.manifest.set_index("image_id")
    fin = ds.findings
    assert sorted(man.index) == ["i1", "i2", "i3", "i4", "i5", "i6", "i7"]
    assert man.loc["i1", "density"] == 3 and man.loc["i5", "density"] == 1
    assert man.loc["i1", "split"] == "train" and man.loc["i5", "split"] == "test"
    assert man["label"].to_dict() == {
        "i1": "malignant",
        "i2": "malignant",
        "i3": "negative",
        "i4": "negative",
        "i5": "recalled-benign",
        "i6": "recalled-benign",
        "i7": "negative",
    }
    i1 = fin[fin["image_id"] == "i1"]
    assert sorted(i1["finding_class"]) == ["calcification", "mass"]  # one row per category of the list literal
    assert tuple(i1.iloc[0][["x0", "y0", "x1", "y1"]]) == (10, 20, 61, 81)  # floor / ceil
    assert tuple(fin[fin["image_id"] == "i2"].iloc[0][["x0", "y0", "x1", "y1"]]) == (150, 250, 230, 330)
    assert "i5" not in set(fin["image_id"])
    assert sorted(fin.loc[fin["image_id"] == "i6", "finding_class"]) == ["architectural_distortion", "other"]
    messages = " | ".join(ds.problems.to_frame()["message"])
    print(messages)
    assert "finding_annotations.csv row 5 (image i5)" in messages and "outside the 200x300 image" in messages
    assert "finding_annotations.csv row 6 (image i6)" in messages and "'Alien Object'" in messages
    assert "row 2 (image i2): box (150, 250, 230, 330) reaches 30 px past the edge of the 200x300 image" in messages
    assert len(ds.problems) == 3


# ============================================================================ CBIS-DDSM with DICOMs (phantom)
@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return make_mammo_cohort(
        tmp_path_factory.mktemp("mammo") / "c",
        6,
        seed=11,
        matrix=128,
        proportions=(0.2, 0.4, 0.4),
        class_weights=(1, 1, 0, 0),
        progress=False,
    )


def test_cbis_reader_on_phantom_dicoms(cohort: Path) -> None:
    ds = read_cbis_ddsm(cohort, cohort / "CBIS-DDSM")
    truth = pd.read_csv(cohort / "phantom_truth.csv").set_index("image_id")
    assert len(ds.problems) == 0, ds.problems.to_frame()
    assert len(ds.manifest) == len(truth) and ds.manifest["path"].notna().all()
    man = ds.manifest.set_index("image_id")
    assert (man["label"] == truth.loc[man.index, "label"]).all()
    assert (man["density"].astype(int) == truth.loc[man.index, "density"]).all()
    assert (man["split"] == truth.loc[man.index, "split"]).all()
    fin = ds.findings.set_index("image_id")
    assert set(fin.index) == set(truth.index[truth["x0"].notna()])
    for image_id, f in fin.iterrows():  # box from the ROI mask, whichever file name holds it
        t = truth.loc[image_id]
        assert (f["x0"], f["y0"], f["x1"], f["y1"]) == (t["x0"], t["y0"], t["x1"], t["y1"])
        assert f["finding_class"] == t["finding_class"]
    assert {"calcification", "mass"} <= set(fin["finding_class"])


def test_cbis_tcia_download_naming(cohort: Path, tmp_path: Path) -> None:
    """Today's TCIA downloads: other folder names below the series folder, files named 1-1.dcm / 1-2.dcm."""
    root = tmp_path / "tree"
    for full in sorted((cohort / "CBIS-DDSM").rglob("*.dcm")):
        rel = full.relative_to(cohort / "CBIS-DDSM")
        new = root / rel.parts[0] / "07-20-2016-DDSM-12345" / f"1.000000-images-{rel.parts[2][-5:]}"
        new.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(full, new / f"1-{int(rel.stem) + 1}.dcm")
    ds = read_cbis_ddsm(cohort, root)
    ref = read_cbis_ddsm(cohort, cohort / "CBIS-DDSM")
    assert len(ds.problems) == 0 and len(ds.manifest) == len(ref.manifest)
    cols = ["finding_id", "x0", "y0", "x1", "y1"]
    pd.testing.assert_frame_equal(ds.findings[cols], ref.findings[cols])


def test_cbis_bad_input_reported_rest_goes_on(cohort: Path, tmp_path: Path) -> None:
    tables = tmp_path / "tables"
    shutil.copytree(cohort, tables, ignore=shutil.ignore_patterns("vindr"))
    root = tables / "CBIS-DDSM"
    ref = read_cbis_ddsm(cohort, cohort / "CBIS-DDSM")
    fin = ref.findings
    # 1. a full image missing
    gone = fin.iloc[0]
    shutil.rmtree(root / gone["image_id"])
    # 2. an ROI mask of another size than its image
    other = fin.iloc[2]
    mask_path = Path(other["roi_path"].replace(str(cohort), str(tables)))
    ds_mask = pydicom.dcmread(mask_path)
    small = np.zeros((20, 10), np.uint8)
    small[5:8, 2:4] = 255
    ds_mask.Rows, ds_mask.Columns, ds_mask.PixelData = 20, 10, small.tobytes()
    ds_mask.save_as(mask_path)
    # 3. an unknown pathology
    csv = tables / fin.iloc[4]["csv_file"]
    text = csv.read_bytes()
    row_pathology = "MALIGNANT" if b"MALIGNANT" in text else "BENIGN"
    csv.write_bytes(text.replace(row_pathology.encode(), b"PROBABLY_FINE", 1))
    ds = read_cbis_ddsm(tables, root)
    messages = ds.problems.to_frame()["message"].tolist()
    print("\n".join(messages))
    assert any(gone["csv_file"] in m and f"row {gone['csv_row']}" in m and "not found" in m for m in messages)
    assert any(other["csv_file"] in m and "20x10" in m and "ROI mask" in m for m in messages)
    assert any(csv.name in m and "'PROBABLY_FINE'" in m and "known values" in m for m in messages)
    assert gone["image_id"] not in set(ds.manifest["image_id"])
    kept = ds.findings.set_index("finding_id").loc[other["finding_id"]]
    assert pd.isna(kept["x0"])  # kept without box
    # the rest goes on: only the missing image and the one whose single row was skipped are gone
    assert len(ds.manifest) == len(ref.manifest) - 2


# ============================================================================ vocabulary
def test_vocabulary_rules() -> None:
    assert vocab.cbis_finding_class("mass", "IRREGULAR-ARCHITECTURAL_DISTORTION") == "mass"
    assert vocab.cbis_finding_class("mass", "ARCHITECTURAL_DISTORTION") == "architectural_distortion"
    assert vocab.cbis_finding_class("mass", "FOCAL_ASYMMETRIC_DENSITY") == "asymmetry"
    assert vocab.cbis_finding_class("calcification", "PLEOMORPHIC") == "calcification"
    assert vocab.cbis_image_label("BENIGN_WITHOUT_CALLBACK") == "negative"
    assert vocab.cbis_image_label("BENIGN_WITHOUT_CALLBACK", "recalled-benign") == "recalled-benign"
    assert vocab.vindr_categories("['Mass', 'Global Asymmetry']") == ["Mass", "Global Asymmetry"]
    assert [vocab.vindr_image_label(b) for b in (1, 2, 3, 4, 5)] == [
        "negative",
        "negative",
        "recalled-benign",
        "malignant",
        "malignant",
    ]
    assert vocab.worst_label(["negative", "malignant", "recalled-benign"]) == "malignant"
    assert set(vocab.MIAS_CLASS.values()) == set(vocab.FINDING_CLASSES)
    for bad in (
        lambda: vocab.cbis_image_label("MAYBE"),
        lambda: vocab.vindr_finding_class("Tattoo"),
        lambda: vocab.parse_birads("BIRADS-four"),
        lambda: vocab.vindr_categories("Mass"),
    ):
        with pytest.raises(vocab.UnknownLabel):
            bad()


# ============================================================================ input that must be refused or reported
def test_cbis_path_leaving_the_dicom_root_is_refused(cohort: Path, tmp_path: Path) -> None:
    """A CSV path with '..' (or absolute) must not read a file outside --dicom as a mammogram."""
    tables = tmp_path / "tables"
    shutil.copytree(cohort, tables, ignore=shutil.ignore_patterns("vindr"))
    root = tables / "CBIS-DDSM"
    outside = tmp_path / "outside.dcm"
    shutil.copy(read_cbis_ddsm(cohort, cohort / "CBIS-DDSM").manifest["path"].iloc[0], outside)
    csv = max(tables.glob("*_case_description_*_set.csv"), key=lambda p: len(p.read_text().splitlines()))
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert len(table) >= 2
    table.loc[0, "image file path"] = "../../outside.dcm"
    table.loc[1, "image file path"] = str(outside)  # absolute
    table.to_csv(csv, index=False)
    link = root / "Mass-Training_P_99999_LEFT_CC"
    link.symlink_to(tmp_path, target_is_directory=True)  # a folder under the root leading out of it
    ds = read_cbis_ddsm(tables, root)
    assert str(outside) not in set(ds.manifest["path"].dropna())
    assert not any(str(p).startswith(str(tmp_path / "outside")) for p in ds.manifest["path"].dropna())
    messages = " | ".join(ds.problems.to_frame()["message"])
    print(messages)
    assert f"{csv.name} row 1" in messages and "contains '..'" in messages
    assert f"{csv.name} row 2" in messages and "is absolute" in messages
    assert messages.count("paths must stay under the DICOM root") == 2


def test_empty_cbis_csv_is_refused_header_only_is_empty(cohort: Path, tmp_path: Path) -> None:
    tables = tmp_path / "tables"
    shutil.copytree(cohort, tables, ignore=shutil.ignore_patterns("vindr", "CBIS-DDSM"))
    csv = sorted(tables.glob("calc_case_description_*_set.csv"))[0]
    header = csv.read_text().splitlines()[0]
    csv.write_bytes(b"")
    with pytest.raises(BreastlabInputError, match=rf"{csv.name}: the case-description CSV is empty"):
        read_cbis_ddsm(tables)
    csv.write_text(header + "\n")  # a split without calcification cases: no rows, no error
    assert len(read_cbis_ddsm(tables).manifest) > 0


@pytest.mark.parametrize("bom", [False, True])
def test_csv_utf8_with_or_without_bom(tmp_path: Path, bom: bool) -> None:
    _write_vindr(tmp_path)
    path = tmp_path / "finding_annotations.csv"
    text = path.read_bytes().decode().replace("DENSITY A", "DENSITY A", 1)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    assert sorted(read_vindr_mammo(tmp_path).manifest["image_id"]) == ["i1", "i2", "i3", "i4", "i5", "i6", "i7"]


@pytest.mark.parametrize("encoding, named", [("latin-1", "Latin-1"), ("cp1252", "Windows-1252"), ("utf-16", "UTF-16")])
def test_csv_in_another_encoding_is_refused_naming_it(cohort: Path, tmp_path: Path, encoding: str, named: str) -> None:
    tables = tmp_path / "tables"
    shutil.copytree(cohort, tables, ignore=shutil.ignore_patterns("vindr", "CBIS-DDSM"))
    csv = max(tables.glob("*_case_description_*_set.csv"), key=lambda p: len(p.read_text().splitlines()))
    lines = csv.read_text().splitlines()
    text = "\n".join([lines[0], lines[1].replace(",", ",caf\u00e9 ", 1), *lines[2:]]) + "\n"  # a non-ASCII cell
    if encoding == "cp1252":
        text = text.replace("\u00e9", "\u2019")  # a typographic apostrophe: byte 0x92 in Windows-1252
    csv.write_bytes(text.encode(encoding))
    with pytest.raises(BreastlabInputError, match=rf"{csv.name}: .*{named}.*UTF-8") as err:
        read_cbis_ddsm(tables)
    print(err.value)


def test_vindr_box_past_the_edge_is_reported_not_clipped(tmp_path: Path) -> None:
    _write_vindr(tmp_path)
    ds = read_vindr_mammo(tmp_path)
    box = ds.findings.loc[ds.findings["image_id"] == "i2", ["x0", "y0", "x1", "y1"]].iloc[0]
    assert tuple(box) == (150, 250, 230, 330)  # as the source gives it, beyond the 200x300 image
    [message] = [m for m in ds.problems.to_frame()["message"] if "(image i2)" in m]
    assert "30 px past the edge" in message and "not clipped" in message


def test_plain_ascii_pgm(tmp_path: Path) -> None:
    """P2 (ASCII) PGM: read exactly, comments skipped; damaged ones refused naming the file."""
    path = tmp_path / "mdb999.pgm"
    path.write_text("P2\n# made by hand\n4 2\n# maxval next\n255\n0 1 2 3\n# a comment in the data\n252 253 254 255\n")
    np.testing.assert_array_equal(read_pgm(path), np.array([[0, 1, 2, 3], [252, 253, 254, 255]], np.uint8))
    path.write_text("P2\n2 2\n1000\n0 999\n1000 7\n")
    got = read_pgm(path)
    assert got.dtype == np.uint16 and got.tolist() == [[0, 999], [1000, 7]]
    for text, match in [("P2\n2 2\n255\n0 1 2\n", "holds 3 samples, expected 4"),
                        ("P2\n2 2\n255\n0 1 2 300\n", "300 exceeds the header's maxval 255"),
                        ("P2\n2 2\n255\n0 1 x 3\n", "b'x' is not a non-negative integer"),
                        ("P2\n2 2\n255\n0 1 -2 3\n", "b'-2' is not a non-negative integer")]:  # fmt: skip
        path.write_text(text)
        with pytest.raises(BreastlabInputError, match=rf"mdb999\.pgm: .*{re.escape(match)}"):
            read_pgm(path)


def test_out_that_is_a_file(cohort: Path, tmp_path: Path) -> None:
    from breastlab.cli import main

    out = tmp_path / "a_file"
    out.write_text("not a folder")
    ds = read_cbis_ddsm(cohort)
    with pytest.raises(BreastlabInputError, match=r"a_file: the output folder is a file, not a folder"):
        ds.write(out)
    with pytest.raises(BreastlabInputError, match=r"lies inside .*a_file, which is a file"):
        ds.write(out / "sub")
    assert main(["mammo", "preprocess", "--cbis", str(cohort), "--out", str(out), "--workers", "1"]) == 2
    assert out.read_text() == "not a folder"
