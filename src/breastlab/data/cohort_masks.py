"""The lesion label of a cohort-table row: Duke's 1-based inclusive box columns, or a ``mask`` (NIfTI or
DICOM SEG on the image's grid) reduced to that box."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydicom

from breastlab.data.cohort_scan import BOX_COLUMNS, resolve_cell
from breastlab.data.mri_volumes import NIFTI_SUFFIXES, frame_count, read_header, read_nifti_slices, read_phase_slices
from breastlab.errors import BreastlabInputError

MASK_COLUMN = "mask"


def box_from_mask(
    root: Path, cell: str, folder: Path, names: list[str] | None, row: pd.Series, pid: str
) -> pd.DataFrame:
    """Duke's box (1-based inclusive rows, columns and slices) around the voxels of a mask on the image's
    grid: a NIfTI mask (voxels > 0.5, laid out as :func:`read_nifti_slices` lays out images, with the
    image's slices and matrix) or a DICOM SEG (:func:`read_seg_mask`: any segment, frames placed on
    the image's slices by position)."""
    given = [c for c in BOX_COLUMNS if c in row.index and str(row[c]).strip()]
    if given:
        raise BreastlabInputError(
            f"column {MASK_COLUMN} and box column(s) {', '.join(given)} both given; give the label one way"
        )
    if Path(cell).is_absolute() or ".." in Path(cell).parts:
        raise BreastlabInputError(
            f"column {MASK_COLUMN}: {cell} must be a NIfTI file (.nii, .nii.gz) or a DICOM SEG file relative to "
            "--root, inside it"
        )
    path = resolve_cell(root, cell, MASK_COLUMN)
    if not path.is_file():
        raise BreastlabInputError(f"column {MASK_COLUMN}: file {cell} does not exist under --root")
    if cell.lower().endswith(NIFTI_SUFFIXES):
        voxels = _nifti_mask(path, cell, folder, names)
    else:
        voxels = read_seg_mask(path, folder, names, cell)
    if not voxels.any():
        raise BreastlabInputError(f"column {MASK_COLUMN}: mask {cell} is empty (no voxel > 0.5)")
    (z0, z1), (r0, r1), (c0, c1) = (
        (int(i[0]) + 1, int(i[-1]) + 1)
        for i in (np.flatnonzero(voxels.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1)))
    )
    values = dict(zip(BOX_COLUMNS, (r0, r1, c0, c1, z0, z1), strict=True))
    return pd.DataFrame([{"patient_id": pid, **values}])


def _nifti_mask(path: Path, cell: str, folder: Path, names: list[str] | None) -> np.ndarray:
    """The voxels > 0.5 of a NIfTI mask as (slices, rows, columns), checked to lie on the image's grid."""
    slices, _ = read_nifti_slices(path)
    voxels = np.stack([sl.pixels > 0.5 for sl in slices])
    image = _image_shape(folder, names)
    if voxels.shape != image:
        raise BreastlabInputError(
            f"column {MASK_COLUMN}: mask {cell} has {voxels.shape[0]} slices of {voxels.shape[1]}x{voxels.shape[2]} "
            f"but the image has {image[0]} slices of {image[1]}x{image[2]}; the mask must be drawn on the image's grid"
        )
    if folder.is_file() and folder.name.lower().endswith(NIFTI_SUFFIXES):  # where the image lies, not only its shape
        import nibabel as nib

        image_affine = nib.as_closest_canonical(nib.load(folder)).affine
        mask_affine = nib.as_closest_canonical(nib.load(path)).affine
        if not np.allclose(image_affine, mask_affine, atol=1e-3 * max(1.0, float(np.abs(image_affine).max()))):
            raise BreastlabInputError(
                f"column {MASK_COLUMN}: mask {cell} has the image's shape but another affine (position, spacing "
                "or orientation); the mask must be drawn on the image's grid"
            )
    return voxels


SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"  # Segmentation Storage SOP class
# Largest distance (a fraction of the smallest voxel side) between a SEG frame and the image slice it is placed on.
SEG_POSITION_TOL = 0.05


def read_seg_mask(
    path: str | os.PathLike, image: str | os.PathLike, names: Sequence[str] | None = None, shown_as: str = ""
) -> np.ndarray:
    """A DICOM SEG (highdicom) as a boolean mask on the grid of its image, (slices, rows, columns) in the
    slice order of the image's reader: a voxel is set where any segment covers it.

    Each SEG frame is placed on the image slice at its position (PlanePositionSequence, within
    ``SEG_POSITION_TOL`` of the smallest voxel side); the SEG's orientation, pixel spacing and matrix must
    be the image's. Frames the SEG omits (highdicom leaves empty frames out) are empty. Raises
    :class:`BreastlabInputError` naming the file for a file that is not a SEG, or a SEG that does not lie
    on the image's grid (another matrix, spacing, orientation, or a frame between or beyond the slices).
    """
    import highdicom as hd

    path = Path(path)
    name = shown_as or path.name
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except Exception as exc:  # noqa: BLE001 - any parse failure of a user's file is bad input
        raise BreastlabInputError(f"column {MASK_COLUMN}: {name} is neither NIfTI (.nii, .nii.gz) nor a readable "
                                  f"DICOM file ({type(exc).__name__})") from exc  # fmt: skip
    if str(header.get("SOPClassUID", "")) != SEG_STORAGE:
        raise BreastlabInputError(
            f"column {MASK_COLUMN}: {name} is a DICOM file but not a segmentation (SOPClassUID "
            f"{header.get('SOPClassUID', 'missing')}, expected {SEG_STORAGE}); give a DICOM SEG or a NIfTI mask"
        )
    try:
        seg = hd.seg.segread(path)
        volume = seg.get_volume(combine_segments=True, skip_overlap_checks=True)
    except Exception as exc:  # noqa: BLE001 - highdicom raises many types on a malformed SEG
        raise BreastlabInputError(f"column {MASK_COLUMN}: {name}: not a readable DICOM SEG "
                                  f"({type(exc).__name__}: {exc})") from exc  # fmt: skip
    slices, vol = read_phase_slices(image, names, header=False)
    rows, cols = slices[0].pixels.shape
    array = np.asarray(volume.array)
    array = array.reshape(array.shape[:3]) if array.ndim == 4 and array.shape[3] == 1 else array
    affine = np.asarray(volume.affine, dtype=float)  # (slice, row, column) index -> patient (LPS) mm
    row_step, col_step = affine[:3, 1], affine[:3, 2]  # along a column (down the rows), along a row
    dy, dx = float(np.linalg.norm(row_step)), float(np.linalg.norm(col_step))
    orientation = np.concatenate([col_step / dx, row_step / dy])
    problems = []
    if array.shape[1:] != (rows, cols):
        problems.append(f"frames of {array.shape[1]}x{array.shape[2]}, the image's slices {rows}x{cols}")
    if not np.allclose((dy, dx), vol.spacing[1:], rtol=1e-3):
        problems.append(f"pixel spacing {dy:g}x{dx:g} mm, the image's {vol.spacing[1]:g}x{vol.spacing[2]:g} mm")
    if not np.allclose(orientation, vol.orientation, atol=1e-3):
        problems.append(f"orientation {orientation.round(4).tolist()}, the image's {vol.orientation.round(4).tolist()}")
    tol = SEG_POSITION_TOL * min(vol.spacing)
    placed = []
    if not problems:
        for k in range(array.shape[0]):
            position = affine[:3, 3] + k * affine[:3, 0]
            distance = np.linalg.norm(vol.positions - position, axis=1)
            nearest = int(np.argmin(distance))
            if distance[nearest] > tol and array[k].any():
                problems.append(f"a frame at {position.round(2).tolist()} mm lies on no slice of the image "
                                f"(nearest {distance[nearest]:.2f} mm away)")  # fmt: skip
                break
            placed.append((nearest, k))
    if problems:
        raise BreastlabInputError(
            f"column {MASK_COLUMN}: SEG {name} does not lie on its image's grid ({'; '.join(problems)}); the "
            "mask must be drawn on the image's slices"
        )
    voxels = np.zeros((len(slices), rows, cols), dtype=bool)
    for slice_index, frame in placed:
        voxels[slice_index] |= array[frame] > 0
    return voxels


def _image_shape(folder: Path, names: list[str] | None) -> tuple[int, int, int]:
    """(slices, rows, columns) of a phase without reading its pixels: a NIfTI's header, or the DICOM file
    count and the first file's matrix."""
    if folder.is_file() and not folder.name.lower().endswith(NIFTI_SUFFIXES):  # one multi-frame DICOM file
        header = read_header(folder)
        return frame_count(folder), int(header.get("Rows", 0)), int(header.get("Columns", 0))
    if folder.is_file():  # NIfTI
        import nibabel as nib

        img = nib.load(folder)
        ornt = nib.orientations.io_orientation(img.affine)
        shape = [img.shape[int(np.flatnonzero(ornt[:, 0] == axis)[0])] for axis in range(3)]  # (x, y, z) extents
        return shape[2], shape[1], shape[0]
    from breastlab.data.duke.dicom import _dicom_names

    files = names if names is not None else _dicom_names(folder)
    header = read_header(folder / files[0])
    return len(files), int(header.get("Rows", 0)), int(header.get("Columns", 0))


def box_from_row(row: pd.Series, pid: str) -> pd.DataFrame:
    """One-row box frame (read_boxes columns) from a table row, validated; rows and columns are
    <NA> where the row gives only the slice range (all four blank or absent)."""
    values: dict[str, Any] = {}
    given = [c for c in BOX_COLUMNS[:4] if str(row.get(c, "")).strip()]
    if 0 < len(given) < 4:
        blank = [c for c in BOX_COLUMNS[:4] if c not in given]
        raise BreastlabInputError(
            f"box column(s) {', '.join(blank)} blank but {', '.join(given)} given; give all four or none"
        )
    for c in BOX_COLUMNS if given else BOX_COLUMNS[4:]:
        text = str(row[c]).strip()
        if not re.fullmatch(r"\+?\d+(\.0*)?", text) or int(float(text)) < 1:
            raise BreastlabInputError(f"column {c} = {text!r}: expected a positive integer (1-based, inclusive)")
        values[c] = int(float(text))
    for c in BOX_COLUMNS[:4]:
        values.setdefault(c, pd.NA)
    for a, b in (("start_row", "end_row"), ("start_column", "end_column"), ("start_slice", "end_slice")):
        if not pd.isna(values[a]) and values[a] > values[b]:
            raise BreastlabInputError(f"{a} {values[a]} is after {b} {values[b]}")
    return pd.DataFrame([{"patient_id": pid, **{c: values[c] for c in BOX_COLUMNS}}])
