r"""Obuchowski-Rockette (OR) moments and Hillis inference, vectorised over batches.

Model (Obuchowski & Rockette 1995). For treatment i = 1..t and reader
j = 1..r the estimated figure of merit (FOM) is

.. math:: \hat\theta_{ij} = \mu + \tau_i + R_j + (\tau R)_{ij} + \epsilon_{ij},

with fixed treatment effects :math:`\tau_i`, random reader and
treatment-by-reader effects (variances :math:`\sigma^2_R`,
:math:`\sigma^2_{TR}`) and a case-sampling error whose covariances are
constant within three classes:

* :math:`\mathrm{Var} = \mathrm{Var}(\epsilon_{ij})`,
* :math:`\mathrm{Cov}_1 = \mathrm{Cov}(\epsilon_{ij}, \epsilon_{i'j})`  (same reader, different treatments),
* :math:`\mathrm{Cov}_2 = \mathrm{Cov}(\epsilon_{ij}, \epsilon_{ij'})`  (different readers, same treatment),
* :math:`\mathrm{Cov}_3 = \mathrm{Cov}(\epsilon_{ij}, \epsilon_{i'j'})` (different readers and treatments).

They are estimated by averaging the (t r) x (t r) case covariance matrix of
the FOMs (DeLong or jackknife) over the entries of each class, as in
Obuchowski & Rockette (1995) and Hillis et al. (2005).

Mean squares of the FOM table (:math:`\bar\theta_{i\cdot}`,
:math:`\bar\theta_{\cdot j}`, :math:`\bar\theta_{\cdot\cdot}` are means):

.. math::
    MS(T) = \frac{r}{t-1}\sum_i(\bar\theta_{i\cdot}-\bar\theta_{\cdot\cdot})^2,\quad
    MS(R) = \frac{t}{r-1}\sum_j(\bar\theta_{\cdot j}-\bar\theta_{\cdot\cdot})^2,\quad
    MS(TR) = \frac{\sum_{ij}(\hat\theta_{ij}-\bar\theta_{i\cdot}-\bar\theta_{\cdot j}+\bar\theta_{\cdot\cdot})^2}
                  {(t-1)(r-1)}.

Variance components (method of moments, Hillis et al. 2005; the max() as in
Hillis, Obuchowski & Berbaum 2011 and RJafroc's ``UtilORVarComp``, which equals the
plain moment estimate whenever Cov2 >= Cov3):

.. math::
    \hat\sigma^2_{TR} = MS(TR) - \mathrm{Var} + \mathrm{Cov}_1 + \max(\mathrm{Cov}_2 - \mathrm{Cov}_3, 0),\qquad
    \hat\sigma^2_R = \frac{MS(R) - \hat\sigma^2_{TR} - \mathrm{Var} - (t-1)\mathrm{Cov}_1 + \mathrm{Cov}_2
                     + (t-1)\mathrm{Cov}_3}{t}.

Random readers and random cases (Hillis 2007; Hillis 2014, Stat Med 33:330,
"A marginal-mean ANOVA approach for analyzing multireader multicase
radiological imaging data"):

.. math::
    F = \frac{MS(T)}{MS(TR) + r\,\max(\mathrm{Cov}_2 - \mathrm{Cov}_3, 0)},\qquad
    \mathrm{ddf}_H = \frac{[MS(TR) + r\,\max(\mathrm{Cov}_2 - \mathrm{Cov}_3, 0)]^2}{MS(TR)^2 / ((t-1)(r-1))},

F ~ F(t-1, ddf_H) under H0. The CI of a difference of reader-averaged FOMs
is :math:`\bar\theta_{i\cdot} - \bar\theta_{i'\cdot} \pm t_{1-\alpha/2;\,\mathrm{ddf}_H}
\sqrt{2\,\mathrm{den}/r}`. A single treatment's reader-averaged FOM uses only
that treatment's data: :math:`SE_i^2 = MS(R)_i/r + \max(\mathrm{Cov}_{2,i}, 0)`,
:math:`df_i = [MS(R)_i + r\max(\mathrm{Cov}_{2,i},0)]^2 / (MS(R)_i^2/(r-1))`,
with :math:`MS(R)_i = \sum_j(\hat\theta_{ij}-\bar\theta_{i\cdot})^2/(r-1)`.

Fixed readers, random cases (Hillis 2007):
:math:`\chi^2 = (t-1)MS(T) / [\mathrm{Var} - \mathrm{Cov}_1 + (r-1)(\mathrm{Cov}_2 - \mathrm{Cov}_3)]`
on t-1 df; differences use :math:`SE^2 = 2[\mathrm{Var} - \mathrm{Cov}_1 + (r-1)(\mathrm{Cov}_2-\mathrm{Cov}_3)]/r`
with normal quantiles; each reader's own difference uses that reader's
:math:`SE^2 = \mathrm{Var}_{ij} + \mathrm{Var}_{i'j} - 2\mathrm{Cov}_{ii'j}`.

Random readers, fixed cases: :math:`F = MS(T)/MS(TR)` on (t-1, (t-1)(r-1)) df.

Split-plot designs (reader groups, each reading its own cases in every treatment; Hillis 2014
section on split-plot designs, MRMCaov's design 2 when every group has one reader): cases
read by different groups are independent, so Cov2 and Cov3 are averaged over the P ordered
pairs of readers in the same group only, and each :math:`(r-1)` or :math:`r` factor in front
of a covariance above becomes its expected share: with :math:`f = P / (r(r-1))`,
:math:`E[MS(TR)] = \sigma^2_{TR} + \mathrm{Var} - \mathrm{Cov}_1 - f(\mathrm{Cov}_2 - \mathrm{Cov}_3)`
and the reader-averaged difference has variance
:math:`\frac{2}{r}[\sigma^2_{TR} + \mathrm{Var} - \mathrm{Cov}_1 + (r-1)f(\mathrm{Cov}_2 - \mathrm{Cov}_3)]`,
which gives the denominator :math:`MS(TR) + r f \max(\mathrm{Cov}_2 - \mathrm{Cov}_3, 0)` (and
:math:`f \max(\mathrm{Cov}_{2,i}, 0)` in the single-treatment SE); f = 1 is the fully crossed
design above, f = 0 (cases nested within readers) leaves MS(TR) alone, as MRMCaov does.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from scipy import stats


@dataclasses.dataclass(frozen=True)
class ORMoments:
    """OR mean squares and covariance averages; every field has the batch shape ``B`` first."""

    fom: np.ndarray  # (B..., t, r)
    cov: np.ndarray  # (B..., t, r, t, r)
    ms_t: np.ndarray
    ms_r: np.ndarray
    ms_tr: np.ndarray
    var: np.ndarray
    cov1: np.ndarray
    cov2: np.ndarray
    cov3: np.ndarray
    ms_r_i: np.ndarray  # (B..., t) reader mean square within each treatment
    var_i: np.ndarray  # (B..., t)
    cov2_i: np.ndarray  # (B..., t)
    var_j: np.ndarray  # (B..., r) error variance of each reader (averaged over treatments)
    cov1_j: np.ndarray  # (B..., r) Cov1 of each reader
    pair_fraction: float = 1.0  # share of reader pairs that read the same cases (1 crossed, 0 nested)

    @property
    def t(self) -> int:
        return self.fom.shape[-2]

    @property
    def r(self) -> int:
        return self.fom.shape[-1]

    @property
    def var_tr(self) -> np.ndarray:
        f = self.pair_fraction
        return self.ms_tr - self.var + self.cov1 + f * np.maximum(self.cov2 - self.cov3, 0.0)

    @property
    def var_r(self) -> np.ndarray:
        t, f = self.t, self.pair_fraction
        return (self.ms_r - self.var_tr - self.var - (t - 1) * self.cov1 + f * (self.cov2 + (t - 1) * self.cov3)) / t


def _masked_mean(c: np.ndarray, mask: np.ndarray) -> np.ndarray:
    k = int(mask.sum())
    if k == 0:
        return np.full(c.shape[:-4], np.nan)
    return (c * mask).sum(axis=(-4, -3, -2, -1)) / k


def or_moments(fom: np.ndarray, cov: np.ndarray, groups: np.ndarray | None = None) -> ORMoments:
    """OR moments from FOMs ``(B..., t, r)`` and their covariance ``(B..., t*r, t*r)`` (treatment-major).

    ``groups`` ``(r,)``: the case set each reader read (split-plot: readers in different groups
    read different cases; one reader per group: cases nested within readers). Cov2 and Cov3 are
    then averaged over the pairs of readers that share cases only, and ``pair_fraction`` (the
    share of such pairs, P / (r (r-1))) enters every formula where a crossed design has r - 1
    partner readers (see the module docstring). None: fully crossed.
    """
    fom = np.asarray(fom, dtype=np.float64)
    t, r = fom.shape[-2:]
    c = np.asarray(cov, dtype=np.float64).reshape(fom.shape[:-2] + (t, r, t, r))
    mi, mj, m = fom.mean(axis=-1), fom.mean(axis=-2), fom.mean(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        ms_t = r * ((mi - m[..., None]) ** 2).sum(axis=-1) / (t - 1) if t > 1 else np.full(m.shape, np.nan)
        ms_r = t * ((mj - m[..., None]) ** 2).sum(axis=-1) / (r - 1) if r > 1 else np.full(m.shape, np.nan)
        resid = fom - mi[..., :, None] - mj[..., None, :] + m[..., None, None]
        dof = (t - 1) * (r - 1)
        ms_tr = (resid**2).sum(axis=(-2, -1)) / dof if dof > 0 else np.full(m.shape, np.nan)
        ms_r_i = ((fom - mi[..., None]) ** 2).sum(axis=-1) / (r - 1) if r > 1 else np.full(mi.shape, np.nan)

    same_i = np.eye(t, dtype=bool)[:, None, :, None]
    same_j = np.eye(r, dtype=bool)[None, :, None, :]
    g = np.zeros(r, dtype=np.int64) if groups is None else np.asarray(groups)
    partners = (g[:, None] == g[None, :]) & ~np.eye(r, dtype=bool)  # reader pairs sharing cases
    n_pairs = int(partners.sum())
    share = n_pairs / (r * (r - 1)) if r > 1 else 1.0
    pair_j = partners[None, :, None, :]
    within_i = np.einsum("...iaib->...iab", c)  # (B, t, r, r)
    diag_i = np.einsum("...iaa->...ia", within_i)  # (B, t, r)
    within_j = np.einsum("...iaja->...aij", c)  # (B, r, t, t)
    diag_j = np.einsum("...aii->...ai", within_j)  # (B, r, t)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov2_i = (within_i * partners).sum(axis=(-2, -1)) / n_pairs if n_pairs else np.zeros(diag_i.shape[:-1])
        cov1_j = (within_j.sum(axis=(-2, -1)) - diag_j.sum(axis=-1)) / (t * (t - 1))
    no_pairs = np.full(c.shape[:-4], np.nan if r == 1 else 0.0)  # one reader: no pairs at all (undefined)
    return ORMoments(
        fom=fom,
        cov=c,
        ms_t=ms_t,
        ms_r=ms_r,
        ms_tr=ms_tr,
        var=_masked_mean(c, same_i & same_j),
        cov1=_masked_mean(c, ~same_i & same_j),
        cov2=_masked_mean(c, same_i & pair_j) if n_pairs else no_pairs,
        cov3=_masked_mean(c, ~same_i & pair_j) if n_pairs else no_pairs,
        ms_r_i=ms_r_i,
        var_i=diag_i.mean(axis=-1),
        cov2_i=cov2_i if r > 1 else np.full(diag_i.shape[:-1], np.nan),
        var_j=diag_j.mean(axis=-1),
        cov1_j=cov1_j if t > 1 else np.full(diag_j.shape[:-1], np.nan),
        pair_fraction=share,
    )


def pairs(t: int) -> list[tuple[int, int]]:
    """Treatment pairs (a, b), a < b, in the order comparisons are reported (a minus b)."""
    return list(itertools.combinations(range(t), 2))


def _t_interval(est, se, df, alpha):
    """Two-sided t statistic, p-value and CI; df = inf gives the normal; se = 0 gives nan statistics."""
    est, se, df = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (est, se, df)))
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.where(se > 0, est / se, np.nan)
        crit = np.where(np.isnan(df), np.nan, stats.t.ppf(1 - alpha / 2, np.where(np.isnan(df), 1.0, df)))
        p = np.where(np.isnan(stat), np.nan, 2 * stats.t.sf(np.abs(stat), np.where(np.isnan(df), 1.0, df)))
    half = np.where(se == 0, 0.0, crit * se)
    return stat, p, est - half, est + half


def _hillis_df(ms: np.ndarray, den: np.ndarray, dof: int) -> np.ndarray:
    """Satterthwaite-type df ``den^2 / (ms^2 / dof)``: inf when ms = 0 < den, nan when den = 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        df = den**2 / (ms**2 / dof)
    return np.where(den > 0, np.where(ms > 0, df, np.inf), np.nan)


def _f_sf(stat, df1, df2):
    stat, df2 = np.broadcast_arrays(np.asarray(stat, dtype=np.float64), np.asarray(df2, dtype=np.float64))
    finite = np.isfinite(df2)
    with np.errstate(invalid="ignore"):
        p_f = stats.f.sf(stat, df1, np.where(finite, df2, 1.0))
        p_chi = stats.chi2.sf(stat * df1, df1)
    return np.where(np.isnan(stat) | np.isnan(df2), np.nan, np.where(finite, p_f, p_chi))


def random_readers(mom: ORMoments, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """Hillis (2007) random-reader random-case test, difference CIs and single-treatment CIs."""
    t, r, f = mom.t, mom.r, mom.pair_fraction
    den = mom.ms_tr + r * f * np.maximum(mom.cov2 - mom.cov3, 0.0)
    ddf = _hillis_df(mom.ms_tr, den, (t - 1) * (r - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        f_stat = np.where(den > 0, mom.ms_t / den, np.nan)
    out = {
        "statistic": f_stat,
        "df1": np.full(den.shape, t - 1.0),
        "df2": ddf,
        "p_value": _f_sf(f_stat, t - 1, ddf),
        "denominator": den,
    }
    mi = mom.fom.mean(axis=-1)
    pr = pairs(t)
    est = np.stack([mi[..., a] - mi[..., b] for a, b in pr], axis=-1)
    se = np.sqrt(np.maximum(2.0 * den / r, 0.0))[..., None] * np.ones(len(pr))
    stat, p, lo, hi = _t_interval(est, se, ddf[..., None], alpha)
    out.update(
        diff_estimate=est,
        diff_se=se,
        diff_df=np.broadcast_to(ddf[..., None], est.shape),
        diff_statistic=stat,
        diff_p=p,
        diff_lower=lo,
        diff_upper=hi,
    )
    c2 = f * np.maximum(mom.cov2_i, 0.0)
    se_i = np.sqrt(mom.ms_r_i / r + c2)
    df_i = _hillis_df(mom.ms_r_i, mom.ms_r_i + r * c2, r - 1)
    _, _, lo_i, hi_i = _t_interval(mi, se_i, df_i, alpha)
    out.update(trt_estimate=mi, trt_se=se_i, trt_df=df_i, trt_lower=lo_i, trt_upper=hi_i)
    return out


def fixed_readers(mom: ORMoments, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """Fixed-reader random-case chi-square test (Hillis 2007), difference, treatment and per-reader CIs."""
    t, r = mom.t, mom.r
    spread = mom.pair_fraction * (mom.cov2 - mom.cov3) if r > 1 else 0.0  # no reader pairs with one reader
    den = mom.var - mom.cov1 + (r - 1) * spread
    with np.errstate(invalid="ignore", divide="ignore"):
        chi = np.where(den > 0, (t - 1) * mom.ms_t / den, np.nan)
        p = np.where(np.isnan(chi), np.nan, stats.chi2.sf(chi, t - 1))
    out = {
        "statistic": chi,
        "df1": np.full(den.shape, t - 1.0),
        "df2": np.full(den.shape, np.inf),
        "p_value": p,
        "denominator": den,
    }
    inf = np.inf
    mi = mom.fom.mean(axis=-1)
    pr = pairs(t)
    est = np.stack([mi[..., a] - mi[..., b] for a, b in pr], axis=-1)
    se = np.sqrt(np.maximum(2.0 * den / r, 0.0))[..., None] * np.ones(len(pr))
    stat, pd_, lo, hi = _t_interval(est, se, inf, alpha)
    out.update(diff_estimate=est, diff_se=se, diff_statistic=stat, diff_p=pd_, diff_lower=lo, diff_upper=hi)
    with np.errstate(invalid="ignore"):
        se_i = np.sqrt(np.maximum((mom.var_i + (r - 1) * mom.pair_fraction * np.nan_to_num(mom.cov2_i)) / r, 0.0))
    _, _, lo_i, hi_i = _t_interval(mi, se_i, inf, alpha)
    out.update(trt_estimate=mi, trt_se=se_i, trt_lower=lo_i, trt_upper=hi_i)
    # each reader's own treatment differences: (B, P, r)
    c = mom.cov
    est_j = np.stack([mom.fom[..., a, :] - mom.fom[..., b, :] for a, b in pr], axis=-2)
    var_j = np.stack(
        [np.einsum("...jj->...j", c[..., a, :, a, :] + c[..., b, :, b, :] - 2 * c[..., a, :, b, :]) for a, b in pr],
        axis=-2,
    )
    stat_j, p_j, lo_j, hi_j = _t_interval(est_j, np.sqrt(np.maximum(var_j, 0.0)), inf, alpha)
    out.update(
        reader_diff_estimate=est_j,
        reader_diff_se=np.sqrt(np.maximum(var_j, 0.0)),
        reader_diff_statistic=stat_j,
        reader_diff_p=p_j,
        reader_diff_lower=lo_j,
        reader_diff_upper=hi_j,
    )
    # each reader x treatment FOM on its own
    se_ij = np.sqrt(np.maximum(np.einsum("...iaia->...ia", c), 0.0))
    _, _, lo_ij, hi_ij = _t_interval(mom.fom, se_ij, inf, alpha)
    out.update(fom_se=se_ij, fom_lower=lo_ij, fom_upper=hi_ij)
    return out


def fixed_cases(mom: ORMoments, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """Random-reader fixed-case test: conventional two-way ANOVA F = MS(T)/MS(TR)."""
    t, r = mom.t, mom.r
    dof = float((t - 1) * (r - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        f_stat = np.where(mom.ms_tr > 0, mom.ms_t / mom.ms_tr, np.nan)
    out = {
        "statistic": f_stat,
        "df1": np.full(f_stat.shape, t - 1.0),
        "df2": np.full(f_stat.shape, dof),
        "p_value": _f_sf(f_stat, t - 1, dof),
        "denominator": mom.ms_tr,
    }
    mi = mom.fom.mean(axis=-1)
    pr = pairs(t)
    est = np.stack([mi[..., a] - mi[..., b] for a, b in pr], axis=-1)
    se = np.sqrt(2.0 * mom.ms_tr / r)[..., None] * np.ones(len(pr))
    stat, p, lo, hi = _t_interval(est, se, dof, alpha)
    out.update(
        diff_estimate=est,
        diff_se=se,
        diff_df=np.full(est.shape, dof),
        diff_statistic=stat,
        diff_p=p,
        diff_lower=lo,
        diff_upper=hi,
    )
    se_i = np.sqrt(mom.ms_r_i / r)
    _, _, lo_i, hi_i = _t_interval(mi, se_i, float(r - 1), alpha)
    out.update(trt_estimate=mi, trt_se=se_i, trt_df=np.full(mi.shape, r - 1.0), trt_lower=lo_i, trt_upper=hi_i)
    return out
