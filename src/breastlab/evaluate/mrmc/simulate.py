r"""Roe-Metz simulation of MRMC rating data, and batch OR-Hillis analysis for power / size studies.

Model (Roe & Metz 1997; unequal-variance extension of Hillis 2012). The
latent rating of case k by reader j under treatment i is

.. math::
    X_{ijk} = \delta_i D_k + R_{j s} + (\tau R)_{ij s} + C_k + (\tau C)_{ik} + (RC)_{jk} + E_{ijk},
    \qquad s = D_k \in \{0, 1\},

with independent zero-mean normal terms of variances ``var_r``, ``var_tr``,
``var_c``, ``var_tc``, ``var_rc``, ``var_error``. The reader terms are drawn
separately for the non-diseased (s = 0) and diseased (s = 1) case
populations; this is what makes reader AUCs differ. Roe & Metz scale the
case terms so that ``var_c + var_tc + var_rc + var_error = 1``. With
``b != 1`` every diseased-state variance component is multiplied by
:math:`1/b^2` (Hillis 2012), so each reader's true ROC curve is binormal
with slope b.

Given a reader, the expected empirical AUC is
:math:`\Phi((\delta_i + d_{ij}) / \sqrt{(1 + b^{-2})\,v_C})` with
:math:`v_C` the case-term variance sum and :math:`d_{ij}` the reader's
shift; averaging over readers gives the population (reader-averaged) AUC

.. math:: \mathrm{AUC}_i = \Phi\!\left(\frac{\delta_i}{\sqrt{(1 + b^{-2})(v_C + \sigma^2_R + \sigma^2_{TR})}}\right),

which :func:`true_auc` returns: the target of the CIs in a coverage study.

Settings from Roe & Metz (1997) Table 1 (as reproduced in the examples of
the R package MRMCaov's ``RM_to_OR``; Hillis 2018 maps them to OR
parameters): ``"HL"`` (high case correlation, low reader variability,
A_z = 0.702) and ``"LH_0.702"``, ``"LH_0.856"``, ``"LH_0.962"`` (low case
correlation, high reader variability).

References
----------
Roe CA, Metz CE. Dorfman-Berbaum-Metz method for statistical analysis of
multireader, multimodality receiver operating characteristic data:
validation with computer simulation. Acad Radiol 1997;4:298-303.
Hillis SL. Simulation of unequal-variance binormal multireader ROC decision
data: an extension of the Roe and Metz simulation model. Acad Radiol
2012;19:1518-1528.
Hillis SL. Relationship between Roe and Metz simulation model for multireader
diagnostic data and Obuchowski-Rockette model parameters. Stat Med
2018;37:2067-2093.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.stats import norm

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.mrmc import _or
from breastlab.evaluate.mrmc._design import MRMCData
from breastlab.evaluate.mrmc._fom import fom_and_covariance


@dataclasses.dataclass(frozen=True)
class RoeMetzParams:
    """Roe-Metz model parameters; ``delta`` has one separation per treatment."""

    delta: tuple[float, ...] = (0.75, 0.75)
    var_r: float = 0.0055
    var_tr: float = 0.0055
    var_c: float = 0.3
    var_tc: float = 0.3
    var_rc: float = 0.2
    var_error: float = 0.2
    b: float = 1.0

    def with_delta(self, *delta: float) -> RoeMetzParams:
        return dataclasses.replace(self, delta=tuple(float(d) for d in delta))


#: Roe & Metz (1997) Table 1 settings (two treatments with equal delta: the null hypothesis).
ROE_METZ_1997: dict[str, RoeMetzParams] = {
    "HL": RoeMetzParams((0.75, 0.75), 0.0055, 0.0055, 0.3, 0.3, 0.2, 0.2),
    "LH_0.702": RoeMetzParams((0.75, 0.75), 0.011, 0.011, 0.1, 0.1, 0.2, 0.6),
    "LH_0.856": RoeMetzParams((1.5, 1.5), 0.03, 0.03, 0.1, 0.1, 0.2, 0.6),
    "LH_0.962": RoeMetzParams((2.5, 2.5), 0.056, 0.056, 0.1, 0.1, 0.2, 0.6),
}


def true_auc(params: RoeMetzParams) -> np.ndarray:
    """Population reader-averaged AUC of each treatment (see the module docstring)."""
    v_case = params.var_c + params.var_tc + params.var_rc + params.var_error
    scale = np.sqrt((1 + params.b**-2) * (v_case + params.var_r + params.var_tr))
    return norm.cdf(np.asarray(params.delta, dtype=np.float64) / scale)


def roe_metz(
    n_readers: int,
    n_positive: int,
    n_negative: int,
    params: RoeMetzParams | str = "HL",
    *,
    n_studies: int | None = None,
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate fully crossed studies: ratings ``(n_studies, t, r, N)`` (no first axis if ``n_studies`` is None).

    Returns ``(ratings, truth)``; the first ``n_negative`` cases are non-diseased.
    """
    p = ROE_METZ_1997[params] if isinstance(params, str) else params
    if n_readers < 1 or n_positive < 1 or n_negative < 1:
        raise BreastlabInputError(
            f"need >= 1 reader, diseased and non-diseased case; got {n_readers}, {n_positive}, {n_negative}"
        )
    if p.b <= 0:
        raise BreastlabInputError(f"b must be > 0, got {p.b}")
    rng = np.random.default_rng(seed)
    s = 1 if n_studies is None else int(n_studies)
    t, r, n = len(p.delta), n_readers, n_positive + n_negative
    truth = np.arange(n) >= n_negative
    state = truth.astype(np.int64)  # reader terms are indexed by the case's truth state
    scale = np.where(truth, 1.0 / p.b, 1.0)  # SD multiplier of diseased-state terms

    def draw(var, shape):
        return rng.standard_normal(shape) * np.sqrt(var)

    r_eff = draw(p.var_r, (s, 1, r, 2))[..., state]  # (s, 1, r, n)
    tr_eff = draw(p.var_tr, (s, t, r, 2))[..., state]  # (s, t, r, n)
    c_eff = draw(p.var_c, (s, 1, 1, n))
    tc_eff = draw(p.var_tc, (s, t, 1, n))
    rc_eff = draw(p.var_rc, (s, 1, r, n))
    e_eff = draw(p.var_error, (s, t, r, n))
    x = (r_eff + tr_eff + c_eff + tc_eff + rc_eff + e_eff) * scale
    x += np.asarray(p.delta, dtype=np.float64)[None, :, None, None] * truth
    return (x[0] if n_studies is None else x), truth


def as_study(ratings: np.ndarray, truth: np.ndarray) -> MRMCData:
    """One simulated study as :class:`MRMCData` for :func:`~breastlab.evaluate.mrmc.or_hillis_arrays`."""
    t, r, n = ratings.shape
    return MRMCData(
        np.asarray(ratings, dtype=np.float64),
        np.asarray(truth, dtype=bool),
        tuple(str(i + 1) for i in range(t)),
        tuple(str(j + 1) for j in range(r)),
        tuple(str(k + 1) for k in range(n)),
    )


def or_hillis_batch(
    ratings: np.ndarray,
    truth: np.ndarray,
    *,
    cov: str = "delong",
    fom: str = "auc",
    threshold: float | None = None,
    alpha: float = 0.05,
) -> dict[str, np.ndarray]:
    """Random-reader random-case OR-Hillis analysis of many studies at once.

    ``ratings``: ``(S, t, r, N)``. Returns the arrays of
    :func:`breastlab.evaluate.mrmc._or.random_readers` (``statistic``, ``df2``,
    ``p_value``, ``diff_estimate``, ``diff_lower``, ``diff_upper``, ...), each
    with leading axis S, plus ``fom`` ``(S, t, r)``.
    """
    ratings = np.asarray(ratings, dtype=np.float64)
    s, t, r, n = ratings.shape
    theta, c = fom_and_covariance(ratings.reshape(s, t * r, n), truth, fom=fom, cov=cov, threshold=threshold)
    mom = _or.or_moments(theta.reshape(s, t, r), c)
    out = _or.random_readers(mom, alpha)
    out["fom"] = mom.fom
    return out


@dataclasses.dataclass(frozen=True)
class SimulationSummary:
    """Operating characteristics of the OR-Hillis random-reader test over simulated studies."""

    n_studies: int
    rejection_rate: float  # fraction of studies with p < alpha
    coverage: float  # fraction of difference CIs covering the true AUC difference
    true_difference: float  # AUC_1 - AUC_2 of the population
    mean_difference: float
    median_df2: float  # Hillis ddf (median: MS(T x R) near 0 makes single values huge)


def simulate_rejection(
    n_readers: int,
    n_positive: int,
    n_negative: int,
    params: RoeMetzParams | str = "HL",
    *,
    n_studies: int = 2000,
    cov: str = "delong",
    alpha: float = 0.05,
    seed: int | None = 0,
    chunk: int = 500,
    progress: bool = False,
) -> SimulationSummary:
    """Rejection rate (size or power) and CI coverage of the first treatment difference.

    Useful for sample-size planning: increase readers/cases until the power
    under the conjectured effect reaches the target.
    """
    p = ROE_METZ_1997[params] if isinstance(params, str) else params
    if len(p.delta) < 2:
        raise BreastlabInputError("a rejection study needs two treatments (params.delta of length >= 2)")
    auc = true_auc(p)
    true_diff = float(auc[0] - auc[1])
    rng = np.random.default_rng(seed)
    results = []
    sizes = [min(chunk, n_studies - k) for k in range(0, n_studies, chunk)]
    if progress:
        from breastlab.progress import progress as progress_bar

        sizes = progress_bar(sizes, desc="Roe-Metz studies", unit="chunk")
    for size in sizes:
        x, truth = roe_metz(n_readers, n_positive, n_negative, p, n_studies=size, seed=rng)
        results.append(or_hillis_batch(x, truth, cov=cov, alpha=alpha))
    return _summarise(results, n_studies, true_diff, alpha)


def _summarise(results: list[dict], n_studies: int, true_diff: float, alpha: float) -> SimulationSummary:
    """Rejection rate, CI coverage of the true difference, mean difference and median df over chunks of studies."""
    p_value = np.concatenate([r["p_value"] for r in results])
    lower = np.concatenate([r["diff_lower"][:, 0] for r in results])
    upper = np.concatenate([r["diff_upper"][:, 0] for r in results])
    return SimulationSummary(
        n_studies=n_studies,
        rejection_rate=int(np.sum(p_value < alpha)) / n_studies,
        coverage=int(np.sum((lower <= true_diff) & (true_diff <= upper))) / n_studies,
        true_difference=true_diff,
        mean_difference=float(np.mean(np.concatenate([r["diff_estimate"][:, 0] for r in results]))),
        median_df2=float(np.nanmedian(np.concatenate([r["df2"] for r in results]))),
    )


def power_curve(
    n_readers: int,
    n_positive: int,
    n_negative: int,
    params: RoeMetzParams | str,
    delta_shifts: Sequence[float],
    **kwargs,
) -> list[SimulationSummary]:
    """:func:`simulate_rejection` with treatment 2's delta raised by each shift in turn."""
    p = ROE_METZ_1997[params] if isinstance(params, str) else params
    return [
        simulate_rejection(n_readers, n_positive, n_negative, p.with_delta(p.delta[0], p.delta[1] + d), **kwargs)
        for d in delta_shifts
    ]


def split_plot_rejection(
    n_groups: int,
    readers_per_group: int,
    n_positive: int,
    n_negative: int,
    params: RoeMetzParams | str = "HL",
    *,
    n_studies: int = 2000,
    cov: str = "delong",
    alpha: float = 0.05,
    seed: int | None = 0,
    chunk: int = 500,
) -> SimulationSummary:
    """:func:`simulate_rejection` for split-plot studies: ``n_groups`` reader groups, each reading its own
    ``n_positive + n_negative`` Roe-Metz cases (independent across groups) under every treatment.

    ``readers_per_group = 1`` is the cases-nested-within-readers design.
    """
    p = ROE_METZ_1997[params] if isinstance(params, str) else params
    auc = true_auc(p)
    true_diff = float(auc[0] - auc[1])
    t, rg = len(p.delta), readers_per_group
    r = n_groups * rg
    groups = np.repeat(np.arange(n_groups), rg)
    rng = np.random.default_rng(seed)
    results = []
    for size in (min(chunk, n_studies - k) for k in range(0, n_studies, chunk)):
        theta = np.empty((size, t, r))
        c = np.zeros((size, t * r, t * r))
        for g in range(n_groups):
            x, truth = roe_metz(rg, n_positive, n_negative, p, n_studies=size, seed=rng)
            th, cv = fom_and_covariance(x.reshape(size, t * rg, -1), truth, cov=cov)
            rdr = np.arange(g * rg, (g + 1) * rg)
            theta[:, :, rdr] = th.reshape(size, t, rg)
            idx = (np.arange(t)[:, None] * r + rdr[None, :]).ravel()
            c[:, idx[:, None], idx[None, :]] = cv
        results.append(_or.random_readers(_or.or_moments(theta, c, groups), alpha))
    return _summarise(results, n_studies, true_diff, alpha)


def pilot_and_rejection(
    n_readers: int,
    n_positive: int,
    n_negative: int,
    params: RoeMetzParams | str = "HL",
    *,
    n_studies: int = 2000,
    cov: str = "delong",
    alpha: float = 0.05,
    seed: int | None = 0,
):
    """Mean OR variance components over simulated studies (a :class:`~breastlab.evaluate.mrmc.power.PilotVariance`
    of the design) and the studies' rejection rate: checks the analytic power of
    :func:`~breastlab.evaluate.mrmc.power.mrmc_power` against simulation."""
    from breastlab.evaluate.mrmc.power import PilotVariance

    p = ROE_METZ_1997[params] if isinstance(params, str) else params
    x, truth = roe_metz(n_readers, n_positive, n_negative, p, n_studies=n_studies, seed=seed)
    s, t, r, n = x.shape
    theta, c = fom_and_covariance(x.reshape(s, t * r, n), truth, cov=cov)
    mom = _or.or_moments(theta.reshape(s, t, r), c)
    pilot = PilotVariance(*(float(np.mean(v)) for v in (mom.var_tr, mom.var, mom.cov1, mom.cov2, mom.cov3)), n_cases=n)
    return pilot, float(np.mean(_or.random_readers(mom, alpha)["p_value"] < alpha))
