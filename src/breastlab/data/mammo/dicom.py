"""Read one mammogram (DICOM or PGM) as 16-bit pixels plus the pixel spacing.

Pixel values are returned as ``uint16`` in MONOCHROME2 sense (bright = dense tissue):
a MONOCHROME1 image is inverted as ``(2**BitsStored - 1) - v``. Rescale slope and
intercept are not applied (for-presentation mammograms have slope 1, intercept 0) so
the values stay 16-bit integers until the grey-level mapping.

Pixel spacing (mm, ``(row, column)``) comes from ``PixelSpacing`` and, when that is
absent (common for mammograms, which describe the detector), from
``ImagerPixelSpacing``; ``spacing`` is ``None`` when neither is present.

Fast path (both readers): for uncompressed little-endian files whose last element is the
pixel data (the normal layout), the pixels are taken straight from the file bytes with
``numpy.frombuffer`` after pydicom has parsed the header only, with pydicom's handling of
the bits above ``BitsStored``; any other file goes through ``pydicom``'s ``pixel_array``.
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from breastlab.data.duke.dicom import stored_bits
from breastlab.errors import BreastlabInputError


@dataclasses.dataclass
class Mammogram:
    pixels: np.ndarray  # (rows, columns) uint16, bright = dense
    spacing: tuple[float, float] | None  # mm per pixel (row, column)
    spacing_tag: str  # "PixelSpacing", "ImagerPixelSpacing" or ""
    meta: dict  # laterality, view, manufacturer, photometric, bits_stored, ...


def read_spacing(
    ds: pydicom.Dataset, order: tuple[str, ...] = ("PixelSpacing", "ImagerPixelSpacing")
) -> tuple[tuple[float, float] | None, str]:
    """``(spacing, tag)`` from the first tag of ``order`` holding two positive values; ``(None, "")`` if none does."""
    for tag in order:
        value = ds.get(tag)
        if value is not None and len(value) == 2:
            try:
                row, col = float(value[0]), float(value[1])
            except (TypeError, ValueError):
                continue
            if row > 0 and col > 0:
                return (row, col), tag
    return None, ""


def _meta(ds: pydicom.Dataset) -> dict:
    return {
        "laterality": str(ds.get("ImageLaterality", ds.get("Laterality", "")) or ""),
        "view": str(ds.get("ViewPosition", "") or ""),
        "manufacturer": str(ds.get("Manufacturer", "") or ""),
        "photometric": str(ds.get("PhotometricInterpretation", "MONOCHROME2")),
        "bits_stored": int(ds.get("BitsStored", 16) or 16),
        "rows": int(ds.get("Rows", 0) or 0),
        "columns": int(ds.get("Columns", 0) or 0),
        "series_uid": str(ds.get("SeriesInstanceUID", "") or ""),
    }


def _name(path: str | os.PathLike) -> str:
    """How messages name a file: its name only. Messages go to problems.csv, which users share,
    and the folders of a mammogram are named by DICOM UIDs; the caller names the image."""
    return Path(path).name


def _no_path(exc: BaseException, path: str | os.PathLike) -> str:
    return str(exc).replace(os.fspath(path), _name(path))


def read_header(path: str | os.PathLike) -> tuple[dict, tuple[float, float] | None, str]:
    """``(meta, spacing, spacing_tag)`` of a DICOM file without reading its pixels."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure is bad input
        raise BreastlabInputError(
            f"{_name(path)}: not a readable DICOM file ({type(exc).__name__}: {_no_path(exc, path)})"
        ) from None
    spacing, tag = read_spacing(ds)
    return _meta(ds), spacing, tag


def _fast_pixels(raw: bytes, ds: pydicom.Dataset) -> np.ndarray | None:
    """The pixels of an uncompressed little-endian single frame straight from the file bytes, or None.

    None (the caller decodes with pydicom) unless the pixel data element ends the file, one
    sample of 8 or 16 bits per pixel, and ``HighBit`` = ``BitsStored`` - 1. The values are
    pydicom's (:func:`~breastlab.data.duke.dicom.stored_bits`): bits above ``BitsStored``
    (overlays in old files) cleared, signed values sign-extended from ``BitsStored``.
    """
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        return None
    rows, cols = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    bits = int(ds.get("BitsAllocated", 0))
    if bits not in (8, 16) or int(ds.get("SamplesPerPixel", 1)) != 1 or int(ds.get("NumberOfFrames", 1) or 1) != 1:
        return None
    stored = int(ds.get("BitsStored", bits) or bits)
    if not 1 <= stored <= bits or int(ds.get("HighBit", stored - 1)) != stored - 1:
        return None
    n = rows * cols * bits // 8
    header = raw[: len(raw) - n - (n % 2 if bits == 8 else 0)]
    # the pixel data element must end the file: tag (7FE0,0010) followed by its length n
    explicit = syntax == ExplicitVRLittleEndian
    if explicit:
        tail = header[-12:]
        if len(tail) < 12 or tail[:4] != b"\xe0\x7f\x10\x00" or struct.unpack("<I", tail[8:12])[0] != n + (n % 2):
            return None
    else:
        tail = header[-8:]
        if len(tail) < 8 or tail[:4] != b"\xe0\x7f\x10\x00" or struct.unpack("<I", tail[4:8])[0] != n + (n % 2):
            return None
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    dtype = {(16, False): "<u2", (16, True): "<i2", (8, False): np.uint8, (8, True): np.int8}[bits, signed]
    pixels = np.frombuffer(raw, dtype=dtype, count=rows * cols, offset=len(header)).reshape(rows, cols)
    return stored_bits(pixels, stored)


def _stored_pixels(path: Path) -> tuple[pydicom.Dataset, np.ndarray]:
    """``(header, stored pixel values)`` of a DICOM file: :func:`_fast_pixels` where it applies, else
    pydicom's ``pixel_array`` (compressed syntaxes through the pinned plug-ins). Raises
    :class:`BreastlabInputError` naming the file (its name only) when it cannot be read or decoded."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BreastlabInputError(f"{_name(path)}: file not found") from None
    except OSError as exc:
        raise BreastlabInputError(f"{_name(path)}: cannot read the file ({exc.strerror})") from None
    try:
        ds = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
        pixels = _fast_pixels(raw, ds)
        if pixels is None:
            full = pydicom.dcmread(io.BytesIO(raw))
            pixels = full.pixel_array
            ds = full
    except Exception as exc:  # noqa: BLE001 - any parse/decode failure is bad input
        raise BreastlabInputError(
            f"{_name(path)}: not a readable DICOM image ({type(exc).__name__}: {_no_path(exc, path)})"
        ) from None
    return ds, pixels


def read_mammogram(path: str | os.PathLike) -> Mammogram:
    """Read a DICOM mammogram (see the module notes) or, for ``.pgm``, a mini-MIAS image."""
    path = Path(path)
    if path.suffix.lower() == ".pgm":
        return _grey_file(path)
    ds, pixels = _stored_pixels(path)
    if pixels.ndim != 2:
        raise BreastlabInputError(f"{_name(path)}: expected one 2-D grey-level frame, got pixel shape {pixels.shape}")
    meta = _meta(ds)
    if pixels.dtype.kind == "i":  # signed storage: shift into the unsigned range
        pixels = (pixels.astype(np.int32) - int(pixels.min())).astype(np.uint16)
    pixels = pixels.astype(np.uint16, copy=False)
    if meta["photometric"] == "MONOCHROME1":
        top = np.uint16((1 << min(meta["bits_stored"], 16)) - 1)
        pixels = top - np.minimum(pixels, top)
    spacing, tag = read_spacing(ds)
    return Mammogram(pixels, spacing, tag, meta)


# ============================================================================ display values
# Files the table import reads with Pillow; anything else is read as DICOM (exports often drop ".dcm").
RASTER_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
UINT16_TOP = 65535


def spacing_of_header(ds: pydicom.Dataset) -> tuple[tuple[float, float] | None, str]:
    """``(spacing, tag)`` with ``ImagerPixelSpacing`` first (the detector's pixels, what mammography
    headers describe), else ``PixelSpacing``; ``(None, "")`` when neither holds two positive values."""
    return read_spacing(ds, ("ImagerPixelSpacing", "PixelSpacing"))


def display_range(ds: pydicom.Dataset) -> tuple[float, float]:
    """``(low, high)`` of the values the modality and VOI transforms can give (DICOM PS3.3 C.11).

    A VOI LUT Sequence: ``[0, 2**bits - 1]`` of its LUT Descriptor; a window: pydicom's output range
    (the stored range, through Rescale Slope/Intercept where given, or ``[0, 2**bits - 1]`` of a
    Modality LUT Sequence); neither: the stored range through the modality transform.
    """
    if ds.get("VOILUTSequence"):
        return 0.0, float(2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    bits = int(ds.get("BitsStored", 16) or 16)
    if int(ds.get("PixelRepresentation", 0) or 0) == 0:
        lo, hi = 0.0, float(2**bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        lo, hi = sorted((lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)))
    return lo, hi


def to_display(stored: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """Stored pixel values as ``uint16`` display values, bright = dense.

    ``apply_modality_lut`` (Rescale Slope/Intercept or a Modality LUT), then ``apply_voi_lut``
    (the first VOI LUT, else the first window: Window Center/Width with the VOI LUT Function),
    then shifted so that the low end of :func:`display_range` is 0; MONOCHROME1 (bright = low
    values) is inverted within that range, ``(high - low) - v``. Rounded to integers; a range wider
    than 16 bits is scaled onto ``[0, 65535]``.
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_voi_lut(apply_modality_lut(stored, ds), ds, index=0)
    lo, hi = display_range(ds)
    span = hi - lo
    v = np.asarray(values, np.float64) - lo
    if str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip() == "MONOCHROME1":
        v = span - v
    if span > UINT16_TOP:
        v *= UINT16_TOP / span
        span = UINT16_TOP
    return np.clip(np.rint(v), 0, span).astype(np.uint16)


def read_display_mammogram(path: str | os.PathLike) -> Mammogram:
    """One image as the table import stores it: a DICOM's display values (:func:`to_display`, spacing
    by :func:`spacing_of_header`), a PNG / TIFF / JPEG's grey levels (:func:`read_raster`, no
    spacing), or a PGM (:func:`~breastlab.data.mammo.mias.read_pgm`). Raises
    :class:`BreastlabInputError` naming the file for anything unreadable or not one grey-level frame.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pgm" or suffix in RASTER_SUFFIXES:
        return _grey_file(path)
    ds, stored = _stored_pixels(path)
    if stored.ndim != 2:
        raise BreastlabInputError(f"{_name(path)}: expected one 2-D grey-level frame, got pixel shape {stored.shape}")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise BreastlabInputError(
            f"{_name(path)}: PhotometricInterpretation {photometric!r}; a mammogram is MONOCHROME1 or MONOCHROME2"
        )
    try:
        pixels = to_display(stored, ds)
    except (ValueError, NotImplementedError, AttributeError) as exc:
        raise BreastlabInputError(f"{_name(path)}: cannot apply its modality/VOI transform ({exc})") from None
    spacing, tag = spacing_of_header(ds)
    return Mammogram(pixels, spacing, tag, _meta(ds))


def _grey_file(path: Path) -> Mammogram:
    """A mini-MIAS PGM or a PNG / TIFF / JPEG as a Mammogram: grey levels, no header, so no spacing."""
    if path.suffix.lower() == ".pgm":
        from breastlab.data.mammo.mias import read_pgm

        pixels = read_pgm(path).astype(np.uint16)
    else:
        pixels = read_raster(path)
    return Mammogram(pixels, None, "", {"photometric": "MONOCHROME2"})


def read_raster(path: str | os.PathLike) -> np.ndarray:
    """A PNG / TIFF / JPEG as ``uint16`` grey levels (Pillow): 8- and 16-bit grey kept as stored, 32-bit
    integer grey when its values fit 16 bits, colour only when its channels are equal (a grey image
    saved as RGB). Anything else (float, colour, palette with colours) raises :class:`BreastlabInputError`."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("RGB", "RGBA", "P", "LA", "PA"):
                array = np.asarray(img.convert("RGB"))
                if not (np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 0], array[..., 2])):
                    raise BreastlabInputError(
                        f"{path.name}: a colour image (mode {mode}); expected grey levels (save it as grey)"
                    )
                return array[..., 0].astype(np.uint16)
            array = np.asarray(img)
    except FileNotFoundError:
        raise BreastlabInputError(f"{path.name}: file not found") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise BreastlabInputError(f"{path.name}: not a readable image ({type(exc).__name__}: {exc})") from None
    if array.ndim != 2 or array.dtype.kind not in "ui":
        raise BreastlabInputError(
            f"{path.name}: image mode {mode} ({array.dtype}, shape {array.shape}); expected 8- or 16-bit grey levels"
        )
    if array.size and (int(array.min()) < 0 or int(array.max()) > UINT16_TOP):
        raise BreastlabInputError(f"{path.name}: grey levels outside 0..65535 (mode {mode}); expected 16 bits or fewer")
    return array.astype(np.uint16)
