"""Smoothed ROC curves: binormal and kernel density (pROC's ``smooth.roc``).

Dorfman DD, Alf E. Maximum likelihood estimation of parameters of signal
detection theory and determination of confidence intervals - rating method
data. J Math Psychol 1969;6:487-496 (the binormal model).
Zou KH, Hall WJ, Shapiro DE. Smooth non-parametric receiver operating
characteristic (ROC) curves for continuous diagnostic tests. Stat Med
1997;16:2143-2156 (kernel smoothing).
Robin X, et al. pROC. BMC Bioinformatics 2011;12:77.

Binormal (pROC's fit, which is a least-squares line, not maximum likelihood):
the empirical ROC points with finite normal deviates are fitted by ordinary
least squares ``qnorm(sp) = A + B qnorm(se)``. The smoothed curve is
``se = u_i``, ``sp = pnorm(A + B qnorm(u_i))`` on ``n`` equally spaced
``u_i`` in [0, 1], and its AUC is ``pnorm(A / sqrt(1 + B^2))``. (With the
textbook parametrisation ``qnorm(se) = a + b qnorm(1 - sp)``, ``A = a / b`` and
``B = -1 / b``; pROC reports and uses ``A`` and ``B`` as fitted, so do we.)

Density: one bandwidth ``bw`` (R's ``bw.nrd0`` of all scores unless given) for
Gaussian kernel densities of the negatives and of the positives on ``n``
common grid points from ``min - 3 bw`` to ``max + 3 bw``, computed as R's
``density()`` does (linear binning on 2n points, FFT convolution, linear
interpolation). Grid point ``j`` is a threshold between grid cells:
``sp_j = sum_{i < j} f0_i / sum f0``, ``se_j = sum_{i >= j} f1_i / sum f1``
(``direction="<"``; mirrored for ``">"``). The AUC of a density-smoothed curve
is the trapezoidal area of its points.

Both curves get the end points (sp 0, se 1) and (sp 1, se 0) and are ordered
by increasing specificity, as pROC's.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats as _st

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats._validate import check_direction, check_scores, check_truth
from breastlab.evaluate.stats.roc import roc_curve

SMOOTH_METHODS = ("binormal", "density")


@dataclasses.dataclass(frozen=True)
class SmoothRoc:
    """A smoothed ROC curve, points ordered by increasing specificity."""

    sensitivities: np.ndarray = dataclasses.field(repr=False)
    specificities: np.ndarray = dataclasses.field(repr=False)
    method: str
    auc: float
    intercept: float | None  # binormal A (qnorm(sp) = A + B qnorm(se))
    slope: float | None  # binormal B
    bandwidth: float | None  # density
    n_positive: int
    n_negative: int

    def partial_auc(self, bounds, focus: str = "specificity", correct: bool = False) -> float:
        """Partial AUC of the smoothed curve (trapezoids over its points, as pROC)."""
        from breastlab.evaluate.stats.partial import curve_partial_auc

        return curve_partial_auc(self.sensitivities, self.specificities, bounds, focus, correct)

    def to_dict(self) -> dict:
        return {
            k: getattr(self, k)
            for k in ("method", "auc", "intercept", "slope", "bandwidth", "n_positive", "n_negative")
        }


@dataclasses.dataclass(frozen=True)
class BinormalFit:
    """pROC's binormal line ``qnorm(sp) = intercept + slope * qnorm(se)`` over the empirical points."""

    intercept: float
    slope: float
    n_points: int

    @property
    def auc(self) -> float:
        return float(_st.norm.cdf(self.intercept / math.sqrt(1.0 + self.slope**2)))


def binormal_fit(sensitivities: np.ndarray, specificities: np.ndarray) -> BinormalFit:
    """Least-squares fit of ``qnorm(sp)`` on ``qnorm(se)`` over the points where both are finite."""
    with np.errstate(divide="ignore"):
        zse = _st.norm.ppf(np.asarray(sensitivities, dtype=np.float64))
        zsp = _st.norm.ppf(np.asarray(specificities, dtype=np.float64))
    ok = np.isfinite(zse) & np.isfinite(zsp)
    zse, zsp = zse[ok], zsp[ok]
    if zse.size <= 1 or np.all(zse == zse[0]):
        raise BreastlabInputError(
            f"ROC curve not smoothable: {zse.size} point(s) with sensitivity and specificity strictly between "
            "0 and 1 (need at least 2 with different sensitivities)"
        )
    xm, ym = zse.mean(), zsp.mean()
    slope = float(np.sum((zse - xm) * (zsp - ym)) / np.sum((zse - xm) ** 2))
    return BinormalFit(float(ym - slope * xm), slope, int(zse.size))


def _close(se: np.ndarray, sp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pROC's ``sort`` (reverse when specificity is not non-decreasing) and the two end points."""
    if np.any(np.diff(sp) < 0):
        se, sp = se[::-1], sp[::-1]
    return np.r_[1.0, se, 0.0], np.r_[0.0, sp, 1.0]


def _trapezoid_auc(se: np.ndarray, sp: np.ndarray) -> float:
    return float(np.sum((se[1:] + se[:-1]) / 2.0 * (sp[1:] - sp[:-1])))


def bw_nrd0(x: np.ndarray) -> float:
    """R's ``bw.nrd0``: ``0.9 min(sd, IQR / 1.34) N^(-1/5)`` (Silverman's rule of thumb, R's fallbacks)."""
    if x.size < 2:
        raise BreastlabInputError("a density bandwidth needs at least 2 scores")
    hi = float(np.std(x, ddof=1))
    q1, q3 = np.quantile(x, [0.25, 0.75])
    lo = min(hi, float(q3 - q1) / 1.34)
    if not lo:
        lo = hi or abs(float(x[0])) or 1.0
    return 0.9 * lo * x.size ** (-0.2)


def _bin_dist(x: np.ndarray, weight: float, lo: float, up: float, n: int) -> np.ndarray:
    """R's linear binning (C_BinDist) of points of equal ``weight`` onto ``n`` grid points, padded to 2n."""
    y = np.zeros(2 * n)
    delta = (up - lo) / (n - 1)
    pos = (x - lo) / delta
    ix = np.floor(pos).astype(np.int64)
    fx = pos - ix
    inner = (ix >= 0) & (ix <= n - 2)
    np.add.at(y, ix[inner], weight * (1.0 - fx[inner]))
    np.add.at(y, ix[inner] + 1, weight * fx[inner])
    left = ix == -1
    np.add.at(y, np.zeros(int(left.sum()), dtype=np.int64), weight * fx[left])
    right = ix == n - 1
    np.add.at(y, ix[right], weight * (1.0 - fx[right]))
    return y


def r_density(x: np.ndarray, bw: float, start: float, stop: float, n_out: int = 512) -> np.ndarray:
    """Gaussian kernel density of ``x`` at ``n_out`` points from ``start`` to ``stop``, as R's ``density()``."""
    n = max(n_out, 512)
    if n > 512:
        n = 2 ** math.ceil(math.log2(n))
    lo, up = start - 4.0 * bw, stop + 4.0 * bw
    y = _bin_dist(x, 1.0 / x.size, lo, up, n)
    kords = np.linspace(0.0, 2.0 * (up - lo), 2 * n)
    kords[n + 1 :] = -kords[n - 1 : 0 : -1]
    kernel = _st.norm.pdf(kords, scale=bw)
    conv = np.fft.ifft(np.fft.fft(y) * np.conj(np.fft.fft(kernel)))
    dens = np.maximum(0.0, conv.real[:n])
    return np.interp(np.linspace(start, stop, n_out), np.linspace(lo, up, n), dens)


def smooth_roc(
    y_true, y_score, method: str = "binormal", n: int = 512, bw: float | str = "nrd0", direction: str = "<"
) -> SmoothRoc:
    """Smoothed ROC curve (pROC ``smooth(roc, method = method, n = n, bw = bw)``); see the module docstring."""
    check_direction(direction)
    if method not in SMOOTH_METHODS:
        raise BreastlabInputError(f"smoothing method must be one of {list(SMOOTH_METHODS)}, got {method!r}")
    if int(n) != n or n < 2:
        raise BreastlabInputError(f"n (points of the smoothed curve) must be an integer >= 2, got {n!r}")
    truth = check_truth(y_true)
    s = check_scores(y_score, truth.size)
    m, nn = int(truth.sum()), int((~truth).sum())
    if method == "binormal":
        roc = roc_curve(truth, s, direction)
        fit = binormal_fit(roc.sensitivities, roc.specificities)
        u = np.arange(n) * (1.0 / (n - 1))
        with np.errstate(divide="ignore"):
            zu = _st.norm.ppf(u)
        se = _st.norm.cdf(zu)
        sp = _st.norm.cdf(fit.intercept + fit.slope * zu)
        se, sp = _close(se, sp)
        return SmoothRoc(se, sp, method, fit.auc, fit.intercept, fit.slope, None, m, nn)
    _check_bw(bw)
    se, sp, bw = density_curve(s[~truth], s[truth], bw, n, direction)
    return SmoothRoc(se, sp, method, _trapezoid_auc(se, sp), None, None, bw, m, nn)


def _check_bw(bw) -> None:
    if isinstance(bw, str):
        if bw != "nrd0":
            raise BreastlabInputError(f"bw must be a positive number or 'nrd0', got {bw!r}")
    elif not float(bw) > 0:
        raise BreastlabInputError(f"bw must be positive, got {bw!r}")


def density_curve(controls: np.ndarray, cases: np.ndarray, bw, n: int, direction: str):
    """The density-smoothed curve (se, sp, with end points) of raw scores, and the bandwidth used."""
    predictor = np.r_[controls, cases]
    bw = bw_nrd0(predictor) if isinstance(bw, str) else float(bw)
    start, stop = predictor.min() - 3.0 * bw, predictor.max() + 3.0 * bw
    f0 = r_density(controls, bw, start, stop, n)
    f1 = r_density(cases, bw, start, stop, n)
    if direction == "<":  # threshold j sits between grid points j-1 and j
        sp = np.r_[0.0, np.cumsum(f0)[:-1]] / f0.sum()
        se = np.cumsum(f1[::-1])[::-1] / f1.sum()
    else:
        sp = (f0.sum() - np.cumsum(f0)) / f0.sum()
        se = np.cumsum(f1) / f1.sum()
    se, sp = _close(se, sp)
    return se, sp, bw


def smooth_auc_statistic(method: str, n: int = 512, bw="nrd0", direction: str = "<"):
    """Bootstrap statistic ``stat(plan, weights)``: the AUC of each replicate's smoothed curve.

    As pROC's ``ci.auc`` / ``roc.test`` of a ``smooth.roc``: every replicate is smoothed
    again with the same arguments (``bw="nrd0"`` recomputed on the replicate's scores);
    a replicate that cannot be smoothed gives NaN (pROC: NA).

    * ``binormal``, vectorised: the least-squares line over each replicate's own ROC
      points (one per distinct score it holds; ``qnorm`` of sensitivity and specificity
      both finite), AUC ``pnorm(A / sqrt(1 + B^2))``;
    * ``density``: each replicate's scores rebuilt from its case weights and smoothed
      as by ``smooth_roc`` (a loop over replicates).
    """
    if method not in SMOOTH_METHODS:
        raise BreastlabInputError(f"smoothing method must be one of {list(SMOOTH_METHODS)}, got {method!r}")
    if int(n) != n or n < 2:
        raise BreastlabInputError(f"n (points of the smoothed curve) must be an integer >= 2, got {n!r}")
    check_direction(direction)
    _check_bw(bw)

    def binormal(plan, w: np.ndarray) -> np.ndarray:
        p = plan._level_sums(w[:, : plan.m], plan.pos)  # (levels, b)
        q = plan._level_sums(w[:, plan.m :], plan.neg)
        zero = np.zeros((1, w.shape[0]))
        tp = np.concatenate([np.cumsum(p[::-1], axis=0)[::-1], zero], axis=0)
        tn = np.concatenate([zero, np.cumsum(q, axis=0)], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            zse, zsp = _st.norm.ppf(tp / tp[:1]), _st.norm.ppf(tn / tn[-1:])
        point = np.concatenate([(p + q) > 0, np.ones_like(zero, dtype=bool)], axis=0)  # the replicate's points
        ok = point & np.isfinite(zse) & np.isfinite(zsp)
        count = ok.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            xm = np.where(ok, zse, 0.0).sum(axis=0) / count
            ym = np.where(ok, zsp, 0.0).sum(axis=0) / count
            dx, dy = np.where(ok, zse - xm, 0.0), np.where(ok, zsp - ym, 0.0)
            slope = (dx * dy).sum(axis=0) / (dx * dx).sum(axis=0)
            auc = _st.norm.cdf((ym - slope * xm) / np.sqrt(1.0 + slope**2))
        spread = np.where(ok, zse, -np.inf).max(axis=0) > np.where(ok, zse, np.inf).min(axis=0)
        return np.where((count > 1) & spread, auc, np.nan)

    def density(plan, w: np.ndarray) -> np.ndarray:
        scores = plan.scores if direction == "<" else -plan.scores  # back to the raw scores
        counts = np.rint(w).astype(np.int64)
        out = np.full(w.shape[0], np.nan)
        for i, c in enumerate(counts):
            cases, controls = np.repeat(scores[: plan.m], c[: plan.m]), np.repeat(scores[plan.m :], c[plan.m :])
            if cases.size and controls.size:
                try:
                    se, sp, _ = density_curve(controls, cases, bw, n, direction)
                except BreastlabInputError:
                    continue
                out[i] = _trapezoid_auc(se, sp)
        return out

    stat = binormal if method == "binormal" else density
    stat.merge_levels = method != "binormal"  # the binormal line reads every distinct score's point
    return stat
