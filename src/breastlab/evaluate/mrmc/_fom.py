r"""Reader-level figures of merit and their covariance across cases.

All functions take ratings of shape ``(..., K, N)`` (K reader x treatment
columns on the same N cases, any leading batch axes) and a truth vector
``(N,)``; the covariance is ``(..., K, K)``.

Figures of merit
----------------
* ``"auc"``: empirical (Mann-Whitney) ROC AUC, ties counted 1/2,

  .. math:: \hat\theta = \frac{1}{mn}\sum_{i=1}^m\sum_{j=1}^n \psi(X_i, Y_j),\qquad
            \psi(x, y) = [x > y] + \tfrac12 [x = y].

* ``"sensitivity"`` / ``"specificity"`` at a threshold: the fraction of
  diseased cases rated ``>= threshold`` / of non-diseased cases rated
  ``< threshold``.

Covariance methods
------------------
* ``"delong"`` (DeLong, DeLong & Clarke-Pearson 1988; AUC only): with the
  structural components :math:`V_{10}` (one per diseased case) and
  :math:`V_{01}` (one per non-diseased case) of every column,
  :math:`\widehat{\mathrm{Cov}} = S_{10}/m + S_{01}/n` (sample covariances,
  ddof 1). Computed for all K columns at once by the fast midrank algorithm
  of Sun & Xu (2014) in :mod:`breastlab.evaluate._delong`.
* ``"jackknife"`` (case jackknife, Hillis et al. 2005): with
  :math:`\hat\theta_{(k)}` the FOM without case k (of all N cases) and
  :math:`\bar\theta_{(\cdot)}` their mean,

  .. math:: \widehat{\mathrm{Cov}}(\hat\theta_a, \hat\theta_b) = \frac{N-1}{N}\sum_{k=1}^N
            (\hat\theta_{a(k)} - \bar\theta_{a(\cdot)})(\hat\theta_{b(k)} - \bar\theta_{b(\cdot)}).

  The leave-one-out values are exact closed forms, not a loop: removing
  diseased case i gives AUC :math:`(m\hat\theta - V_{10,i})/(m-1)`, removing
  non-diseased case j gives :math:`(n\hat\theta - V_{01,j})/(n-1)`; likewise
  for a proportion. Cost O(K N log N). Sensitivity (specificity) depends only
  on the diseased (non-diseased) cases, so its jackknife runs over those m (n)
  cases, which gives the familiar :math:`\hat p(1-\hat p)/(m-1)` for a
  variance (as MRMCaov's ``binary_sens`` / ``binary_spec``).
"""

from __future__ import annotations

import numpy as np

from breastlab.errors import BreastlabInputError
from breastlab.evaluate._delong import delong_components
from breastlab.evaluate._partial import empirical_partial_auc

FOMS = ("auc", "sensitivity", "specificity", "pauc", "binormal_auc")
COV_METHODS = ("delong", "jackknife")


def _check(fom: str, cov: str, threshold: float | None, partial=None) -> None:
    if fom not in FOMS:
        raise BreastlabInputError(f"fom must be one of {FOMS}, got {fom!r}")
    if cov not in COV_METHODS:
        raise BreastlabInputError(f"cov must be one of {COV_METHODS}, got {cov!r}")
    if fom == "binormal_auc":
        if cov == "delong":
            raise BreastlabInputError(
                "DeLong covariance is for the empirical AUC; use cov='jackknife' for 'binormal_auc'"
            )
        return
    if fom == "pauc":
        if partial is None:
            raise BreastlabInputError("fom='pauc' needs partial=(low, high), e.g. a specificity range (0.8, 1)")
        if cov == "delong":
            raise BreastlabInputError("DeLong covariance is defined for the full AUC; use cov='jackknife' for 'pauc'")
        return
    if fom != "auc" and threshold is None:
        raise BreastlabInputError(f"fom={fom!r} needs a threshold (a case is called positive when rating >= threshold)")
    if fom != "auc" and cov == "delong":
        raise BreastlabInputError(
            f"DeLong covariance is defined for the empirical AUC only; use cov='jackknife' with fom={fom!r}"
        )


def auc_components(ratings: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empirical AUCs ``(...,K)`` and structural components ``V10 (...,K,m)``, ``V01 (...,K,n)``."""
    lead = ratings.shape[:-1]
    x = ratings[..., truth].reshape(-1, int(truth.sum()))
    y = ratings[..., ~truth].reshape(-1, int((~truth).sum()))
    comp = delong_components(x, y)
    return (
        comp.auc.reshape(lead),
        comp.v10.reshape(lead + (x.shape[1],)),
        comp.v01.reshape(lead + (y.shape[1],)),
    )


def _sample_cov(v: np.ndarray) -> np.ndarray:
    """Sample covariance (ddof 1) across the last axis: (..., K, L) -> (..., K, K)."""
    if v.shape[-1] < 2:
        return np.zeros(v.shape[:-1] + (v.shape[-2],))
    d = v - v.mean(axis=-1, keepdims=True)
    return np.einsum("...kl,...ml->...km", d, d) / (v.shape[-1] - 1)


def _leave_one_out(fom: str, ratings: np.ndarray, truth: np.ndarray, threshold: float | None):
    """FOMs ``(...,K)`` and leave-one-case-out FOMs ``(...,K,N)`` in closed form."""
    m, n = int(truth.sum()), int((~truth).sum())
    if fom == "auc":
        theta, v10, v01 = auc_components(ratings, truth)
        loo = np.empty(ratings.shape, dtype=np.float64)
        loo[..., truth] = (m * theta[..., None] - v10) / (m - 1)
        loo[..., ~truth] = (n * theta[..., None] - v01) / (n - 1)
        return theta, loo
    hit = ratings >= threshold
    group, size = (truth, m) if fom == "sensitivity" else (~truth, n)
    ind = hit[..., group] if fom == "sensitivity" else ~hit[..., group]
    theta = ind.mean(axis=-1)
    loo = np.repeat(theta[..., None], ratings.shape[-1], axis=-1)
    loo[..., group] = (size * theta[..., None] - ind) / (size - 1)
    return theta, loo


def _partial_aucs(ratings: np.ndarray, truth: np.ndarray, partial, focus: str) -> np.ndarray:
    flat = ratings.reshape(-1, ratings.shape[-1])
    return np.array([empirical_partial_auc(truth, col, partial, focus) for col in flat]).reshape(ratings.shape[:-1])


def _partial_leave_one_out(ratings: np.ndarray, truth: np.ndarray, partial, focus: str):
    """Partial AUCs and their leave-one-case-out values, recomputed (the area has no closed-form update)."""
    theta = _partial_aucs(ratings, truth, partial, focus)
    n = ratings.shape[-1]
    loo = np.empty(ratings.shape, dtype=np.float64)
    for k in range(n):
        keep = np.arange(n) != k
        loo[..., k] = _partial_aucs(ratings[..., keep], truth[keep], partial, focus)
    return theta, loo


def fom_and_covariance(
    ratings: np.ndarray,
    truth: np.ndarray,
    *,
    fom: str = "auc",
    cov: str = "delong",
    threshold: float | None = None,
    partial=None,
    focus: str = "specificity",
) -> tuple[np.ndarray, np.ndarray]:
    """Figures of merit ``(..., K)`` and their case covariance ``(..., K, K)``.

    ``ratings``: ``(..., K, N)``, higher = more suspicious; ``truth``: ``(N,)``
    booleans (True = diseased). See the module docstring for the formulas.
    ``fom="pauc"``: the partial area under the empirical ROC curve over ``partial`` =
    (low, high) of ``focus`` (specificity or sensitivity), uncorrected, as pROC's
    ``auc(partial.auc = ...)`` and MRMCaov's ``empirical_auc(partial = ...)``
    (:func:`breastlab.evaluate._partial.empirical_partial_auc`); jackknife covariance only.
    ``fom="binormal_auc"``: the binormal maximum-likelihood AUC of each reader's ordinal
    ratings, as MRMCaov's ``binormal_auc`` (:mod:`breastlab.evaluate.mrmc._binormal`);
    jackknife covariance (each left-out sample refitted).
    """
    _check(fom, cov, threshold, partial)
    ratings = np.asarray(ratings, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    m, n = int(truth.sum()), int((~truth).sum())
    if m == 0 or n == 0:
        raise BreastlabInputError(f"need diseased and non-diseased cases; got {m} diseased, {n} non-diseased")
    if cov == "delong":
        theta, v10, v01 = auc_components(ratings, truth)
        return theta, _sample_cov(v10) / m + _sample_cov(v01) / n
    if min(m, n) < 2:
        raise BreastlabInputError(
            f"the case jackknife needs at least 2 diseased and 2 non-diseased cases; got {m} and {n}"
        )
    if fom == "pauc":
        if min(m, n) < 3:  # each left-out sample must keep two of each class for its ROC curve
            raise BreastlabInputError(
                f"the case jackknife of the partial AUC needs at least 3 diseased and 3 non-diseased cases; "
                f"got {m} and {n}"
            )
        theta, loo = _partial_leave_one_out(ratings, truth, partial, focus)
    elif fom == "binormal_auc":
        from breastlab.evaluate.mrmc._binormal import binormal_leave_one_out

        theta, loo = binormal_leave_one_out(ratings, truth)
    else:
        theta, loo = _leave_one_out(fom, ratings, truth, threshold)
    if fom in (
        "sensitivity",
        "specificity",
    ):  # a proportion depends only on its own group of cases: jackknife over that group
        loo = loo[..., truth] if fom == "sensitivity" else loo[..., ~truth]
    big_n = loo.shape[-1]
    d = loo - loo.mean(axis=-1, keepdims=True)
    return theta, np.einsum("...kc,...lc->...kl", d, d) * ((big_n - 1) / big_n)


def figure_of_merit(
    ratings: np.ndarray,
    truth: np.ndarray,
    *,
    fom: str = "auc",
    threshold: float | None = None,
    partial=None,
    focus: str = "specificity",
) -> np.ndarray:
    """Figures of merit only, ``(..., K)``."""
    _check(fom, "jackknife", threshold, partial)
    ratings = np.asarray(ratings, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    if fom == "pauc":
        return _partial_aucs(ratings, truth, partial, focus)
    if fom == "binormal_auc":
        from breastlab.evaluate.mrmc._binormal import binormal_aucs

        return binormal_aucs(ratings, truth)
    if fom == "auc":
        return auc_components(ratings, truth)[0]
    hit = ratings >= threshold
    return hit[..., truth].mean(axis=-1) if fom == "sensitivity" else (~hit[..., ~truth]).mean(axis=-1)
