"""Duke tables: clinical decoding, xlsx round trip, boxes, slice counts, slice labels.

Real-data figures are those published in shared/data/duke/README.md (independent of
this code); synthetic tests use hand-written legends and hand-computed labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from breastlab.cli import main as cli_main
from breastlab.data.duke._legend import code_key, is_missing_token, parse_legend
from breastlab.data.duke.boxes import read_boxes, read_slice_counts
from breastlab.data.duke.clinical import (
    CLINICAL_COLUMNS,
    CLINICAL_SPEC,
    clinical_marginals,
    clinical_raw_columns,
    decode_clinical,
    load_clinical_marginals,
    read_clinical,
    read_clinical_raw,
    read_clinical_records,
    write_clinical_xlsx,
)
from breastlab.data.duke.labels import label_slices, real_slice_table
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog

CLINICAL = "Clinical_and_Other_Features.xlsx"


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def real_raw(duke_dir: Path) -> pd.DataFrame:
    return read_clinical_raw(duke_dir / CLINICAL)


@pytest.fixture(scope="module")
def real_clinical(real_raw: pd.DataFrame) -> pd.DataFrame:
    # read_clinical = read_clinical_raw + decode_clinical; read_clinical itself runs in the round trip and CLI tests
    return decode_clinical(real_raw)


def _small_raw() -> pd.DataFrame:
    """Three patients, a few columns given by their original header names, raw codes."""
    return pd.DataFrame(
        {
            "Patient ID": ["P_1", "P_2", "P_3"],
            "Manufacturer": [0, 2, 2],
            "Manufacturer Model Name": [3, 0, 5],
            "Field Strength (Tesla)": [1, 3, 2],
            "Rows": [2, 1, 0],
            "Menopause (at diagnosis)": [0, 1, 2],
            "ER": [1, 0, 1],
            "Tumor Location": ["L", "R", None],
            "Definitive Surgery Type": [0, "NA", "NP"],
            "Days to MRI (From the Date of Diagnosis)": [6, -3, 20],
            "Shape.1": [1, "NC", "0 (1)"],  # US shape: the second "Shape" column
            "Post_NAT_Stage_T": [-1, 5, "NA"],  # snake names are accepted too
        }
    )


# ------------------------------------------------------------------ legend parser (hand-written legends)
@pytest.mark.parametrize(
    ("legend", "expected"),
    [
        ("1.494=0,1.5=1,2.8936=2,3=3", {"0": "1.494", "1": "1.5", "2": "2.8936", "3": "3"}),
        ("GE MEDICAL SYSTEMS=0, MPTronic software=1, SIEMENS=2",
         {"0": "GE MEDICAL SYSTEMS", "1": "MPTronic software", "2": "SIEMENS"}),
        ("7=0,8=1,10=2,12=3", {"0": "7", "1": "8", "2": "10", "3": "12"}),
        ("A\\B=0, C = 1 ", {"0": "A\\B", "1": "C"}),
        ("{0 = pre,\n1 = post,\n2 = N/A}", {"0": "pre", "1": "post", "2": "N/A"}),
        ("{0 = luminal-like,\n1 = ER/PR pos, HER2 pos,\n2 = her2,\n3 = trip neg}",
         {"0": "luminal-like", "1": "ER/PR pos, HER2 pos", "2": "her2", "3": "trip neg"}),
        ("1=low 2=intermediate 3=high\n", {"1": "low", "2": "intermediate", "3": "high"}),
        ("Side of cancer L=left R=right", {"L": "left", "R": "right"}),
        ("Bilateral?\n{ 0=no 1=yes}", {"0": "no", "1": "yes"}),
        ("{ -1 = TX;  0 = T0;  5 = Tis (DCIS);  NA = not applicable}",
         {"-1": "TX", "0": "T0", "5": "Tis (DCIS)", "NA": "not applicable"}),
        ("{0 = a, 1 = b} \n*notes:\n2 = something else", {"0": "a", "1": "b"}),  # prose after the block
        ("{1 = yes, 2 = no, NP = not pertinent}", {"1": "yes", "2": "no", "NP": "not pertinent"}),
        ("1=10,2=20", {"1": "10", "2": "20"}),  # integers not 0..k-1 on the right: code=label
        ("{16 = > 95% reduction; 17 = 1mm residual}", {"16": "> 95% reduction", "17": "1mm residual"}),
        (None, None),
        ("   ", None),
        ("Tumor Grade(T)\n(Tubule)", None),
        ("Oncotype score (for the other side){##}", None),
    ],
)  # fmt: skip
def test_parse_legend(legend, expected):
    assert parse_legend(legend) == expected


def test_parse_legend_conflicting_code_raises():
    with pytest.raises(ValueError, match="twice"):
        parse_legend("{0 = no, 0 = yes}")


def test_code_key_and_missing_tokens():
    assert [code_key(v) for v in (1, 1.0, " 1", np.int64(3), None, float("nan"), 2.8936)] == [
        "1", "1", "1", "3", None, None, "2.8936"
    ]  # fmt: skip
    for v in (None, "", " NA", "NC", "np", "N/A", "=#REF!-#REF!", "#REF!", pd.NA):
        assert is_missing_token(v), v
    for v in (0, "0", "L", "pre"):
        assert not is_missing_token(v), v


def test_spec_names_are_stable_and_unique():
    assert len(CLINICAL_SPEC) == 98 and len(set(CLINICAL_COLUMNS)) == 98
    assert len(set(clinical_raw_columns())) == 98
    assert CLINICAL_COLUMNS[0] == "patient_id"
    for name in ("field_strength_t", "manufacturer", "manufacturer_model", "menopause", "race_ethnicity",
                 "surgery_type", "er", "her2", "mol_subtype", "tumor_location"):  # fmt: skip
        assert name in CLINICAL_COLUMNS
    by = {c.snake: c for c in CLINICAL_SPEC}
    assert by["field_strength_t"].values == {"0": 1.494, "1": 1.5, "2": 2.8936, "3": 3.0}
    assert by["field_strength_t"].dtype == "Float64" and by["rows"].dtype == "Int64"
    assert by["menopause"].values == {"0": "pre", "1": "post", "2": None}  # "N/A" -> missing
    assert by["us_shape"].label == "Shape.1" and by["mammo_shape"].label == "Shape"
    # every coded column has a legend the parser understands (the spec would not load otherwise)
    assert sum(c.kind in ("code", "multicode") for c in CLINICAL_SPEC) == 67


# ------------------------------------------------------------------ writer round trip (synthetic)
def test_write_read_round_trip_small(tmp_path):
    path = write_clinical_xlsx(_small_raw(), tmp_path / CLINICAL)
    df = read_clinical(path)
    assert list(df.columns) == CLINICAL_COLUMNS and len(df) == 3
    assert df["patient_id"].tolist() == ["P_1", "P_2", "P_3"]
    assert df["manufacturer"].tolist() == ["GE MEDICAL SYSTEMS", "SIEMENS", "SIEMENS"]
    assert df["manufacturer_model"].tolist() == ["SIGNA HDx", "Avanto", "Skyra"]
    assert df["field_strength_t"].tolist() == [1.5, 3.0, 2.8936]
    assert df["rows"].tolist() == [512, 448, 320]
    assert df["menopause"].tolist()[:2] == ["pre", "post"] and df["menopause"].isna().tolist()[2]
    assert df["er"].tolist() == ["pos", "neg", "pos"]
    assert df["tumor_location"].tolist()[:2] == ["left", "right"] and pd.isna(df["tumor_location"][2])
    assert df["surgery_type"].tolist()[0] == "BCS" and df["surgery_type"].isna().tolist()[1:] == [True, True]
    assert df["days_to_mri"].tolist() == [6, -3, 20]
    assert df["us_shape"].tolist()[0] == "irregular" and pd.isna(df["us_shape"][1])
    assert df["us_shape"][2] == "oval (irregular)"
    assert df["post_nat_stage_t"].tolist()[:2] == ["TX", "Tis (DCIS)"] and pd.isna(df["post_nat_stage_t"][2])
    assert df["mammo_shape"].isna().all()  # columns not given are written blank
    # the raw codes come back as written
    raw = read_clinical_raw(path)
    assert raw["Manufacturer"].tolist() == [0, 2, 2] and raw["Definitive Surgery Type"].tolist() == [0, "NA", "NP"]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic: no temporary left


def test_writer_header_is_tcia_layout(tmp_path, duke_dir):
    path = write_clinical_xlsx(_small_raw(), tmp_path / CLINICAL)
    ours = openpyxl.load_workbook(path)["Data"]
    real = openpyxl.load_workbook(duke_dir / CLINICAL)["Data"]
    for r in (1, 2, 3):
        for c in range(1, 100):
            assert ours.cell(r, c).value == real.cell(r, c).value, (r, c)
    assert sorted(map(str, ours.merged_cells.ranges)) == sorted(map(str, real.merged_cells.ranges))


def test_real_round_trip(tmp_path, real_raw, real_clinical):
    path = write_clinical_xlsx(real_raw, tmp_path / CLINICAL)
    pd.testing.assert_frame_equal(read_clinical(path), real_clinical)


def test_writer_rejects_unknown_column(tmp_path):
    raw = _small_raw().assign(Nonsense=1)
    with pytest.raises(BreastlabInputError, match="Nonsense"):
        write_clinical_xlsx(raw, tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


# ------------------------------------------------------------------ clinical error paths
def test_unknown_code_names_file_column_patient_and_codes(tmp_path):
    raw = _small_raw().astype(object)
    raw.loc[1, "Manufacturer"] = 7
    path = write_clinical_xlsx(raw, tmp_path / CLINICAL)
    with pytest.raises(BreastlabInputError) as err:
        read_clinical(path)
    msg = str(err.value)
    for part in (str(path), "'Manufacturer'", "P_2", "7", "0 (GE MEDICAL SYSTEMS)", "2 (SIEMENS)"):
        assert part in msg, (part, msg)


def test_unknown_text_in_number_column(tmp_path):
    raw = _small_raw().astype(object)
    raw.loc[0, "Days to MRI (From the Date of Diagnosis)"] = "soon"
    with pytest.raises(BreastlabInputError, match=r"Days to MRI.*P_1.*'soon'"):
        read_clinical(write_clinical_xlsx(raw, tmp_path / CLINICAL))


def test_missing_column_names_it(tmp_path):
    path = write_clinical_xlsx(_small_raw(), tmp_path / CLINICAL)
    wb = openpyxl.load_workbook(path)
    ws = wb["Data"]
    col = next(c.index for c in CLINICAL_SPEC if c.snake == "her2")
    for rng in list(ws.merged_cells.ranges):
        ws.unmerge_cells(str(rng))
    ws.delete_cols(col)
    wb.save(path)
    with pytest.raises(BreastlabInputError, match=r"lacks expected column.*'HER2' \(her2"):
        read_clinical(path)


def test_header_whitespace_quirks_are_tolerated(tmp_path):
    path = write_clinical_xlsx(_small_raw(), tmp_path / CLINICAL)
    wb = openpyxl.load_workbook(path)
    ws = wb["Data"]
    ws.cell(2, 3).value = "  manufacturer \n"
    ws.cell(2, 14).value = "Slice   Thickness"
    wb.save(path)
    assert read_clinical(path)["manufacturer"].tolist() == ["GE MEDICAL SYSTEMS", "SIEMENS", "SIEMENS"]


def test_bad_layout_and_duplicates(tmp_path):
    path = tmp_path / "flat.xlsx"
    pd.DataFrame({"Patient ID": ["a", "b", "c"], "ER": [1, 0, 1]}).to_excel(path, sheet_name="Data", index=False)
    with pytest.raises(BreastlabInputError, match="cell A2"):
        read_clinical(path)
    pd.DataFrame({"x": [1]}).to_excel(tmp_path / "other.xlsx", sheet_name="Sheet1", index=False)
    with pytest.raises(BreastlabInputError, match="no sheet 'Data'"):
        read_clinical(tmp_path / "other.xlsx")
    with pytest.raises(BreastlabInputError, match="not found"):
        read_clinical(tmp_path / "absent.xlsx")
    raw = _small_raw()
    raw.loc[2, "Patient ID"] = "P_1"
    with pytest.raises(BreastlabInputError, match="repeats patient.*P_1"):
        write_clinical_xlsx(raw, tmp_path / "dup.xlsx")


def _records_of(frame: pd.DataFrame) -> dict:
    """read_clinical's rows as the MIP builder used them: records, missing values as None."""
    return {
        r["patient_id"]: {k: (None if v is pd.NA or (isinstance(v, float) and v != v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    }


def _assert_same_records(path):
    ours, theirs = read_clinical_records(path), _records_of(read_clinical(path))
    assert list(ours) == list(theirs)
    for pid in theirs:
        assert list(ours[pid]) == list(theirs[pid]) == CLINICAL_COLUMNS
        for key, value in theirs[pid].items():
            assert ours[pid][key] == value and type(ours[pid][key]) is type(value), (pid, key, ours[pid][key], value)


def test_clinical_records_equal_the_decoded_frame(tmp_path):
    raw = _small_raw().astype(object)
    raw.loc[2, "Days to MRI (From the Date of Diagnosis)"] = "2.0 [1]"
    raw.loc[0, "Field Strength (Tesla)"] = "NA"
    _assert_same_records(write_clinical_xlsx(raw, tmp_path / CLINICAL))
    for column, value in [("Manufacturer", 7), ("Days to MRI (From the Date of Diagnosis)", "soon")]:
        bad = raw.copy()
        bad.loc[1, column] = value
        path = write_clinical_xlsx(bad, tmp_path / f"bad_{len(str(value))}.xlsx")
        with pytest.raises(BreastlabInputError) as frame_err:
            read_clinical(path)
        with pytest.raises(BreastlabInputError) as records_err:
            read_clinical_records(path)
        assert str(records_err.value) == str(frame_err.value)


def test_real_clinical_records(duke_dir):
    _assert_same_records(duke_dir / CLINICAL)


# ------------------------------------------------------------------ clinical on the real pack
def test_real_clinical_published_figures(real_clinical, duke_dir):
    df = real_clinical
    fs = df["field_strength_t"].value_counts().to_dict()
    man = df["manufacturer"].value_counts().to_dict()
    models = df["manufacturer_model"].value_counts().to_dict()
    rows = df["rows"].value_counts().to_dict()
    print("\nclinical:", df.shape, "field strength:", fs, "manufacturer:", man)
    print("models:", models, "rows:", rows)
    assert df.shape == (922, 98) and list(df.columns) == CLINICAL_COLUMNS
    assert df["patient_id"].is_unique and df["patient_id"].iloc[0] == "Breast_MRI_001"
    assert fs == {1.5: 468, 3.0: 453, 2.8936: 1}
    assert man == {"GE MEDICAL SYSTEMS": 628, "SIEMENS": 294}
    assert models == {"Avanto": 179, "Optima MR450w": 98, "SIGNA EXCITE": 10, "SIGNA HDx": 272,
                      "Signa HDxt": 248, "Skyra": 57, "Trio": 1, "TrioTim": 57}  # fmt: skip
    assert rows == {512: 628, 448: 261, 320: 33}
    assert (df["rows"] == df["columns"]).all()
    cross = df.groupby(["manufacturer", "field_strength_t"]).size().to_dict()
    print("manufacturer x field strength:", cross)
    assert cross == {("GE MEDICAL SYSTEMS", 1.5): 289, ("GE MEDICAL SYSTEMS", 3.0): 339,
                     ("SIEMENS", 1.5): 179, ("SIEMENS", 3.0): 114, ("SIEMENS", 2.8936): 1}  # fmt: skip


def test_real_clinical_against_pandas_reading(real_clinical, duke_dir):
    """Independent path: pandas' own 3-level header reading + hand-written code maps."""
    ref = pd.read_excel(duke_dir / CLINICAL, sheet_name="Data", header=[0, 1, 2])
    ref.columns = [c[1] for c in ref.columns]
    ref = ref.set_index("Patient ID")
    ours = real_clinical.set_index("patient_id")
    hand = {
        ("Field Strength (Tesla)", "field_strength_t"): {0: 1.494, 1: 1.5, 2: 2.8936, 3: 3.0},
        ("Manufacturer", "manufacturer"): {0: "GE MEDICAL SYSTEMS", 1: "MPTronic software", 2: "SIEMENS"},
        ("ER", "er"): {0: "neg", 1: "pos"},
        ("HER2", "her2"): {0: "neg", 1: "pos", 2: "borderline"},
        ("Mol Subtype", "mol_subtype"): {0: "luminal-like", 1: "ER/PR pos, HER2 pos", 2: "her2", 3: "trip neg"},
        ("Race and Ethnicity", "race_ethnicity"): {1: "white", 2: "black", 3: "asian", 4: "native", 5: "hispanic",
                                                   6: "multi", 7: "hawa", 8: "amer indian"},
        ("Menopause (at diagnosis)", "menopause"): {0: "pre", 1: "post"},
        ("Definitive Surgery Type", "surgery_type"): {0: "BCS", 1: "mastectomy"},
        ("Tumor Location", "tumor_location"): {"L": "left", "R": "right"},
    }  # fmt: skip
    for (orig, snake), mapping in hand.items():
        expected = ref[orig].map(mapping)  # unmapped (N/A codes, NA, blank) -> NaN
        got = ours[snake].reindex(ref.index)
        assert (got.isna().to_numpy() == expected.isna().to_numpy()).all(), snake
        assert (got.dropna().astype(object) == expected.dropna()).all(), snake
    days = pd.to_numeric(ref["Days to MRI (From the Date of Diagnosis)"]).to_numpy()
    assert (ours["days_to_mri"].to_numpy(dtype=float) == days).all()


def test_real_missing_codes_become_na(real_clinical):
    df = real_clinical
    # hand counts from the raw file: menopause code 2 (N/A) 16; race code 0 (N/A) 19;
    # surgery type NA 7 + NP 36; tumour location blank 271
    na = {c: int(df[c].isna().sum()) for c in ("menopause", "race_ethnicity", "surgery_type", "tumor_location")}
    print("\nmissing:", na)
    assert na == {"menopause": 16, "race_ethnicity": 19, "surgery_type": 43, "tumor_location": 271}
    assert df["birads_data"].isna().all()
    for c in df.columns:  # no missing-code spelling survives as a value
        if df[c].dtype == "string":
            assert not df[c].dropna().str.upper().isin(["NA", "NC", "NP", "N/A"]).any(), c


def test_marginals_real(real_raw):
    m = clinical_marginals(real_raw)
    man = m[m["column"] == "manufacturer"].set_index("value")["count"].to_dict()
    assert man == {0: 628, 2: 294}
    sums = m.groupby("column")["frequency"].sum()
    assert np.allclose(sums.to_numpy(), 1.0) and len(sums) == 98
    packaged = load_clinical_marginals()
    assert packaged["n_patients"] == 922
    assert dict(map(tuple, packaged["columns"]["field_strength_t"]["values"])) == {1: 468, 3: 453, 2: 1}
    assert packaged["columns"]["image_position_patient"]["values"] == []  # unique per patient: pooled
    k = packaged["min_count"]
    for name in ("position", "mammo_calcifications", "us_margin"):
        vals = packaged["columns"][name]["values"]
        assert all(c >= k or not isinstance(v, str) or v.isdigit() for v, c in vals), name
    joint = packaged["joint"]["counts"]
    assert sum(row[-1] for row in joint) == 922
    # the packaged frequencies are those of the real table (regenerated by benchmarks/make_duke_clinical_data.py)
    assert json.dumps(packaged["columns"]["manufacturer"]["values"]) == json.dumps([[0, 628], [2, 294]])


def test_decode_accepts_snake_names(real_raw, real_clinical):
    renamed = real_raw.head(20).rename(columns=dict(zip(clinical_raw_columns(), CLINICAL_COLUMNS, strict=True)))
    pd.testing.assert_frame_equal(decode_clinical(renamed), real_clinical.head(20))


# ------------------------------------------------------------------ boxes and slice counts
BOX_HEADER = "Patient ID,Start Row,End Row,Start Column,End Column,Start Slice,End Slice\n"


def _write(tmp_path, text, name="Annotation_Boxes.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_boxes_synthetic_csv_and_xlsx(tmp_path):
    p = _write(tmp_path, BOX_HEADER + "A,10,20,30,40,5,9\nB,1,1,2,3,1,1\n")
    b = read_boxes(p)
    assert list(b.columns) == ["patient_id", "start_row", "end_row", "start_column", "end_column",
                               "start_slice", "end_slice"]  # fmt: skip
    assert b.iloc[0, 1:].tolist() == [10, 20, 30, 40, 5, 9] and b["patient_id"].tolist() == ["A", "B"]
    x = tmp_path / "Annotation_Boxes.xlsx"
    pd.read_csv(p).to_excel(x, index=False)
    pd.testing.assert_frame_equal(read_boxes(x), b)


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("A,10,20,30,40,9,5\n", r"'Start Slice' after 'End Slice' for A: 9 > 5"),
        ("A,10,20,30,40,0,5\n", r"patient A: column 'Start Slice' is '0'; expected a positive integer"),
        ("A,10,20.5,30,40,1,5\n", r"patient A: column 'End Row' is '20.5'"),
        ("A,10,x,30,40,1,5\n", r"patient A: column 'End Row' is 'x'"),
        ("A,10,20,30,40,1,5\nA,11,21,31,41,2,6\n", r"A listed more than once"),
        (",10,20,30,40,1,5\n", r"'Patient ID' is empty in line\(s\) \[2\]"),
    ],
)
def test_read_boxes_errors(tmp_path, body, pattern):
    p = _write(tmp_path, BOX_HEADER + body)
    with pytest.raises(BreastlabInputError, match=pattern) as err:
        read_boxes(p)
    assert str(p) in str(err.value)


def test_read_boxes_missing_column(tmp_path):
    p = _write(tmp_path, "Patient ID,Start Row,End Row,Start Column,End Column,Start Slice\nA,1,2,3,4,5\n")
    with pytest.raises(BreastlabInputError, match="missing column.*'End Slice'"):
        read_boxes(p)


def test_read_slice_counts_errors(tmp_path):
    ok = read_slice_counts(_write(tmp_path, "patient_id,series,n_slices,phase\nA,s1,10,pre\nA,s2,10,post1\n", "c.csv"))
    assert ok["n_slices"].tolist() == [10, 10]
    with pytest.raises(BreastlabInputError, match=r"A \(pre\)"):
        read_slice_counts(_write(tmp_path, "patient_id,series,n_slices,phase\nA,s,10,pre\nA,t,12,pre\n", "d.csv"))
    with pytest.raises(BreastlabInputError, match="patient A: column 'n_slices' is '0'"):
        read_slice_counts(_write(tmp_path, "patient_id,series,n_slices,phase\nA,s,0,pre\n", "e.csv"))
    with pytest.raises(BreastlabInputError, match="missing column.*phase"):
        read_slice_counts(_write(tmp_path, "patient_id,series,n_slices\nA,s,3\n", "f.csv"))


def test_empty_boxes_and_counts_files_are_refused(tmp_path):
    empty = tmp_path / "Annotation_Boxes.csv"
    empty.write_bytes(b"")
    with pytest.raises(BreastlabInputError, match=r"Annotation_Boxes\.csv: the boxes file is empty"):
        read_boxes(empty)
    with pytest.raises(BreastlabInputError, match=r"Annotation_Boxes\.csv: holds no boxes"):
        read_boxes(_write(tmp_path, BOX_HEADER, "Annotation_Boxes.csv"))
    counts = tmp_path / "slice_counts.csv"
    counts.write_bytes(b"\n")
    with pytest.raises(BreastlabInputError, match=r"slice_counts\.csv: the slice-count file is empty"):
        read_slice_counts(counts)
    with pytest.raises(BreastlabInputError, match=r"slice_counts\.csv: holds no slice counts"):
        read_slice_counts(_write(tmp_path, "patient_id,series,n_slices,phase\n", "slice_counts.csv"))


def test_boxes_and_counts_encodings(tmp_path):
    """UTF-8 with or without BOM is read; Latin-1 is refused naming the encoding (never guessed)."""
    body = BOX_HEADER + "Breast_MRI_001,1,2,3,4,5,6\n"
    path = tmp_path / "Annotation_Boxes.csv"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    assert read_boxes(path)["patient_id"].tolist() == ["Breast_MRI_001"]  # the BOM is not part of 'Patient ID'
    path.write_bytes(body.replace("Breast_MRI_001", "Breast_MRI_001\u00e9").encode("latin-1"))
    with pytest.raises(
        BreastlabInputError, match=r"Annotation_Boxes\.csv: .*not UTF-8 \(byte 0xE9 on line 2\).*Latin-1"
    ):
        read_boxes(path)
    counts = tmp_path / "slice_counts.csv"
    counts.write_bytes("patient_id,series,n_slices,phase\nA,s\u00e9,3,pre\n".encode("latin-1"))
    with pytest.raises(BreastlabInputError, match=r"slice_counts\.csv: .*Latin-1"):
        read_slice_counts(counts)


def test_export_out_that_is_a_file(tmp_path, capsys):
    out = tmp_path / "store"
    out.write_text("keep me")
    assert cli_main(["export", str(tmp_path), "--out", str(out)]) == 2  # refused before any table is read
    assert "not a folder" in capsys.readouterr().err
    assert out.read_text() == "keep me"


def test_real_boxes_and_counts(duke_dir, real_clinical):
    b = read_boxes(duke_dir / "Annotation_Boxes.csv")
    c = read_slice_counts(duke_dir / "slice_counts.csv")
    pre = c[c["phase"] == "pre"]
    print(f"\nboxes: {len(b)}; start slice {b.start_slice.min()}..{b.start_slice.max()}, "
          f"end slice {b.end_slice.min()}..{b.end_slice.max()}; counts: {len(c)} rows, {c.patient_id.nunique()} "
          f"patients; n_slices {pre.n_slices.min()}..{pre.n_slices.max()} median {pre.n_slices.median()} "
          f"mean {pre.n_slices.mean():.1f}")  # fmt: skip
    assert len(b) == 922 and set(b["patient_id"]) == set(real_clinical["patient_id"])
    assert (b.start_slice.min(), b.start_slice.max(), b.end_slice.min(), b.end_slice.max()) == (1, 174, 26, 196)
    assert len(c) == 1840 and c["patient_id"].nunique() == 920
    assert (pre.n_slices.min(), pre.n_slices.max(), pre.n_slices.median()) == (60, 256, 174)
    assert round(pre.n_slices.mean(), 1) == 170.5
    assert set(b["patient_id"]) - set(c["patient_id"]) == {"Breast_MRI_258", "Breast_MRI_282"}
    # slice_counts' n_xy was checked against the clinical Rows in the pack's README
    m = b.merge(pre, on="patient_id")
    assert len(m) == 920 and (m["end_slice"] <= m["n_slices"]).all()


# ------------------------------------------------------------------ slice labels
def _reference_labels(start, end, n, buffer):
    """Set arithmetic straight from the definition (1-based box -> 0-based slices)."""
    pos = set(range(start - 1, end))
    excluded = {i for i in range(n) if i not in pos and min(abs(i - p) for p in pos) <= buffer}
    return pos, set(range(n)) - pos - excluded


def test_label_slices_hand_computed():
    boxes = pd.DataFrame({"patient_id": ["A"], "start_slice": [8], "end_slice": [10]})
    out = label_slices(boxes, {"A": 20}, buffer=2)
    assert out.columns.tolist() == ["patient_id", "slice_index", "label"]
    assert out.loc[out.label == 1, "slice_index"].tolist() == [7, 8, 9]
    assert out.loc[out.label == 0, "slice_index"].tolist() == [0, 1, 2, 3, 4, 12, 13, 14, 15, 16, 17, 18, 19]
    # buffer clipped at the volume's ends; buffer 0 keeps every slice
    edge = label_slices(pd.DataFrame({"patient_id": ["B"], "start_slice": [1], "end_slice": [2]}), {"B": 6}, buffer=3)
    assert edge.label.tolist() == [1, 1, 0] and edge.slice_index.tolist() == [0, 1, 5]
    assert len(label_slices(boxes, {"A": 20}, buffer=0)) == 20


def test_label_slices_matches_reference_random():
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(1, 60))
        s = int(rng.integers(1, n + 1))
        e = int(rng.integers(s, n + 1))
        buf = int(rng.integers(0, 8))
        out = label_slices(pd.DataFrame({"patient_id": ["P"], "start_slice": [s], "end_slice": [e]}), {"P": n},
                           buffer=buf)  # fmt: skip
        pos, neg = _reference_labels(s, e, n, buf)
        assert set(out.loc[out.label == 1, "slice_index"]) == pos
        assert set(out.loc[out.label == 0, "slice_index"]) == neg


def test_label_slices_negative_sampling():
    boxes = pd.DataFrame({"patient_id": ["A", "B"], "start_slice": [20, 5], "end_slice": [24, 5]})
    counts = {"A": 60, "B": 40}
    match = label_slices(boxes, counts, negatives="match", seed=3)
    per = match.groupby(["patient_id", "label"]).size().to_dict()
    assert per == {("A", 0): 5, ("A", 1): 5, ("B", 0): 1, ("B", 1): 1}
    capped = label_slices(boxes, counts, negatives=4, seed=3)
    assert capped.groupby(["patient_id", "label"]).size().to_dict() == {("A", 0): 4, ("A", 1): 5, ("B", 0): 4,
                                                                         ("B", 1): 1}  # fmt: skip
    # reproducible, seed-dependent, and a patient's draw does not depend on the other patients
    pd.testing.assert_frame_equal(match, label_slices(boxes, counts, negatives="match", seed=3))
    assert not match.equals(label_slices(boxes, counts, negatives="match", seed=4))
    alone = label_slices(boxes.iloc[[0]], {"A": 60}, negatives="match", seed=3)
    pd.testing.assert_frame_equal(alone, match[match.patient_id == "A"].reset_index(drop=True))
    _, neg = _reference_labels(20, 24, 60, 5)
    assert set(match.loc[(match.patient_id == "A") & (match.label == 0), "slice_index"]) <= neg
    assert len(label_slices(boxes, counts, negatives=1000)) == len(label_slices(boxes, counts))


def test_label_slices_errors_and_problems():
    boxes = pd.DataFrame({"patient_id": ["A", "B"], "start_slice": [3, 3], "end_slice": [9, 4]})
    with pytest.raises(BreastlabInputError, match=r"patient A: box 'End Slice' 9 is beyond the volume's 8 slices"):
        label_slices(boxes, {"A": 8, "B": 10})
    log = ProblemLog()
    out = label_slices(boxes, {"B": 10}, problems=log)
    assert set(out.patient_id) == {"B"}
    assert [p.item for p in log.problems] == ["A"] and "not countable" in log.problems[0].message
    with pytest.warns(UserWarning, match="not countable.*A"):
        label_slices(boxes, {"B": 10})
    empty = label_slices(boxes, {}, problems=ProblemLog())
    assert empty.empty and empty.columns.tolist() == ["patient_id", "slice_index", "label"]
    for kwargs, pattern in (({"buffer": -1}, "buffer"), ({"negatives": "some"}, "negatives"),
                            ({"negatives": -2}, "negatives")):  # fmt: skip
        with pytest.raises(BreastlabInputError, match=pattern):
            label_slices(boxes, {"A": 10, "B": 10}, **kwargs)


def test_real_labels(duke_dir):
    slices, problems = real_slice_table(duke_dir, buffer=5, negatives="match")
    per = slices.groupby("label").size().to_dict()
    bad = problems.to_frame()
    print(
        f"\nreal slice table: {len(slices)} slices, {slices.patient_id.nunique()} patients, labels {per}; "
        f"not labelled: {bad['item'].tolist()}"
    )
    assert set(bad["item"]) == {"Breast_MRI_258", "Breast_MRI_282"}
    assert bad["message"].str.contains("not countable").all()
    assert slices["patient_id"].nunique() == 920
    assert (slices["slice_index"] < slices["n_slices"]).all() and (slices["end_slice"] <= slices["n_slices"]).all()
    # tumour slices = sum over patients of the box slice range (independent from the boxes file)
    b = read_boxes(duke_dir / "Annotation_Boxes.csv")
    b = b[~b.patient_id.isin(["Breast_MRI_258", "Breast_MRI_282"])]
    assert per[1] == int((b.end_slice - b.start_slice + 1).sum())
    pos = slices[slices.label == 1]
    assert ((pos.slice_index + 1 >= pos.start_slice) & (pos.slice_index + 1 <= pos.end_slice)).all()
    assert {"field_strength_t", "manufacturer", "series"} <= set(slices.columns)


def test_real_slice_table_patient_mismatch(tmp_path, duke_dir):
    write_clinical_xlsx(_small_raw(), tmp_path / CLINICAL)
    (tmp_path / "Annotation_Boxes.csv").write_text(BOX_HEADER + "P_1,1,2,1,2,1,2\nP_2,1,2,1,2,1,2\nP_9,1,2,1,2,1,2\n")
    (tmp_path / "slice_counts.csv").write_text("patient_id,series,n_slices,phase\nP_1,s,5,pre\n")
    with pytest.raises(BreastlabInputError) as err:
        real_slice_table(tmp_path)
    msg = str(err.value)
    assert "P_9" in msg and "Annotation_Boxes.csv but not in" in msg and "P_3" in msg


# ------------------------------------------------------------------ CLI
def test_cli_duke(tmp_path, duke_dir, capsys):
    out = tmp_path / "clinical.csv"
    assert cli_main(["duke", "clinical", str(duke_dir / CLINICAL), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "SIEMENS" in text and "294" in text
    assert pd.read_csv(out).shape == (922, 98)
    lab = tmp_path / "lab" / "labels.csv"
    rc = cli_main(["duke", "labels", "--boxes", str(duke_dir / "Annotation_Boxes.csv"), "--counts",
                   str(duke_dir / "slice_counts.csv"), "--negatives", "3", "--out", str(lab)])  # fmt: skip
    assert rc == 0 and "Breast_MRI_258" in capsys.readouterr().out
    labels = pd.read_csv(lab)
    assert labels[labels.label == 0].groupby("patient_id").size().max() == 3
    assert pd.read_csv(lab.with_name("problems.csv"))["item"].tolist() == ["Breast_MRI_258", "Breast_MRI_282"]
    assert cli_main(["duke", "clinical", str(tmp_path / "nope.xlsx")]) == 2
