"""Mammogram preprocessing: segmentation, orientation, pectoral muscle, resampling, grey-level mapping.

Each step is a plain function on arrays; :func:`preprocess_mammogram` chains them and
:func:`build_mammo_store` runs the chain over a reader's :class:`MammoDataset` into a
breastlab store (parallel, progress bar, resumable per patient).

Standard path (``method="standard"``), after the DNN-assisted reading study's recipe:

1. :func:`segment_breast` -- grey-level histogram (one bin per integer value),
   triangle threshold (Zack, Rogers & Latt, J Histochem Cytochem 1977;25:741), largest
   8-connected component above it (drops labels and markers), minimal bounding
   rectangle. For speed the pipeline segments every ``seg_stride``-th row and column
   (default 4: box exact to 4 original pixels, about 0.3 mm).
2. crop to that rectangle; :func:`orient_breast` flips so that the chest wall is at the
   left edge (the box edge the breast fills more, see :func:`chest_wall_on_right`).
3. :func:`resample_to_spacing` -- to ``spacing`` mm (default 0.15) from the DICOM's
   ``PixelSpacing``/``ImagerPixelSpacing``; antialiased bilinear interpolation (Pillow's
   convolution resampling, float32), rounded back to uint16: 16-bit kept.
4. optional :func:`pectoral_mask` on MLO views (removed pixels set to 0).
5. :func:`grey_mapping` -- ``lo``, ``hi`` = the 5th and 95th percentiles of the breast
   pixels, so that after ``(v - lo) / (hi - lo)`` 5 % of breast pixels fall below 0 and
   5 % above 1 (:func:`apply_mapping`).

Stored: uint16 pixels after step 4 with the background (outside the breast component)
set to 0; ``map_low``/``map_high`` in the manifest (the mapping is applied at load
time with :func:`apply_mapping`, so nothing is lost to quantisation). Layout "ragged":
every image its own size; layout "fixed": each image is placed in a ``size`` canvas
with the chest wall at column 0, vertically centred on the breast, cropped (centre
kept) or zero-padded.

Aboutalib et al. 2018 path (``method="aboutalib2018"``; Clin Cancer Res
2018;24:5902-5909): segmentation and crop as above, then :func:`equalize_histogram`
over the breast, bicubic (antialiased) resize of the whole crop to 227 x 227 (aspect
not kept, as in the study), stored as uint8 ``round(255 * equalised)`` in a fixed store;
store.json holds ``pixel_mean`` (mean of all stored pixels / 255) and
:func:`subtract_mean` does the study's mean subtraction at load time.

Finding boxes follow the image: crop offset, flip, scale (floor of the start, ceiling
of the end), canvas offset, clip; a finding left with an empty box is reported.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from breastlab._io import write_json
from breastlab._lock import locks_folder
from breastlab.data.mammo._dataset import SOURCES_FILE, MammoDataset, shareable_record, write_sources
from breastlab.data.runner import JobRunner, check_some_stored
from breastlab.data.store import ArrayStore, StoreWriter, check_fingerprint, fingerprint
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog, check_workers
from breastlab.transforms import window_to_uint8

DEFAULT_SPACING = 0.15
AB2018_SIZE = (227, 227)
STAGE = "preprocess_mammo"
EIGHT = np.ones((3, 3), bool)


# ============================================================================ steps
@dataclasses.dataclass(frozen=True)
class Segmentation:
    mask: np.ndarray  # bool, the largest component above the threshold
    box: tuple[int, int, int, int]  # x0, y0, x1, y1: minimal bounding rectangle (0-based, half-open)
    threshold: float


def triangle_threshold(image: np.ndarray, nbins: int = 256) -> float:
    """Triangle threshold (Zack et al. 1977) of the grey-level histogram.

    Histogram: ``nbins`` equal bins over ``[min, max]`` (NumPy's binning); the line
    from the histogram peak to the far end of the longer tail; the threshold is the
    centre of the bin farthest from that line -- the definition of scikit-image's
    ``threshold_triangle`` on a float image. Integer images are binned from their
    per-value counts (``bincount``), which gives the same histogram much faster.
    """
    image = np.asarray(image)
    lo, hi = float(image.min()), float(image.max())
    if lo == hi:
        return lo
    if image.dtype.kind in "ui":
        shift = int(lo)
        counts = np.bincount((image.ravel() - shift) if shift else image.ravel())
        present = np.flatnonzero(counts)
        hist, edges = np.histogram(present + shift, bins=nbins, range=(lo, hi), weights=counts[present])
    else:
        hist, edges = np.histogram(image, bins=nbins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    return float(centres[_triangle_from_hist(hist)])


def _triangle_from_hist(hist: np.ndarray) -> int:
    nz = np.flatnonzero(hist)
    low, high = int(nz[0]), int(nz[-1])
    if low == high:
        return low
    peak = int(np.argmax(hist))
    flip = peak - low < high - peak
    h = hist[::-1] if flip else hist
    n = len(hist)
    if flip:
        low, peak = n - high - 1, n - peak - 1
    width = peak - low
    x = np.arange(width)
    y = h[x + low].astype(np.float64)
    height = float(h[peak])
    norm = math.hypot(height, width)
    level = int(np.argmax(height / norm * x - width / norm * y)) + low
    return n - level - 1 if flip else level


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a boolean mask (all False if empty)."""
    labels, n = ndimage.label(mask, structure=EIGHT)
    if n == 0:
        return np.zeros_like(mask, bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Minimal bounding rectangle (x0, y0, x1, y1) of a non-empty mask, half-open."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise BreastlabInputError("empty mask: no breast found above the triangle threshold")
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


PADDING_FRACTION = 0.05


def _without_padding(image: np.ndarray) -> np.ndarray:
    """The pixels above the minimum when the minimum fills >= 5 % of the image, else the image.

    Digitised films (mini-MIAS, DDSM) are padded with one constant value around a dim
    film-base "glow". That padding peak anchors the triangle's line at the padding value,
    so the threshold lands between padding and glow and the breast box takes in the glow.
    Built without it, the histogram's peak is the glow and the threshold falls between
    glow and breast. Detector images (noisy background, no constant padding) are unchanged.
    """
    low = image.min()
    pad = image == low
    if pad.mean() >= PADDING_FRACTION and not pad.all():
        return image[~pad]
    return image


def segment_breast(image: np.ndarray, stride: int = 1) -> Segmentation:
    """Breast = largest 8-connected component above the triangle threshold.

    The threshold is computed without a constant padding value that fills 5 % or more
    of the image (see :func:`_without_padding`; real mini-MIAS scans). ``stride`` > 1
    segments ``image[::stride, ::stride]`` (mask at that resolution) and scales the box
    back to ``image``'s pixels (exact to ``stride`` pixels).
    """
    small = image[::stride, ::stride] if stride > 1 else image
    values = _without_padding(small)
    t = triangle_threshold(values)
    if values.size != small.size and t <= values.min():  # one level above the padding: that level is the breast
        t = float(small.min())
    mask = largest_component(small > t)
    x0, y0, x1, y1 = bounding_box(mask)
    if stride > 1:
        h, w = image.shape
        x0, y0, x1, y1 = x0 * stride, y0 * stride, min(w, x1 * stride), min(h, y1 * stride)
    return Segmentation(mask, (x0, y0, x1, y1), t)


def chest_wall_on_right(mask: np.ndarray) -> bool:
    """True when the breast fills more of the right edge band of its bounding box than of the left one.

    The chest wall side of a breast runs along the whole box edge, the nipple side
    touches it in one point; bands of 1/20 of the width on each side are compared.
    """
    band = max(1, mask.shape[1] // 20)
    return int(mask[:, mask.shape[1] - band :].sum()) > int(mask[:, :band].sum())


def orient_breast(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Flip left-right so the chest wall is at the left edge; returns (image, mask, flipped)."""
    if chest_wall_on_right(mask):
        return image[:, ::-1], mask[:, ::-1], True
    return image, mask, False


def resample_to_spacing(
    image: np.ndarray, spacing: tuple[float, float] | float, target: float = DEFAULT_SPACING
) -> np.ndarray:
    """Resample to ``target`` mm pixels: antialiased bilinear (Pillow, float32), uint16 kept.

    Output size ``round(n * spacing / target)`` per axis (at least 1).
    """
    sr, sc = (spacing, spacing) if np.isscalar(spacing) else spacing
    if not (sr > 0 and sc > 0 and target > 0):
        raise BreastlabInputError(f"spacing={spacing!r}, target={target!r}: must be positive (mm)")
    h, w = image.shape
    size = (max(1, round(w * sc / target)), max(1, round(h * sr / target)))
    return resize_float(image, size, Image.Resampling.BILINEAR, out_dtype=image.dtype)


def resize_float(
    image: np.ndarray, size_wh: tuple[int, int], resample: Image.Resampling, out_dtype: Any = np.float32
) -> np.ndarray:
    """Pillow resize in float32 ('F' mode); integer outputs are rounded and clipped."""
    src = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32), mode="F")
    out = np.asarray(src.resize(size_wh, resample))
    dtype = np.dtype(out_dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(dtype)
    return out.astype(dtype, copy=False)


def quantiles_int(values: np.ndarray, q: tuple[float, ...]) -> list[float]:
    """Quantiles of integer ``values`` with NumPy's default ("linear") definition, by counting.

    Position ``h = (n - 1) q`` between order statistics ``x[floor h]`` and ``x[floor h + 1]``;
    the order statistics are read off the cumulative histogram (no sort).
    """
    values = np.asarray(values).ravel()
    if values.size == 0:
        raise BreastlabInputError("quantiles of an empty set of pixels")
    cum = np.cumsum(np.bincount(values))
    out = []
    for p in q:
        h = (values.size - 1) * p
        k = int(math.floor(h))
        a = int(np.searchsorted(cum, k, side="right"))
        b = int(np.searchsorted(cum, min(k + 1, values.size - 1), side="right"))
        out.append(a + (h - k) * (b - a))
    return out


def grey_mapping(image: np.ndarray, mask: np.ndarray, low: float = 0.05, high: float = 0.95) -> tuple[float, float]:
    """``(lo, hi)``: the ``low`` and ``high`` quantiles of the breast pixels (NumPy's linear rule)."""
    values = image[mask]
    if image.dtype.kind == "u":
        lo, hi = quantiles_int(values, (low, high))
    else:
        lo, hi = (float(v) for v in np.quantile(values, [low, high]))
    return float(lo), float(max(hi, lo + 1e-6))


def apply_mapping(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``(v - lo) / (hi - lo)`` as float32."""
    return ((np.asarray(image, np.float32) - np.float32(lo)) / np.float32(hi - lo)).astype(np.float32)


def pectoral_mask(image: np.ndarray, breast: np.ndarray) -> np.ndarray:
    """Pectoral muscle of an MLO view oriented with the chest wall at the left.

    In the upper-left quarter of the breast the muscle is the bright region: pixels
    above Otsu's threshold of that quarter's breast pixels, the 8-connected
    component touching the top rows near the chest wall. Its edge (the rightmost
    column of the component per row) is fitted with a straight line ``c = a + b r``
    (least squares), and the muscle is the breast part left of that line.
    """
    from skimage.filters import threshold_otsu

    h, w = image.shape
    qh, qw = max(2, h // 2), max(2, w // 2)
    region, rmask = image[:qh, :qw], breast[:qh, :qw]
    if rmask.sum() < 16:
        return np.zeros_like(breast)
    t = threshold_otsu(region[rmask])
    bright = (region > t) & rmask
    labels, n = ndimage.label(bright, structure=EIGHT)
    if n == 0:
        return np.zeros_like(breast)
    top = labels[: max(2, qh // 20), : max(2, qw // 4)]
    ids = np.bincount(top[top > 0].ravel(), minlength=n + 1)
    if ids.sum() == 0:
        return np.zeros_like(breast)
    comp = labels == int(np.argmax(ids))
    rows = np.flatnonzero(comp.any(axis=1))
    right = np.array([np.flatnonzero(comp[r])[-1] for r in rows], float)
    b, a = np.polyfit(rows.astype(float), right, 1) if len(rows) > 1 else (0.0, right[0])
    rr, cc = np.mgrid[:h, :w]
    return (cc <= a + b * rr) & breast


def equalize_histogram(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Histogram equalisation: each value becomes the breast pixels' cumulative distribution at it.

    For integer images the CDF is per integer value (as scikit-image's ``equalize_hist``
    computes it for integers); the result is float32 in (0, 1].
    """
    values = image[mask] if mask is not None else image.ravel()
    if image.dtype.kind not in "ui":
        from skimage.exposure import equalize_hist

        return equalize_hist(image, mask=mask).astype(np.float32)
    top = int(image.max())
    cdf = np.cumsum(np.bincount(values.ravel(), minlength=top + 1)).astype(np.float64)
    cdf /= cdf[-1]
    return cdf[image].astype(np.float32)


def subtract_mean(images: np.ndarray, mean: float | np.ndarray) -> np.ndarray:
    """The 2018 study's mean subtraction: ``images - mean`` (a scalar or a mean image), float32."""
    return np.asarray(images, np.float32) - np.asarray(mean, np.float32)


# ============================================================================ one image
@dataclasses.dataclass(frozen=True)
class PreprocessSettings:
    method: str = "standard"  # "standard" | "aboutalib2018"
    spacing: float = DEFAULT_SPACING
    layout: str = "ragged"  # "ragged" | "fixed"
    size: tuple[int, int] | None = None  # fixed layout (H, W)
    pectoral: bool = False
    seg_stride: int = 4
    low: float = 0.05
    high: float = 0.95
    fallback_spacing: float | None = None

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["size"] = list(self.size) if self.size else None
        return d


@dataclasses.dataclass
class Preprocessed:
    image: np.ndarray  # stored pixels (uint16 standard, uint8 aboutalib2018)
    crop: tuple[int, int, int, int]  # breast box in original pixels
    flipped: bool
    scale: tuple[float, float]  # stored pixels per cropped original pixel (x, y)
    offset: tuple[int, int]  # canvas offset (x, y) of the fixed layout
    map_low: float
    map_high: float
    pectoral_removed: bool


def preprocess_mammogram(
    image: np.ndarray,
    spacing: tuple[float, float] | None,
    view: str = "",
    settings: PreprocessSettings = PreprocessSettings(),
) -> Preprocessed:
    """Run the chain of the module notes on one uint16 mammogram."""
    seg = segment_breast(image, stride=max(1, settings.seg_stride))
    x0, y0, x1, y1 = seg.box
    crop = image[y0:y1, x0:x1]
    s = max(1, settings.seg_stride)
    small = seg.mask[y0 // s : -(-y1 // s), x0 // s : -(-x1 // s)]
    flipped = chest_wall_on_right(small)
    if flipped:
        crop, small = crop[:, ::-1], small[:, ::-1]
    if settings.method == "aboutalib2018":
        mask = _mask_at(small, crop.shape) & (crop > seg.threshold)
        eq = equalize_histogram(crop, mask)
        eq[~mask] = 0
        out = resize_float(eq, (AB2018_SIZE[1], AB2018_SIZE[0]), Image.Resampling.BICUBIC)
        out = window_to_uint8(out, 0.0, 1.0)  # round(255 * equalised), bicubic overshoot clipped
        scale = (AB2018_SIZE[1] / crop.shape[1], AB2018_SIZE[0] / crop.shape[0])
        return Preprocessed(out, seg.box, flipped, scale, (0, 0), 0.0, 255.0, False)
    if spacing is None:
        raise BreastlabInputError("no pixel spacing (PixelSpacing / ImagerPixelSpacing) and no fallback_spacing")
    out = resample_to_spacing(crop, spacing, settings.spacing)
    mask = _mask_at(small, out.shape) & (out > seg.threshold)
    removed = False
    if settings.pectoral and view.upper() == "MLO":
        pec = pectoral_mask(out, mask)
        removed = bool(pec.any())
        mask &= ~pec
    out = np.where(mask, out, 0).astype(np.uint16)
    lo, hi = grey_mapping(out, mask, settings.low, settings.high) if mask.any() else (0.0, 1.0)
    scale = (out.shape[1] / crop.shape[1], out.shape[0] / crop.shape[0])
    offset = (0, 0)
    if settings.layout == "fixed":
        out, offset = _place(out, settings.size)
    return Preprocessed(out, seg.box, flipped, scale, offset, lo, hi, removed)


def _mask_at(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a boolean mask to ``shape``."""
    rows = np.minimum((np.arange(shape[0]) + 0.5) * mask.shape[0] / shape[0], mask.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(shape[1]) + 0.5) * mask.shape[1] / shape[1], mask.shape[1] - 1).astype(int)
    return mask[rows[:, None], cols[None, :]]


def _place(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """Put ``image`` in a zero canvas of ``size``: chest wall at column 0, centred vertically."""
    H, W = size
    canvas = np.zeros((H, W), image.dtype)
    h, w = image.shape
    dy = (H - h) // 2  # negative: the image is cropped around its centre
    src_y0, dst_y0 = max(0, -dy), max(0, dy)
    n_rows, n_cols = min(h - src_y0, H - dst_y0), min(w, W)
    canvas[dst_y0 : dst_y0 + n_rows, :n_cols] = image[src_y0 : src_y0 + n_rows, :n_cols]
    return canvas, (0, dy)


def transform_box(
    box: tuple[float, float, float, float], p: Preprocessed, shape: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """A finding box (original pixels) in stored pixels, clipped; ``None`` if empty."""
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = p.crop
    x0, x1, y0, y1 = x0 - cx0, x1 - cx0, y0 - cy0, y1 - cy0
    if p.flipped:
        x0, x1 = (cx1 - cx0) - x1, (cx1 - cx0) - x0
    sx, sy = p.scale
    ox, oy = p.offset
    nx0, ny0 = math.floor(x0 * sx) + ox, math.floor(y0 * sy) + oy
    nx1, ny1 = math.ceil(x1 * sx) + ox, math.ceil(y1 * sy) + oy
    h, w = shape
    nx0, ny0, nx1, ny1 = max(0, nx0), max(0, ny0), min(w, nx1), min(h, ny1)
    if nx1 <= nx0 or ny1 <= ny0:
        return None
    return int(nx0), int(ny0), int(nx1), int(ny1)


# ============================================================================ store
@dataclasses.dataclass(frozen=True)
class _Job:
    key: str
    images: pd.DataFrame
    findings: pd.DataFrame
    settings: PreprocessSettings
    out: str
    dtype: str
    shape: tuple[int, int] | None
    pixels: str = "stored"


def _settings(
    method: str, spacing: float, layout: str, size: Any, pectoral: bool, seg_stride: int, fallback_spacing: float | None
) -> PreprocessSettings:
    if method not in ("standard", "aboutalib2018"):
        raise BreastlabInputError(f"method={method!r}: valid methods are 'standard' and 'aboutalib2018'")
    if method == "aboutalib2018":
        layout, size = "fixed", AB2018_SIZE
    if layout not in ("ragged", "fixed"):
        raise BreastlabInputError(f"layout={layout!r}: valid layouts are 'ragged' and 'fixed'")
    if layout == "fixed":
        if size is None:
            raise BreastlabInputError("layout='fixed' needs size=(height, width) in output pixels")
        size = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 1:
            raise BreastlabInputError(f"size={size!r}: expected a positive int or (height, width)")
    else:
        size = None
    if not (isinstance(spacing, int | float) and spacing > 0):
        raise BreastlabInputError(f"spacing={spacing!r}: target pixel spacing must be a positive number of mm")
    if not (isinstance(seg_stride, int) and seg_stride >= 1):
        raise BreastlabInputError(f"seg_stride={seg_stride!r}: expected an integer >= 1")
    return PreprocessSettings(
        method, float(spacing), layout, size, bool(pectoral), seg_stride, fallback_spacing=fallback_spacing
    )


@locks_folder("out")  # one writer per store folder
def build_mammo_store(
    dataset: MammoDataset,
    out: str | os.PathLike,
    *,
    method: str = "standard",
    spacing: float = DEFAULT_SPACING,
    layout: str = "ragged",
    size: int | tuple[int, int] | None = None,
    pectoral: bool = False,
    seg_stride: int = 4,
    fallback_spacing: float | None = None,
    pixels: str = "stored",
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> ArrayStore:
    """Preprocess every located image of ``dataset`` into a store at ``out`` (module notes).

    One shard per patient: an interrupted run restarted with the same arguments skips the
    patients already written; a finished store with the same settings is returned as is.
    ``fallback_spacing`` (mm) is used for images without spacing tags (and without a
    spacing in the manifest); without it such an image is reported and skipped.
    Problems (missing file, no spacing, no breast found, a box lost in the crop) go to
    ``out/problems.csv`` together with the reader's.

    ``pixels``: which values are stored. "stored" (the public data sets' readers): the DICOM's
    stored values (:func:`~breastlab.data.mammo.dicom.read_mammogram`), spacing from the header
    first, then the manifest's ``spacing_row_mm``/``spacing_col_mm``. "display" (your own
    export, :mod:`breastlab.data.mammo.table_import`): the display values after the modality and
    VOI transforms, PNG / TIFF / JPEG too
    (:func:`~breastlab.data.mammo.dicom.read_display_mammogram`), the manifest's spacing first
    (the table the user reviewed), then the header.
    """
    settings = _settings(method, spacing, layout, size, pectoral, seg_stride, fallback_spacing)
    if pixels not in PIXEL_READERS:
        raise BreastlabInputError(f"pixels={pixels!r}: valid values are {', '.join(map(repr, PIXEL_READERS))}")
    check_workers(workers)
    out = Path(out)
    # the dataset's images and findings (local paths included: only the digest is kept) and the settings;
    # the pixel reader only where it is not the public readers' (stores built before it existed stay valid)
    reader = {"pixels": pixels} if pixels != "stored" else {}
    inputs = fingerprint(images=dataset.manifest, findings=dataset.findings, settings=settings.as_dict(), **reader)
    finished = _finished(out, settings, overwrite, inputs)
    if finished is not None:
        return finished
    dataset.check_located()
    dtype = "uint8" if settings.method == "aboutalib2018" else "uint16"
    meta = {
        "modality": "MG",
        "source": dataset.source,
        "preprocess": settings.as_dict(),
        **reader,
        "normalisation": (
            "stored uint16; mapped = (v - map_low) / (map_high - map_low) with map_low/map_high "
            f"the {settings.low:g}/{settings.high:g} quantiles of the breast pixels"
            if dtype == "uint16"
            else "stored uint8 = round(255 * histogram-equalised); "
            "subtract pixel_mean * 255 at load time (subtract_mean)"
        ),
    }
    writer = StoreWriter(out, layout=settings.layout, dtype=dtype, shape=settings.size, meta=meta, inputs=inputs)
    write_sources(dataset, out / SOURCES_FILE)  # the store's rows name images by image_id only
    problems = ProblemLog()
    for p in dataset.problems.problems:
        problems.add(p.item, p.stage, p.message)
    man = dataset.manifest
    located = man[man["path"].notna()]
    for rec in man[man["path"].isna()].itertuples():
        problems.add(
            rec.image_id,
            STAGE,
            f"image {rec.image_id} (patient {rec.patient_id}): no image file located; not preprocessed",
        )
    keys = sorted(located["patient_id"].astype(str).unique())
    if settings.layout == "fixed" and keys:  # every located image one stored image: pixels written once
        per_patient = located["patient_id"].astype(str).value_counts()
        writer.reserve(keys, [int(per_patient[k]) for k in keys])
    done = writer.done_keys()
    jobs = [
        _Job(
            k,
            located[located["patient_id"].astype(str) == k],
            dataset.findings[
                dataset.findings["image_id"].isin(located.loc[located["patient_id"].astype(str) == k, "image_id"])
            ],
            settings,
            str(out),
            dtype,
            settings.size,
            pixels,
        )
        for k in keys
        if k not in done
    ]
    with JobRunner(min(workers, max(1, len(jobs))), problems, STAGE, preload=WORKER_MODULES,
                   desc="mammo preprocess", progress=progress) as runner:  # fmt: skip
        runner.run(_process_patient, jobs, key=lambda job: job.key, initial=len(keys) - len(jobs))
    for path in sorted(writer.shard_dir.glob("*.problems.json")):
        for item, message in json.loads(path.read_text()):
            problems.add(item, STAGE, message)
    problems.write(out / "problems.csv")
    check_some_stored(writer, problems, out, also_remove=[SOURCES_FILE])
    store = writer.finalize(key_order=keys)
    if dtype == "uint8" and len(store):
        store.meta["pixel_mean"] = float(np.asarray(store.images, np.float64).mean() / 255.0)
        write_json(store.meta, out / "store.json")
        store = ArrayStore(out)
    return store


def _finished(out: Path, settings: PreprocessSettings, overwrite: bool, inputs: dict[str, str]) -> ArrayStore | None:
    if not (out / "store.json").exists():
        path = out / ".shards" / "settings.json"
        if path.exists():
            saved = json.loads(path.read_text()).get("meta", {}).get("preprocess")
            if saved is not None and saved != settings.as_dict():
                raise BreastlabInputError(
                    f"{out}: an interrupted run with settings {saved} is in progress here; "
                    f"resume it with the same settings or delete {out / '.shards'}"
                )
        return None
    if overwrite:
        for name in ("store.json", "manifest.parquet", "images.npy", "images.bin", "findings.parquet", "problems.csv"):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / ".shards", ignore_errors=True)
        return None
    store = ArrayStore(out)
    if store.meta.get("preprocess") != settings.as_dict():
        raise BreastlabInputError(
            f"{out}: holds a store made with {store.meta.get('preprocess')}, not "
            f"{settings.as_dict()}; choose another folder or pass overwrite=True"
        )
    check_fingerprint(out, store.meta.get("fingerprint"), inputs, "the finished store")
    return store


WORKER_MODULES = ["breastlab.data.mammo.preprocess", "breastlab.data.mammo.dicom", "PIL.Image", "scipy.ndimage"]


# How each `pixels` choice reads an image: (function of data.mammo.dicom, manifest spacing before the header's).
PIXEL_READERS = {"stored": ("read_mammogram", False), "display": ("read_display_mammogram", True)}


def _spacing_of(rec: pd.Series, found: tuple[float, float] | None, fallback: float | None, table_first: bool = False):
    row, col = rec.get("spacing_row_mm"), rec.get("spacing_col_mm")
    listed = None
    if row is not None and col is not None and not pd.isna(row) and not pd.isna(col):
        listed = float(row), float(col)
    for value in (listed, found) if table_first else (found, listed):
        if value is not None:
            return value
    return (fallback, fallback) if fallback else None


def _process_patient(job: _Job) -> None:
    """Preprocess one patient's images into one shard (problems saved beside it)."""
    from breastlab._io import write_json as _write_json
    from breastlab.data.mammo import dicom

    name, table_first = PIXEL_READERS[job.pixels]
    read = getattr(dicom, name)
    images, rows, finding_rows, problems = [], [], [], []
    for _, rec in job.images.iterrows():
        where = f"image {rec['image_id']} (patient {rec['patient_id']}, file {Path(rec['path']).name})"
        try:
            m = read(rec["path"])
            spacing = _spacing_of(rec, m.spacing, job.settings.fallback_spacing, table_first)
            if spacing is None and job.settings.method == "standard":
                raise BreastlabInputError(
                    f"{Path(rec['path']).name}: DICOM without pixel spacing (no PixelSpacing or "
                    "ImagerPixelSpacing); pass fallback_spacing (mm) to use a nominal value"
                )
            p = preprocess_mammogram(m.pixels, spacing, str(rec.get("view", "")), job.settings)
        except BreastlabInputError as exc:
            problems.append((rec["image_id"], f"{where}: {exc}; image skipped"))
            continue
        images.append(p.image)
        row = shareable_record(rec.to_dict())
        row.update(
            source_height=int(m.pixels.shape[0]),
            source_width=int(m.pixels.shape[1]),
            source_spacing_row_mm=spacing[0] if spacing else np.nan,
            source_spacing_col_mm=spacing[1] if spacing else np.nan,
            spacing_mm=job.settings.spacing if job.settings.method == "standard" else np.nan,
            crop_x0=p.crop[0],
            crop_y0=p.crop[1],
            crop_x1=p.crop[2],
            crop_y1=p.crop[3],
            flipped=p.flipped,
            scale_x=p.scale[0],
            scale_y=p.scale[1],
            map_low=p.map_low,
            map_high=p.map_high,
            pectoral_removed=p.pectoral_removed,
        )
        for k in ("height", "width"):
            row.pop(k, None)
        rows.append(row)
        for _, f in job.findings[job.findings["image_id"] == rec["image_id"]].iterrows():
            fr = shareable_record(f.to_dict())
            orig = [fr[k] for k in ("x0", "y0", "x1", "y1")]
            fr.update({f"orig_{k}": v for k, v in zip(("x0", "y0", "x1", "y1"), orig, strict=True)})
            box = None if any(pd.isna(v) for v in orig) else transform_box(tuple(map(float, orig)), p, p.image.shape)
            if box is None and not any(pd.isna(v) for v in orig):
                problems.append(
                    (
                        rec["image_id"],
                        f"{where}: finding {fr['finding_id']} box {orig} lies outside the "
                        "stored breast crop; kept without box",
                    )
                )
            fr.update(dict(zip(("x0", "y0", "x1", "y1"), box or (None,) * 4, strict=True)))
            finding_rows.append(fr)
    state = Path(job.out) / ".shards"
    _write_json(problems, state / f"{StoreWriter._safe(job.key)}.problems.json")
    if not images:
        return
    writer = StoreWriter.open(job.out)
    man = pd.DataFrame(rows)
    columns = [c for c in job.findings.columns if c in shareable_record(dict.fromkeys(job.findings.columns))]
    fin = pd.DataFrame(finding_rows, columns=[*columns, "orig_x0", "orig_y0", "orig_x1", "orig_y1"])
    for col in ("x0", "y0", "x1", "y1", "orig_x0", "orig_y0", "orig_x1", "orig_y1"):
        fin[col] = pd.array([None if pd.isna(v) else int(v) for v in fin[col]], dtype="Int64")
    writer.write_shard(job.key, images, man, fin)


def load_mapped(store: ArrayStore, row: int) -> np.ndarray:
    """One stored image of a standard-path store with its grey-level mapping applied (float32)."""
    rec = store.manifest.iloc[int(row)]
    return apply_mapping(store[row], float(rec["map_low"]), float(rec["map_high"]))
