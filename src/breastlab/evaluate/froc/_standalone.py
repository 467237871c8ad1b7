r"""A standalone reader (the AI) against a group of readers in one treatment: RJafroc's ``StCadVsRad``.

With :math:`\theta_0` the AI's figure of merit and :math:`\theta_j` reader j's (j = 1..J), the
reader-minus-AI differences :math:`\psi_j = \theta_j - \theta_0` have a case covariance
:math:`D\Sigma D^\top` (:math:`\Sigma` the jackknife or bootstrap covariance of all J + 1
figures, D the difference matrix); Var is its mean diagonal and Cov2 its mean off-diagonal.
With :math:`MS(R) = \sum_j(\psi_j - \bar\psi)^2/(J-1)`:

* random readers, random cases (RJafroc ``method = "1T-RRRC"``; Hillis 2007, single-treatment
  form): :math:`\mathrm{den} = MS(R) + J\max(\mathrm{Cov}_2, 0)`, :math:`SE = \sqrt{\mathrm{den}/J}`,
  :math:`\mathrm{ddf} = \mathrm{den}^2 / (MS(R)^2/(J-1))`;
* fixed readers, random cases: :math:`SE^2 = (\mathrm{Var} + (J-1)\mathrm{Cov}_2)/J`, normal;
* random readers, fixed cases (``"1T-RRFC"``): the one-sample t test of the :math:`\psi_j`,
  :math:`SE^2 = MS(R)/J` on J - 1 df.

The estimate is reported as first minus second in the order the user gives (``order``):
``("AI", "readers")`` is AI minus the readers' average, ``("readers", "AI")`` RJafroc's sign.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breastlab._table import format_ci
from breastlab.errors import BreastlabInputError
from breastlab.evaluate.froc._data import FROCData
from breastlab.evaluate.froc._fom import FROC_FOMS, fom_key, froc_fom_and_covariance
from breastlab.evaluate.mrmc._analysis import _finite, _num, _p
from breastlab.evaluate.mrmc._or import _hillis_df, _t_interval


@dataclasses.dataclass(frozen=True)
class StandaloneResult:
    """AI versus readers in one treatment; ``analyses`` has one row per analysis (first minus second)."""

    fom_label: str
    cov_method: str
    treatment: str
    ai: str
    readers: tuple[str, ...]
    order: tuple[str, str]
    alpha: float
    ai_fom: float
    reader_foms: pd.DataFrame  # reader, fom, difference (first minus second for that reader)
    analyses: pd.DataFrame  # analysis, estimate, se, df, t, p_value, ci_lower, ci_upper
    var_error: float
    cov2: float
    ms_r: float

    @property
    def comparison(self) -> str:
        return f"{self.order[0]} - {self.order[1]}"

    def summary(self) -> str:
        level = f"{100 * (1 - self.alpha):g}%"
        lines = [
            f"Standalone {self.ai} versus {len(self.readers)} readers, treatment {self.treatment} "
            f"(single-treatment Obuchowski-Rockette / Hillis, as RJafroc StCadVsRad)",
            f"Figure of merit: {self.fom_label}; case covariance: {self.cov_method}",
            f"{self.ai}: {self.ai_fom:.4f}; readers' average: {self.reader_foms.fom.mean():.4f} "
            f"(range {self.reader_foms.fom.min():.4f}-{self.reader_foms.fom.max():.4f})",
            f"Differences are first minus second: {self.comparison}",
            "",
        ]
        for row in self.analyses.itertuples():
            df = "" if not np.isfinite(row.df) else f", df {_num(row.df, 1)}"
            ci = format_ci(row.estimate, row.ci_lower, row.ci_upper, 4, signed=True)
            p = _p(row.p_value)
            lines.append(f"  {row.analysis}: {self.comparison} = {ci} [{level} CI; SE {row.se:.4f}{df}], {p}")
        lines.append(f"  Var = {_num(self.var_error)}, Cov2 = {_num(self.cov2)}, MS(R) = {_num(self.ms_r)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["reader_foms"] = self.reader_foms.to_dict(orient="records")
        out["analyses"] = self.analyses.to_dict(orient="records")
        out["differences"] = f"first minus second: {self.comparison}"
        return _finite(out)

    def write(self, out_dir, name: str = "standalone") -> Path:
        from breastlab._io import write_json, write_table, write_text

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_table(self.analyses, out / f"{name}_analyses.csv")
        write_table(self.reader_foms, out / f"{name}_reader_foms.csv")
        write_text(self.summary() + "\n", out / f"{name}_summary.txt")
        write_json(self.to_dict(), out / f"{name}.json")
        return out


def standalone_vs_readers(
    data: FROCData,
    ai: str,
    *,
    fom: str = "wafroc",
    treatment: str | None = None,
    order: tuple[str, str] = ("AI", "readers"),
    cov: str = "jackknife",
    alpha: float = 0.05,
    n_boot: int = 200,
    seed: int | None = 0,
) -> StandaloneResult:
    """Compare a standalone reader ``ai`` (e.g. the detector's marks) with the other readers in one treatment.

    ``treatment``: which treatment (needed when the study has several). ``order``: ``("AI",
    "readers")`` or ``("readers", "AI")`` — the estimate is first minus second. See the module
    docstring for the three analyses.
    """
    key = fom_key(fom)
    if ai not in data.readers:
        raise BreastlabInputError(f"standalone reader {ai!r} is not in the study; readers are {list(data.readers)}")
    if sorted(order) != sorted(("AI", "readers")):
        raise BreastlabInputError(f"order must be ('AI', 'readers') or ('readers', 'AI'), got {order!r}")
    if treatment is None:
        if len(data.treatments) != 1:
            raise BreastlabInputError(f"choose the treatment to compare in: one of {list(data.treatments)}")
        treatment = data.treatments[0]
    others = [r for r in data.readers if r != ai]
    if len(others) < 2:
        raise BreastlabInputError(f"an AI-versus-readers test needs at least 2 other readers; got {others}")
    sub = data.subset([treatment], [ai, *others])
    theta, sigma = froc_fom_and_covariance(sub, key, cov, n_boot=n_boot, seed=seed)
    j = len(others)
    d = np.hstack([-np.ones((j, 1)), np.eye(j)])  # psi_j = theta_j - theta_AI
    psi, cov_psi = d @ theta, d @ sigma @ d.T
    sign = 1.0 if order[0] == "readers" else -1.0
    var = float(np.mean(np.diag(cov_psi)))
    cov2 = float((cov_psi.sum() - np.trace(cov_psi)) / (j * (j - 1)))
    ms_r = float(np.var(psi, ddof=1))
    est = sign * float(psi.mean())
    den = ms_r + j * max(cov2, 0.0)
    rows = []
    for name, se, df in (
        ("random readers, random cases", math.sqrt(den / j), float(_hillis_df(np.array(ms_r), np.array(den), j - 1))),
        ("fixed readers, random cases", math.sqrt(max((var + (j - 1) * cov2) / j, 0.0)), math.inf),
        ("random readers, fixed cases", math.sqrt(ms_r / j), float(j - 1)),
    ):
        stat, p, lo, hi = (float(v) for v in _t_interval(est, se, df, alpha))
        rows.append(
            {
                "analysis": name,
                "estimate": est,
                "se": se,
                "df": df,
                "t": stat,
                "p_value": p,
                "ci_lower": lo,
                "ci_upper": hi,
            }
        )
    reader_foms = pd.DataFrame({"reader": others, "fom": theta[1:], "difference": sign * psi})
    return StandaloneResult(
        fom_label=FROC_FOMS[key],
        cov_method=cov,
        treatment=str(treatment),
        ai=ai,
        readers=tuple(others),
        order=(ai if order[0] == "AI" else "readers", ai if order[1] == "AI" else "readers"),
        alpha=alpha,
        ai_fom=float(theta[0]),
        reader_foms=reader_foms,
        analyses=pd.DataFrame(rows),
        var_error=var,
        cov2=cov2,
        ms_r=ms_r,
    )
