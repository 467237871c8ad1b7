"""Plain descriptions of a phantom patient: everything needed to render and write it.

A :class:`MRIPatient` is drawn once (cheaply, no voxels) from the cohort seed, so
the tumour mask and box can be regenerated without rendering (``tumour_mask``).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Tumour:
    side: str  # "L" or "R" (patient side)
    centre: tuple[float, float, float]  # (slice, row, column), 0-based voxel coordinates
    semi_axes: tuple[float, float, float]  # voxels along (slice, rotated row, rotated column)
    angle: float  # in-plane rotation, radians
    lobes: tuple[tuple[float, float, float, float, float], ...]  # (f_z, f_y, f_x, amplitude, phase)
    enhancement: float  # relative signal increase at the first post-contrast phase
    washout: float  # post_k / post_1 uptake ratio per later phase (<1 washout, >1 persistent)
    rim: float  # 0: homogeneous, up to ~0.6: rim enhancement (less uptake in the core)


@dataclasses.dataclass(frozen=True)
class Anatomy:
    """Shape parameters in normalised field-of-view coordinates (see ``_render``)."""

    chest_y: float
    chest_curve: float
    skin: float
    breast_x: tuple[float, float]  # |x| of the right and left breast centres
    breast_w: tuple[float, float]
    breast_d: tuple[float, float]
    breast_zc: float
    breast_zr: float
    torso_w: float
    torso_h: float
    fgt_central: float
    fgt_threshold: float
    bpe: float  # background parenchymal enhancement (relative, at the last phase)
    pec_t: float
    lung_y: float
    heart_z: float
    vessels: tuple[tuple[float, float, float, float, float, float], ...]
    curves: tuple[tuple[float, float, float], ...]  # per phase: (c_fast, c_slow, c_tumour)
    bias_amp: float
    bias_terms: tuple[float, float, float, float]


@dataclasses.dataclass(frozen=True)
class Series:
    phase: str  # "pre", "post1", ...
    number: int  # DICOM SeriesNumber
    description: str  # DICOM SeriesDescription
    folder: str  # TCIA folder "<number>.000000-<description>-<5 digits>"


@dataclasses.dataclass(frozen=True)
class MRIPatient:
    patient_id: str
    number: int  # 1-based patient number (Breast_MRI_NNN)
    seed: int  # cohort seed
    shape: tuple[int, int, int]  # (n_slices, rows, columns)
    phases: tuple[str, ...]
    manufacturer: str
    model: str
    field_strength: float
    nominal_matrix: int  # the scanner's matrix (512 / 448 / 320), also in the clinical table
    fov_mm: float
    pixel_spacing: float
    slice_thickness: float
    spacing: float
    origin: tuple[float, float, float]  # ImagePositionPatient of slice index 0
    descending: bool  # InstanceNumber 1 is the most superior slice
    tr: float
    te: float
    flip_angle: float
    scan_options: str
    patient_position: str
    contrast_agent: str | None
    acquisition_matrix: tuple[int, int]
    birth_days: int | None  # date of birth, days from diagnosis (negative)
    days_to_mri: int | None
    study_folder: str
    series: tuple[Series, ...]
    gain: float
    noise_sigma: float
    tumour: Tumour
    anatomy: Anatomy

    @property
    def n_slices(self) -> int:
        return self.shape[0]

    def position(self, slice_index: int) -> tuple[float, float, float]:
        """ImagePositionPatient of ``slice_index`` (axial, slices ascend in z)."""
        x0, y0, z0 = self.origin
        return (x0, y0, z0 + slice_index * self.spacing)
