"""Your own MRI cohort in the forms hospitals export: compressed transfer syntaxes, single multi-frame
files, DICOM SEG masks, the MIP store, and inputs that must go to problems.csv."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import (
    MPEG4HP41,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from breastlab.cli import main
from breastlab.data.cohort_import import import_mri
from breastlab.data.cohort_masks import read_seg_mask
from breastlab.data.cohort_scan import BOX_COLUMNS, scan_mri_tree
from breastlab.data.duke.boxes import read_boxes
from breastlab.data.duke.dicom import COLLECTION, index_dicom_tree, read_series
from breastlab.data.export import SLICE_COLUMNS, export_slices
from breastlab.data.mri_volumes import read_multiframe_slices
from breastlab.data.phantom import make_mri_cohort, plan_mri_cohort, tumour_mask
from breastlab.data.store import ArrayStore
from breastlab.problems import ProblemLog

N_PATIENTS, N_SLICES, MATRIX, SEED, SIZE = 3, 16, 64, 0, 32


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantom") / "cohort"
    make_mri_cohort(out, N_PATIENTS, seed=SEED, n_slices=N_SLICES, matrix=MATRIX, n_post=2, progress=False)
    return out


@pytest.fixture(scope="module")
def export_store(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> ArrayStore:
    return export_slices(cohort, tmp_path_factory.mktemp("export") / "store", size=SIZE, workers=1, progress=False)


def _series(cohort: Path, patient_id: str, phase: str = "pre") -> Path:
    index = index_dicom_tree(cohort)
    return Path(index[(index["patient_id"] == patient_id) & (index["sequence"] == phase)]["path"].iloc[0])


def _flat(cohort: Path, root: Path) -> list[str]:
    """Every patient's files renamed (no .dcm) into one flat folder per patient; returns the patient ids."""
    ids = []
    for k, patient in enumerate(sorted((cohort / COLLECTION).iterdir())):
        (root / f"subject{k}").mkdir(parents=True)
        for j, f in enumerate(sorted(patient.rglob("*.dcm"))):
            shutil.copyfile(f, root / f"subject{k}" / f"IM{j:05d}")
        ids.append(patient.name)
    return ids


def _table(root: Path, cohort: Path, path: Path) -> pd.DataFrame:
    boxes = read_boxes(cohort / "Annotation_Boxes.csv").set_index("patient_id")
    table = scan_mri_tree(root).sort_values("patient_id").reset_index(drop=True)
    for c in BOX_COLUMNS:
        table[c] = table["patient_id"].map(boxes[c])
    table.to_csv(path, index=False)
    return table


def _import(table: Path, root: Path, out: Path) -> ArrayStore:
    return import_mri(table, root, out, size=SIZE, workers=1, progress=False)


# ---------------------------------------------------------------------------- compressed transfer syntaxes
def jpeg_lossless(image: np.ndarray, precision: int) -> bytes:
    """A lossless JPEG (ITU-T T.81 process 14, selection value 1: predict from the left neighbour, from
    above in the first column) of one grey image: one Huffman table giving each of the 17 difference
    categories a 5-bit code. pydicom has no encoder for it; libjpeg (pylibjpeg) decodes it independently."""
    x = image.astype(np.int64)
    pred = np.empty_like(x)
    pred[0, 0] = 1 << (precision - 1)
    pred[0, 1:] = x[0, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[1:, 1:] = x[1:, :-1]
    diff = (x - pred) & 0xFFFF
    diff = np.where(diff >= 0x8000, diff - 0x10000, diff).ravel()
    codes = []
    for v in diff.tolist():
        category = 16 if v == -32768 else abs(v).bit_length()
        code = format(category, "05b")
        if 0 < category < 16:  # the low bits of the difference (of difference - 1 when negative)
            code += format((v if v > 0 else v - 1) & ((1 << category) - 1), f"0{category}b")
        codes.append(code)
    bits = "".join(codes)
    bits += "1" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big").replace(b"\xff", b"\xff\x00")
    rows, cols = image.shape

    def segment(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body

    frame = bytes([precision]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + bytes([1, 1, 0x11, 0])
    huffman = bytes([0x00, 0, 0, 0, 0, 17, *[0] * 11, *range(17)])
    scan = bytes([1, 1, 0x00, 1, 0, 0])
    return b"\xff\xd8" + segment(0xC3, frame) + segment(0xC4, huffman) + segment(0xDA, scan) + data + b"\xff\xd9"


def _encapsulate(ds: pydicom.Dataset, frames: list[bytes], syntax: str) -> None:
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = syntax


SYNTAXES = (RLELossless, JPEGLSLossless, JPEG2000Lossless, JPEGLosslessSV1)


def _compress(path: Path, syntax: str) -> None:
    ds = pydicom.dcmread(path)
    if syntax == JPEGLosslessSV1:
        _encapsulate(ds, [jpeg_lossless(ds.pixel_array, int(ds.BitsStored))], syntax)
    else:
        ds.compress(syntax)  # pydicom's RLE encoder, pyjpegls, pylibjpeg-openjpeg
    ds.save_as(path, enforce_file_format=True)


def test_compressed_series_import_to_the_uncompressed_pixels(
    cohort: Path, export_store: ArrayStore, tmp_path: Path
) -> None:
    """Slice k of every series stored in syntax k mod 4 (RLE, JPEG-LS, JPEG 2000, JPEG lossless): the scan
    finds the same table as for the uncompressed files, the store holds export's pixels."""
    root = tmp_path / "pacs"
    _flat(cohort, root)
    plain = scan_mri_tree(root)
    files = sorted(root.rglob("IM*"))
    for k, f in enumerate(files):
        _compress(f, SYNTAXES[k % len(SYNTAXES)])
    used = {str(pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID) for f in files}
    assert used == set(SYNTAXES)
    problems = ProblemLog()
    pd.testing.assert_frame_equal(scan_mri_tree(root, problems), plain)
    assert len(problems) == 0
    _table(root, cohort, tmp_path / "cohort.csv")
    store = _import(tmp_path / "cohort.csv", root, tmp_path / "store")
    np.testing.assert_array_equal(store.images, export_store.images)
    pd.testing.assert_series_equal(store.manifest["label"], export_store.manifest["label"])


def test_a_syntax_without_decoder_is_a_problem_row_naming_file_and_syntax(cohort: Path, tmp_path: Path) -> None:
    root = tmp_path / "pacs"
    ids = _flat(cohort, root)
    table = _table(root, cohort, tmp_path / "cohort.csv")
    victim = root / table.at[0, "pre"].split(";")[3]
    ds = pydicom.dcmread(victim)
    _encapsulate(ds, [b"\x00\x00\x01\xb3" + bytes(60)], MPEG4HP41)  # a video syntax: no pixel decoder exists
    ds.save_as(victim, enforce_file_format=True)
    store = _import(tmp_path / "cohort.csv", root, tmp_path / "store")
    assert sorted(store.manifest["patient_id"].unique()) == ids[1:]  # the others go on
    problems = pd.read_csv(tmp_path / "store" / "problems.csv")
    assert problems["item"].tolist() == [ids[0]]
    message = problems["message"].iloc[0]
    assert "row 1" in message and victim.name in message and "MPEG-4" in message and "decode" in message
    assert "Traceback" not in message and str(root) not in message


# ---------------------------------------------------------------------------- one multi-frame file
def _multiframe(series: Path, out: Path, per_frame_positions: bool = True, shuffle: int = 0) -> None:
    """A series of single-frame files as one multi-frame file: frames in a shuffled order, each placed by
    its PerFrameFunctionalGroupsSequence PlanePositionSequence (enhanced MR's layout), or without
    per-frame positions (ImagePositionPatient of the first frame and SpacingBetweenSlices)."""
    datasets = sorted(
        (pydicom.dcmread(f) for f in series.glob("*.dcm")), key=lambda d: float(d.ImagePositionPatient[2])
    )
    if per_frame_positions:
        order = np.random.default_rng(shuffle).permutation(len(datasets))
        datasets = [datasets[i] for i in order]
    pixels = np.stack([d.pixel_array for d in datasets]).astype(np.uint16)
    ds = copy.deepcopy(datasets[0])
    ds.NumberOfFrames = len(datasets)
    ds.PixelData = pixels.tobytes()
    ds.SOPInstanceUID = generate_uid()
    if per_frame_positions:
        shared = pydicom.Dataset()
        orientation, measures = pydicom.Dataset(), pydicom.Dataset()
        orientation.ImageOrientationPatient = ds.ImageOrientationPatient
        measures.PixelSpacing, measures.SliceThickness = ds.PixelSpacing, ds.SliceThickness
        shared.PlaneOrientationSequence = [orientation]
        shared.PixelMeasuresSequence = [measures]
        ds.SharedFunctionalGroupsSequence = [shared]
        frames = []
        for d in datasets:
            item, plane = pydicom.Dataset(), pydicom.Dataset()
            plane.ImagePositionPatient = d.ImagePositionPatient
            item.PlanePositionSequence = [plane]
            frames.append(item)
        ds.PerFrameFunctionalGroupsSequence = frames
        for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceLocation"):
            if keyword in ds:
                del ds[keyword]
    ds.save_as(out, enforce_file_format=True)


def test_multiframe_phase_imports_to_the_series_pixels(cohort: Path, export_store: ArrayStore, tmp_path: Path) -> None:
    """Patient 1's pre-contrast series as one enhanced-style multi-frame file (frames shuffled, placed by
    PlanePositionSequence) in a folder of its own, patient 2's as a legacy multi-frame file among its other
    series' files: the scan finds both, the store equals export's."""
    root = tmp_path / "pacs"
    ids = _flat(cohort, root)
    for k in (1, 2):
        for f in (root / f"subject{k}").iterdir():
            if (
                pydicom.dcmread(f, stop_before_pixels=True).SeriesDescription
                == pydicom.dcmread(
                    next(_series(cohort, ids[k]).glob("*.dcm")), stop_before_pixels=True
                ).SeriesDescription
            ):
                f.unlink()
    (root / "subject1" / "pre").mkdir()
    _multiframe(_series(cohort, ids[1]), root / "subject1" / "pre" / "enhanced", shuffle=1)
    _multiframe(_series(cohort, ids[2]), root / "subject2" / "multiframe", per_frame_positions=False)
    reference = read_series(_series(cohort, ids[1]))
    slices, volume = read_multiframe_slices(root / "subject1" / "pre" / "enhanced")
    np.testing.assert_array_equal(np.stack([s.rescaled() for s in slices]), reference.array)
    np.testing.assert_allclose(volume.positions, reference.positions)
    assert volume.spacing == pytest.approx(reference.spacing)
    table = _table(root, cohort, tmp_path / "cohort.csv")
    assert table.loc[1, "pre"] == "subject1/pre" and table.loc[2, "pre"] == "subject2/multiframe"
    assert (table["n_slices"] == N_SLICES).all() and (table["phase_rule"] == "series description").all()
    store = _import(tmp_path / "cohort.csv", root, tmp_path / "store")
    np.testing.assert_array_equal(store.images, export_store.images)
    same = [c for c in SLICE_COLUMNS if c != "series"]
    pd.testing.assert_frame_equal(store.manifest[same], export_store.manifest[same])


# ---------------------------------------------------------------------------- DICOM SEG masks
def test_labels_from_a_dicom_seg_equal_the_phantom_boxes(
    cohort: Path, export_store: ArrayStore, tmp_path: Path, write_seg: Callable
) -> None:
    """Patient 2 labelled by a DICOM SEG of the phantom's tumour mask over its pre-contrast series: the
    slice labels and boxes equal the phantom's truth (export's store); a SEG off the image's grid, and a
    DICOM file that is no SEG, go to problems.csv naming the row and file."""
    root = tmp_path / "pacs"
    ids = _flat(cohort, root)
    table = _table(root, cohort, tmp_path / "cohort.csv")
    plan = {
        p.patient_id: p for p in plan_mri_cohort(N_PATIENTS, SEED, n_slices=N_SLICES, matrix=MATRIX, n_post=2).patients
    }
    sources = sorted((pydicom.dcmread(root / f) for f in table.at[2, "pre"].split(";")),
                     key=lambda d: float(d.ImagePositionPatient[2]))  # fmt: skip
    mask = tumour_mask(plan[ids[2]])
    before = scan_mri_tree(root)
    write_seg(sources, mask, root / "seg.dcm")
    problems = ProblemLog()  # the scan leaves the SEG out of the series and says where it belongs
    pd.testing.assert_frame_equal(scan_mri_tree(root, problems), before)
    assert problems.to_frame()["item"].tolist() == ["seg.dcm"] and "mask column" in problems.to_frame()["message"][0]
    np.testing.assert_array_equal(
        read_seg_mask(root / "seg.dcm", root / "subject2", [Path(f).name for f in table.at[2, "pre"].split(";")]), mask
    )
    table = table.astype({c: "object" for c in BOX_COLUMNS}).assign(mask="")
    table.loc[2, ["mask", *BOX_COLUMNS]] = ["seg.dcm", *[""] * 6]
    table.to_csv(tmp_path / "seg.csv", index=False)
    store = _import(tmp_path / "seg.csv", root, tmp_path / "store")
    np.testing.assert_array_equal(store.images, export_store.images)
    same = [c for c in SLICE_COLUMNS if c != "series"]
    pd.testing.assert_frame_equal(store.manifest[same], export_store.manifest[same])
    pd.testing.assert_frame_equal(store.findings, export_store.findings)
    # the same SEG over sources shifted by half a slice: its frames lie between the image's slices
    shifted = [copy.deepcopy(d) for d in sources]
    for d in shifted:
        d.ImagePositionPatient = [*d.ImagePositionPatient[:2], float(d.ImagePositionPatient[2]) + 0.5 * float(
            d.SpacingBetweenSlices)]  # fmt: skip
    write_seg(shifted, mask, root / "shifted.dcm")
    table.loc[2, "mask"] = "shifted.dcm"
    table.loc[1, ["mask", *BOX_COLUMNS]] = [table.at[1, "pre"].split(";")[0], *[""] * 6]  # an MR image, not a SEG
    table.to_csv(tmp_path / "bad.csv", index=False)
    store = _import(tmp_path / "bad.csv", root, tmp_path / "s2")
    assert store.manifest["patient_id"].unique().tolist() == [ids[0]]
    problems = pd.read_csv(tmp_path / "s2" / "problems.csv").set_index("item")["message"]
    assert "row 3" in problems[ids[2]] and "shifted.dcm" in problems[ids[2]] and "lies on no slice" in problems[ids[2]]
    assert "row 2" in problems[ids[1]] and "not a segmentation" in problems[ids[1]]


# ---------------------------------------------------------------------------- the MIP store
def test_import_mip_equals_the_duke_mip_store_and_refuses_phases_of_different_geometry(
    cohort: Path, tmp_path: Path
) -> None:
    """``import mri --mip`` on the flat phantom (the clinical table's tumour side columns added to the
    cohort table) gives the images, labels and boxes of ``anomaly mip`` on the Duke layout; a patient
    whose post1 phase lacks two slices goes to the MIP store's problems.csv naming its row."""
    from breastlab.data.duke.clinical import read_clinical
    from breastlab.data.mip import MipSettings, build_mip_store

    root = tmp_path / "pacs"
    ids = _flat(cohort, root)
    table = _table(root, cohort, tmp_path / "cohort.csv")
    clinical = read_clinical(cohort / "Clinical_and_Other_Features.xlsx").set_index("patient_id")
    for c in ("tumor_location", "bilateral", "contralateral_involvement"):
        table[c] = table["patient_id"].map(clinical[c])
    table.to_csv(tmp_path / "cohort.csv", index=False)
    argv = ["import", "mri", str(tmp_path / "cohort.csv"), "--root", str(root), "--out", str(tmp_path / "store"),
            "--size", str(SIZE), "--workers", "1", "--mip", "--mip-size", "64"]  # fmt: skip
    assert main(argv) == 0
    mips = ArrayStore(tmp_path / "store_mip")
    duke, _ = build_mip_store(cohort, tmp_path / "duke_mip", MipSettings(size=64), progress=False)
    assert len(duke) > 0
    assert mips.meta["generator"] == "breastlab.data.mip.build_mip_store_from_exams"
    assert duke.meta["generator"] == "breastlab.data.mip.build_mip_store"
    np.testing.assert_array_equal(mips.images, duke.images)
    cols = ["image_id", "patient_id", "side", "label", "has_box", "mip_scale", "midline_col", "chest_row"]
    pd.testing.assert_frame_equal(mips.manifest[cols], duke.manifest[cols])
    pd.testing.assert_frame_equal(mips.findings, duke.findings)
    assert (mips.manifest["tumor_location"].astype(str) == duke.manifest["tumor_location"].astype(str)).all()
    # phases of different geometry: one patient's post1 two slices short
    kept = sorted(set(duke.manifest["patient_id"]))
    k = ids.index(kept[0])
    table.at[k, "post1"] = ";".join(table.at[k, "post1"].split(";")[:-2])
    table.to_csv(tmp_path / "short.csv", index=False)
    argv[2], argv[6] = str(tmp_path / "short.csv"), str(tmp_path / "s2")
    assert main(argv) == 0
    mips = ArrayStore(tmp_path / "s2_mip")
    assert set(mips.manifest["patient_id"]) == set(kept) - {kept[0]}
    problems = pd.read_csv(tmp_path / "s2_mip" / "problems.csv")
    message = problems.loc[problems["item"] == kept[0], "message"].iloc[0]
    assert f"row {k + 1}" in message and "same geometry" in message and f"({N_SLICES}, " in message


# ---------------------------------------------------------------------------- bad series
def test_series_with_mixed_orientations_or_matrix_sizes_go_to_problems(cohort: Path, tmp_path: Path) -> None:
    """Row 1: one file of the series turned 90 degrees in plane; row 2: one file with a smaller matrix.
    Both rows go to problems.csv naming the row, the file and what differs; row 3 is stored."""
    root = tmp_path / "pacs"
    ids = _flat(cohort, root)
    table = _table(root, cohort, tmp_path / "cohort.csv")
    turned = root / table.at[0, "pre"].split(";")[5]
    ds = pydicom.dcmread(turned)
    ds.ImageOrientationPatient = [0, 1, 0, -1, 0, 0]
    ds.save_as(turned, enforce_file_format=True)
    small = root / table.at[1, "pre"].split(";")[7]
    ds = pydicom.dcmread(small)
    ds.PixelData = ds.pixel_array[::2, ::2].copy().tobytes()
    ds.Rows, ds.Columns = ds.Rows // 2, ds.Columns // 2
    ds.save_as(small, enforce_file_format=True)
    store = _import(tmp_path / "cohort.csv", root, tmp_path / "store")
    assert store.manifest["patient_id"].unique().tolist() == [ids[2]]
    problems = pd.read_csv(tmp_path / "store" / "problems.csv").set_index("item")["message"]
    assert "row 1" in problems[ids[0]] and "mixed orientations" in problems[ids[0]] and turned.name in problems[ids[0]]
    assert "row 2" in problems[ids[1]] and "mixed matrix sizes" in problems[ids[1]] and small.name in problems[ids[1]]
    assert str(root) not in problems.to_csv()


def test_multiframe_without_positions_or_single_frame_is_refused(cohort: Path, tmp_path: Path) -> None:
    from breastlab.errors import BreastlabInputError

    series = _series(cohort, "Breast_MRI_001")
    _multiframe(series, tmp_path / "legacy", per_frame_positions=False)
    ds = pydicom.dcmread(tmp_path / "legacy")
    del ds.SpacingBetweenSlices, ds.SliceThickness
    ds.save_as(tmp_path / "unplaced", enforce_file_format=True)
    with pytest.raises(BreastlabInputError, match=r"unplaced: \d+ frames without PlanePositionSequence"):
        read_multiframe_slices(tmp_path / "unplaced")
    with pytest.raises(BreastlabInputError, match="not a multi-frame image"):
        read_multiframe_slices(next(series.glob("*.dcm")))
