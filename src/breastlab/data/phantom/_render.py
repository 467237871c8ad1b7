"""Voxel synthesis of one phantom breast DCE-MRI study (vectorised NumPy).

Coordinates are normalised to the field of view so the anatomy does not depend on
the matrix size: ``x`` in [-1, 1] along columns (patient right -> left, as for
ImageOrientationPatient ``[1,0,0, 0,1,0]``), ``y`` in [0, 1] along rows (anterior ->
posterior: the prone breasts point to the top of the image) and ``z`` in [-1, 1]
along slices (inferior -> superior, the slice-index order of contract A).

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
    """Boolean tumour mask ``(n_slices, rows, columns)`` in slice-index order (contract A)."""
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
        self.w = rng.standard_normal(tuple(g + 2 for g in grid)).astype(np.float32)
        self.kz, self.ky, self.kx = (_kernel(n, g) for n, g in zip(shape, grid, strict=True))
        # contract the in-plane axes once: (gz, Y, X)
        self.plane = np.einsum("yj,ijk,xk->iyx", self.ky, self.w, self.kx, optimize=True)

    def chunk(self, z: slice) -> np.ndarray:
        return np.tensordot(self.kz[z], self.plane, axes=(1, 0))


def render_patient(patient: MRIPatient, phases: list[str] | None = None) -> dict[str, np.ndarray]:
    """Render the patient's series: phase name -> uint16 volume ``(n_slices, rows, columns)``."""
    phases = list(patient.phases) if phases is None else phases
    out = {p: np.empty(patient.shape, np.uint16) for p in phases}
    a = patient.anatomy
    rng = np.random.default_rng(np.random.SeedSequence([patient.seed, 0x7E, patient.number]))
    Z, Y, X = patient.shape
    gz = max(4, Z // 5)
    fgt = _Field(rng, patient.shape, (gz, 24, 24))
    fgt_fine = _Field(rng, patient.shape, (gz * 2, 56, 56))
    tex = _Field(rng, patient.shape, (gz, 40, 40))
    noise_rngs = {p: np.random.default_rng(np.random.SeedSequence([patient.seed, 0x40, patient.number, i]))
                  for i, p in enumerate(patient.phases)}
    window, tblock, tdist = tumour_block(patient.tumour, patient.shape)
    for z0 in range(0, Z, CHUNK):
        zs = slice(z0, min(Z, z0 + CHUNK))
        maps = _tissue_maps(patient, zs, fgt.chunk(zs) + 0.45 * fgt_fine.chunk(zs), tex.chunk(zs))
        _add_tumour(patient, maps, zs, window, tblock, tdist)
        bias = _bias_field(patient, zs)
        for p in phases:
            c_fast, c_slow, c_tum = a.curves[patient.phases.index(p)]
            signal = maps["base"] * (1 + c_fast * maps["fast"] + c_slow * maps["slow"] + c_tum * maps["tumour"])
            signal *= bias * patient.gain
            out[p][zs] = _rician(noise_rngs[p], signal, patient.noise_sigma)
    return out


def _grids(patient: MRIPatient, zs: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Z, Y, X = patient.shape
    z = ((np.arange(zs.start, zs.stop) + 0.5) / Z * 2 - 1).astype(np.float32)[:, None, None]
    y = ((np.arange(Y) + 0.5) / Y).astype(np.float32)[None, :, None]
    x = ((np.arange(X) + 0.5) / X * 2 - 1).astype(np.float32)[None, None, :]
    return z, y, x


def _tissue_maps(patient: MRIPatient, zs: slice, field: np.ndarray, texture: np.ndarray) -> dict[str, np.ndarray]:
    """Pre-contrast signal ``base`` and enhancement maps ``fast``/``slow``/``tumour`` for slices ``zs``."""
    a = patient.anatomy
    z, y, x = _grids(patient, zs)
    shape = (z.shape[0], y.shape[1], x.shape[2])
    chest = a.chest_y + a.chest_curve * x**2  # anterior surface of the chest wall, (1, 1, X)
    s = a.skin
    breast, inner_breast, core = np.zeros(shape, bool), np.zeros(shape, bool), np.zeros(shape, np.float32)
    for xc, w, d in ((-a.breast_x[0], a.breast_w[0], a.breast_d[0]), (a.breast_x[1], a.breast_w[1], a.breast_d[1])):
        prof = np.sqrt(np.clip(1 - ((z - a.breast_zc) / a.breast_zr) ** 2, 0, 1))
        wz, dz = w * (0.4 + 0.6 * prof), np.maximum(d * prof, 1e-3)
        f = ((x - xc) / wz) ** 2 + ((y - chest) / dz) ** 2
        f_in = ((x - xc) / np.maximum(wz - s, 1e-3)) ** 2 + ((y - chest) / np.maximum(dz - s, 1e-3)) ** 2
        anterior = y <= chest + 0.02
        breast |= (f < 1) & anterior
        inner_breast |= (f_in < 1) & anterior
        core = np.maximum(core, np.clip(1 - f, 0, 1))  # 1 at the breast base centre, 0 at the skin
    ty = a.chest_y + a.torso_h
    torso = (x / a.torso_w) ** 2 + ((y - ty) / a.torso_h) ** 2 < 1
    torso_in = (x / (a.torso_w - s)) ** 2 + ((y - ty) / (a.torso_h - s)) ** 2 < 1
    body, inner = breast | torso, inner_breast | torso_in

    base = np.zeros(shape, np.float32)
    slow = np.zeros(shape, np.float32)
    fast = np.zeros(shape, np.float32)
    base[body] = SKIN
    slow[body] = 0.25
    # breast and anterior fat: fat / fibroglandular mixture with a soft boundary (partial volume)
    glandular = inner & (y <= chest + 0.005)
    frac = 1 / (1 + np.exp(-(field + a.fgt_central * (core - 0.5) - a.fgt_threshold) / 0.12))
    frac = frac * glandular
    base[glandular] = FAT
    base += frac * (FGT - FAT) * (1 + 0.10 * texture)
    slow[glandular] = 0.03 + frac[glandular] * a.bpe
    # chest wall: pectoralis, then ribs/intercostal tissue, lungs and heart
    pec = inner & (y > chest + 0.005) & (y <= chest + 0.005 + a.pec_t * (1 - 0.4 * x**2))
    deep = inner & (y > chest + 0.005) & ~pec
    base[pec], slow[pec] = MUSCLE * (1 + 0.05 * texture[pec]), 0.15
    base[deep], slow[deep] = CHEST * (1 + 0.08 * texture[deep]), 0.2
    for side in (-1, 1):
        lung = deep & (((x - side * 0.45) / 0.3) ** 2 + ((y - chest - a.lung_y) / 0.14) ** 2 < 1)
        base[lung], slow[lung] = LUNG * (1 + 0.15 * texture[lung]), 0.05
    hz = np.clip(1 - ((z - a.heart_z) / 0.7) ** 2, 0, 1)
    heart = deep & (((x - 0.08) / 0.26) ** 2 + ((y - chest - a.lung_y) / 0.15) ** 2 < hz)
    base[heart], fast[heart], slow[heart] = HEART, 1.6, 0.0
    # a few breast vessels running cranio-caudally
    for vx, vy, amp, freq, phase, radius in a.vessels:
        cx = vx + amp * np.sin(freq * z + phase)
        cy = chest - vy
        vessel = glandular & (((x - cx) ** 2 + (y - cy) ** 2) < radius**2)
        base[vessel], fast[vessel], slow[vessel] = VESSEL, 2.2, 0.0
    return {"base": base, "fast": fast, "slow": slow, "tumour": np.zeros(shape, np.float32)}


def _add_tumour(patient: MRIPatient, maps: dict[str, np.ndarray], zs: slice, window, block, dist) -> None:
    """Write the tumour into the chunk: grey before contrast, strongly enhancing after."""
    lo, hi = max(window[0].start, zs.start), min(window[0].stop, zs.stop)
    if lo >= hi:
        return
    t = patient.tumour
    sub = slice(lo - window[0].start, hi - window[0].start)
    m, d = block[sub], dist[sub]
    target = (slice(lo - zs.start, hi - zs.start), window[1], window[2])
    # rim enhancement (heterogeneous core) for some tumours: more uptake near the margin
    uptake = t.enhancement * (1 - t.rim * (1 - np.clip(d, 0, 1)))
    for name, value in (("base", TUMOUR), ("fast", 0.0), ("slow", 0.0), ("tumour", uptake)):
        region = maps[name][target]
        region[m] = value if np.isscalar(value) else value[m]


def _bias_field(patient: MRIPatient, zs: slice) -> np.ndarray:
    """Smooth multiplicative B1 inhomogeneity: a left-right gradient, an anterior-posterior
    gradient and a central brightening (the dielectric effect dominant at 3 T)."""
    a = patient.anatomy
    z, y, x = _grids(patient, zs)
    gx, gy, gc, gz = a.bias_terms
    b = 1 + a.bias_amp * (gx * x + gy * (y - 0.5) * 2 + gc * (0.5 - (x**2 + (2 * y - 1) ** 2) / 2) + gz * z)
    return np.clip(b, 0.5, 1.5).astype(np.float32)


def _rician(rng: np.random.Generator, signal: np.ndarray, sigma: float) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise in both channels, quantised to 12 bits."""
    re = signal + sigma * rng.standard_normal(signal.shape, dtype=np.float32)
    im = sigma * rng.standard_normal(signal.shape, dtype=np.float32)
    return np.clip(np.rint(np.sqrt(re * re + im * im)), 0, FULL_SCALE).astype(np.uint16)
