r"""Binormal ROC AUC by maximum likelihood from ordinal ratings (Dorfman & Alf 1969), as MRMCaov's ``binormal_auc``.

Model: with the ratings' distinct values as ordered categories 1..C and cutoffs
:math:`z_1 < \dots < z_{C-1}`, a non-diseased case falls at or below category k with
probability :math:`\Phi(z_k)` and a diseased case with :math:`\Phi(b z_k - a)`, so that the ROC
curve is :math:`TPR = \Phi(a + b\,\Phi^{-1}(FPR))` and

.. math:: AUC = \Phi\!\left(\frac{a}{\sqrt{1 + b^2}}\right).

The log-likelihood of the category counts is maximised over (a, b, cutoffs) with analytic
gradients (cutoffs kept ordered through log increments). As MRMCaov does, a reader whose
empirical ROC points all lie on the axes FPR = 0 or TPR = 1 (perfect separation) gets AUC 1,
all on FPR = 1 or TPR = 0 gets 0, and a single operating point (one rating category) gets 0.5.
Categories are first merged as MRMCaov's ``roc_counts(collapse = TRUE)`` does (a category
inside a run of categories without events, or without non-events, joins its neighbour), which
usually keeps the maximum finite. Where it is still not attained (e.g. one Van Dyke jackknife
sample, whose likelihood keeps rising as b -> 0) the optimiser runs to the supremum and returns
its AUC; MRMCaov's trust-region optimiser stops at a finite point there, which is why the Van
Dyke jackknife covariances agree with MRMCaov's to about 4 significant digits rather than all.
Starting values: the least-squares line through the probit empirical ROC points.

Reference: Dorfman DD, Alf E. Maximum-likelihood estimation of parameters of signal-detection
theory and determination of confidence intervals - rating-method data. J Math Psychol
1969;6:487-496. Smith BJ, Hillis SL, Pesce LL. MRMCaov: multi-reader multi-case analysis of
variance (R package), ``binormal_auc``.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special, stats


def _counts(truth: np.ndarray, rating: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cats, idx = np.unique(rating, return_inverse=True)
    ev = np.bincount(idx[truth], minlength=len(cats)).astype(float)
    ne = np.bincount(idx[~truth], minlength=len(cats)).astype(float)
    return ev, ne


def _inside_run(cum: np.ndarray) -> np.ndarray:
    """True where a value equals both an earlier and a later one (strictly inside a run of equal values)."""
    same_prev = np.r_[False, cum[1:] == cum[:-1]]
    same_next = np.r_[cum[:-1] == cum[1:], False]
    return same_prev & same_next


def _collapse(ev: np.ndarray, ne: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge categories as MRMCaov's ``roc_counts(collapse = TRUE)``: a category strictly inside a run of
    categories holding no events (or no non-events) joins the next one. Without it the likelihood of such
    data can keep rising as b -> 0 and cutoffs -> infinity."""
    ce, cn = np.cumsum(ev), np.cumsum(ne)
    keep = ~(_inside_run(ce) | _inside_run(cn))
    ce, cn = ce[keep], cn[keep]
    return np.diff(ce, prepend=0.0), np.diff(cn, prepend=0.0)


def _degenerate(ev: np.ndarray, ne: np.ndarray) -> float | None:
    """AUC of a degenerate empirical ROC (MRMCaov's rules), else None."""
    if len(ev) < 2:
        return 0.5
    # operating points at thresholds between categories (rating above the cut is positive)
    tpr = np.cumsum(ev[::-1])[:-1] / ev.sum()
    fpr = np.cumsum(ne[::-1])[:-1] / ne.sum()
    if np.all((fpr == 0) | (tpr == 1)):
        return 1.0
    if np.all((fpr == 1) | (tpr == 0)):
        return 0.0
    return None


def _unpack(theta: np.ndarray) -> tuple[float, float, np.ndarray]:
    a, log_b, z1 = theta[0], theta[1], theta[2]
    z = z1 + np.concatenate([[0.0], np.cumsum(np.exp(theta[3:]))])
    return a, np.exp(log_b), z


def _negloglik(theta: np.ndarray, ev: np.ndarray, ne: np.ndarray) -> tuple[float, np.ndarray]:
    a, b, z = _unpack(theta)
    zn = np.concatenate([[-np.inf], z, [np.inf]])
    ze = np.concatenate([[-np.inf], b * z - a, [np.inf]])
    pn = special.ndtr(zn[1:]) - special.ndtr(zn[:-1])
    pe = special.ndtr(ze[1:]) - special.ndtr(ze[:-1])
    pn, pe = np.maximum(pn, 1e-300), np.maximum(pe, 1e-300)
    value = -(ne @ np.log(pn) + ev @ np.log(pe))
    # d/d(upper and lower bounds) of each category's log-probability
    phin, phie = stats.norm.pdf(zn), stats.norm.pdf(ze)
    gn = ne / pn  # weight of each category
    ge = ev / pe
    # derivative of -loglik w.r.t. each cutoff z_k (k = 1..C-1) for non-events, and w.r.t. (b z_k - a) for events
    d_zn = -(gn[:-1] - gn[1:]) * phin[1:-1]
    d_ze = -(ge[:-1] - ge[1:]) * phie[1:-1]
    grad_z = d_zn + d_ze * b
    grad_a = -d_ze.sum()
    grad_b = (d_ze * z).sum()
    # chain rule to (a, log b, z1, log increments)
    g = np.empty_like(theta)
    g[0] = grad_a
    g[1] = grad_b * b
    g[2] = grad_z.sum()
    tail = np.cumsum(grad_z[::-1])[::-1][1:]  # z_k for k >= j+1 depends on increment j
    g[3:] = tail * np.exp(theta[3:])
    return value, g


def _start(ev: np.ndarray, ne: np.ndarray) -> np.ndarray:
    tpr = np.cumsum(ev[::-1])[:-1][::-1] / ev.sum()  # P(rating > category k) for k = 1..C-1
    fpr = np.cumsum(ne[::-1])[:-1][::-1] / ne.sum()
    x, y = stats.norm.ppf(fpr), stats.norm.ppf(tpr)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() >= 2 and np.ptp(x[keep]) > 0:
        b, a = np.polyfit(x[keep], y[keep], 1)
        b = b if b > 0.05 else 1.0
    else:
        a, b = 1.0, 1.0
    # cutoffs: z_k = -probit(FPR_k), made increasing
    z = -np.clip(x, -4, 4)
    z = np.where(np.isfinite(z), z, 0.0)
    z = np.maximum.accumulate(z + np.arange(len(z)) * 1e-3)
    inc = np.maximum(np.diff(z), 1e-3)
    return np.concatenate([[a, np.log(b), z[0]], np.log(inc)])


def _fit(ev: np.ndarray, ne: np.ndarray, start: np.ndarray | None = None) -> tuple[float, np.ndarray | None]:
    ev, ne = _collapse(ev, ne)
    fixed = _degenerate(ev, ne)
    if fixed is not None:
        return fixed, None
    x0 = start if start is not None and len(start) == len(ev) + 1 else _start(ev, ne)
    res = optimize.minimize(
        _negloglik, x0, args=(ev, ne), jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 5000}
    )
    a, b, _ = _unpack(res.x)
    return float(special.ndtr(a / np.sqrt(1.0 + b * b))), res.x


def binormal_auc(truth, rating) -> float:
    """Binormal ML AUC of one reader (see the module docstring)."""
    ev, ne = _counts(np.asarray(truth, dtype=bool), np.asarray(rating, dtype=np.float64))
    return _fit(ev, ne)[0]


def binormal_aucs(ratings: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """:func:`binormal_auc` of every column ``ratings[..., :]`` (shape ``(..., N)`` -> ``(...)``)."""
    flat = ratings.reshape(-1, ratings.shape[-1])
    return np.array([binormal_auc(truth, col) for col in flat]).reshape(ratings.shape[:-1])


def binormal_leave_one_out(ratings: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs ``(...)`` and leave-one-case-out AUCs ``(..., N)``, each refitted (from the full fit's estimates)."""
    truth = np.asarray(truth, dtype=bool)
    flat = ratings.reshape(-1, ratings.shape[-1])
    n = flat.shape[1]
    theta = np.empty(len(flat))
    loo = np.empty(flat.shape)
    for c, col in enumerate(flat):
        cats, idx = np.unique(col, return_inverse=True)
        ev = np.bincount(idx[truth], minlength=len(cats)).astype(float)
        ne = np.bincount(idx[~truth], minlength=len(cats)).astype(float)
        theta[c], start = _fit(ev, ne)
        for k in range(n):
            e, m = ev.copy(), ne.copy()
            (e if truth[k] else m)[idx[k]] -= 1
            keep = (e + m) > 0  # a category emptied by the left-out case disappears
            loo[c, k] = _fit(e[keep], m[keep], start if keep.all() else None)[0]
    return theta.reshape(ratings.shape[:-1]), loo.reshape(ratings.shape)
