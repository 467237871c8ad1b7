"""Synthetic Duke-Breast-Cancer-MRI cohort: DICOM tree, clinical table and boxes in TCIA's formats.

``make_mri_cohort(out, n_patients, seed)`` writes::

    OUT/Duke-Breast-Cancer-MRI/Breast_MRI_001/01-01-1990-NA-BREASTROUTINE DYNAMICS-12345/
        600.000000-ax 3d dyn-54321/1-001.dcm ...       pre-contrast
        601.000000-Ph1ax 3d dyn-00042/1-001.dcm ...    first post-contrast phase
        602.000000-Ph2ax 3d dyn-98765/...              second post-contrast phase
    OUT/Clinical_and_Other_Features.xlsx               98 columns, TCIA's 3-row header
    OUT/Annotation_Boxes.csv                           Patient ID, Start Row, ... End Slice

Each patient is drawn in two steps. :func:`plan_mri_cohort` samples the clinical row
(all 98 columns, from the real table's distributions; see ``_build_mri_model.py``) and
from it a :class:`MRIPatient` (scanner, geometry, anatomy, tumour) -- cheap, no voxels.
:func:`render_patient` then synthesises the prone axial DCE volumes: two breasts over
the chest wall, fibroglandular tissue from a thresholded smooth random field, an
irregular enhancing tumour on the side given by ``Tumor Location``, and the
acquisition effects of the scanner (SNR and B1 bias grow with field strength; the
matrix follows the scanner model).

Conventions (as the Duke reader's): slice index ascends with ImagePositionPatient along the
slice normal (here +z); ``Start Slice = slice_index + 1``. InstanceNumber (and the
file name ``1-NNN.dcm``) is in descending position order for about half the
patients, so readers must sort by position. Everything derives from ``seed``
(UIDs included): the same arguments give byte-identical files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from breastlab._io import atomic_path, write_json, write_table
from breastlab.data.phantom import _clinical
from breastlab.data.phantom._dicom import STUDY_DATE, STUDY_DESCRIPTION, write_series
from breastlab.data.phantom._render import render_patient, tumour_block
from breastlab.data.phantom._spec import Anatomy, MRIPatient, Series, Tumour
from breastlab.data.runner import worker_context
from breastlab.errors import BreastlabInputError
from breastlab.problems import check_workers
from breastlab.progress import progress as progress_bar

COLLECTION = "Duke-Breast-Cancer-MRI"
CLINICAL_FILE = "Clinical_and_Other_Features.xlsx"
BOXES_FILE = "Annotation_Boxes.csv"
CONFIG_FILE = ".breastlab_phantom.json"  # hidden: lets an interrupted run resume safely
BOX_COLUMNS = ["Patient ID", "Start Row", "End Row", "Start Column", "End Column", "Start Slice", "End Slice"]
MAX_POST = 4
SCANNER_GAIN = {"GE MEDICAL SYSTEMS": 1.0, "SIEMENS": 0.6}  # vendors scale magnitude images differently

# column positions in the 98-column clinical table
COL = {
    "days_to_mri": 1,
    "manufacturer": 2,
    "model": 3,
    "scan_options": 4,
    "field": 5,
    "position": 6,
    "image_position": 7,
    "contrast": 8,
    "tr": 10,
    "te": 11,
    "acq_matrix": 12,
    "thickness": 13,
    "rows": 14,
    "flip": 17,
    "fov": 18,
    "dob": 19,
    "t_stage": 28,
    "tumor_location": 36,
    "position_text": 37,
}


@dataclasses.dataclass(frozen=True)
class MRICohortPlan:
    """The drawn cohort: raw clinical rows (original column names) and one spec per patient."""

    clinical: pd.DataFrame
    patients: list[MRIPatient]

    def boxes(self) -> pd.DataFrame:
        """Annotation boxes as in TCIA's file (1-based inclusive rows, columns, slices)."""
        return pd.DataFrame([annotation_box(p) for p in self.patients], columns=BOX_COLUMNS)


# ----------------------------------------------------------------------------- planning
def plan_mri_cohort(
    n_patients: int,
    seed: int,
    n_slices: int | None = None,
    matrix: int | None = None,
    n_post: int = 2,
) -> MRICohortPlan:
    """Draw the clinical table and the per-patient specs (no voxels; fast).

    ``n_slices``: slices per volume (``None``: an even number in 48..64 per patient).
    ``matrix``: in-plane size for a 512-matrix scanner; 448 and 320 scanners are scaled
    in proportion (``matrix=128`` gives 128 / 112 / 80) so that matrix size keeps
    following the scanner. ``None``: the real sizes. ``n_post``: post-contrast phases (1-4).
    """
    _check_args(n_patients, seed, n_slices, matrix, n_post)
    raw = _clinical.sample_clinical_raw(n_patients, seed)
    patients = [_plan_patient(raw.iloc[i], i + 1, seed, n_slices, matrix, n_post) for i in range(n_patients)]
    raw.iloc[:, COL["image_position"]] = [
        " X ".join(f"{v:.4f}" for v in p.position(p.n_slices - 1 if p.descending else 0)) for p in patients
    ]
    return MRICohortPlan(raw, patients)


def _check_args(n_patients: Any, seed: Any, n_slices: Any, matrix: Any, n_post: Any) -> None:
    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(n_patients) or not 1 <= n_patients <= 999:
        raise BreastlabInputError(f"n_patients={n_patients!r}: must be an integer from 1 to 999 (Breast_MRI_NNN)")
    if not is_int(seed) or seed < 0:
        raise BreastlabInputError(f"seed={seed!r}: must be a non-negative integer")
    if n_slices is not None and (not is_int(n_slices) or not 8 <= n_slices <= 512):
        raise BreastlabInputError(f"n_slices={n_slices!r}: must be None or an integer from 8 to 512")
    if matrix is not None and (not is_int(matrix) or not 32 <= matrix <= 1024):
        raise BreastlabInputError(f"matrix={matrix!r}: must be None (scanner size) or an integer from 32 to 1024")
    if not is_int(n_post) or not 1 <= n_post <= MAX_POST:
        raise BreastlabInputError(f"n_post={n_post!r}: must be an integer from 1 to {MAX_POST}")


def _plan_patient(
    row: pd.Series, number: int, seed: int, n_slices: int | None, matrix: int | None, n_post: int
) -> MRIPatient:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x9A, number]))
    v = row.to_numpy()
    manufacturer = _clinical.decode(COL["manufacturer"], v[COL["manufacturer"]])
    model_code = int(v[COL["model"]])
    field = float(_clinical.decode(COL["field"], v[COL["field"]]))
    nominal = int(_clinical.decode(COL["rows"], v[COL["rows"]]))
    rows = nominal if matrix is None else max(16, 2 * round(matrix * nominal / 512 / 2))
    Z = int(n_slices) if n_slices is not None else 2 * int(rng.integers(24, 33))
    fov = float(_clinical.decode(COL["fov"], v[COL["fov"]]))
    thickness = float(_clinical.decode(COL["thickness"], v[COL["thickness"]]))
    ps = fov / rows
    origin = (
        -fov / 2 + ps / 2 + rng.uniform(-15, 15),
        -fov / 2 + ps / 2 + rng.uniform(-15, 15),
        float(np.round(rng.uniform(-120, -40), 2)),
    )
    anatomy = _plan_anatomy(rng, field, n_post)
    tumour = _plan_tumour(rng, row, anatomy, (Z, rows, rows), ps, thickness)
    acq = _clinical.decode(COL["acq_matrix"], v[COL["acq_matrix"]]).split(" X ")
    # ContrastBolusAgent: the agent's name, empty when "not stated", absent when "Tag Absent" or unknown
    contrast = _clinical.decode(COL["contrast"], v[COL["contrast"]]) or "Tag Absent"
    contrast_name = None if "Absent" in contrast else "" if "not stated" in contrast else contrast
    gain = SCANNER_GAIN.get(manufacturer, 1.0) * rng.uniform(0.85, 1.2)
    # noise relative to glandular tissue: SNR ~ B0^0.8 (1.5 T: ~4.9 %, 3 T: ~2.8 %)
    sigma = 330.0 * gain * 0.068 * field**-0.8 * rng.uniform(0.9, 1.1)
    return MRIPatient(
        patient_id=row.iloc[0],
        number=number,
        seed=seed,
        shape=(Z, rows, rows),
        phases=("pre", *(f"post{k}" for k in range(1, n_post + 1))),
        manufacturer=manufacturer,
        model=_clinical.decode(COL["model"], model_code),
        field_strength=field,
        nominal_matrix=nominal,
        fov_mm=fov,
        pixel_spacing=ps,
        slice_thickness=thickness,
        spacing=thickness,
        origin=origin,
        descending=bool(rng.random() < 0.5),
        tr=float(v[COL["tr"]]),
        te=float(v[COL["te"]]),
        flip_angle=float(_clinical.decode(COL["flip"], v[COL["flip"]])),
        scan_options=_clinical.decode(COL["scan_options"], v[COL["scan_options"]]),
        patient_position=_clinical.decode(COL["position"], v[COL["position"]]),
        contrast_agent=contrast_name,
        acquisition_matrix=(int(acq[0]), int(acq[1])),
        birth_days=_int_or_none(v[COL["dob"]]),
        days_to_mri=_int_or_none(v[COL["days_to_mri"]]),
        study_folder=f"{STUDY_DATE:%m-%d-%Y}-NA-{STUDY_DESCRIPTION.replace('^', '')}-{rng.integers(100000):05d}",
        series=_plan_series(rng, model_code, n_post),
        gain=float(gain),
        noise_sigma=float(sigma),
        tumour=tumour,
        anatomy=anatomy,
    )


def _int_or_none(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float, np.integer, np.floating)) and not pd.isna(v) else None


def _plan_series(rng: np.random.Generator, model_code: int, n_post: int) -> tuple[Series, ...]:
    """Series numbers and descriptions from the real vocabulary of this scanner model."""
    options = _clinical.clinical_model()["series"][str(model_code)]
    weights = np.array([o[4] for o in options], float)
    pre, post, n_pre, n_post1 = options[rng.choice(len(options), p=weights / weights.sum())][:4]
    series = [Series("pre", n_pre, pre, "")]
    for k in range(1, n_post + 1):
        desc = re.sub(r"Ph1", f"Ph{k}", post)
        desc = re.sub(r"1st", ("1st", "2nd", "3rd", "4th")[k - 1], desc)
        series.append(Series(f"post{k}", n_post1 + k - 1, desc, ""))
    return tuple(
        dataclasses.replace(s, folder=f"{s.number}.000000-{s.description}-{rng.integers(100000):05d}") for s in series
    )


def _plan_anatomy(rng: np.random.Generator, field: float, n_post: int) -> Anatomy:
    u = rng.uniform
    density = u(0.12, 0.5)  # fibroglandular fraction of the breast
    w = u(0.3, 0.37)  # half-width, in units of half the field of view
    d = u(0.2, 0.29)  # depth (nipple to chest wall), in units of the field of view
    vessels = []
    for side in (-1, 1):
        for _ in range(int(rng.integers(2, 5))):
            vessels.append(
                (side * u(0.3, 0.55), u(0.1, 0.6) * d, u(0.01, 0.05), u(1, 4), u(0, 2 * np.pi), u(0.004, 0.008))
            )
    washout = u(0.85, 1.12)
    curves = [(0.0, 0.0, 0.0)] + [
        (0.85 ** (k - 1), 1 - 0.4 * 0.6 ** (k - 1), washout ** (k - 1)) for k in range(1, n_post + 1)
    ]
    # B1 inhomogeneity grows roughly with B0^2 (dielectric effect); left-right sign random
    bias_amp = 0.05 * (field / 1.5) ** 2 * u(0.7, 1.3)
    return Anatomy(
        chest_y=u(0.5, 0.58),
        chest_curve=u(0.06, 0.12),
        skin=0.012,
        breast_x=(u(0.42, 0.48), u(0.42, 0.48)),
        breast_w=(w * u(0.95, 1.05), w * u(0.95, 1.05)),
        breast_d=(d * u(0.95, 1.05), d * u(0.95, 1.05)),
        breast_zc=u(-0.15, 0.15),
        breast_zr=u(0.95, 1.2),
        torso_w=u(0.92, 0.98),
        torso_h=u(0.4, 0.46),
        fgt_central=u(0.5, 1.5),
        fgt_threshold=NormalDist().inv_cdf(1 - density) * 1.1,
        bpe=u(0.05, 0.4),
        pec_t=u(0.03, 0.06),
        lung_y=u(0.18, 0.24),
        heart_z=u(-0.8, -0.4),
        vessels=tuple(vessels),
        curves=tuple(curves),
        bias_amp=bias_amp,
        bias_terms=(rng.choice([-1, 1]) * u(0.4, 1.0), u(-0.5, 0.5), u(0.5, 1.0), u(-0.3, 0.3)),
    )


# tumour diameter (mm) by T stage (AJCC: T1 <= 20 mm, T2 20-50 mm, T3 > 50 mm, T4 any size with extension)
_DIAMETER_MM = {1: (8, 20), 2: (20, 45), 3: (45, 65), 4: (25, 60)}


def _plan_tumour(
    rng: np.random.Generator, row: pd.Series, a: Anatomy, shape: tuple[int, int, int], ps: float, spacing: float
) -> Tumour:
    """Place an irregular ellipsoid inside the breast on the clinical side."""
    u = rng.uniform
    Z, Y, X = shape
    side = row.iloc[COL["tumor_location"]]
    if side not in ("L", "R"):
        # no Tumor Location: the real table's Position column names the other letter (648 of 651 rows)
        text = str(row.iloc[COL["position_text"]]).strip()[:1]
        side = {"L": "R", "R": "L"}.get(text, "L" if rng.random() < 0.5 else "R")
    k = 0 if side == "R" else 1
    sign = -1 if side == "R" else 1  # patient right = image left (low columns)
    zn = float(np.clip(a.breast_zc + u(-0.5, 0.5) * a.breast_zr, -0.7, 0.7))
    prof = np.sqrt(max(1 - ((zn - a.breast_zc) / a.breast_zr) ** 2, 0.25))
    wb, db = a.breast_w[k] * (0.4 + 0.6 * prof), a.breast_d[k] * prof
    xn = sign * a.breast_x[k] + u(-0.35, 0.35) * wb
    yn = a.chest_y + a.chest_curve * xn**2 - db * u(0.3, 0.65)
    stage = row.iloc[COL["t_stage"]]
    lo, hi = _DIAMETER_MM.get(int(stage) if isinstance(stage, (int, float)) and not pd.isna(stage) else 0, (10, 35))
    semi_mm = u(lo, hi) / 2 * u(0.75, 1.15, size=3)
    az = float(np.clip(semi_mm[0] / spacing, 2.0, 0.2 * Z))
    ay = float(np.clip(semi_mm[1] / ps, 2.5, max(2.5, 0.35 * db * Y)))
    ax = float(np.clip(semi_mm[2] / ps, 2.5, max(2.5, 0.4 * wb * X / 2)))
    lobes = []
    for _ in range(5):
        direction = rng.standard_normal(3)
        direction *= u(1.0, 3.0) / np.linalg.norm(direction)
        lobes.append((*map(float, direction), u(0.02, 0.06), u(0, 2 * np.pi)))
    reach = 1.0 + sum(lobe[3] for lobe in lobes)
    cz = float(np.clip((zn + 1) / 2 * Z - 0.5, az * reach + 1, Z - 2 - az * reach))
    cy = float(np.clip(yn * Y - 0.5, ay * reach + 1, Y - 2 - ay * reach))
    cx = float(np.clip((xn + 1) / 2 * X - 0.5, ax * reach + 1, X - 2 - ax * reach))
    return Tumour(
        side=side,
        centre=(cz, cy, cx),
        semi_axes=(az, ay, ax),
        angle=u(0, np.pi),
        lobes=tuple(lobes),
        enhancement=u(1.3, 2.2),
        washout=a.curves[2][2] if len(a.curves) > 2 else 1.0,
        rim=u(0.3, 0.6) if rng.random() < 0.4 else 0.0,
    )


def annotation_box(patient: MRIPatient) -> dict[str, Any]:
    """The tight bounding box of the tumour mask, 1-based inclusive (TCIA's Annotation_Boxes)."""
    window, block, _ = tumour_block(patient.tumour, patient.shape)
    idx = [np.flatnonzero(block.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1))]
    (z0, z1), (r0, r1), (c0, c1) = (
        (int(i[0]) + w.start + 1, int(i[-1]) + w.start + 1) for i, w in zip(idx, window, strict=True)
    )
    return dict(zip(BOX_COLUMNS, [patient.patient_id, r0, r1, c0, c1, z0, z1], strict=True))


# ----------------------------------------------------------------------------- writing
def make_mri_cohort(
    out: str | os.PathLike,
    n_patients: int,
    seed: int = 0,
    n_slices: int | None = None,
    matrix: int | None = None,
    workers: int = 1,
    n_post: int = 2,
    progress: bool = True,
) -> Path:
    """Write a phantom cohort in the Duke/TCIA layout under ``out``; returns ``out``.

    Patients are written one folder at a time (rendered into a hidden folder, then
    renamed), so an interrupted run resumes where it stopped when called again with
    the same arguments; other arguments on an existing cohort raise
    :class:`BreastlabInputError`. ``workers`` processes render patients in parallel;
    the output does not depend on it. See :func:`plan_mri_cohort` for the arguments.
    """
    check_workers(workers)
    out = Path(out)
    plan = plan_mri_cohort(n_patients, seed, n_slices=n_slices, matrix=matrix, n_post=n_post)
    config = {
        "generator": "breastlab.data.phantom.make_mri_cohort",
        "n_patients": n_patients,
        "seed": seed,
        "n_slices": n_slices,
        "matrix": matrix,
        "n_post": n_post,
        "model": _model_digest(),
    }
    _claim(out, config)
    root = out / COLLECTION
    todo = [p for p in plan.patients if not (root / p.patient_id).is_dir()]
    bar = progress_bar(
        total=len(plan.patients),
        initial=len(plan.patients) - len(todo),
        desc="phantom MRI",
        unit="patient",
        disable=not progress,
    )
    with bar:
        if workers == 1 or len(todo) <= 1:
            for p in todo:
                write_patient(p, root)
                bar.update()
        else:
            ctx = worker_context([__name__])  # the package's one way to start workers
            with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as pool:
                for _ in pool.map(write_patient, todo, [root] * len(todo)):
                    bar.update()
    write_clinical(plan.clinical, out / CLINICAL_FILE)
    write_table(plan.boxes(), out / BOXES_FILE)
    return out


def _model_digest() -> str:
    text = json.dumps(_clinical.clinical_model(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _claim(out: Path, config: dict[str, Any]) -> None:
    """Record the arguments in ``out``; refuse to mix two cohorts in one folder."""
    path = out / CONFIG_FILE
    if path.exists():
        old = json.loads(path.read_text())
        if old != config:
            diff = {k: (old.get(k), v) for k, v in config.items() if old.get(k) != v}
            raise BreastlabInputError(
                f"{out}: holds a phantom cohort made with other arguments {diff} (old, new); "
                "use an empty folder or the same arguments to resume"
            )
    elif out.exists() and any(out.iterdir()):
        raise BreastlabInputError(f"{out}: folder is not empty and holds no phantom cohort; use an empty folder")
    write_json(config, path)


def write_patient(patient: MRIPatient, root: str | os.PathLike) -> Path:
    """Render and write one patient's series under ``root/<patient_id>`` (atomically, by rename)."""
    root = Path(root)
    final = root / patient.patient_id
    partial = root / f".{patient.patient_id}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    volumes = render_patient(patient)
    for series in patient.series:
        write_series(patient, series, volumes[series.phase], partial / patient.study_folder / series.folder)
    os.replace(partial, final)
    return final


def write_clinical(raw: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the raw clinical rows with duke-tables' writer (TCIA's 3-row header layout)."""
    from breastlab.data.duke.clinical import CLINICAL_SPEC, write_clinical_xlsx

    spec = sorted(CLINICAL_SPEC, key=lambda c: c.index)
    if len(spec) != raw.shape[1]:
        raise BreastlabInputError(
            f"clinical model has {raw.shape[1]} columns but CLINICAL_SPEC has {len(spec)}; "
            "rebuild mri_clinical_model.json (python -m breastlab.data.phantom._build_mri_model)"
        )
    frame = raw.copy()
    frame.columns = [c.snake for c in spec]
    path = Path(path)
    with atomic_path(path) as tmp:
        draft = tmp.with_name(tmp.name + ".draft.xlsx")
        try:
            write_clinical_xlsx(frame, draft)
            _reproducible_zip(draft, tmp)
        finally:
            draft.unlink(missing_ok=True)
    return path


_XLSX_TIME = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _reproducible_zip(src: Path, dst: Path) -> None:
    """Copy an .xlsx with fixed member timestamps and document dates (openpyxl stamps the clock)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _XLSX_TIME.sub(rb"\g<1>1990-01-01T00:00:00Z\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(1990, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            zout.writestr(fixed, data)


def summarize_mri_cohort(out: str | os.PathLike) -> str:
    """A short text summary of a written cohort: files, and patients by scanner and field strength."""
    from breastlab._table import format_table

    out = Path(out)
    boxes = pd.read_csv(out / BOXES_FILE)
    n_files = sum(1 for _ in (out / COLLECTION).rglob("*.dcm"))
    config = json.loads((out / CONFIG_FILE).read_text())
    plan = plan_mri_cohort(
        config["n_patients"],
        config["seed"],
        n_slices=config["n_slices"],
        matrix=config["matrix"],
        n_post=config["n_post"],
    )
    table = pd.DataFrame(
        [(p.manufacturer, p.model, p.field_strength, p.shape[1]) for p in plan.patients],
        columns=["manufacturer", "model", "field_T", "matrix"],
    )
    counts = table.value_counts().rename("patients").reset_index()
    head = f"{out}: {len(boxes)} patients, {n_files} DICOM files, {CLINICAL_FILE}, {BOXES_FILE}"
    return head + "\n" + format_table(counts.sort_values(["manufacturer", "model", "field_T"]))
