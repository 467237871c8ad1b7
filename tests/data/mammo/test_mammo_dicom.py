"""The DICOM fast path of both mammogram readers against pydicom's own decoding of the same files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless, generate_uid

from breastlab.data.mammo import dicom as md
from breastlab.errors import BreastlabInputError

DIGITAL_MAMMOGRAPHY = "1.2.840.10008.5.1.4.1.1.1.2"


def _dicom(
    pixels: np.ndarray,
    bits_allocated: int,
    bits_stored: int,
    signed: bool,
    syntax=ExplicitVRLittleEndian,
    high_bit: int | None = None,
    **header,
) -> bytes:
    """One uncompressed grey frame; ``pixels`` are written as raw words (high bits as given)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = DIGITAL_MAMMOGRAPHY
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = DIGITAL_MAMMOGRAPHY
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = header.pop("PhotometricInterpretation", "MONOCHROME2")
    ds.BitsAllocated, ds.BitsStored = bits_allocated, bits_stored
    ds.HighBit = bits_stored - 1 if high_bit is None else high_bit
    ds.PixelRepresentation = int(signed)
    ds.ImagerPixelSpacing = [0.1, 0.1]
    for key, value in header.items():
        setattr(ds, key, value)
    word = "<u2" if bits_allocated == 16 else np.uint8
    ds.PixelData = pixels.astype(word).tobytes()
    out = io.BytesIO()
    ds.save_as(out, implicit_vr=syntax == ImplicitVRLittleEndian, little_endian=True, enforce_file_format=True)
    return out.getvalue()


def _words(bits: int, rows: int = 7, cols: int = 9, seed: int = 0) -> np.ndarray:
    """Raw words with every bit pattern likely, including set bits above BitsStored (overlays in old files)."""
    return np.random.default_rng(seed).integers(0, 1 << bits, (rows, cols), dtype=np.int64)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize(
    ("bits_allocated", "bits_stored", "signed"),
    [(16, 16, False), (16, 12, False), (16, 14, False), (16, 16, True), (16, 12, True), (8, 8, False), (8, 6, False),
     (8, 8, True), (8, 5, True)],
)  # fmt: skip
def test_fast_pixels_equal_pydicom(syntax, bits_allocated: int, bits_stored: int, signed: bool) -> None:
    raw = _dicom(_words(bits_allocated), bits_allocated, bits_stored, signed, syntax)
    header = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
    fast = md._fast_pixels(raw, header)
    assert fast is not None, "the fast path should apply to this file"
    reference = pydicom.dcmread(io.BytesIO(raw)).pixel_array
    assert fast.dtype.kind == reference.dtype.kind
    np.testing.assert_array_equal(fast.astype(np.int64), reference.astype(np.int64))


def test_fast_path_declines_unusual_high_bit_and_compressed_files(tmp_path: Path) -> None:
    odd = _dicom(_words(16), 16, 12, False, high_bit=15)
    assert md._fast_pixels(odd, pydicom.dcmread(io.BytesIO(odd), stop_before_pixels=True)) is None
    ds = pydicom.dcmread(io.BytesIO(_dicom(_words(12), 16, 12, False)))
    ds.compress(RLELossless)
    path = tmp_path / "rle.dcm"
    ds.save_as(path)
    assert md._fast_pixels(path.read_bytes(), pydicom.dcmread(path, stop_before_pixels=True)) is None
    np.testing.assert_array_equal(md.read_mammogram(path).pixels, pydicom.dcmread(path).pixel_array)


@pytest.mark.parametrize(
    "header",
    [
        {"PhotometricInterpretation": "MONOCHROME1"},
        {"WindowCenter": 1800, "WindowWidth": 2400},
        {"RescaleSlope": 2, "RescaleIntercept": -100},
        {"PhotometricInterpretation": "MONOCHROME1", "WindowCenter": 2000, "WindowWidth": 3000,
         "VOILUTFunction": "SIGMOID"},
    ],
)  # fmt: skip
def test_display_reader_equals_the_full_pydicom_decode(tmp_path: Path, header: dict) -> None:
    path = tmp_path / "image"  # exports often drop ".dcm"
    path.write_bytes(_dicom(_words(16), 16, 12, False, **header))
    full = pydicom.dcmread(path)
    expected = md.to_display(full.pixel_array, full)
    got = md.read_display_mammogram(path)
    np.testing.assert_array_equal(got.pixels, expected)
    assert got.spacing == (0.1, 0.1)
    assert got.meta["photometric"] == header.get("PhotometricInterpretation", "MONOCHROME2")


def test_stored_reader_clears_overlay_bits_before_inverting_monochrome1(tmp_path: Path) -> None:
    words = _words(16)
    path = tmp_path / "m1.dcm"
    path.write_bytes(_dicom(words, 16, 12, False, PhotometricInterpretation="MONOCHROME1"))
    np.testing.assert_array_equal(md.read_mammogram(path).pixels, 4095 - (words & 4095))


@pytest.mark.parametrize("reader", [md.read_mammogram, md.read_display_mammogram])
def test_unreadable_files_are_named_without_their_folder(tmp_path: Path, reader) -> None:
    folder = tmp_path / "private-folder"
    folder.mkdir()
    with pytest.raises(BreastlabInputError, match=r"^gone\.dcm: file not found") as missing:
        reader(folder / "gone.dcm")
    cut = folder / "cut.dcm"
    cut.write_bytes(_dicom(_words(16), 16, 16, False)[:-100])
    with pytest.raises(BreastlabInputError, match=r"^cut\.dcm: not a readable DICOM image") as broken:
        reader(cut)
    assert "private-folder" not in str(missing.value) + str(broken.value)
