"""Synthetic mammography cohort in the CBIS-DDSM layout (plus VinDr-style tables).

``make_mammo_cohort(out, n_patients, seed)`` writes, per patient, CC and MLO views of
both breasts::

    OUT/CBIS-DDSM/Mass-Training_P_00001_LEFT_CC/<StudyUID>/<SeriesUID>/000000.dcm      full image
    OUT/CBIS-DDSM/Mass-Training_P_00001_LEFT_CC_1/<StudyUID>/<SeriesUID>/000000.dcm    crop (mass)
                                                                     .../000001.dcm    ROI mask (mass)
    OUT/CBIS-DDSM/Calc-Test_P_00002_RIGHT_MLO_1/...   calc: crop 000001.dcm, mask 000000.dcm (as TCIA)
    OUT/CBIS-DDSM/Normal-Training_P_00003_LEFT_CC/... images without finding
    OUT/{mass,calc}_case_description_{train,test}_set.csv   TCIA's columns and quirks (CRLF,
        "breast_density" vs "breast density", quoted paths ending in a newline)
    OUT/normal_case_description_{train,test}_set.csv        breastlab extension: finding-free images
    OUT/vindr/finding_annotations.csv, breast-level_annotations.csv, images/<study>/<image>.dicom
        (VinDr-Mammo's format; the .dicom files are hard links to the full images)
    OUT/phantom_truth.csv    one row per image: site, density, label, finding class, box, paths

Anatomy (physical millimetres, rendered at the site's pixel spacing): a half-elliptic
breast from the chest wall with a wavy outline, a thinning periphery (compressed
thickness), a brighter 1.5 mm skin line and a nipple; fibroglandular tissue from a
smooth Gaussian random field thresholded at the area fraction of the BI-RADS density
(a 10 %, b 30 %, c 55 %, d 80 %) and concentrated behind the nipple; on MLO a bright
pectoral-muscle triangle in the upper chest-wall corner; a small bright lead marker
("label") away from the breast, which segmentation must drop. The left breast has
the chest wall at the image's left edge, the right breast at its right edge.

Findings (one per abnormal patient, one breast, both views at the same distance from
the chest wall -- the usual two-view correspondence): masses (benign: oval,
circumscribed, equal density; malignant: high-density irregular core with long spicules),
calcification clusters (benign: a small cluster, 5-9 mm, of few large round dots;
malignant: 10-16 mm, many fine pleomorphic dots, two thirds along 2-3 branching lines;
overlapping specks add up), asymmetry (benign: broad faint; malignant: focal, denser,
irregular), architectural distortion (benign: few thin radiating lines with a lucent
centre; malignant: many longer lines converging on a small dense core). Contrasts are
set so that each variant stays recognisable at ~1.5 mm pixels (a CPU-sized input):
the benign/malignant cues are density, spiculation, calcification distribution and extent.

Sites: "digital" (FFDM-like: 0.07 mm, 4096 x 3328, 12-bit linear detector response,
quantum noise, ``ImagerPixelSpacing``) and "film" (DDSM-like digitised film: 0.1 mm,
3000 x 2400, extra blur, grain noise, a sigmoid film characteristic curve, 16-bit,
``PixelSpacing``). ``matrix`` shrinks both for tests (physical size kept). Everything
derives from ``seed``: the same arguments give byte-identical files.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from breastlab._io import write_bytes, write_json
from breastlab.errors import BreastlabInputError
from breastlab.problems import check_workers

FINDING_CLASSES = ("mass", "calcification", "asymmetry", "architectural_distortion")
OUTCOMES = ("negative", "recalled-benign", "malignant")
DENSITY_FRACTION = {1: 0.10, 2: 0.30, 3: 0.55, 4: 0.80}
SITES: dict[str, dict[str, Any]] = {
    "digital": {
        "spacing": 0.07,
        "rows": 4096,
        "cols": 3328,
        "manufacturer": "BREASTLAB PHANTOM FFDM",
        "bits": 12,
        "spacing_tag": "ImagerPixelSpacing",
    },
    "film": {
        "spacing": 0.10,
        "rows": 3000,
        "cols": 2400,
        "manufacturer": "BREASTLAB PHANTOM FILM",
        "bits": 16,
        "spacing_tag": "PixelSpacing",
    },
}
VIEWS = (("LEFT", "CC"), ("LEFT", "MLO"), ("RIGHT", "CC"), ("RIGHT", "MLO"))
MG_STORAGE = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray Image Storage - For Presentation
SC_STORAGE = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture (digitised film, as CBIS-DDSM)
STATE_DIR = ".breastlab_phantom_mammo"


# ============================================================================ plan
@dataclasses.dataclass(frozen=True)
class MammoFinding:
    finding_class: str
    malignant: bool
    side: str  # LEFT / RIGHT
    depth: float  # distance from the chest wall as a fraction of the breast depth (same in both views)
    offset: dict[str, float]  # per view: position across the breast, -1..1 of the half-width
    size_mm: float
    seed: int


@dataclasses.dataclass(frozen=True)
class MammoPatient:
    patient_id: str
    number: int
    seed: int
    site: str
    density: int
    outcome: str
    split: str
    depth_mm: float  # nipple to chest wall
    half_height_mm: float  # half-height of the breast at the chest wall (CC)
    finding: MammoFinding | None
    matrix: int | None

    @property
    def site_config(self) -> dict[str, Any]:
        return SITES[self.site]

    def geometry(self) -> tuple[int, int, float]:
        """(rows, columns, spacing mm) of this patient's images."""
        cfg = SITES[self.site]
        if self.matrix is None:
            return cfg["rows"], cfg["cols"], cfg["spacing"]
        scale = self.matrix / SITES["digital"]["rows"]
        rows = max(32, round(cfg["rows"] * scale))
        cols = max(24, round(cfg["cols"] * scale))
        return rows, cols, cfg["spacing"] * cfg["rows"] / rows


def _counts(n: int, fractions: tuple[float, ...]) -> list[int]:
    raw = np.asarray(fractions, float) / np.sum(fractions) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def plan_mammo_cohort(
    n_patients: int,
    seed: int = 0,
    *,
    proportions: tuple[float, float, float] = (0.4, 0.3, 0.3),
    film_fraction: float = 0.5,
    test_fraction: float = 0.2,
    class_weights: tuple[float, float, float, float] = (1, 1, 1, 1),
    matrix: int | None = None,
) -> list[MammoPatient]:
    """Draw the cohort (no pixels): outcomes in ``proportions`` (negative, recalled-benign,
    malignant), sites, densities, splits and findings; counts are exact (largest remainder)."""
    _check(n_patients, seed, proportions, film_fraction, test_fraction, class_weights, matrix)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x3A3]))
    outcomes = np.repeat(OUTCOMES, _counts(n_patients, proportions))
    sites = np.repeat(["digital", "film"], _counts(n_patients, (1 - film_fraction, film_fraction)))
    splits = np.repeat(["train", "test"], _counts(n_patients, (1 - test_fraction, test_fraction)))
    outcomes, sites, splits = rng.permutation(outcomes), rng.permutation(sites), rng.permutation(splits)
    weights = np.asarray(class_weights, float) / np.sum(class_weights)
    patients = []
    for i in range(n_patients):
        prng = np.random.default_rng(np.random.SeedSequence([seed, 0x3A4, i]))
        density = int(prng.choice([1, 2, 3, 4], p=[0.15, 0.4, 0.35, 0.1]))
        finding = None
        if outcomes[i] != "negative":
            cls = str(prng.choice(FINDING_CLASSES, p=weights))
            # malignant calcifications spread further (segmental / linear); benign ones form a small cluster
            # and malignant masses are on average larger (their spicules reach further still)
            calc = (10, 16) if outcomes[i] == "malignant" else (5, 9)
            mass = (10, 20) if outcomes[i] == "malignant" else (7, 14)
            size = {"mass": mass, "calcification": calc, "asymmetry": (18, 30), "architectural_distortion": (14, 24)}[
                cls
            ]
            finding = MammoFinding(
                finding_class=cls,
                malignant=outcomes[i] == "malignant",
                side=str(prng.choice(["LEFT", "RIGHT"])),
                depth=float(prng.uniform(0.3, 0.7)),
                offset={"CC": float(prng.uniform(-0.45, 0.45)), "MLO": float(prng.uniform(-0.3, 0.45))},
                size_mm=float(prng.uniform(*size)),
                seed=int(prng.integers(2**31)),
            )
        patients.append(
            MammoPatient(
                patient_id=f"P_{i + 1:05d}",
                number=i + 1,
                seed=int(prng.integers(2**31)),
                site=str(sites[i]),
                density=density,
                outcome=str(outcomes[i]),
                split=str(splits[i]),
                depth_mm=float(prng.uniform(100, 150)),
                half_height_mm=float(prng.uniform(80, 105)),
                finding=finding,
                matrix=matrix,
            )
        )
    return patients


def _check(n: Any, seed: Any, proportions: Any, film: Any, test: Any, weights: Any, matrix: Any) -> None:
    def is_int(v: Any) -> bool:
        return isinstance(v, int | np.integer) and not isinstance(v, bool)

    if not is_int(n) or not 1 <= n <= 99999:
        raise BreastlabInputError(f"n_patients={n!r}: must be an integer from 1 to 99999 (P_NNNNN)")
    if not is_int(seed) or seed < 0:
        raise BreastlabInputError(f"seed={seed!r}: must be a non-negative integer")
    if len(proportions) != 3 or min(proportions) < 0 or sum(proportions) <= 0:
        raise BreastlabInputError(
            f"proportions={proportions!r}: three non-negative numbers (negative, "
            "recalled-benign, malignant) with a positive sum"
        )
    for name, v in (("film_fraction", film), ("test_fraction", test)):
        if not 0 <= v <= 1:
            raise BreastlabInputError(f"{name}={v!r}: must be in [0, 1]")
    if len(weights) != 4 or min(weights) < 0 or sum(weights) <= 0:
        raise BreastlabInputError(
            f"class_weights={weights!r}: four non-negative weights ({', '.join(FINDING_CLASSES)})"
        )
    if matrix is not None and (not is_int(matrix) or not 64 <= matrix <= 8192):
        raise BreastlabInputError(f"matrix={matrix!r}: None (real size) or rows of the digital site, 64-8192")


# ============================================================================ rendering
def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with correlation length ~ ``cell_px``."""
    low = (max(4, int(shape[0] / cell_px) + 4), max(4, int(shape[1] / cell_px) + 4))
    noise = ndimage.gaussian_filter(rng.standard_normal(low).astype(np.float32), 1.0, mode="wrap")
    up = np.asarray(Image.fromarray(noise, mode="F").resize((shape[1], shape[0]), Image.Resampling.BICUBIC))
    return (up - up.mean()) / (up.std() + 1e-6)


@dataclasses.dataclass
class RenderedView:
    image: np.ndarray  # uint16
    breast: np.ndarray  # bool, breast incl. nipple, without the marker
    pectoral: np.ndarray | None  # bool (MLO)
    lesion: np.ndarray | None  # bool ROI mask of the finding


def render_view(patient: MammoPatient, side: str, view: str) -> RenderedView:
    """Render one view (chest wall at the left edge; flipped for the right breast at the end)."""
    rows, cols, sp = patient.geometry()
    rng = np.random.default_rng(np.random.SeedSequence([patient.seed, VIEWS.index((side, view))]))
    y = ((np.arange(rows, dtype=np.float32) + 0.5) * sp)[:, None]
    x = ((np.arange(cols, dtype=np.float32) + 0.5) * sp)[None, :]
    D = patient.depth_mm
    H = patient.half_height_mm * (1.15 if view == "MLO" else 1.0)
    y0 = rows * sp * (0.5 if view == "CC" else 0.55) + float(rng.uniform(-8, 8))
    phase = rng.uniform(0, 2 * np.pi, 3)
    theta = np.arctan2((y - y0) / H, x / D)
    wobble = 1 + 0.035 * np.sin(3 * theta + phase[0]) + 0.02 * np.sin(5 * theta + phase[1])
    rho = np.sqrt((x / D) ** 2 + ((y - y0) / H) ** 2) / wobble
    edge_mm = (1 - rho) * min(D, H)  # approximate distance to the skin (mm)
    breast = rho < 1
    nipple = ((x - D) ** 2 + (y - y0) ** 2) < 4.5**2
    pectoral = None
    if view == "MLO":  # triangle (0, 0) - (top, 0) - (0, length) in (x, y) mm
        top, length = float(rng.uniform(35, 60)), float(rng.uniform(0.9, 1.2)) * y0
        pectoral = (x / top + y / length) < 1
        breast = breast | pectoral
    breast = breast | nipple
    # compressed thickness falls off over the outer 12 mm; the skin adds a thin dense line
    thickness = np.sqrt(np.clip(edge_mm / 12.0, 0.05, 1.0))
    skin = ((edge_mm > -0.2) & (edge_mm < 1.5)).astype(np.float32) * 0.12
    # fibroglandular tissue: smooth field, weighted towards the centre behind the nipple
    field = (
        _smooth_field(rng, (rows, cols), 7.0 / sp)
        + 0.6 * _smooth_field(rng, (rows, cols), 2.0 / sp)
        + 0.3 * _smooth_field(rng, (rows, cols), 0.6 / sp)
    )
    centre = np.exp(-(((y - y0) / (0.7 * H)) ** 2)) * np.exp(-((((x / D) - 0.45) / 0.45) ** 2))
    field = field + 2.2 * centre
    inside = breast & (edge_mm > 3)
    sample = field[inside][:: max(1, int(inside.sum()) // 200000)]
    threshold = np.quantile(sample, 1 - DENSITY_FRACTION[patient.density])
    fibro = 1 / (1 + np.exp(-(field - threshold) / 0.6))
    attenuation = (0.30 + 0.22 * fibro) * thickness + skin
    attenuation = np.where(nipple & ~(rho < 1), 0.42, attenuation)
    if pectoral is not None:
        attenuation = np.where(pectoral, 0.78 + 0.03 * field.clip(-2, 2), attenuation)
    attenuation = np.where(breast, attenuation, 0.0).astype(np.float32)
    lesion = None
    f = patient.finding
    if f is not None and f.side == side:
        lesion = _draw_finding(attenuation, f, view, y0, H, D, sp, pectoral) & breast
        attenuation = np.where(breast, attenuation, 0.0)
    # lead marker away from the breast (top corner opposite the chest wall)
    mh, mw = max(2, int(6 / sp)), max(3, int(10 / sp))
    r0, c0 = max(1, int(8 / sp)), cols - max(1, int(8 / sp)) - mw
    attenuation[r0 : r0 + mh, c0 : c0 + mw] = 1.0
    image = _detector(attenuation, patient.site_config, sp, rng)
    if side == "RIGHT":
        image, breast = image[:, ::-1], breast[:, ::-1]
        pectoral = pectoral[:, ::-1] if pectoral is not None else None
        lesion = lesion[:, ::-1] if lesion is not None else None
    return RenderedView(
        np.ascontiguousarray(image),
        np.ascontiguousarray(breast),
        None if pectoral is None else np.ascontiguousarray(pectoral),
        None if lesion is None else np.ascontiguousarray(lesion),
    )


def _detector(att: np.ndarray, cfg: dict, sp: float, rng: np.random.Generator) -> np.ndarray:
    """Site response: digital = linear 12-bit + quantum noise; film = blur, grain, sigmoid curve."""
    if cfg["bits"] == 12:
        value = 120 + 3300 * att
        value = value + rng.standard_normal(att.shape, dtype=np.float32) * (6 + 18 * np.sqrt(att))
        return np.clip(np.rint(value), 0, 4095).astype(np.uint16)
    blurred = ndimage.gaussian_filter(att, 0.15 / sp)
    grain = ndimage.gaussian_filter(rng.standard_normal(att.shape, dtype=np.float32), 0.6) * 0.05
    density = 1 / (1 + np.exp(-(blurred + grain - 0.42) / 0.14))  # film characteristic (H&D-like) curve
    value = 3000 + 58000 * density
    return np.clip(np.rint(value), 0, 65535).astype(np.uint16)


def _disc(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.ogrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _lines(
    h: int, w: int, cy: float, cx: float, angles: np.ndarray, lengths: np.ndarray, width: float, r0: float = 0.0
) -> np.ndarray:
    """Sum of tapered radial lines (pixels) from radius ``r0`` to ``lengths`` at ``angles``."""
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    out = np.zeros((h, w), np.float32)
    for a, length in zip(angles, lengths, strict=True):
        along = dx * np.cos(a) + dy * np.sin(a)
        across = -dx * np.sin(a) + dy * np.cos(a)
        taper = np.clip(1 - along / length, 0, 1) * (along > r0)
        out = np.maximum(out, taper * np.exp(-0.5 * (across / np.maximum(width * (0.4 + 0.6 * taper), 0.3)) ** 2))
    return out


def _draw_finding(
    att: np.ndarray, f: MammoFinding, view: str, y0: float, H: float, D: float, sp: float, pectoral: np.ndarray | None
) -> np.ndarray:
    """Add the finding to ``att`` in place; return its ROI mask (whole image)."""
    rng = np.random.default_rng(np.random.SeedSequence([f.seed, 1 if view == "MLO" else 0]))
    xc_mm = f.depth * D * 0.85 + 0.1 * D
    half = H * math.sqrt(max(0.0, 1 - (xc_mm / D) ** 2)) * 0.8
    yc_mm = y0 + f.offset[view] * half
    cy, cx = yc_mm / sp, xc_mm / sp
    s = f.size_mm / sp  # size in pixels
    R = int(math.ceil(2.6 * s)) + 4
    r0, r1 = max(0, int(cy) - R), min(att.shape[0], int(cy) + R)
    c0, c1 = max(0, int(cx) - R), min(att.shape[1], int(cx) + R)
    h, w = r1 - r0, c1 - c0
    ly, lx = cy - r0, cx - c0
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    dist = np.hypot(yy - ly, xx - lx)
    add = np.zeros((h, w), np.float32)
    k = f.finding_class
    if k == "mass":
        if not f.malignant:  # oval, circumscribed
            a, b, phi = s / 2, s / 2 * rng.uniform(0.7, 0.9), rng.uniform(0, np.pi)
            u = ((xx - lx) * np.cos(phi) + (yy - ly) * np.sin(phi)) / a
            v = (-(xx - lx) * np.sin(phi) + (yy - ly) * np.cos(phi)) / b
            core = 1 / (1 + np.exp((np.sqrt(u**2 + v**2) - 1) * a / max(0.4 / sp, 0.5)))
            add += 0.38 * core  # equal density (benign masses are rarely high density)
            # halo sign: a thin radiolucent rim (~1 mm outside the edge), a classic sign of benignity
            edge_mm = (np.sqrt(u**2 + v**2) - 1) * a * sp
            add -= 0.12 * np.exp(-0.5 * ((edge_mm - 0.9) / 0.6) ** 2)
        else:  # irregular core with spicules
            ang = np.arctan2(yy - ly, xx - lx)
            p1, p2 = rng.uniform(0, 6, 2)
            radius = s / 2 * (1 + 0.2 * np.sin(3 * ang + p1) + 0.12 * np.sin(7 * ang + p2))
            core = 1 / (1 + np.exp((dist - radius) / max(0.8 / sp, 0.5)))
            n = int(rng.integers(10, 16))
            spic = _lines(h, w, ly, lx, rng.uniform(0, 2 * np.pi, n), s * rng.uniform(1.2, 2.0, n), max(0.8 / sp, 0.5))
            add += 0.55 * core + 0.35 * spic  # high density with a spiculated halo (visible at ~1.5 mm pixels)
        mask = core > 0.5
    elif k == "calcification":
        n = int(rng.integers(4, 8)) if not f.malignant else int(rng.integers(30, 48))
        spread = s / 2 if not f.malignant else s / 3
        if f.malignant:  # fine pleomorphic dots, two thirds along 2-3 branching lines (linear-segmental)
            pts = rng.normal(0, spread / 2, (n, 2))
            branches = rng.uniform(0, 2 * np.pi, int(rng.integers(2, 4)))
            k = 2 * n // 3
            ang = branches[rng.integers(0, branches.size, k)]
            pts[:k] = np.c_[np.sin(ang), np.cos(ang)] * rng.uniform(0, 2.5 * spread, (k, 1)) + rng.normal(
                0, 0.3 / sp, (k, 2)
            )
            radii = rng.uniform(0.2, 0.4, n) / sp
        else:  # few, larger, round
            pts = rng.uniform(-spread, spread, (n, 2))
            radii = rng.uniform(0.7, 1.1, n) / sp
        dots = np.zeros((h, w), np.float32)
        for (py, px), r in zip(pts, radii, strict=True):
            rr = max(r, 0.6)
            dots += np.exp(-0.5 * (np.hypot(yy - ly - py, xx - lx - px) / rr) ** 2)
        dots = np.minimum(dots, 1.0)  # overlapping specks add up in projection, to a plausible maximum
        add += 0.9 * dots
        reach = float(np.max(np.hypot(pts[:, 0], pts[:, 1])) + radii.max() + 1.0 / sp)
        mask = dist <= reach
    elif k == "asymmetry":
        if not f.malignant:  # broad, moderate density, smooth edge
            blob = np.exp(-0.5 * (dist / (s / 2.5)) ** 2)
            add += 0.30 * blob
        else:  # focal, denser, irregular edge
            ang = np.arctan2(yy - ly, xx - lx)
            radius = s / 3 * (1 + 0.25 * np.sin(4 * ang + rng.uniform(0, 6)))
            blob = 1 / (1 + np.exp((dist - radius) / max(1.5 / sp, 0.5)))
            add += 0.40 * blob
        mask = blob > 0.35
    elif k == "architectural_distortion":
        if not f.malignant:  # radial scar: radiating lines around a lucent centre, no dense core
            n = int(rng.integers(8, 12))
            lines = _lines(
                h,
                w,
                ly,
                lx,
                rng.uniform(0, 2 * np.pi, n),
                s / 2 * rng.uniform(0.8, 1.1, n),
                max(0.6 / sp, 0.5),
                r0=s / 10,
            )
            add += 0.36 * lines - 0.06 * np.exp(-0.5 * (dist / (s / 12)) ** 2)
        else:  # many longer lines converging on a small dense core
            n = int(rng.integers(14, 22))
            lines = _lines(
                h, w, ly, lx, rng.uniform(0, 2 * np.pi, n), s / 2 * rng.uniform(1.0, 1.5, n), max(0.3 / sp, 0.5)
            )
            add += 0.35 * lines + 0.4 * np.exp(-0.5 * (dist / (s / 8)) ** 2)
        mask = dist <= s / 2 * (1.5 if f.malignant else 1.1)
    else:  # pragma: no cover - guarded by plan
        raise BreastlabInputError(f"finding class {k!r}")
    att[r0:r1, c0:c1] += add
    full = np.zeros(att.shape, bool)
    full[r0:r1, c0:c1] = mask
    return full


# ============================================================================ writing
def _uid(*parts: object) -> str:
    digest = int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:16], "big")
    return f"2.25.{digest % (9 * 10**37) + 10**37}"


def _hex(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def _dicom_bytes(
    pixels: np.ndarray,
    patient: MammoPatient,
    side: str,
    view: str,
    uids: tuple[str, str, str],
    description: str,
    spacing: float,
) -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    from breastlab import __version__

    cfg = patient.site_config
    sop_class = MG_STORAGE if patient.site == "digital" else SC_STORAGE
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = uids[2]
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _uid("breastlab", __version__)
    meta.ImplementationVersionName = f"BREASTLAB_{__version__}"[:16]
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"] if "full" in description else ["DERIVED", "SECONDARY"]
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, uids[2]
    ds.StudyDate = ds.SeriesDate = "19980101"
    ds.Modality = "MG"
    ds.Manufacturer = cfg["manufacturer"]
    ds.SeriesDescription = description
    ds.PatientName = f"Phantom^{patient.patient_id}"
    ds.PatientID = patient.patient_id
    ds.PatientSex = "F"
    ds.BodyPartExamined = "BREAST"
    ds.ViewPosition = view
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uids[0], uids[1]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ImageLaterality = side[0]
    ds.Laterality = side[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    setattr(ds, cfg["spacing_tag"], [f"{spacing:.6g}", f"{spacing:.6g}"])
    if pixels.dtype == np.uint8:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    else:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, cfg["bits"], cfg["bits"] - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2" if pixels.dtype != np.uint8 else np.uint8).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def image_folder(patient: MammoPatient, side: str, view: str) -> str:
    """CBIS-DDSM series folder of one view: Mass-/Calc-/Normal- + Training/Test + patient_side_view."""
    f = patient.finding
    kind = "Normal"
    if f is not None and f.side == side:
        kind = "Calc" if f.finding_class == "calcification" else "Mass"
    split = "Training" if patient.split == "train" else "Test"
    return f"{kind}-{split}_{patient.patient_id}_{side}_{view}"


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def write_patient(patient: MammoPatient, root: str | os.PathLike) -> list[dict[str, Any]]:
    """Render and write the four views of one patient under ``root`` (CBIS-DDSM tree).

    Returns one record per view (folder, paths relative to ``root``, box, ...)."""
    root = Path(root)
    rows, cols, sp = patient.geometry()
    records = []
    for side, view in VIEWS:
        rendered = render_view(patient, side, view)
        folder = image_folder(patient, side, view)
        key = (patient.seed, patient.patient_id, side, view)
        study, series = _uid(*key, "study"), _uid(*key, "series")
        rel = f"{folder}/{study}/{series}/000000.dcm"
        write_bytes(
            _dicom_bytes(
                rendered.image, patient, side, view, (study, series, _uid(*key, "image")), "full mammogram images", sp
            ),
            root / rel,
        )
        rec = {
            "patient_id": patient.patient_id,
            "side": side,
            "view": view,
            "folder": folder,
            "image_path": rel,
            "rows": rows,
            "cols": cols,
            "spacing_mm": sp,
            "box": None,
            "crop_path": None,
            "roi_path": None,
            "breast_box": _box(rendered.breast),
            "pectoral_box": _box(rendered.pectoral) if rendered.pectoral is not None else None,
        }
        if rendered.lesion is not None and rendered.lesion.any():
            box = _box(rendered.lesion)
            x0, y0, x1, y1 = box
            roi_study, roi_series = _uid(*key, "roi-study"), _uid(*key, "roi-series")
            base = f"{folder}_1/{roi_study}/{roi_series}"
            calc = patient.finding.finding_class == "calcification"
            crop_name, mask_name = ("000001.dcm", "000000.dcm") if calc else ("000000.dcm", "000001.dcm")
            crop = np.ascontiguousarray(rendered.image[y0:y1, x0:x1])
            mask = rendered.lesion.astype(np.uint8) * 255
            write_bytes(
                _dicom_bytes(
                    crop, patient, side, view, (roi_study, roi_series, _uid(*key, "crop")), "cropped images", sp
                ),
                root / base / crop_name,
            )
            write_bytes(
                _dicom_bytes(
                    mask, patient, side, view, (roi_study, roi_series, _uid(*key, "mask")), "ROI mask images", sp
                ),
                root / base / mask_name,
            )
            rec.update(box=box, crop_path=f"{base}/{crop_name}", roi_path=f"{base}/{mask_name}")
        records.append(rec)
    return records


def _patient_job(args: tuple[MammoPatient, str, str]) -> str:
    patient, root, state = args
    records = write_patient(patient, root)
    write_json(records, Path(state) / f"{patient.patient_id}.json")
    return patient.patient_id


def make_mammo_cohort(
    out: str | os.PathLike,
    n_patients: int,
    seed: int = 0,
    *,
    proportions: tuple[float, float, float] = (0.4, 0.3, 0.3),
    film_fraction: float = 0.5,
    test_fraction: float = 0.2,
    class_weights: tuple[float, float, float, float] = (1, 1, 1, 1),
    matrix: int | None = None,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Write a phantom mammography cohort (see the module notes); resumable per patient."""
    from breastlab.progress import progress as progress_bar

    patients = plan_mammo_cohort(
        n_patients,
        seed,
        proportions=proportions,
        film_fraction=film_fraction,
        test_fraction=test_fraction,
        class_weights=class_weights,
        matrix=matrix,
    )
    check_workers(workers)
    out = Path(out)
    state = out / STATE_DIR
    config = {
        "n_patients": n_patients,
        "seed": seed,
        "proportions": list(proportions),
        "film_fraction": film_fraction,
        "test_fraction": test_fraction,
        "class_weights": list(class_weights),
        "matrix": matrix,
    }
    cfg_path = state / "config.json"
    if cfg_path.exists() and json.loads(cfg_path.read_text()) != config:
        raise BreastlabInputError(
            f"{out}: holds a phantom mammography cohort made with {cfg_path.read_text()}; "
            f"choose another folder or delete it (now {config})"
        )
    if not cfg_path.exists() and out.exists() and any(out.iterdir()):
        raise BreastlabInputError(f"{out}: not empty and not a phantom mammography cohort; choose an empty folder")
    write_json(config, cfg_path)
    root = out / "CBIS-DDSM"
    todo = [p for p in patients if not (state / f"{p.patient_id}.json").exists()]
    jobs = [(p, str(root), str(state)) for p in todo]
    bar = progress_bar(
        total=len(patients),
        initial=len(patients) - len(todo),
        desc="phantom mammo",
        unit="patient",
        disable=not progress,
    )
    try:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                _patient_job(job)
                bar.update(1)
        else:
            from breastlab.data.runner import worker_context

            ctx = worker_context([__name__])  # the package's one way to start workers
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
                for _ in pool.map(_patient_job, jobs):
                    bar.update(1)
    finally:
        bar.close()
    records = {p.patient_id: json.loads((state / f"{p.patient_id}.json").read_text()) for p in patients}
    _write_tables(out, patients, records)
    return out


# ============================================================================ tables
MASS_HEADER = [
    "patient_id",
    "breast_density",
    "left or right breast",
    "image view",
    "abnormality id",
    "abnormality type",
    "mass shape",
    "mass margins",
    "assessment",
    "pathology",
    "subtlety",
    "image file path",
    "cropped image file path",
    "ROI mask file path",
]
CALC_HEADER = [
    "patient_id",
    "breast density",
    "left or right breast",
    "image view",
    "abnormality id",
    "abnormality type",
    "calc type",
    "calc distribution",
    "assessment",
    "pathology",
    "subtlety",
    "image file path",
    "cropped image file path",
    "ROI mask file path",
]
NORMAL_HEADER = ["patient_id", "breast density", "left or right breast", "image view", "image file path"]
VINDR_CATEGORY = {
    ("mass", False): "Mass",
    ("mass", True): "Mass",
    ("calcification", False): "Suspicious Calcification",
    ("calcification", True): "Suspicious Calcification",
    ("asymmetry", False): "Asymmetry",
    ("asymmetry", True): "Focal Asymmetry",
    ("architectural_distortion", False): "Architectural Distortion",
    ("architectural_distortion", True): "Architectural Distortion",
}


def _descriptors(f: MammoFinding) -> tuple[str, str, int, int]:
    """(shape/type, margins/distribution, assessment, subtlety) in CBIS-DDSM's vocabulary."""
    rng = np.random.default_rng(np.random.SeedSequence([f.seed, 7]))
    shape, margins = {
        ("mass", False): (str(rng.choice(["OVAL", "ROUND", "LOBULATED"])), "CIRCUMSCRIBED"),
        ("mass", True): ("IRREGULAR", str(rng.choice(["SPICULATED", "ILL_DEFINED"]))),
        ("calcification", False): (str(rng.choice(["ROUND_AND_REGULAR", "PUNCTATE"])), "CLUSTERED"),
        ("calcification", True): (str(rng.choice(["PLEOMORPHIC", "FINE_LINEAR_BRANCHING"])), "CLUSTERED"),
        ("asymmetry", False): ("ASYMMETRIC_BREAST_TISSUE", "ILL_DEFINED"),
        ("asymmetry", True): ("FOCAL_ASYMMETRIC_DENSITY", "ILL_DEFINED"),
        ("architectural_distortion", False): ("ARCHITECTURAL_DISTORTION", "ILL_DEFINED"),
        ("architectural_distortion", True): ("ARCHITECTURAL_DISTORTION", "SPICULATED"),
    }[(f.finding_class, f.malignant)]
    assessment = int(rng.choice([4, 5])) if f.malignant else int(rng.choice([3, 4]))
    return shape, margins, assessment, int(rng.integers(2, 6))


def _csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _write_tables(out: Path, patients: list[MammoPatient], records: dict[str, list[dict]]) -> None:
    tables: dict[str, list[list[Any]]] = {f"{k}_{s}": [] for k in ("mass", "calc", "normal") for s in ("train", "test")}
    vindr, breast_level, truth = [], [], []
    vindr_dir = out / "vindr"
    for p in patients:
        study = _hex(p.seed, p.patient_id, "vindr-study")
        for rec in records[p.patient_id]:
            side, view = rec["side"], rec["view"]
            f = p.finding if (p.finding is not None and p.finding.side == side) else None
            has_box = rec["box"] is not None
            label = "negative" if f is None else ("malignant" if f.malignant else "recalled-benign")
            if f is not None and has_box:
                shape, margins, assessment, subtlety = _descriptors(f)
                kind = "calc" if f.finding_class == "calcification" else "mass"
                pathology = "MALIGNANT" if f.malignant else "BENIGN"
                crop, roi = rec["crop_path"], rec["roi_path"]
                if kind == "mass":
                    row = [
                        p.patient_id,
                        p.density,
                        side,
                        view,
                        1,
                        "mass",
                        shape,
                        margins,
                        assessment,
                        pathology,
                        subtlety,
                        rec["image_path"],
                        crop,
                        roi + "\n",
                    ]
                else:
                    row = [
                        p.patient_id,
                        p.density,
                        side,
                        view,
                        1,
                        "calcification",
                        shape,
                        margins,
                        assessment,
                        pathology,
                        subtlety,
                        rec["image_path"],
                        crop + "\n",
                        roi,
                    ]
                tables[f"{kind}_{p.split}"].append(row)
            else:
                tables[f"normal_{p.split}"].append([p.patient_id, p.density, side, view, rec["image_path"]])
            # VinDr-style: hard link to the full image
            image_id = _hex(p.seed, p.patient_id, side, view, "vindr-image")
            target = vindr_dir / "images" / study / f"{image_id}.dicom"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                os.link(out / "CBIS-DDSM" / rec["image_path"], target)
            except OSError:
                shutil.copyfile(out / "CBIS-DDSM" / rec["image_path"], target)
            birads = 1 if f is None else (3 if not f.malignant else 4 + (f.seed % 2))
            common = [
                study,
                _hex(p.seed, p.patient_id, side, view, "vindr-series"),
                image_id,
                side[0],
                view,
                rec["rows"],
                rec["cols"],
                f"BI-RADS {birads}",
                f"DENSITY {'ABCD'[p.density - 1]}",
            ]
            split = "training" if p.split == "train" else "test"
            breast_level.append([*common, split])
            if f is not None and has_box:
                x0, y0, x1, y1 = rec["box"]
                vindr.append(
                    [
                        *common,
                        repr([VINDR_CATEGORY[(f.finding_class, f.malignant)]]),
                        f"BI-RADS {birads}",
                        f"{x0:.2f}",
                        f"{y0:.2f}",
                        f"{x1:.2f}",
                        f"{y1:.2f}",
                        split,
                    ]
                )
            else:
                vindr.append([*common, "['No Finding']", "", "", "", "", "", split])
            box = rec["box"] or (None, None, None, None)
            truth.append(
                [
                    p.patient_id,
                    rec["folder"],
                    image_id,
                    p.site,
                    p.split,
                    side[0],
                    view,
                    p.density,
                    p.outcome,
                    label,
                    f.finding_class if f else "",
                    int(f.malignant) if f else "",
                    *("" if v is None else v for v in box),
                    rec["rows"],
                    rec["cols"],
                    f"{rec['spacing_mm']:.6g}",
                    f"CBIS-DDSM/{rec['image_path']}",
                    *("" if v is None else v for v in (rec["pectoral_box"] or (None,) * 4)),
                ]
            )
    for key, rows in tables.items():
        kind, split = key.split("_")
        header = {"mass": MASS_HEADER, "calc": CALC_HEADER, "normal": NORMAL_HEADER}[kind]
        write_bytes(_csv_bytes(header, rows), out / f"{kind}_case_description_{split}_set.csv")
    from breastlab.data.mammo.vindr import BREAST_HEADER, FINDING_HEADER

    write_bytes(_csv_bytes(FINDING_HEADER, vindr), vindr_dir / "finding_annotations.csv")
    write_bytes(_csv_bytes(BREAST_HEADER, breast_level), vindr_dir / "breast-level_annotations.csv")
    write_bytes(_csv_bytes(TRUTH_HEADER, truth), out / "phantom_truth.csv")


TRUTH_HEADER = [
    "patient_id",
    "image_id",
    "vindr_image_id",
    "site",
    "split",
    "laterality",
    "view",
    "density",
    "outcome",
    "label",
    "finding_class",
    "malignant",
    "x0",
    "y0",
    "x1",
    "y1",
    "rows",
    "columns",
    "spacing_mm",
    "path",
    "pectoral_x0",
    "pectoral_y0",
    "pectoral_x1",
    "pectoral_y1",
]


def summarize_mammo_cohort(out: str | os.PathLike) -> str:
    """A readable count of images per site and label, and findings per class."""
    import pandas as pd

    truth = pd.read_csv(Path(out) / "phantom_truth.csv")
    by_label = truth.pivot_table(index="site", columns="label", values="image_id", aggfunc="count", fill_value=0)
    findings = truth[truth["finding_class"].notna()].groupby(["finding_class", "malignant"]).size()
    return (
        f"{truth['patient_id'].nunique()} patients, {len(truth)} images in {out}\n"
        f"images per site and label:\n{by_label.to_string()}\n"
        f"finding views per class and malignancy:\n{findings.to_string()}"
    )
