"""``or_hillis``: the OR-Hillis MRMC analysis of a reader study, with result dataclasses.

See :mod:`breastlab.evaluate.mrmc._or` for the equations and
:mod:`breastlab.evaluate.mrmc._fom` for the figures of merit and covariances.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breastlab._table import format_ci
from breastlab.errors import BreastlabInputError
from breastlab.evaluate._partial import check_partial
from breastlab.evaluate.mrmc import _or
from breastlab.evaluate.mrmc._design import MRMCData, mrmc_arrays
from breastlab.evaluate.mrmc._fom import _check, fom_and_covariance

_FOM_LABEL = {
    "auc": "AUC",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
    "pauc": "partial AUC",
    "binormal_auc": "binormal AUC",
}


@dataclasses.dataclass(frozen=True)
class ORComponents:
    """OR mean squares, error variance/covariances and variance components (Obuchowski & Rockette 1995)."""

    ms_t: float
    ms_r: float
    ms_tr: float
    var_error: float
    cov1: float
    cov2: float
    cov3: float
    var_r: float
    var_tr: float

    def _rho(self, c: float) -> float:
        return c / self.var_error if self.var_error > 0 else math.nan

    @property
    def rho1(self) -> float:
        return self._rho(self.cov1)

    @property
    def rho2(self) -> float:
        return self._rho(self.cov2)

    @property
    def rho3(self) -> float:
        return self._rho(self.cov3)

    def to_dict(self) -> dict[str, float]:
        return {**dataclasses.asdict(self), "rho1": self.rho1, "rho2": self.rho2, "rho3": self.rho3}


@dataclasses.dataclass(frozen=True)
class MRMCTest:
    """One global test of equal treatment FOMs."""

    analysis: str  # "random readers, random cases", ...
    statistic_name: str  # "F" or "chi2"
    statistic: float
    df1: float
    df2: float  # inf for the chi-square test
    p_value: float
    denominator: float

    def __str__(self) -> str:
        df = f"{self.df1:.0f}" if math.isinf(self.df2) else f"{self.df1:.0f}, {_num(self.df2, 2)}"
        return f"{self.statistic_name}({df}) = {_num(self.statistic, 2)}, {_p(self.p_value)}"


@dataclasses.dataclass(frozen=True)
class ORHillisResult:
    """Result of :func:`or_hillis`. Tables are DataFrames; comparisons are first minus second treatment.

    * ``test``, ``differences``, ``treatment_foms``: random readers and random
      cases (Hillis 2007 df); the headline analysis, generalising to both
      readers and cases. ``None`` / empty with one reader.
    * ``fixed_readers_*``, ``reader_differences``, ``reader_foms``: fixed readers
      (inference for these readers only), random cases.
    * ``fixed_cases_*``: random readers, fixed cases (conventional ANOVA).
    """

    fom_name: str
    cov_method: str
    threshold: float | None
    alpha: float
    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    n_positive: int
    n_negative: int
    foms: np.ndarray  # (t, r)
    covariance: np.ndarray  # (t*r, t*r), treatment-major
    components: ORComponents
    test: MRMCTest | None
    differences: pd.DataFrame
    treatment_foms: pd.DataFrame
    fixed_readers_test: MRMCTest
    fixed_readers_differences: pd.DataFrame
    fixed_readers_treatment_foms: pd.DataFrame
    reader_differences: pd.DataFrame
    reader_foms: pd.DataFrame
    fixed_cases_test: MRMCTest | None
    fixed_cases_differences: pd.DataFrame
    fixed_cases_treatment_foms: pd.DataFrame
    notes: tuple[str, ...] = ()
    design: str = "fully crossed"
    label: str | None = None  # printed name of the figure of merit (default from fom_name)
    description: str | None = None  # one-line description of the figure of merit

    @property
    def fom_label(self) -> str:
        return self.label or _FOM_LABEL.get(self.fom_name, self.fom_name)

    @property
    def fom_description(self) -> str:
        if self.description:
            return self.description
        if self.fom_name == "auc":
            return "empirical ROC AUC"
        if self.fom_name == "binormal_auc":
            return "binormal ROC AUC (maximum likelihood, as MRMCaov binormal_auc)"
        return f"{self.fom_name} at rating >= {self.threshold:g}"

    # ------------------------------------------------------------------ output
    def summary(self, include_readers: bool = True) -> str:
        """A plain-text report in the shape a radiology paper gives an MRMC result."""
        from breastlab._table import format_table

        lab = self.fom_label
        fom_desc = self.fom_description
        level = f"{100 * (1 - self.alpha):g}%"
        lines = [
            "MRMC analysis: Obuchowski-Rockette model with Hillis (2007) degrees of freedom",
            f"Design: {_count(len(self.readers), 'reader')} x {len(self.treatments)} treatments x "
            f"{self.n_positive + self.n_negative} cases ({self.n_positive} diseased, {self.n_negative} non-diseased), "
            f"{self.design}",
            f"Figure of merit: {fom_desc}; case covariance: {self.cov_method}",
            f"Differences are first minus second treatment in the order {', '.join(self.treatments)}",
            "",
        ]

        def block(title, test, diffs, trts, df_col):
            out = [title]
            for row in trts.itertuples():
                df_txt = f", df {_num(row.df, 1)}" if df_col else ""
                out.append(
                    f"  {row.treatment}: reader-averaged {lab} {format_ci(row.estimate, row.ci_lower, row.ci_upper)} "
                    f"[{level} CI; SE {row.se:.4f}{df_txt}]"
                )
            for row in diffs.itertuples():
                ci = format_ci(row.estimate, row.ci_lower, row.ci_upper, signed=True)
                out.append(f"  {row.comparison}: {ci} [{level} CI]")
            if test is not None:
                out.append(f"  test of equal {lab}s: {test}")
            return out + [""]

        if self.test is not None:
            lines += block(
                "Random readers and random cases (generalises to new readers and cases):",
                self.test,
                self.differences,
                self.treatment_foms,
                True,
            )
        lines += block(
            "Fixed readers, random cases (these readers only):",
            self.fixed_readers_test,
            self.fixed_readers_differences,
            self.fixed_readers_treatment_foms,
            False,
        )
        if self.fixed_cases_test is not None:
            lines += block(
                "Random readers, fixed cases (these cases only):",
                self.fixed_cases_test,
                self.fixed_cases_differences,
                self.fixed_cases_treatment_foms,
                True,
            )
        c = self.components
        lines += [
            "OR variance components: "
            f"var_R = {_num(c.var_r)}, var_TR = {_num(c.var_tr)}, error variance = {_num(c.var_error)}, "
            f"Cov1 = {_num(c.cov1)} (r1 = {_num(c.rho1, 3)}), Cov2 = {_num(c.cov2)} (r2 = {_num(c.rho2, 3)}), "
            f"Cov3 = {_num(c.cov3)} (r3 = {_num(c.rho3, 3)})",
            f"Mean squares: MS(T) = {_num(c.ms_t)}, MS(R) = {_num(c.ms_r)}, MS(T x R) = {_num(c.ms_tr)}",
        ]
        if self.notes:
            lines += ["", "Notes:"] + [f"  - {n}" for n in self.notes]
        if include_readers:
            lines += ["", format_table(self.reader_table(), f"Per-reader {lab} ({level} CI, fixed readers)")]
        return "\n".join(lines)

    def reader_table(self) -> pd.DataFrame:
        """One row per reader: FOM (CI) per treatment and each treatment difference (CI, p)."""
        wide = pd.DataFrame({"reader": list(self.readers)})
        for trt in self.treatments:
            sub = self.reader_foms[self.reader_foms["treatment"] == trt].set_index("reader").loc[list(self.readers)]
            wide[trt] = [
                format_ci(e, lo, hi)
                for e, lo, hi in zip(sub["estimate"], sub["ci_lower"], sub["ci_upper"], strict=True)
            ]
        for comp, sub in self.reader_differences.groupby("comparison", sort=False):
            sub = sub.set_index("reader").loc[list(self.readers)]
            wide[comp] = [
                format_ci(e, lo, hi, signed=True)
                for e, lo, hi in zip(sub["estimate"], sub["ci_lower"], sub["ci_upper"], strict=True)
            ]
            wide[f"p {comp}"] = [_p(v, prefix=False) for v in sub["p_value"]]
        return wide

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "differences": self.differences,
            "treatment_foms": self.treatment_foms,
            "fixed_readers_differences": self.fixed_readers_differences,
            "fixed_readers_treatment_foms": self.fixed_readers_treatment_foms,
            "reader_differences": self.reader_differences,
            "reader_foms": self.reader_foms,
            "fixed_cases_differences": self.fixed_cases_differences,
            "fixed_cases_treatment_foms": self.fixed_cases_treatment_foms,
        }

    def write(self, out_dir, name: str = "mrmc") -> Path:
        """Write ``<name>.json`` (everything), ``<name>_summary.txt`` and one CSV per table into ``out_dir``."""
        from breastlab._io import write_json, write_table, write_text

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for key, df in self.tables().items():
            write_table(df, out / f"{name}_{key}.csv")
        foms = pd.DataFrame(self.foms, index=list(self.treatments), columns=list(self.readers))
        write_table(foms.rename_axis("treatment").reset_index(), out / f"{name}_foms.csv")
        write_text(self.summary() + "\n", out / f"{name}_summary.txt")
        write_json(self.to_dict(), out / f"{name}.json")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite numbers become None)."""

        def test(t: MRMCTest | None):
            return None if t is None else dataclasses.asdict(t)

        out = {
            "method": "Obuchowski-Rockette with Hillis (2007) degrees of freedom",
            "fom": self.fom_name,
            "fom_label": self.fom_label,
            "threshold": self.threshold,
            "differences": "first minus second treatment, in the order of 'treatments'",
            "covariance": self.cov_method,
            "alpha": self.alpha,
            "treatments": list(self.treatments),
            "readers": list(self.readers),
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
            "design": self.design,
            "components": self.components.to_dict(),
            "random_readers_random_cases": {"test": test(self.test)},
            "fixed_readers_random_cases": {"test": test(self.fixed_readers_test)},
            "random_readers_fixed_cases": {"test": test(self.fixed_cases_test)},
            "notes": list(self.notes),
        }
        groups = {
            "random_readers_random_cases": ("differences", "treatment_foms"),
            "fixed_readers_random_cases": (
                "fixed_readers_differences",
                "fixed_readers_treatment_foms",
                "reader_differences",
                "reader_foms",
            ),
            "random_readers_fixed_cases": ("fixed_cases_differences", "fixed_cases_treatment_foms"),
        }
        for group, names in groups.items():
            for name in names:
                key = name.removeprefix("fixed_readers_").removeprefix("fixed_cases_")
                out[group][key] = getattr(self, name).to_dict(orient="records")
        return _finite(out)


# ---------------------------------------------------------------------- helpers
def _num(v: float, digits: int = 3) -> str:
    if v is None or not np.isfinite(v):
        return "inf" if v is not None and np.isposinf(v) else "n/a"
    if digits <= 2 or abs(v) >= 0.01 or v == 0:
        return f"{v:.{digits}f}"
    return f"{v:#.3g}"  # small variance components: 3 significant digits


def _count(k: int, noun: str) -> str:
    return f"{k} {noun}" + ("" if k == 1 else "s")


def _p(p: float, prefix: bool = True) -> str:
    if p is None or not np.isfinite(p):
        return "p = n/a" if prefix else "n/a"
    text = "< 0.001" if p < 0.001 else f"{p:.3f}"
    if not prefix:
        return text
    return f"p {text}" if p < 0.001 else f"p = {text}"


def _finite(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _clip01(a: np.ndarray, bounded: bool = True) -> np.ndarray:
    """Clip CI limits to [0, 1] for figures of merit that are proportions (not for marks per case)."""
    return np.clip(a, 0.0, 1.0) if bounded else np.asarray(a, dtype=np.float64)


def _test(name: str, stat_name: str, d: dict[str, np.ndarray]) -> MRMCTest:
    return MRMCTest(
        name,
        stat_name,
        float(d["statistic"]),
        float(d["df1"]),
        float(d["df2"]),
        float(d["p_value"]),
        float(d["denominator"]),
    )


def _diff_frame(d: dict, treatments: Sequence[str], with_df: bool, stat: str) -> pd.DataFrame:
    pr = _or.pairs(len(treatments))
    frame = pd.DataFrame(
        {
            "comparison": [f"{treatments[a]} - {treatments[b]}" for a, b in pr],
            "estimate": d["diff_estimate"],
            "se": d["diff_se"],
        }
    )
    if with_df:
        frame["df"] = d["diff_df"]
    frame[stat] = d["diff_statistic"]
    frame["p_value"] = d["diff_p"]
    frame["ci_lower"] = d["diff_lower"]
    frame["ci_upper"] = d["diff_upper"]
    return frame


def _trt_frame(
    d: dict, treatments: Sequence[str], with_df: bool, extra: dict | None = None, bounded: bool = True
) -> pd.DataFrame:
    frame = pd.DataFrame({"treatment": list(treatments), "estimate": d["trt_estimate"], "se": d["trt_se"]})
    if with_df:
        frame["df"] = d["trt_df"]
    for k, v in (extra or {}).items():
        frame[k] = v
    frame["ci_lower"] = _clip01(d["trt_lower"], bounded)
    frame["ci_upper"] = _clip01(d["trt_upper"], bounded)
    return frame


def _constant_rating_notes(data: MRMCData, foms: np.ndarray, lab: str) -> list[str]:
    notes = []
    const = (np.nanmax(data.ratings, axis=-1) - np.nanmin(data.ratings, axis=-1)) == 0
    for i, j in zip(*np.nonzero(const), strict=True):
        notes.append(
            f"reader {data.readers[j]} gave every case the same rating under treatment {data.treatments[i]}: "
            f"{lab} {foms[i, j]:.3f} with zero case variance"
        )
    return notes


def _degenerate_notes(
    treatments: Sequence[str], readers: Sequence[str], foms: np.ndarray, mom: _or.ORMoments, lab: str
) -> list[str]:
    notes = []
    for i, trt in enumerate(treatments):
        if np.all(foms[i] == 1.0):
            notes.append(
                f"every reader is perfect under treatment {trt} ({lab} = 1 for all readers): its case variance and "
                "MS(R) are 0, so its single-treatment CI is [1, 1] with undefined df (limiting answer)"
            )
    if len(readers) == 1:
        notes.append("one reader: random-reader analyses need >= 2 readers; only fixed-reader results are given")
    elif (
        not np.isfinite(float(mom.ms_tr)) or float(mom.ms_tr + len(readers) * max(float(mom.cov2 - mom.cov3), 0.0)) <= 0
    ):
        notes.append("MS(T x R) and Cov2 - Cov3 are 0: the random-reader F statistic is undefined")
    return notes


# ---------------------------------------------------------------------- public
def or_hillis(
    data: pd.DataFrame,
    *,
    reader: str = "reader",
    treatment: str = "treatment",
    case: str = "case",
    truth: str = "truth",
    rating: str = "rating",
    treatments: Sequence | None = None,
    readers: Sequence | None = None,
    fom: str = "auc",
    cov: str | None = None,
    threshold: float | None = None,
    alpha: float = 0.05,
    partial=None,
    focus: str = "specificity",
) -> ORHillisResult:
    """Obuchowski-Rockette MRMC analysis with Hillis's corrections, from a long table.

    Parameters
    ----------
    data : DataFrame
        One row per reading with columns ``reader``, ``treatment``, ``case``,
        ``truth`` (0/1, 1 = diseased) and ``rating`` (higher = more suspicious).
        The design must be fully crossed.
    treatments, readers : sequence, optional
        Level order (default sorted). Differences are reported as earlier minus
        later treatment, e.g. ``treatments=["aided", "unaided"]`` gives aided - unaided.
    fom : {"auc", "sensitivity", "specificity", "pauc"}
        Empirical ROC AUC, sensitivity / specificity of the call ``rating >= threshold``, or the
        partial AUC over ``partial`` = (low, high) of ``focus`` (as pROC / MRMCaov; jackknife).
    cov : {"delong", "jackknife"}, optional
        Case covariance of the reader x treatment FOMs; default DeLong for the
        AUC, jackknife otherwise (DeLong is defined for the AUC only).
    alpha : float
        1 - confidence level of all intervals and the test level.

    Returns
    -------
    ORHillisResult
        Random-reader random-case test (Hillis 2007 F and ddf), difference and
        single-treatment CIs; fixed-reader and fixed-case analyses; per-reader
        FOMs and treatment differences; OR variance components.

    References
    ----------
    Obuchowski NA, Rockette HE. Hypothesis testing of diagnostic accuracy for
    multiple readers and multiple tests: an ANOVA approach with dependent
    observations. Commun Stat Simul Comput 1995;24:285-308.
    Hillis SL, Obuchowski NA, Schartz KM, Berbaum KS. A comparison of the
    Dorfman-Berbaum-Metz and Obuchowski-Rockette methods for receiver operating
    characteristic (ROC) data. Stat Med 2005;24:1579-1607.
    Hillis SL. A comparison of denominator degrees of freedom methods for
    multiple observer ROC studies. Stat Med 2007;26:596-619.
    Hillis SL. A marginal-mean ANOVA approach for analyzing multireader multicase
    radiological imaging data. Stat Med 2014;33:330-360.

    Examples
    --------
    >>> res = or_hillis(df, cov="jackknife")        # doctest: +SKIP
    >>> print(res.summary())                         # doctest: +SKIP
    >>> res.test.p_value, res.differences            # doctest: +SKIP
    """
    study = mrmc_arrays(
        data,
        reader=reader,
        treatment=treatment,
        case=case,
        truth=truth,
        rating=rating,
        treatments=treatments,
        readers=readers,
    )
    return or_hillis_arrays(study, fom=fom, cov=cov, threshold=threshold, alpha=alpha, partial=partial, focus=focus)


def or_hillis_arrays(
    study: MRMCData,
    *,
    fom: str = "auc",
    cov: str | None = None,
    threshold: float | None = None,
    alpha: float = 0.05,
    partial=None,
    focus: str = "specificity",
) -> ORHillisResult:
    """:func:`or_hillis` on an :class:`MRMCData` (e.g. from :func:`mrmc_arrays` or the Roe-Metz simulator)."""
    cov = cov or ("delong" if fom == "auc" else "jackknife")
    _check(fom, cov, threshold, partial)
    if not 0 < alpha < 1:
        raise BreastlabInputError(f"alpha must be in (0, 1), got {alpha}")
    t, r, n = study.ratings.shape
    if t < 2:
        raise BreastlabInputError(
            f"an MRMC comparison needs at least 2 treatments; the study has {t} ({list(study.treatments)})"
        )
    kw = {"fom": fom, "cov": cov, "threshold": threshold, "partial": partial, "focus": focus}
    if study.reader_groups is None:
        theta, c = fom_and_covariance(study.ratings.reshape(t * r, n), study.truth, **kw)
    else:
        theta, c = _grouped_fom_and_covariance(study, **kw)
    foms = theta.reshape(t, r)
    return or_hillis_foms(
        foms,
        c,
        treatments=study.treatments,
        readers=study.readers,
        n_positive=study.n_positive,
        n_negative=study.n_negative,
        fom=fom,
        cov=cov,
        threshold=threshold,
        alpha=alpha,
        notes=_constant_rating_notes(study, foms, _FOM_LABEL[fom]),
        description=_partial_description(partial, focus) if fom == "pauc" else None,
        reader_groups=study.reader_groups,
        design=study.design,
    )


def _partial_description(partial, focus: str) -> str:
    lo, hi = check_partial(partial, focus)
    return f"partial area under the empirical ROC curve, {focus} {lo:g}-{hi:g} (uncorrected, as pROC)"


def _grouped_fom_and_covariance(study: MRMCData, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """FOMs and covariance of a split-plot study: each reader group on its own cases; zero across groups."""
    t, r, _ = study.ratings.shape
    theta = np.empty(t * r)
    c = np.zeros((t * r, t * r))
    for g in np.unique(study.reader_groups):
        rdr = np.flatnonzero(study.reader_groups == g)
        cases = np.flatnonzero(~np.isnan(study.ratings[0, rdr[0]]))
        sub = study.ratings[:, rdr][:, :, cases].reshape(t * len(rdr), len(cases))
        th, cv = fom_and_covariance(sub, study.truth[cases], **kwargs)
        idx = (np.arange(t)[:, None] * r + rdr[None, :]).ravel()
        theta[idx] = th
        c[np.ix_(idx, idx)] = cv
    return theta, c


def or_hillis_foms(
    foms: np.ndarray,
    covariance: np.ndarray,
    *,
    treatments: Sequence[str],
    readers: Sequence[str],
    n_positive: int,
    n_negative: int,
    fom: str,
    cov: str,
    threshold: float | None = None,
    alpha: float = 0.05,
    label: str | None = None,
    description: str | None = None,
    bounded: bool = True,
    notes: Sequence[str] = (),
    reader_groups: np.ndarray | None = None,
    design: str = "fully crossed",
) -> ORHillisResult:
    """The OR-Hillis analysis from reader x treatment figures of merit and their case covariance.

    The one code path behind :func:`or_hillis` (ROC ratings) and
    :func:`breastlab.evaluate.froc.or_froc` (free-response marks): ``foms`` is ``(t, r)``,
    ``covariance`` ``(t*r, t*r)`` treatment-major. ``bounded``: the figure is a proportion,
    so its CIs are clipped to [0, 1].
    """
    foms = np.asarray(foms, dtype=np.float64)
    t, r = foms.shape
    c = np.asarray(covariance, dtype=np.float64)
    if c.shape != (t * r, t * r):
        raise BreastlabInputError(f"covariance must be ({t * r}, {t * r}) for {t} treatments x {r} readers")
    if t < 2:
        raise BreastlabInputError(f"an MRMC comparison needs at least 2 treatments; got {t} ({list(treatments)})")
    if not 0 < alpha < 1:
        raise BreastlabInputError(f"alpha must be in (0, 1), got {alpha}")
    mom = _or.or_moments(foms, c, reader_groups)
    lab = label or _FOM_LABEL.get(fom, fom)
    trts, rdrs = tuple(treatments), tuple(readers)

    fr = _or.fixed_readers(mom, alpha)
    reader_diff = pd.DataFrame(
        [
            {
                "reader": rdrs[j],
                "comparison": f"{trts[a]} - {trts[b]}",
                "estimate": fr["reader_diff_estimate"][p, j],
                "se": fr["reader_diff_se"][p, j],
                "z": fr["reader_diff_statistic"][p, j],
                "p_value": fr["reader_diff_p"][p, j],
                "ci_lower": fr["reader_diff_lower"][p, j],
                "ci_upper": fr["reader_diff_upper"][p, j],
            }
            for p, (a, b) in enumerate(_or.pairs(t))
            for j in range(r)
        ]
    )
    reader_foms = pd.DataFrame(
        [
            {
                "reader": rdrs[j],
                "treatment": trts[i],
                "estimate": foms[i, j],
                "se": fr["fom_se"][i, j],
                "ci_lower": float(_clip01(fr["fom_lower"][i, j], bounded)),
                "ci_upper": float(_clip01(fr["fom_upper"][i, j], bounded)),
            }
            for i in range(t)
            for j in range(r)
        ]
    )
    fixed_readers_trt = _trt_frame(fr, trts, False, {"var_error": mom.var_i, "cov2": mom.cov2_i}, bounded)

    if r >= 2:
        rr = _or.random_readers(mom, alpha)
        test = _test("random readers, random cases", "F", rr)
        differences = _diff_frame(rr, trts, True, "t")
        treatment_foms = _trt_frame(rr, trts, True, {"ms_r": mom.ms_r_i, "cov2": mom.cov2_i}, bounded)
        fc = _or.fixed_cases(mom, alpha)
        fixed_cases_test = _test("random readers, fixed cases", "F", fc)
        fixed_cases_diff = _diff_frame(fc, trts, True, "t")
        fixed_cases_trt = _trt_frame(fc, trts, True, {"ms_r": mom.ms_r_i}, bounded)
    else:
        test = fixed_cases_test = None
        differences = fixed_cases_diff = pd.DataFrame(
            columns=["comparison", "estimate", "se", "df", "t", "p_value", "ci_lower", "ci_upper"]
        )
        treatment_foms = fixed_cases_trt = pd.DataFrame(
            columns=["treatment", "estimate", "se", "df", "ci_lower", "ci_upper"]
        )

    components = ORComponents(
        *(
            float(v)
            for v in (mom.ms_t, mom.ms_r, mom.ms_tr, mom.var, mom.cov1, mom.cov2, mom.cov3, mom.var_r, mom.var_tr)
        )
    )
    return ORHillisResult(
        fom_name=fom,
        cov_method=cov,
        threshold=threshold,
        alpha=alpha,
        treatments=trts,
        readers=rdrs,
        n_positive=n_positive,
        n_negative=n_negative,
        foms=foms,
        covariance=c,
        components=components,
        test=test,
        differences=differences,
        treatment_foms=treatment_foms,
        fixed_readers_test=_test("fixed readers, random cases", "chi2", fr),
        fixed_readers_differences=_diff_frame(fr, trts, False, "z"),
        fixed_readers_treatment_foms=fixed_readers_trt,
        reader_differences=reader_diff,
        reader_foms=reader_foms,
        fixed_cases_test=fixed_cases_test,
        fixed_cases_differences=fixed_cases_diff,
        fixed_cases_treatment_foms=fixed_cases_trt,
        notes=tuple(notes) + tuple(_degenerate_notes(trts, rdrs, foms, mom, lab)),
        label=label,
        description=description,
        design=design,
    )
