"""Voxel synthesis of one phantom breast DCE-MRI study (vectorised NumPy).

Coordinates are normalised to the field of view so the anatomy does not depend on
the matrix size: ``x`` in [-1, 1] along columns (patient right -> left, as for
ImageOrientationPatient ``[1,0,0, 0,1,0]``), ``y`` in [0, 1] along rows (anterior ->
posterior: the prone breasts point to the top of the image) and ``z`` in [-1, 1]
along slices (inferior -> superior, the slice-index order of the Duke reader).

Signal model for phase ``p`` (fat-saturated T1 gradient echo, arbitrary units)::

    S_p = g * b(x, y, z) * B * (1 + c_fast(p) E_fast + c_slow(p) E_slow + c_tum(p) E_tum)
    M_p = sqrt((S_p + sigma n_1)^2 + (sigma n_2)^2)          (Rician magnitude noise)

with ``B`` the pre-contrast tissue signal, ``E_*`` relative enhancement maps
(fast: blood pool; slow: background parenchymal enhancement, muscle, skin;
tumour), ``c_*(p)`` their enhancement curves, ``g`` the scanner/patient gain,
``b`` a smooth receive/transmit (B1) bias field whose amplitude grows with field
strength, and ``sigma`` a noise level that falls with field strength (SNR roughly
proportional to B0; Edelstein et al., Magn Reson Med 1986;3:604-618).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, ndtri

from breastlab.data.phantom._spec import MRIPatient, Tumour

# Pre-contrast signal by tissue (fat suppressed: fat dark, glandular tissue grey).
FAT, FGT, SKIN, MUSCLE, CHEST, LUNG, HEART, VESSEL, TUMOUR = 95.0, 330.0, 250.0, 210.0, 165.0, 45.0, 230.0, 190.0, 270.0
FULL_SCALE = 4095  # 12 stored bits
CHUNK = 16  # slices rendered at once (bounds peak memory at 512 x 512)


def tumour_block(t: Tumour, shape: tuple[int, int, int]) -> tuple[tuple[slice, slice, slice], np.ndarray, np.ndarray]:
    """The tumour mask on its bounding sub-grid.

    In the tumour frame ``q = R (p - c) / a`` (in-plane rotation ``R``, semi-axes ``a``),
    a voxel belongs to the tumour when ``|q| <= 1 + sum_k a_k cos(pi f_k . q/|q| + phi_k)``:
    an ellipsoid whose radius is modulated by a few random lobes (irregular margin).

    Returns the index window, the boolean mask on it and ``|q|`` (for rim shading).
    """
    reach = np.asarray(t.semi_axes) * (1.0 + sum(abs(lobe[3]) for lobe in t.lobes)) + 1.0
    lo = [max(0, int(np.floor(c - r))) for c, r in zip(t.centre, reach, strict=True)]
    hi = [min(n, int(np.ceil(c + r)) + 1) for c, r, n in zip(t.centre, reach, shape, strict=True)]
    dz, dy, dx = np.meshgrid(*(np.arange(a, b) - c for a, b, c in zip(lo, hi, t.centre, strict=True)), indexing="ij")
    cos, sin = np.cos(t.angle), np.sin(t.angle)
    qz = dz / t.semi_axes[0]
    qy = (cos * dy + sin * dx) / t.semi_axes[1]
    qx = (-sin * dy + cos * dx) / t.semi_axes[2]
    d = np.sqrt(qz**2 + qy**2 + qx**2)
    dd = np.maximum(d, 1e-9)
    radius = np.ones_like(d)
    for fz, fy, fx, amp, phase in t.lobes:
        radius += amp * np.cos(np.pi * (fz * qz + fy * qy + fx * qx) / dd + phase)
    window = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    return window, d <= radius, d


def tumour_mask(patient: MRIPatient) -> np.ndarray:
    """Boolean tumour mask ``(n_slices, rows, columns)`` in slice-index order (as the Duke reader's)."""
    mask = np.zeros(patient.shape, bool)
    window, block, _ = tumour_block(patient.tumour, patient.shape)
    mask[window] = block
    return mask


def _kernel(n: int, g: int) -> np.ndarray:
    """``(n, g)`` Gaussian interpolation weights from ``g`` coarse nodes to ``n`` samples.

    Rows have unit L2 norm, so ``K W`` with i.i.d. N(0, 1) node weights ``W`` has unit
    variance at every sample: fields can be rendered chunk by chunk without global
    normalisation.
    """
    t = (np.arange(n) + 0.5) / n
    c = (np.arange(g + 2) - 0.5) / g  # one node beyond each edge
    k = np.exp(-0.5 * ((t[:, None] - c[None, :]) * g / 0.8) ** 2)
    return (k / np.linalg.norm(k, axis=1, keepdims=True)).astype(np.float32)


class _Field:
    """A smooth zero-mean unit-variance random field, separable: F = W x_z Kz x_y Ky x_x Kx."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int, int], grid: tuple[int, int, int]):
        grid = tuple(max(2, min(g, n // 3)) for g, n in zip(grid, shape, strict=True))  # >= 3 samples per node
        self.w = rng.standard_normal(tuple(g + 2 for g in grid)).astype(np.float32)
        self.kz, self.ky, self.kx = (_kernel(n, g) for n, g in zip(shape, grid, strict=True))
        # contract the in-plane axes once: (gz, Y, X)
        self.plane = np.matmul(self.ky, self.w @ self.kx.T)

    def chunk(self, z: slice, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        return np.tensordot(self.kz[z], self.plane[:, rows, cols], axes=(1, 0))


def render_patient(patient: MRIPatient, phases: list[str] | None = None) -> dict[str, np.ndarray]:
    """Render the patient's series: phase name -> uint16 volume ``(n_slices, rows, columns)``."""
    phases = list(patient.phases) if phases is None else phases
    unknown = sorted(set(phases) - set(patient.phases))
    if unknown:
        raise ValueError(f"unknown phases {unknown}; this patient has {list(patient.phases)}")
    out = {p: np.empty(patient.shape, np.uint16) for p in phases}
    rng = np.random.default_rng(np.random.SeedSequence([patient.seed, 0x7E, patient.number]))
    Z, Y, X = patient.shape
    gz = max(4, Z // 5)
    fgt = _Field(rng, patient.shape, (gz, 32, 32))
    fgt_fine = _Field(rng, patient.shape, (2 * gz, 80, 80))
    tex = _Field(rng, patient.shape, (gz, 48, 48))
    noise_rngs = {
        p: np.random.default_rng(np.random.SeedSequence([patient.seed, 0x40, patient.number, i]))
        for i, p in enumerate(patient.phases)
    }
    torso = _torso_maps(patient)
    bias, bias_z = _bias_field(patient)
    tumour = tumour_block(patient.tumour, patient.shape)
    for z0 in range(0, Z, CHUNK):
        zs = slice(z0, min(Z, z0 + CHUNK))
        maps = _tissue_maps(patient, zs, torso, fgt, fgt_fine, tex.chunk(zs))
        gain = bias + bias_z * _grids(patient, zs)[0]
        for p in phases:
            c_fast, c_slow, c_tum = patient.anatomy.curves[patient.phases.index(p)]
            signal = maps["slow"] * np.float32(c_slow)
            signal += 1
            if c_fast:
                signal += maps["fast"] * np.float32(c_fast)
            signal *= maps["base"]
            _tumour_signal(patient, signal, zs, tumour, c_tum)
            signal *= gain
            out[p][zs] = _rician(noise_rngs[p], signal, patient.noise_sigma)
    return out


def _grids(patient: MRIPatient, zs: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Z, Y, X = patient.shape
    z = ((np.arange(zs.start, zs.stop) + 0.5) / Z * 2 - 1).astype(np.float32)[:, None, None]
    y = ((np.arange(Y) + 0.5) / Y).astype(np.float32)[None, :, None]
    x = ((np.arange(X) + 0.5) / X * 2 - 1).astype(np.float32)[None, None, :]
    return z, y, x


def _torso_maps(patient: MRIPatient) -> dict[str, np.ndarray]:
    """The slice-independent part of the anatomy (torso, chest wall, lungs) as 2-D maps.

    ``base``: pre-contrast signal, ``tex``: texture modulation depth, ``slow``: slow enhancement,
    ``inner``: inside the skin.
    """
    a = patient.anatomy
    _, y, x = _grids(patient, slice(0, 1))
    y, x = y[0], x[0]  # (Y, 1), (1, X)
    chest = a.chest_y + a.chest_curve * x**2
    s = a.skin
    ty = a.chest_y + a.torso_h
    body = (x / a.torso_w) ** 2 + ((y - ty) / a.torso_h) ** 2 < 1
    inner = (x / (a.torso_w - s)) ** 2 + ((y - ty) / (a.torso_h - s)) ** 2 < 1
    shape = body.shape
    base, tex, slow = np.zeros(shape, np.float32), np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    base[body], slow[body] = SKIN, 0.25
    fat = inner & (y <= chest + 0.005)
    base[fat], slow[fat] = FAT, 0.03
    pec = inner & (y > chest + 0.005) & (y <= chest + 0.005 + a.pec_t * (1 - 0.4 * x**2))
    deep = inner & (y > chest + 0.005) & ~pec
    base[pec], tex[pec], slow[pec] = MUSCLE, 0.05, 0.15
    base[deep], tex[deep], slow[deep] = CHEST, 0.08, 0.2
    for side in (-1, 1):
        lung = deep & (((x - side * 0.45) / 0.3) ** 2 + ((y - chest - a.lung_y) / 0.14) ** 2 < 1)
        base[lung], tex[lung], slow[lung] = LUNG, 0.15, 0.05
    return {"base": base, "tex": tex, "slow": slow, "inner": inner, "deep": deep}


def _window(lo: float, hi: float, n: int, offset: float = 0.0, scale: float = 1.0) -> slice:
    """Index window covering normalised coordinates [lo, hi] (coordinate = (i + 0.5)/n * scale - offset)."""
    i0 = int(np.floor((lo + offset) / scale * n - 0.5))
    i1 = int(np.ceil((hi + offset) / scale * n - 0.5)) + 1
    return slice(min(max(i0, 0), n), min(max(i1, 0), n))


def _tissue_maps(
    patient: MRIPatient, zs: slice, torso: dict[str, np.ndarray], fgt: _Field, fgt_fine: _Field, texture: np.ndarray
) -> dict[str, np.ndarray]:
    """Pre-contrast signal ``base`` and enhancement maps ``fast``/``slow`` for slices ``zs``."""
    a = patient.anatomy
    z, y, x = _grids(patient, zs)
    Z, Y, X = patient.shape
    shape = (z.shape[0], Y, X)
    base = torso["base"] * (1 + torso["tex"] * texture)
    slow = np.broadcast_to(torso["slow"], shape).copy()
    fast = np.zeros(shape, np.float32)
    s = a.skin
    for xc, w, d in ((-a.breast_x[0], a.breast_w[0], a.breast_d[0]), (a.breast_x[1], a.breast_w[1], a.breast_d[1])):
        # the breast is an elliptic cylinder section on the chest wall whose size follows a z profile
        prof = np.sqrt(np.clip(1 - ((z - a.breast_zc) / a.breast_zr) ** 2, 0, 1))
        wz, dz = w * (0.4 + 0.6 * prof), np.maximum(d * prof, 1e-3)
        cols = _window(xc - w, xc + w, X, offset=1, scale=2)
        rows = _window(0, a.chest_y + a.chest_curve + 0.02, Y)
        xw, yw = x[..., cols], y[:, rows]
        chest = a.chest_y + a.chest_curve * xw**2
        f = ((xw - xc) / wz) ** 2 + ((yw - chest) / dz) ** 2
        f_in = ((xw - xc) / np.maximum(wz - s, 1e-3)) ** 2 + ((yw - chest) / np.maximum(dz - s, 1e-3)) ** 2
        anterior = yw <= chest + 0.02
        outer, inner = (f < 1) & anterior, (f_in < 1) & anterior
        win = (slice(None), rows, cols)
        b, sl = base[win], slow[win]
        skin = outer & ~inner & ~torso["inner"][rows, cols]
        b[skin], sl[skin] = SKIN, 0.25
        # glandular tissue: a thresholded smooth field, denser near the breast base (partial-volume edge)
        gland = inner & (yw <= chest + 0.005)
        field = fgt.chunk(zs, rows, cols) + 0.45 * fgt_fine.chunk(zs, rows, cols)
        frac = expit((field + a.fgt_central * (0.5 - f) - a.fgt_threshold) / 0.12)
        b[gland] = (FAT + frac * (FGT - FAT) * (1 + 0.10 * texture[win]))[gland]
        sl[gland] = (0.03 + frac * a.bpe)[gland]
        # a few breast vessels running cranio-caudally
        for vx, vy, amp, freq, phase, radius in a.vessels:
            if np.sign(vx) != np.sign(xc):
                continue
            cx = xc + (vx - np.sign(vx) * 0.43) + amp * np.sin(freq * z + phase)
            vessel = gland & (((xw - cx) ** 2 + (yw - (chest - vy)) ** 2) < radius**2)
            b[vessel], fast[win][vessel], sl[vessel] = VESSEL, 2.2, 0.0
    # heart: an ellipsoid behind the chest wall in the inferior slices
    hz = np.clip(1 - ((z - a.heart_z) / 0.7) ** 2, 0, 1)
    if hz.max() > 0:
        cols = _window(0.08 - 0.2, 0.08 + 0.2, X, offset=1, scale=2)
        rows = _window(a.chest_y + a.lung_y - 0.12, a.chest_y + a.chest_curve + a.lung_y + 0.12, Y)
        xw, yw = x[..., cols], y[:, rows]
        chest = a.chest_y + a.chest_curve * xw**2
        heart = torso["deep"][rows, cols] & (((xw - 0.08) / 0.2) ** 2 + ((yw - chest - a.lung_y) / 0.11) ** 2 < hz)
        win = (slice(None), rows, cols)
        base[win][heart], fast[win][heart], slow[win][heart] = HEART, 1.6, 0.0
    return {"base": base, "fast": fast, "slow": slow}


def _tumour_signal(patient: MRIPatient, signal: np.ndarray, zs: slice, tumour, c_tum: float) -> None:
    """Write the tumour into the chunk's signal: grey before contrast, strongly enhancing after."""
    window, block, dist = tumour
    lo, hi = max(window[0].start, zs.start), min(window[0].stop, zs.stop)
    if lo >= hi:
        return
    t = patient.tumour
    sub = slice(lo - window[0].start, hi - window[0].start)
    m, d = block[sub], dist[sub]
    # rim enhancement (heterogeneous core) for some tumours: more uptake near the margin
    uptake = t.enhancement * (1 - t.rim * (1 - np.clip(d[m], 0, 1)))
    signal[(slice(lo - zs.start, hi - zs.start), window[1], window[2])][m] = TUMOUR * (1 + c_tum * uptake)


def _bias_field(patient: MRIPatient) -> tuple[np.ndarray, np.float32]:
    """Smooth multiplicative B1 inhomogeneity times the scanner gain, as an in-plane map plus a
    slope along z: a left-right gradient, an anterior-posterior gradient and a central
    brightening (the dielectric effect, dominant at 3 T)."""
    a = patient.anatomy
    _, y, x = _grids(patient, slice(0, 1))
    gx, gy, gc, gz = a.bias_terms
    b = 1 + a.bias_amp * (gx * x + gy * (y - 0.5) * 2 + gc * (0.5 - (x**2 + (2 * y - 1) ** 2) / 2))
    return (np.clip(b[0], 0.5, 1.5) * patient.gain).astype(np.float32), np.float32(a.bias_amp * gz * patient.gain)


# Standard normal quantiles at 2**16 equally likely levels: indexing this table with uniform
# 16-bit integers draws N(0, 1) by inversion (tails cut at 4.3 sigma), twice as fast as
# Generator.standard_normal.
_NORMAL_TABLE = ndtri((np.arange(2**16) + 0.5) / 2**16).astype(np.float32)


def _normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return _NORMAL_TABLE[rng.integers(0, 2**16, size=shape, dtype=np.uint16)]


def _rician(rng: np.random.Generator, signal: np.ndarray, sigma: float) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise in both channels, quantised to 12 bits."""
    sigma = np.float32(sigma)
    re = _normal(rng, signal.shape)
    re *= sigma
    re += signal
    re *= re
    im = _normal(rng, signal.shape)
    im *= sigma
    im *= im
    re += im
    np.sqrt(re, out=re)
    np.rint(re, out=re)
    np.minimum(re, FULL_SCALE, out=re)
    return re.astype(np.uint16)
