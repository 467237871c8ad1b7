r"""Empirical FROC figures of merit (RJafroc's definitions) and their case covariance.

Notation (Chakraborty & Berbaum 2004; Chakraborty 2017, *Observer Performance Methods for
Diagnostic Imaging*, ch. 13-14): :math:`K_1` non-diseased and :math:`K_2` diseased cases,
:math:`L` lesions in all, lesion l of diseased case k has weight :math:`W_{kl}`
(:math:`\sum_l W_{kl} = 1`). An unmarked case or lesion is rated :math:`-\infty`, and

.. math:: \psi(x, y) = [y > x] + \tfrac12 [y = x]

(so two unmarked ratings tie and count one half, as in RJafroc). The highest NL rating
of a case, :math:`-\infty` without NL marks, is its inferred false-positive rating
:math:`FP_k`.

* ``wAFROC`` (default): :math:`\frac{1}{K_1K_2}\sum_{k_1}\sum_{k_2}\sum_l W_{k_2l}\,\psi(FP_{k_1}, LL_{k_2l})`.
* ``AFROC``: :math:`\frac{1}{K_1L}\sum_{k_1}\sum_{k_2}\sum_l \psi(FP_{k_1}, LL_{k_2l})`.
* ``wAFROC1`` / ``AFROC1``: the same with the false-positive ratings of *all* K cases
  (non-diseased and diseased; :math:`K_1` replaced by K) — for studies without
  non-diseased cases.
* ``HrAuc``: the Wilcoxon AUC of the highest-rating inferred ROC ratings: :math:`FP_k`
  for non-diseased cases, :math:`\max(FP_k, \max_l LL_{kl})` for diseased cases.
* ``HrSe`` / ``HrSp``: the end point of that inferred ROC: the fraction of diseased cases
  with any mark, of non-diseased cases without marks.
* ``MaxLLF``: marked lesions / L; ``MaxNLF``: NL marks on non-diseased cases / :math:`K_1`;
  ``MaxNLFAllCases``: NL marks on all cases / K (ordinate and abscissae of the FROC end point).

Every figure is one of two shapes, which is what makes its jackknife closed-form:

* *pairs*: :math:`\theta = S / (n_A W)` with :math:`S = \sum_a\sum_b w_b\psi(x_a, y_b)` over
  false-positive cases a and lesions b. Leaving out case k gives
  :math:`(S - R_k - C_k + X_k) / ((n_A - [k\in A])(W - w_k))` with :math:`R_k` its row sum,
  :math:`C_k` the weighted column sum of its lesions and :math:`X_k` its own pairs; the row
  and column sums come from one sort (O(K log K) per reader and treatment, not O(K²·K)).
* *ratios*: :math:`\theta = \sum_k n_k / \sum_k d_k` over one group of cases.

Case covariance, as RJafroc (``UtilPseudoValues``, ``varComponentsJackknife``,
``varComponentsBootstrap``):

* ``jackknife`` (default): leave one case out, over all K cases, or over the non-diseased
  cases only (HrSp, MaxNLF) or the diseased cases only (HrSe, MaxLLF), the figure's own
  cases; :math:`\widehat{\mathrm{Cov}} = \frac{n-1}{n}\sum_k(\theta_{a(k)}-\bar\theta_a)(\theta_{b(k)}-\bar\theta_b)`.
* ``bootstrap``: non-diseased and diseased cases resampled independently with
  replacement, ``n_boot`` times; the sample covariance (ddof 1) of the bootstrap figures.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.froc._data import FROCData

#: canonical RJafroc spelling of each figure of merit, keyed by its lower-case name
FROC_FOMS = {
    "wafroc": "wAFROC",
    "afroc": "AFROC",
    "wafroc1": "wAFROC1",
    "afroc1": "AFROC1",
    "hrauc": "HrAuc",
    "hrse": "HrSe",
    "hrsp": "HrSp",
    "maxllf": "MaxLLF",
    "maxnlf": "MaxNLF",
    "maxnlfallcases": "MaxNLFAllCases",
}
FROC_COV_METHODS = ("jackknife", "bootstrap")
#: figures bounded by [0, 1] (MaxNLF counts marks per case and is not)
BOUNDED = {k for k in FROC_FOMS if not k.startswith("maxnlf")}


def fom_key(fom: str) -> str:
    key = str(fom).strip().lower()
    if key not in FROC_FOMS:
        raise BreastlabInputError(f"unknown FROC figure of merit {fom!r}; choose one of {list(FROC_FOMS.values())}")
    return key


@dataclasses.dataclass(frozen=True)
class _Pairs:
    """theta = sum_ab w_b psi(x_a, y_b) / (n_A * sum_b w_b), for every reader x treatment column."""

    x: np.ndarray  # (C, nA) false-positive ratings
    a_case: np.ndarray  # (nA,) case index of each false-positive case
    y: np.ndarray  # (C, nB) lesion (or diseased-case) ratings
    b_case: np.ndarray  # (nB,) case index of each lesion
    w: np.ndarray  # (nB,) lesion weights


@dataclasses.dataclass(frozen=True)
class _Ratio:
    """theta = sum_k num_k / sum_k den_k over the cases ``cases``."""

    num: np.ndarray  # (C, n)
    den: np.ndarray  # (n,)
    cases: np.ndarray  # (n,) case indices


def _layout(data: FROCData, key: str) -> _Pairs | _Ratio:
    t, r, n_all, _ = data.nl.shape
    k1, k2 = data.n_normal, data.n_diseased
    nl = data.nl.reshape(t * r, n_all, -1)
    ll = data.ll.reshape(t * r, k2, -1)
    mask = data.lesion_mask
    fp = nl.max(axis=-1)  # (C, K): highest NL rating, -inf when unmarked
    les_case = np.repeat(np.arange(k1, n_all), data.lesions_per_case)
    lesion_y = ll[:, mask]  # (C, L), row-major: grouped by case in case order
    if key in ("wafroc", "afroc", "wafroc1", "afroc1"):
        all_cases = key.endswith("1")
        a = np.arange(n_all) if all_cases else np.arange(k1)
        w = data.weights[mask] if key.startswith("w") else np.ones(int(mask.sum()))
        return _Pairs(x=fp[:, a], a_case=a, y=lesion_y, b_case=les_case, w=w)
    hr_dis = np.maximum(fp[:, k1:], np.where(mask[None], ll, -np.inf).max(axis=-1))  # (C, K2)
    if key == "hrauc":
        return _Pairs(x=fp[:, :k1], a_case=np.arange(k1), y=hr_dis, b_case=np.arange(k1, n_all), w=np.ones(k2))
    if key == "hrse":
        return _Ratio(num=np.isfinite(hr_dis).astype(float), den=np.ones(k2), cases=np.arange(k1, n_all))
    if key == "hrsp":
        return _Ratio(num=(~np.isfinite(fp[:, :k1])).astype(float), den=np.ones(k1), cases=np.arange(k1))
    if key == "maxllf":
        marked = (np.isfinite(ll) & mask[None]).sum(axis=-1).astype(float)
        return _Ratio(num=marked, den=data.lesions_per_case.astype(float), cases=np.arange(k1, n_all))
    n_nl = np.isfinite(nl).sum(axis=-1).astype(float)
    if key == "maxnlf":
        return _Ratio(num=n_nl[:, :k1], den=np.ones(k1), cases=np.arange(k1))
    return _Ratio(num=n_nl, den=np.ones(n_all), cases=np.arange(n_all))  # maxnlfallcases


def _pair_sums(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row sums R_a = sum_b w_b psi(x_a, y_b) and column counts C_b = sum_a psi(x_a, y_b) for one column."""
    ys = np.argsort(y, kind="stable")
    y_sorted, cw = y[ys], np.concatenate([[0.0], np.cumsum(w[ys])])
    below = cw[np.searchsorted(y_sorted, x, side="right")]  # weight of lesions with y <= x
    at_or_below = cw[np.searchsorted(y_sorted, x, side="left")]  # weight with y < x
    rows = cw[-1] - below + 0.5 * (below - at_or_below)
    x_sorted = np.sort(x)
    lo = np.searchsorted(x_sorted, y, side="left")  # x < y
    hi = np.searchsorted(x_sorted, y, side="right")  # x <= y
    cols = lo + 0.5 * (hi - lo)
    return rows, cols


def froc_fom(data: FROCData, fom: str = "wafroc") -> np.ndarray:
    """Figures of merit ``(t, r)`` of every treatment and reader (RJafroc's ``UtilFigureOfMerit``)."""
    key = fom_key(fom)
    t, r = data.nl.shape[:2]
    lay = _layout(data, key)
    if isinstance(lay, _Ratio):
        return (lay.num.sum(axis=-1) / lay.den.sum()).reshape(t, r)
    out = np.empty(t * r)
    for c in range(t * r):
        rows, _ = _pair_sums(lay.x[c], lay.y[c], lay.w)
        out[c] = rows.sum() / (len(lay.a_case) * lay.w.sum())
    return out.reshape(t, r)


def jackknife_foms(data: FROCData, fom: str = "wafroc") -> tuple[np.ndarray, np.ndarray]:
    """Figures of merit ``(C,)`` and leave-one-case-out figures ``(C, n)`` (C = t * r, treatment-major).

    n is K, or the size of the figure's own case group (see the module docstring).
    """
    key = fom_key(fom)
    lay = _layout(data, key)
    n_all = data.nl.shape[2]
    if isinstance(lay, _Ratio):
        num_tot, den_tot = lay.num.sum(axis=-1, keepdims=True), lay.den.sum()
        if len(lay.den) < 2:
            raise BreastlabInputError(f"the jackknife of {FROC_FOMS[key]} needs at least 2 cases in its group")
        return num_tot[:, 0] / den_tot, (num_tot - lay.num) / (den_tot - lay.den)
    n_a, w_tot = len(lay.a_case), lay.w.sum()
    in_a = np.bincount(lay.a_case, minlength=n_all).astype(float)
    w_case = np.bincount(lay.b_case, weights=lay.w, minlength=n_all)
    if n_a - in_a.max() <= 0 or np.any(w_tot - w_case <= 0):
        raise BreastlabInputError("the case jackknife needs at least 2 non-diseased and 2 diseased cases")
    n_cols = lay.x.shape[0]
    theta = np.empty(n_cols)
    loo = np.empty((n_cols, n_all))
    # a case's own pairs (a false-positive case that also carries lesions: AFROC1 / wAFROC1)
    a_pos = np.full(n_all, -1)
    a_pos[lay.a_case] = np.arange(n_a)
    own = a_pos[lay.b_case] >= 0
    for c in range(n_cols):
        rows, cols = _pair_sums(lay.x[c], lay.y[c], lay.w)
        s = rows.sum()
        theta[c] = s / (n_a * w_tot)
        row_k = np.bincount(lay.a_case, weights=rows, minlength=n_all)
        col_k = np.bincount(lay.b_case, weights=lay.w * cols, minlength=n_all)
        self_k = np.zeros(n_all)
        if own.any():
            xb = lay.x[c][a_pos[lay.b_case[own]]]
            yb = lay.y[c][own]
            psi = (yb > xb) + 0.5 * (yb == xb)
            self_k = np.bincount(lay.b_case[own], weights=lay.w[own] * psi, minlength=n_all)
        loo[c] = (s - row_k - col_k + self_k) / ((n_a - in_a) * (w_tot - w_case))
    return theta, loo


def bootstrap_foms(data: FROCData, fom: str, n_boot: int, seed: int | None) -> np.ndarray:
    """Figures of merit ``(n_boot, C)`` on case bootstrap samples (non-diseased and diseased cases resampled apart)."""
    key = fom_key(fom)
    lay = _layout(data, key)
    n_all, k1 = data.nl.shape[2], data.n_normal
    rng = np.random.default_rng(seed)
    mult = np.zeros((n_boot, n_all))
    for lo, hi in ((0, k1), (k1, n_all)):
        draws = rng.integers(lo, hi, size=(n_boot, hi - lo))
        np.add.at(mult, (np.arange(n_boot)[:, None], draws), 1.0)
    if isinstance(lay, _Ratio):
        m = mult[:, lay.cases]  # (B, n)
        return (m @ lay.num.T) / (m @ lay.den)[:, None]
    n_cols = lay.x.shape[0]
    out = np.empty((n_boot, n_cols))
    ma, mb = mult[:, lay.a_case], mult[:, lay.b_case] * lay.w  # (B, nA), (B, nB)
    denom = ma.sum(axis=1) * mb.sum(axis=1)
    for c in range(n_cols):
        order = np.argsort(lay.x[c], kind="stable")
        xs = lay.x[c][order]
        cum = np.concatenate([np.zeros((n_boot, 1)), np.cumsum(ma[:, order], axis=1)], axis=1)
        lo = np.searchsorted(xs, lay.y[c], side="left")
        hi = np.searchsorted(xs, lay.y[c], side="right")
        below = cum[:, lo]
        cols = below + 0.5 * (cum[:, hi] - below)  # (B, nB): weighted count of x < y plus half the ties
        out[:, c] = (mb * cols).sum(axis=1) / denom
    return out


def froc_fom_and_covariance(
    data: FROCData, fom: str = "wafroc", cov: str = "jackknife", n_boot: int = 200, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Figures of merit ``(t*r,)`` (treatment-major) and their case covariance ``(t*r, t*r)``."""
    if cov not in FROC_COV_METHODS:
        raise BreastlabInputError(f"cov must be one of {FROC_COV_METHODS}, got {cov!r}")
    if cov == "jackknife":
        theta, loo = jackknife_foms(data, fom)
        n = loo.shape[1]
        d = loo - loo.mean(axis=1, keepdims=True)
        return theta, (d @ d.T) * ((n - 1) / n)
    if n_boot < 2:
        raise BreastlabInputError(f"n_boot must be at least 2, got {n_boot}")
    theta = froc_fom(data, fom).ravel()
    boots = bootstrap_foms(data, fom, n_boot, seed)
    return theta, np.cov(boots, rowvar=False, ddof=1).reshape(len(theta), len(theta))
