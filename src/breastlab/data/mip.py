"""Breast MIPs from the DICOM tree: one subtraction maximum-intensity projection per breast.

Per exam (Oviedo et al., Radiology 2025, built from DICOM instead of ready TIFFs):

1. ``S = max(post1 - pre, 0)``: the first post-contrast minus the pre-contrast volume,
   after checking both series share matrix, orientation and slice positions
   (:func:`subtraction_volume`); negative differences are clipped to 0.
2. ``M(r, c) = max_k S(k, r, c)``: the maximum along the slice axis (axial MIP).
3. Canonical axes (:func:`canonical_axes`): rows run anterior -> posterior and
   columns patient right -> left (radiological display), from ImageOrientationPatient.
4. The body midline is the column about which the pre-contrast MIP is most
   mirror-symmetric (:func:`find_midline`; normalised cross-correlation of each row
   with its reflection, all reflection axes at once by FFT), not the centre column.
5. The chest wall is the first row, going posterior along the midline, where the
   pre-contrast MIP exceeds its Otsu threshold (:func:`find_chest_wall`); the breast band
   runs from the first foreground row to ``chest_margin_mm`` behind it, so the heart and
   the enhancing chest wall stay out of the image.
6. Split at the midline into right and left breast; the left one is mirrored, so every
   breast image shows anterior up, lateral left, medial (midline) right.
7. Resize keeping the physical aspect (PixelSpacing) to fit ``size x size``, padded with 0
   and anchored bottom-right (chest wall at the bottom edge, midline at the right edge).
8. Normalisation (per exam, documented in ``store.json``): ``uint8 = round(255 *
   clip(M / P, 0, 1))`` with ``P`` the ``percentile`` (default 99.5) of ``M`` over the
   breast foreground (pre-contrast MIP above its Otsu threshold) of both breasts.

Labels (the Duke clinical table): the breast on the side of ``tumor_location`` is
abnormal (1), the other normal (0). Bilateral cancer or contralateral involvement makes
both breasts abnormal: such patients are left out by default (``bilateral="exclude"``,
listed in the problems report with the clinical flag that says so; their exams are not
read) or kept with both breasts labelled 1 (``"include"``). Left out by default because
the second breast has no pixel reference (Duke's Annotation_Boxes holds one box per
patient, the index tumour's) and because the phantom cohort renders the index tumour only
(on the ``Tumor Location`` side; its clinical table samples the real bilateral and
contralateral rates, ~17 % of patients): with ``"include"`` a phantom patient's other breast
would be labelled abnormal while showing no lesion. On real data ``"include"`` keeps them.
Where ``tumor_location`` is missing (271 of 922 real patients) the side of the box
decides, and a note says so. The tumour box, projected through the same crop, mirror
and resize, becomes a finding (``finding_class="tumour_box"``) on its breast's image.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breastlab._lock import locks_folder
from breastlab.data.runner import JobRunner
from breastlab.data.store import ArrayStore, StoreWriter, check_fingerprint
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog, check_workers, shareable_name
from breastlab.transforms import window_to_uint8

STAGE = "anomaly_mip"
SIDES = ("R", "L")  # patient right, patient left
_SIDE_WORD = {"R": "right", "L": "left"}
_WORD_SIDE = {"right": "R", "left": "L", "r": "R", "l": "L"}


@dataclasses.dataclass(frozen=True)
class MipSettings:
    """Everything that defines a MIP store (saved in store.json; a resumed job must match).

    size : output images are ``size x size`` (default 256).
    post : post-contrast phase subtracted ("post1").
    percentile : per-exam scaling percentile of the subtraction MIP (99.5).
    chest_margin_mm : how far behind the chest wall (at the midline) the breast band reaches (20 mm;
        the chest wall curves back laterally).
    bilateral : "exclude" (patients with both breasts abnormal are left out and listed) or "include".
    cutoff_fraction : a breast whose outer image column is body for more than this fraction of the band's
        rows is cut off by the field of view and left out (0.25).
    """

    size: int = 256
    post: str = "post1"
    percentile: float = 99.5
    chest_margin_mm: float = 20.0
    bilateral: str = "exclude"
    cutoff_fraction: float = 0.25

    def validate(self) -> None:
        if not isinstance(self.size, int) or not 16 <= self.size <= 4096:
            raise BreastlabInputError(f"size={self.size!r}: must be an integer from 16 to 4096")
        if self.post not in ("post1", "post2", "post3", "post4"):
            raise BreastlabInputError(f"post={self.post!r}: valid phases are post1..post4")
        if not 50 <= self.percentile <= 100:
            raise BreastlabInputError(f"percentile={self.percentile!r}: must lie in [50, 100]")
        if self.bilateral not in ("exclude", "include"):
            raise BreastlabInputError(f"bilateral={self.bilateral!r}: valid values are 'exclude' and 'include'")
        if not 0 <= self.chest_margin_mm <= 200:
            raise BreastlabInputError(f"chest_margin_mm={self.chest_margin_mm!r}: must lie in [0, 200]")

    def normalisation(self) -> str:
        return (
            f"uint8 = round(255 * clip(MIP / P, 0, 1)), P = {self.percentile}th percentile of the exam's "
            f"subtraction MIP ({self.post} - pre, negatives clipped) over the breast foreground"
        )


# ============================================================================ geometry
def subtraction_volume(pre, post, patient: str = "?", tol: float = 1e-3) -> np.ndarray:
    """``max(post - pre, 0)`` of two :class:`~breastlab.data.duke.dicom.Volume` objects.

    Raises :class:`BreastlabInputError` naming the patient when the two series differ in
    shape, orientation (any direction cosine by more than ``tol``) or slice positions
    (by more than half the smallest voxel spacing).
    """
    _check_pair(pre, post, pre.array.shape, post.array.shape, patient, tol)
    sub = post.array - pre.array
    np.maximum(sub, 0, out=sub)
    return sub


def _check_pair(pre, post, pre_shape: tuple, post_shape: tuple, patient: str, tol: float) -> None:
    if pre_shape != post_shape:
        raise BreastlabInputError(
            f"patient {patient}: pre-contrast series {Path(pre.folder).name!r} has shape {pre_shape} but "
            f"post-contrast {Path(post.folder).name!r} has {post_shape}; subtraction needs the same geometry"
        )
    if np.max(np.abs(np.asarray(pre.orientation) - np.asarray(post.orientation))) > tol:
        raise BreastlabInputError(
            f"patient {patient}: pre- and post-contrast orientations differ "
            f"({np.round(pre.orientation, 4).tolist()} vs {np.round(post.orientation, 4).tolist()})"
        )
    shift = float(np.max(np.abs(np.asarray(pre.positions) - np.asarray(post.positions))))
    if shift > 0.5 * min(pre.spacing):
        raise BreastlabInputError(
            f"patient {patient}: pre- and post-contrast slice positions differ by up to {shift:.2f} mm "
            f"(voxel spacing {tuple(round(s, 3) for s in pre.spacing)} mm); the series are not co-registered"
        )


def subtraction_mips(
    pre_slices, pre, post_slices, post, patient: str = "?", tol: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """``(max_k max(post_k - pre_k, 0), max_k pre_k)`` as float32 images, from stored slices.

    The same values as ``subtraction_volume(...).max(axis=0)`` and ``pre.array.max(axis=0)``
    of the float32 volumes, and the same checks, but slice by slice (no volume is built):
    ``pre_slices``/``post_slices`` and ``pre``/``post`` are what
    :func:`~breastlab.data.duke.dicom.read_series_slices` returns. Where every slice of both
    series has RescaleSlope 1 and RescaleIntercept 0 (and stored values of at most 16 bits)
    the difference is taken in int32, which float32 holds exactly; otherwise each slice is
    rescaled to float32 first, exactly as :meth:`StoredSlice.rescaled` does for the volumes.
    """
    n = len(pre_slices)
    shape = pre_slices[0].pixels.shape
    _check_pair(pre, post, (n, *shape), (len(post_slices), *post_slices[0].pixels.shape), patient, tol)
    both = [*pre_slices, *post_slices]
    if all(s.slope == 1.0 and s.intercept == 0.0 and s.pixels.dtype.itemsize <= 2 for s in both):
        # Integer differences. Slices of one 16-bit type holding at most 15 bits (the scanner
        # checked, StoredSlice.bits_stored) are viewed as int16: their differences fit int16.
        kind = pre_slices[0].pixels.dtype
        narrow = kind.itemsize == 2 and all(s.pixels.dtype == kind and 0 < s.bits_stored <= 15 for s in both)
        work = np.int16 if narrow else np.int32
        sub = np.zeros(shape, work)  # max(., 0) comes with the zero start
        diff = np.empty(shape, work)
        top = np.array(pre_slices[0].pixels, dtype=work)
        for a, b in zip(pre_slices, post_slices, strict=True):
            pa, pb = (a.pixels.view(np.int16), b.pixels.view(np.int16)) if narrow else (a.pixels, b.pixels)
            np.subtract(pb, pa, out=diff, dtype=work)
            np.maximum(sub, diff, out=sub)
            np.maximum(top, pa, out=top)
        return sub.astype(np.float32), top.astype(np.float32)
    sub = np.zeros(shape, np.float32)
    top = pre_slices[0].rescaled()
    a32, b32 = np.empty(shape, np.float32), np.empty(shape, np.float32)
    for a, b in zip(pre_slices, post_slices, strict=True):
        a.rescaled(out=a32)
        np.subtract(b.rescaled(out=b32), a32, out=b32)
        np.maximum(sub, b32, out=sub)
        np.maximum(top, a32, out=top)
    return sub, top


def canonical_axes(orientation: Sequence[float]) -> tuple[bool, bool, bool]:
    """(transpose, flip_rows, flip_cols) that bring an axial image to rows anterior -> posterior,
    columns patient right -> left (DICOM LPS: +x left, +y posterior).

    ImageOrientationPatient holds the direction of increasing column index (first 3)
    and of increasing row index (last 3). Non-axial acquisitions raise.
    """
    o = np.asarray(orientation, dtype=float)
    r, c = o[:3], o[3:6]
    n = np.cross(r, c)
    if abs(n[2]) < 0.7:
        raise BreastlabInputError(
            f"ImageOrientationPatient {np.round(o, 3).tolist()} is not axial (slice normal {np.round(n, 2).tolist()}); "
            "breast MIPs need an axial acquisition"
        )
    transpose = abs(r[1]) > abs(r[0])
    if transpose:
        r, c = c, r
    return transpose, bool(c[1] < 0), bool(r[0] < 0)


def to_canonical(image: np.ndarray, axes: tuple[bool, bool, bool]) -> np.ndarray:
    transpose, flip_rows, flip_cols = axes
    out = image.T if transpose else image
    if flip_rows:
        out = out[::-1]
    if flip_cols:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def box_to_canonical(box: dict[str, int], shape: tuple[int, int], axes: tuple[bool, bool, bool]) -> tuple:
    """Duke box (1-based inclusive rows/columns of the DICOM matrix ``shape``) -> canonical
    edge coordinates ``(y0, y1, x0, x1)`` (0-based, half-open)."""
    y0, y1 = box["start_row"] - 1.0, float(box["end_row"])
    x0, x1 = box["start_column"] - 1.0, float(box["end_column"])
    h, w = shape
    transpose, flip_rows, flip_cols = axes
    if transpose:
        y0, y1, x0, x1, h, w = x0, x1, y0, y1, w, h
    if flip_rows:
        y0, y1 = h - y1, h - y0
    if flip_cols:
        x0, x1 = w - x1, w - x0
    return y0, y1, x0, x1


def find_midline(image: np.ndarray, search: float = 0.25) -> int:
    """Column index that splits ``image`` at its axis of mirror symmetry.

    For every reflection axis ``a = s / 2`` (``s`` integer, pixel-centre coordinates)
    within ``search * width`` of the centre, the normalised correlation

        NCC(s) = sum_{r, x} I(r, x) I(r, s - x) / sum_{r, x} I(r, x)^2      (x, s - x inside)

    is computed for all ``s`` at once as a row-wise autoconvolution (FFT). The image is
    compressed to [0, 1] by its 99th percentile first so bright enhancement does not
    dominate. Returns ``round(a + 0.5)``: columns ``[0, m)`` lie right of the axis in
    patient terms, ``[m, W)`` left.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 4:
        raise BreastlabInputError(f"find_midline: expected a 2-D image of at least 4x4, got shape {img.shape}")
    scale = np.percentile(img, 99) or img.max() or 1.0
    img = np.clip(img / scale, 0, 1)
    img = img - img.mean()  # a flat background should not reward large overlaps
    w = img.shape[1]
    n = 2 * w
    f = np.fft.rfft(img, n=n, axis=1)
    # conv[s] = sum_r sum_x I(r, x) I(r, s - x): the inverse transform is linear, so the rows'
    # spectra are summed first and one row is transformed back (not one per image row)
    conv = np.fft.irfft((f * f).sum(axis=0), n=n)[: 2 * w - 1]
    energy = np.concatenate([[0.0], np.cumsum((img**2).sum(axis=0))])
    s = np.arange(2 * w - 1)
    lo, hi = np.maximum(0, s - (w - 1)), np.minimum(w - 1, s)
    overlap = energy[hi + 1] - energy[lo]
    ncc = np.where(overlap > 0, conv / np.maximum(overlap, 1e-12), -np.inf)
    centre = w - 1  # s of the centre axis
    half = max(1, int(search * w))
    window = slice(max(0, centre - 2 * half), min(2 * w - 1, centre + 2 * half + 1))
    best = window.start + int(np.argmax(ncc[window]))
    return int(np.clip(round(best / 2 + 0.5), 1, w - 1))


def _otsu(image: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (maximal between-class variance over a ``bins``-bin histogram; Otsu 1979).
    Pixels above the returned value form the foreground."""
    v = np.asarray(image, dtype=np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return hi
    counts, edges = _histogram(v, bins, lo, hi)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(counts)[:-1]
    w1 = v.size - w0
    m0 = np.cumsum(counts * centres)[:-1] / np.maximum(w0, 1)
    m1 = (np.sum(counts * centres) - np.cumsum(counts * centres)[:-1]) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(centres[int(np.argmax(between))])


def _histogram(v: np.ndarray, bins: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """``np.histogram(v, bins, range=(lo, hi))`` of a float64 array spanning ``[lo, hi]``.

    Images of stored integers (MIPs of int16 data) hold a few thousand distinct values: they are
    counted with ``bincount`` and the distinct values binned by np.histogram itself (weighted by
    their counts), which puts every value in the bin the direct call would (the same counts,
    ~5x faster); other images take the direct call.
    """
    if hi - lo <= 1 << 20 and lo >= -(1 << 52) and hi <= 1 << 52:
        iv = v.astype(np.int64)
        if np.array_equal(iv, v):  # integers (no NaN: a NaN would have made lo/hi NaN)
            per_value = np.bincount(iv - int(lo))
            present = np.flatnonzero(per_value)
            weighted, edges = np.histogram(present + lo, bins=bins, range=(lo, hi), weights=per_value[present])
            return np.rint(weighted).astype(np.int64), edges
    return np.histogram(v, bins=bins, range=(lo, hi))


def find_chest_wall(pre_mip: np.ndarray, midline: int, threshold: float | None = None, half_width: int = 2) -> int:
    """First row (anterior -> posterior) where the pre-contrast MIP along the midline is body tissue.

    The midline profile is the mean over ``midline +- half_width`` columns; tissue means
    above ``threshold`` (default: Otsu's threshold of the whole MIP). Between the breasts
    the midline crosses air until the sternum, so that row is the chest wall.
    """
    thr = _otsu(pre_mip) if threshold is None else threshold
    cols = slice(max(0, midline - half_width), min(pre_mip.shape[1], midline + half_width))
    profile = pre_mip[:, cols].mean(axis=1)
    hits = np.flatnonzero(profile > thr)
    if not len(hits):
        raise BreastlabInputError("no chest wall found along the midline (no tissue above the Otsu threshold)")
    return int(hits[0])


# ============================================================================ one exam
@dataclasses.dataclass
class BreastImage:
    """One breast of one exam, before the store: float MIP (scaled by the exam's P), geometry."""

    side: str
    image: np.ndarray  # (size, size) float32, MIP / P (not clipped)
    box: tuple[int, int, int, int] | None  # x0, y0, x1, y1 (pixels, half-open) or None
    content: tuple[int, int, int, int]  # x0, y0, x1, y1 of the non-padded area
    cut_off: bool


@dataclasses.dataclass
class ExamMips:
    patient_id: str
    breasts: dict[str, BreastImage]
    scale: float  # P
    midline: int  # canonical column of the split
    chest_row: int
    band: tuple[int, int]  # canonical rows kept
    mm_per_px: float
    box_side: str | None


def exam_mips(
    pre,
    post,
    settings: MipSettings = MipSettings(),  # noqa: B008 - frozen dataclass
    box: dict[str, int] | None = None,
    patient: str = "?",
) -> ExamMips:
    """Left and right breast MIPs of one exam (:class:`Volume` pre and post), see the module docstring."""
    sub = subtraction_volume(pre, post, patient)
    return breast_mips(sub.max(axis=0), pre.array.max(axis=0), pre, settings, box, patient)


def breast_mips(
    sub_mip: np.ndarray,
    pre_mip: np.ndarray,
    pre,
    settings: MipSettings = MipSettings(),  # noqa: B008 - frozen dataclass
    box: dict[str, int] | None = None,
    patient: str = "?",
) -> ExamMips:
    """:func:`exam_mips` from the two projections (steps 3-8): ``sub_mip`` = max over slices of
    ``max(post - pre, 0)``, ``pre_mip`` = max over slices of pre, in DICOM row/column order;
    ``pre`` gives the geometry (orientation, spacing; its ``array`` is not used)."""
    axes = canonical_axes(pre.orientation)
    mip = to_canonical(sub_mip, axes)
    pre_mip = to_canonical(pre_mip, axes)
    dy, dx = (pre.spacing[2], pre.spacing[1]) if axes[0] else (pre.spacing[1], pre.spacing[2])
    h, w = mip.shape
    midline = find_midline(pre_mip)
    thr = _otsu(pre_mip)
    try:
        chest = find_chest_wall(pre_mip, midline, thr)
    except BreastlabInputError as exc:
        raise BreastlabInputError(f"patient {patient}: {exc}") from None
    fg = pre_mip > thr
    rows_fg = np.flatnonzero(fg[:chest].any(axis=1)) if chest > 0 else np.array([], int)
    if not len(rows_fg):
        raise BreastlabInputError(
            f"patient {patient}: no breast tissue anterior to the chest wall (row {chest}); check the orientation"
        )
    top = max(0, int(rows_fg[0]) - 2)
    bottom = min(h, chest + int(round(settings.chest_margin_mm / dy)))
    band = slice(top, bottom)
    parts = {"R": slice(0, midline), "L": slice(midline, w)}
    region = fg[band]
    scale = float(np.percentile(mip[band][region], settings.percentile)) if region.any() else 0.0
    if not scale > 0:
        scale = float(mip[band].max()) or 1.0
    canon_box = box_to_canonical(box, mip.shape, axes) if box is not None else None
    box_side = None
    if canon_box is not None:
        box_side = "R" if (canon_box[2] + canon_box[3]) / 2 < midline else "L"
    # one physical scale for both breasts of the exam: mm per output pixel
    mm_per_px = max((bottom - top) * dy, max(midline, w - midline) * dx) / settings.size
    breasts = {}
    for side, cols in parts.items():
        img = mip[band, cols]
        mask = fg[band, cols]
        outer = mask[: max(1, chest - top), 0 if side == "R" else -1]
        cut_off = bool(outer.mean() > settings.cutoff_fraction)
        if side == "L":
            img = img[:, ::-1]
        out, content, fy, fx = _place(img / scale, dy, dx, mm_per_px, settings.size)
        bbox = None
        if canon_box is not None and box_side == side:
            y0, y1, x0, x1 = canon_box
            x0, x1 = (x0, min(x1, midline)) if side == "R" else (w - x1, w - max(x0, midline))
            y0, y1 = max(y0 - top, 0), min(y1 - top, bottom - top)
            cx0, cy0 = content[0], content[1]
            bx0, bx1 = cx0 + x0 * fx, cx0 + x1 * fx
            by0, by1 = cy0 + y0 * fy, cy0 + y1 * fy
            bbox = (int(np.floor(bx0)), int(np.floor(by0)), int(np.ceil(bx1)), int(np.ceil(by1)))
            bbox = _clip_box(bbox, content)
        breasts[side] = BreastImage(side, out, bbox, content, cut_off)
    return ExamMips(patient, breasts, scale, midline, chest, (top, bottom), mm_per_px, box_side)


def _place(img: np.ndarray, dy: float, dx: float, mm_per_px: float, size: int):
    """Resize ``img`` to ``mm_per_px`` (aspect kept) and pad into ``size x size``, anchored bottom-right."""
    from PIL import Image

    h = int(np.clip(round(img.shape[0] * dy / mm_per_px), 1, size))
    w = int(np.clip(round(img.shape[1] * dx / mm_per_px), 1, size))
    # Pillow's bilinear filter widens with the reduction factor, so downsampling is antialiased
    small = np.asarray(
        Image.fromarray(np.ascontiguousarray(img, dtype=np.float32), mode="F").resize(
            (w, h), Image.Resampling.BILINEAR
        ),
        dtype=np.float32,
    )
    out = np.zeros((size, size), np.float32)
    y0, x0 = size - h, size - w
    out[y0:, x0:] = small
    return out, (x0, y0, size, size), h / img.shape[0], w / img.shape[1]


def _clip_box(b: tuple[int, int, int, int], content: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    x0, y0, x1, y1 = max(b[0], content[0]), max(b[1], content[1]), min(b[2], content[2]), min(b[3], content[3])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


# ============================================================================ labels
def breast_labels(
    clinical_row: pd.Series | dict, box_side: str | None, bilateral: str = "exclude", patient: str = "?"
) -> tuple[dict[str, int], list[str]]:
    """``({"R": 0/1, "L": 0/1}, notes)`` for one patient; raises when the patient must be left out.

    The side of ``tumor_location`` is abnormal; bilateral cancer (``bilateral == "yes"``) or
    contralateral involvement (``contralateral_involvement == "yes"``) makes both abnormal
    (left out when ``bilateral="exclude"``). A missing ``tumor_location`` falls back to the
    side of the box (a note says so); a box on the other side raises.
    """
    row = dict(clinical_row)
    loc = row.get("tumor_location")
    side = _WORD_SIDE.get(str(loc).strip().lower()) if loc is not None and not pd.isna(loc) else None
    notes: list[str] = []
    if side is None:
        if box_side is None:
            raise BreastlabInputError(f"patient {patient}: tumour side unknown (no tumor_location and no box)")
        side = box_side
        notes.append(
            f"patient {patient}: tumor_location missing; the {_SIDE_WORD[side]} breast is abnormal "
            "because the tumour box lies on that side of the body midline"
        )
    elif box_side is not None and box_side != side:
        raise BreastlabInputError(
            f"patient {patient}: tumor_location says {_SIDE_WORD[side]} but the tumour box lies in the "
            f"{_SIDE_WORD[box_side]} breast (of the midline found in the image); left out"
        )
    why = both_abnormal(row)
    labels = {s: int(s == side) for s in SIDES}
    if why:
        if bilateral == "exclude":
            raise BreastlabInputError(_both_message(patient, why))
        labels = {s: 1 for s in SIDES}
        notes.append(f"patient {patient}: both breasts abnormal ({why}); the box marks the {_SIDE_WORD[side]} one only")
    return labels, notes


def both_abnormal(clinical_row: pd.Series | dict) -> str:
    """Why both breasts of a patient are abnormal (``"bilateral = yes"``, ...), or ``""``."""
    row = dict(clinical_row)
    both = [k for k in ("bilateral", "contralateral_involvement") if str(row.get(k, "")).strip().lower() == "yes"]
    return " and ".join(f"{k} = yes" for k in both)


def _both_message(patient: str, why: str) -> str:
    return (
        f"patient {patient}: both breasts abnormal ({why}); left out (bilateral='exclude'; use "
        "bilateral='include' to keep both breasts labelled abnormal)"
    )


# ============================================================================ the store
@dataclasses.dataclass
class _Job:
    patient_id: str
    pre: str
    post: str
    box: dict[str, int] | None
    settings: MipSettings
    clinical: dict[str, Any] | None = None  # attached in the parent once the clinical table is read
    pre_files: tuple[str, ...] | None = None  # the series' files in ``pre`` (None: the whole folder)
    post_files: tuple[str, ...] | None = None
    where: str = ""  # the exam's row of a cohort table, named in its errors


_LOCAL = threading.local()


def _read_buffers() -> tuple:
    """This thread's two :class:`~breastlab.data.duke.dicom.ReadBuffer` (pre, post)."""
    from breastlab.data.duke.dicom import ReadBuffer

    if not hasattr(_LOCAL, "buffers"):
        _LOCAL.buffers = (ReadBuffer(), ReadBuffer())
    return _LOCAL.buffers


def _exam_images(job: _Job) -> ExamMips:
    """Read, project, split one exam (runs in a worker; needs no clinical data). The breasts'
    images are returned as uint8 (a quarter of the float32 bytes to send back). An error names the
    exam's table row where it has one."""
    try:
        return _read_exam_images(job)
    except BreastlabInputError as exc:
        if not job.where:
            raise
        raise BreastlabInputError(f"{job.where}: {exc}") from exc


def _read_exam_images(job: _Job) -> ExamMips:
    from breastlab.data.mri_volumes import read_phase_slices

    # Stored slices, no float32 volumes: both projections are computed slice by slice. The file
    # bytes go into buffers kept for the next patient (fresh memory costs a page fault per 4 kB).
    # A phase is a series folder (or some of its files), a NIfTI or a multi-frame DICOM file.
    buffers = _read_buffers()
    pre_slices, pre = read_phase_slices(job.pre, job.pre_files, header=False, buffer=buffers[0])
    post_slices, post = read_phase_slices(job.post, job.post_files, header=False, buffer=buffers[1])
    sub_mip, pre_mip = subtraction_mips(pre_slices, pre, post_slices, post, job.patient_id)
    del pre_slices, post_slices
    ex = breast_mips(sub_mip, pre_mip, pre, job.settings, job.box, job.patient_id)
    for b in ex.breasts.values():
        b.image = window_to_uint8(b.image, 0.0, 1.0)  # the documented round(255 * clip(MIP / P, 0, 1))
    return ex


def _assemble(job: _Job, ex: ExamMips) -> tuple[list[np.ndarray], pd.DataFrame, pd.DataFrame | None, list[str]]:
    """Labels, manifest and findings rows of one exam (in the parent, with the clinical row)."""
    from breastlab.data.store import FINDING_COLUMNS

    labels, notes = breast_labels(job.clinical, ex.box_side, job.settings.bilateral, job.patient_id)
    images, rows, finds = [], [], []
    for side in SIDES:
        b = ex.breasts[side]
        if b.cut_off:
            notes.append(
                f"patient {job.patient_id}: the {_SIDE_WORD[side]} breast is cut off by the field of view "
                "(body tissue on the outer image column); that breast is left out"
            )
            continue
        image_id = f"{job.patient_id}:{side}"
        images.append(b.image)
        rows.append(
            {
                "image_id": image_id,
                "patient_id": job.patient_id,
                "side": side,
                "laterality": _SIDE_WORD[side],
                "label": labels[side],
                "has_box": b.box is not None,
                "mip_scale": ex.scale,
                "midline_col": ex.midline,
                "chest_row": ex.chest_row,
                "band_top": ex.band[0],
                "band_bottom": ex.band[1],
                "mm_per_px": ex.mm_per_px,
                "content_x0": b.content[0],
                "content_y0": b.content[1],
                "content_x1": b.content[2],
                "content_y1": b.content[3],
                "pre_series": shareable_name(Path(job.pre).name, "series-"),
                "post_series": shareable_name(Path(job.post).name, "series-"),
            }
        )
        if b.box is not None:
            finds.append((image_id, f"{image_id}:0", "tumour_box", *b.box))
    if not images:
        raise BreastlabInputError(f"patient {job.patient_id}: no usable breast (both cut off by the field of view)")
    # column by column (a frame from row dicts infers every column's type per patient: ~0.3 ms); none: no frame
    findings = (
        pd.DataFrame(dict(zip(FINDING_COLUMNS, map(list, zip(*finds, strict=True)), strict=True))) if finds else None
    )
    return images, _manifest_frame(rows, job.clinical), findings, notes


def _manifest_frame(rows: list[dict[str, Any]], clinical: dict[str, Any]) -> pd.DataFrame:
    """The shard's manifest rows (MIP columns, then the clinical columns) as one object block.

    Column types are settled once, when the store's manifest is written (Parquet infers them
    from the values: the same types and values as a frame built from row dicts). Built
    column by column, ~116 typed columns cost ~3 ms per patient here and again in every
    later copy of the shard's table.
    """
    clin = {k: v for k, v in clinical.items() if k not in rows[0]}
    cols = [*rows[0], *clin]
    values = np.empty((len(rows), len(cols)), dtype=object)
    for i, r in enumerate(rows):
        for j, v in enumerate([*r.values(), *clin.values()]):
            values[i, j] = v  # element by element: a list-like value stays one cell
    return pd.DataFrame(values, columns=cols, dtype=object)


@locks_folder("out")  # one writer per store folder
def build_mip_store(
    source,
    out: str | os.PathLike,
    settings: MipSettings = MipSettings(),  # noqa: B008
    workers: int = 1,
    patients: Sequence[str] | None = None,
    progress: bool = True,
) -> tuple[ArrayStore, ProblemLog]:
    """Build the breast-MIP store from a Duke/phantom cohort (resumable, parallel over patients).

    ``source``: a cohort folder (DICOM tree, Clinical_and_Other_Features.xlsx, boxes file) or
    ``(dicom_root, clinical_xlsx, boxes_file)``. Bad exams are listed in ``OUT/problems.csv``
    (with notes about kept ones) and the others are processed. Returns the store and the log.

    With ``workers > 1`` the worker processes start at once and take the exams (images need
    no clinical data) while this process reads the clinical table; labels, manifest rows and
    shards are made here. With one worker the clinical table comes first, so exams of patients
    left out for their clinical data are not read.
    """
    from breastlab.data.duke.boxes import read_boxes
    from breastlab.data.duke.clinical import read_clinical_records
    from breastlab.data.duke.dicom import index_dicom_tree
    from breastlab.data.export import WORKER_MODULES, resolve_source, source_fingerprint

    settings.validate()
    check_workers(workers)
    out = Path(out)
    dicom_root, clinical_path, boxes_path = resolve_source(source)
    problems = ProblemLog()
    # the worker processes start now, while the tables are read
    with JobRunner(workers, problems, STAGE, preload=[*WORKER_MODULES, __name__], desc="anomaly mip",
                   progress=progress) as runner:  # fmt: skip
        index = index_dicom_tree(dicom_root, problems=problems)
        inputs = source_fingerprint(index, boxes_path, clinical_path, dataclasses.asdict(settings), patients)
        finished = _finished(out, settings, patients, inputs)
        if finished is not None:
            return finished
        boxes = read_boxes(boxes_path).drop_duplicates("patient_id").set_index("patient_id")
        writer = _mip_writer(out, settings, inputs, "Duke-Breast-Cancer-MRI", "build_mip_store")
        exams = _plan(index, boxes, settings, problems, patients)
        jobs = _run_exams(runner, writer, exams, lambda: read_clinical_records(clinical_path), settings, problems)
    return _finish(out, writer, jobs, problems)


def _mip_writer(out: Path, settings: MipSettings, inputs: dict[str, str], source: str, builder: str) -> StoreWriter:
    """The store's writer (``source`` names the data, never a local path: store.json is shared; ``builder``
    names the function of this module that made it); a resumed job must use the interrupted one's settings."""
    meta = {
        "modality": "mri_mip",
        "normalisation": settings.normalisation(),
        "settings": dataclasses.asdict(settings),
        "source": source,
        "generator": f"{__name__}.{builder}",
    }
    writer = StoreWriter(
        out, layout="fixed", dtype="uint8", shape=(settings.size, settings.size), meta=meta, inputs=inputs
    )
    saved = writer.meta.get("settings")
    if saved is not None and saved != dataclasses.asdict(settings):
        raise BreastlabInputError(
            f"{out}: resuming with settings {dataclasses.asdict(settings)} but the "
            f"interrupted job used {saved}; use the same settings or another folder"
        )
    return writer


def _run_exams(
    runner: JobRunner,
    writer: StoreWriter,
    exams: list[_Job],
    load_clinical: Any,
    settings: MipSettings,
    problems: ProblemLog,
) -> dict[str, _Job]:
    """Project the exams not yet in the store (workers) and store each with its labels (here); returns the
    kept exams with their clinical rows. ``load_clinical()`` gives the clinical rows by patient; it runs
    while the workers read the first exams."""
    done = writer.done_keys()
    todo = [j for j in exams if j.patient_id not in done]
    jobs: dict[str, _Job] = {}  # the kept exams with their clinical rows

    def attach_clinical() -> set[str]:
        """Runs while the workers read the first exams; returns the patients left out (clinical data)."""
        jobs.update((j.patient_id, j) for j in _attach_clinical(exams, load_clinical(), settings, problems))
        return {j.patient_id for j in todo} - set(jobs)

    def store_exam(job: _Job, ex: ExamMips) -> None:
        images, man, finds, notes = _assemble(jobs[job.patient_id], ex)  # labelled here, with the clinical row
        # notes kept with the images (in memory, then in a checkpoint batch): a resumed job reports them
        writer.add(job.patient_id, images, man, finds, extra=notes or None)

    try:
        runner.run(_exam_images, todo, key=lambda job: job.patient_id, on_result=store_exam,
                   before_results=attach_clinical, initial=len(exams) - len(todo))  # fmt: skip
    finally:
        _LOCAL.__dict__.pop("buffers", None)  # two series of file bytes: not kept after the build
    return jobs


def _finish(
    out: Path, writer: StoreWriter, jobs: dict[str, _Job], problems: ProblemLog
) -> tuple[ArrayStore, ProblemLog]:
    """The notes of every stored exam into the problem log, the store finalised, ``problems.csv`` written."""
    notes_path = out / ".shards" / "notes"
    notes = {}
    for path in sorted(notes_path.glob("*.json")) if notes_path.exists() else []:  # shards of older versions
        saved = json.loads(path.read_text())
        notes[saved["patient_id"]] = saved["notes"]
    notes.update(writer.extras())
    for pid in sorted(notes, key=lambda pid: f"{StoreWriter._safe(pid)}.json"):  # as the notes files sort
        for note in notes[pid]:
            problems.add(pid, "note", note)
    store = writer.finalize(key_order=list(jobs))
    problems.write(out / "problems.csv")
    return store, problems


@dataclasses.dataclass(frozen=True)
class MipExam:
    """One exam of a cohort table for :func:`build_mip_store_from_exams`: the pre-contrast and the
    subtracted post-contrast phase (a series folder with its files or None for all, a NIfTI or a
    multi-frame DICOM file), the in-plane tumour box (Duke's 1-based inclusive ``start_row`` ..
    ``end_column``) or None, and the clinical row (``tumor_location``, ``bilateral``,
    ``contralateral_involvement`` decide the labels; every value lands in the manifest)."""

    patient_id: str
    pre: str
    post: str
    box: dict[str, int] | None
    clinical: dict[str, Any]
    pre_files: tuple[str, ...] | None = None
    post_files: tuple[str, ...] | None = None
    where: str = ""  # its row of the table ("cohort.csv row 3"), named in problems


@locks_folder("out")  # one writer per store folder
def build_mip_store_from_exams(
    exams: Sequence[MipExam],
    out: str | os.PathLike,
    settings: MipSettings = MipSettings(),  # noqa: B008
    *,
    inputs: dict[str, str],
    source: str,
    workers: int = 1,
    problems: ProblemLog | None = None,
    progress: bool = True,
) -> tuple[ArrayStore, ProblemLog]:
    """:func:`build_mip_store` from exams listed by a cohort table instead of a Duke tree: the same
    subtraction MIPs, breasts, labels, boxes, store and problems (resumable, parallel over patients).

    ``inputs`` fingerprints what the exams were read from (a finished store with other inputs is refused);
    ``source`` names the data in ``store.json``; ``problems`` may hold the table's rows already left out.
    """
    settings.validate()
    check_workers(workers)
    out = Path(out)
    problems = problems if problems is not None else ProblemLog()
    finished = _finished(out, settings, None, inputs)
    if finished is not None:
        return finished
    writer = _mip_writer(out, settings, inputs, source, "build_mip_store_from_exams")
    jobs = [_Job(e.patient_id, e.pre, e.post, e.box, settings, None, e.pre_files, e.post_files, e.where) for e in exams]
    clinical = {e.patient_id: dict(e.clinical) for e in exams}
    with JobRunner(min(workers, max(1, len(jobs))), problems, STAGE, preload=[*_WORKER_MODULES, __name__],
                   desc="anomaly mip", progress=progress) as runner:  # fmt: skip
        kept = _run_exams(runner, writer, jobs, lambda: clinical, settings, problems)
    return _finish(out, writer, kept, problems)


_WORKER_MODULES = ["breastlab.data.duke.dicom", "breastlab.data.mri_volumes"]


def _finished(
    out: Path, settings: MipSettings, patients, inputs: dict[str, str]
) -> tuple[ArrayStore, ProblemLog] | None:
    """A complete store with the same settings and inputs is returned as it is (nothing is recomputed)."""
    if patients is not None or not (out / "store.json").exists() or (out / ".shards").exists():
        return None
    store = ArrayStore(out)
    if store.meta.get("settings") != dataclasses.asdict(settings):
        raise BreastlabInputError(
            f"{out}: holds a MIP store built with {store.meta.get('settings')}; use the same settings or another folder"
        )
    check_fingerprint(out, store.meta.get("fingerprint"), inputs, "the finished store")
    log = ProblemLog()
    if (out / "problems.csv").exists():
        for rec in pd.read_csv(out / "problems.csv", dtype=str).fillna("").itertuples():
            log.add(rec.item, rec.stage, rec.message)
    return store, log


def _plan(
    index: pd.DataFrame,
    boxes: pd.DataFrame,
    settings: MipSettings,
    problems: ProblemLog,
    patients: Sequence[str] | None,
) -> list[_Job]:
    """One job per patient with both series (clinical rows are attached by :func:`_attach_clinical`)."""
    jobs = []
    wanted = None if patients is None else set(patients)
    series: dict[str, list[dict[str, Any]]] = {}
    for rec in index[["patient_id", "sequence", "path", "series"]].to_dict("records"):
        series.setdefault(rec["patient_id"], []).append(rec)
    box_cols = ["start_row", "end_row", "start_column", "end_column"]
    box_rows = dict(zip(boxes.index, boxes[box_cols].to_dict("records"), strict=True))
    for pid in sorted(series):
        if wanted is not None and pid not in wanted:
            continue
        grp = series[pid]
        pre = [r["path"] for r in grp if r["sequence"] == "pre"]
        post = [r["path"] for r in grp if r["sequence"] == settings.post]
        if not pre or not post:
            what = "pre-contrast" if not pre else f"{settings.post} post-contrast"
            problems.add(
                pid,
                STAGE,
                f"patient {pid}: no {what} series among {[r['series'] for r in grp]}; the subtraction needs both",
            )
            continue
        box = {k: int(v) for k, v in box_rows[pid].items()} if pid in box_rows else None
        jobs.append(_Job(pid, pre[0], post[0], box, settings))
    return jobs


def _attach_clinical(
    jobs: list[_Job], clinical_rows: dict[str, dict[str, Any]], settings: MipSettings, problems: ProblemLog
) -> list[_Job]:
    """The jobs of patients in the clinical table (:func:`~breastlab.data.duke.clinical.read_clinical_records`),
    with their row; patients whose both breasts are abnormal are left out here when
    ``bilateral="exclude"`` (known without their images)."""
    kept = []
    for job in jobs:
        pid = job.patient_id
        if pid not in clinical_rows:
            problems.add(pid, STAGE, f"patient {pid}: not in the clinical table (labels come from tumor_location)")
            continue
        row = dict(clinical_rows[pid])
        if settings.bilateral == "exclude" and (why := both_abnormal(row)):
            problems.add(pid, STAGE, _both_message(pid, why))
            continue
        kept.append(dataclasses.replace(job, clinical=row))
    return kept


# ============================================================================ store summary
@dataclasses.dataclass(frozen=True)
class BreastCounts:
    """How many breasts a MIP store holds, per side and label (0 normal, 1 abnormal)."""

    table: pd.DataFrame  # columns side, label, breasts
    breasts: int
    patients: int


def breast_counts(manifest: pd.DataFrame) -> BreastCounts:
    """Breasts per (side, label) of a MIP store's manifest, with the totals of breasts and patients."""
    missing = [c for c in ("side", "label", "patient_id") if c not in manifest.columns]
    if missing:
        raise BreastlabInputError(f"the MIP manifest lacks the column(s) {missing}; need side, label and patient_id")
    table = manifest.groupby(["side", "label"]).size().rename("breasts").reset_index()
    return BreastCounts(table, len(manifest), int(manifest["patient_id"].nunique()))


# ============================================================================ contact sheet
def contact_sheet(
    store: ArrayStore | str | os.PathLike, path: str | os.PathLike, n_per_class: int = 4, seed: int = 0
) -> Path:
    """PNG of ``n_per_class`` abnormal (with their box in red) and normal breast MIPs."""
    from PIL import Image, ImageDraw

    from breastlab._io import atomic_path

    store = store if isinstance(store, ArrayStore) else ArrayStore(store)
    man = store.manifest
    if not len(man):
        raise BreastlabInputError(f"{store.path}: the MIP store holds no breast; see {store.path / 'problems.csv'}")
    rng = np.random.default_rng(seed)
    picks = []
    for label in (1, 0):
        rows = man.loc[man["label"] == label, "row"].to_numpy()
        picks.append(rng.choice(rows, size=min(n_per_class, len(rows)), replace=False) if len(rows) else [])
    size = store.shape[0]
    n_cols = max(1, max(len(p) for p in picks))
    sheet = Image.new("RGB", (n_cols * (size + 4), 2 * (size + 4)), (40, 40, 40))
    draw = ImageDraw.Draw(sheet)
    for r, rows in enumerate(picks):
        for c, row in enumerate(rows):
            img = Image.fromarray(store[int(row)]).convert("RGB")
            x, y = c * (size + 4) + 2, r * (size + 4) + 2
            sheet.paste(img, (x, y))
            image_id = man.loc[man["row"] == row, "image_id"].iloc[0]
            for f in store.findings_for(image_id).itertuples():
                draw.rectangle([x + f.x0, y + f.y0, x + f.x1 - 1, y + f.y1 - 1], outline=(255, 0, 0))
            draw.text((x + 3, y + 3), f"{image_id} ({'abnormal' if r == 0 else 'normal'})", fill=(255, 255, 0))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return Path(path)
