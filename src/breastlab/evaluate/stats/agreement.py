"""Agreement between two readers: Cohen's kappa, weighted kappa, SE, CI, test, Landis-Koch label.

Cohen J. A coefficient of agreement for nominal scales. Educ Psychol Meas 1960;20:37-46.
Cohen J. Weighted kappa. Psychol Bull 1968;70:213-220.
Fleiss JL, Cohen J, Everitt BS. Large sample standard errors of kappa and
weighted kappa. Psychol Bull 1969;72:323-327.
Landis JR, Koch GG. The measurement of observer agreement for categorical data.
Biometrics 1977;33:159-174.

With p_ij the proportion of cases rated i by reader 1 and j by reader 2,
marginals p_i. and p_.j, and agreement weights w_ij (1 on the diagonal;
linear ``1 - |i - j| / (k - 1)``; quadratic ``1 - (i - j)^2 / (k - 1)^2``; the
categories' order is their sorted order, distances count categories present):

    p_o = sum w_ij p_ij,  p_e = sum w_ij p_i. p_.j,  kappa = (p_o - p_e) / (1 - p_e)

Standard errors (Fleiss, Cohen & Everitt 1969), with wbar_i. = sum_j p_.j w_ij and
wbar_.j = sum_i p_i. w_ij:

    var(kappa)  = [sum p_ij (w_ij - (wbar_i. + wbar_.j)(1 - kappa))^2 - (kappa - p_e (1 - kappa))^2] / (N (1 - p_e)^2)
    var0(kappa) = [sum p_i. p_.j (w_ij - (wbar_i. + wbar_.j))^2 - p_e^2] / (N (1 - p_e)^2)     (under kappa = 0)

The CI uses ``var``; the test ``z = kappa / sqrt(var0)`` uses ``var0`` (as SAS
PROC FREQ and R's irr::kappa2).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats as _st

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats._validate import as_1d, check_conf_level, warn_degenerate

LANDIS_KOCH = (
    (0.0, "poor"),
    (0.20, "slight"),
    (0.40, "fair"),
    (0.60, "moderate"),
    (0.80, "substantial"),
    (1.0, "almost perfect"),
)


@dataclasses.dataclass(frozen=True)
class KappaResult:
    kappa: float
    se: float  # asymptotic SE (for the CI)
    lower: float
    upper: float
    se0: float  # SE under H0: kappa = 0 (for the test)
    z: float
    p_value: float  # two-sided
    n: int
    weights: str
    strength: str  # Landis & Koch label
    observed_agreement: float
    expected_agreement: float
    conf_level: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def landis_koch(kappa: float) -> str:
    """Landis & Koch (1977) strength of agreement.

    < 0 poor, 0-0.20 slight, 0.21-0.40 fair, 0.41-0.60 moderate,
    0.61-0.80 substantial, 0.81-1.00 almost perfect (upper bounds inclusive).
    """
    if not math.isfinite(kappa):
        return "undefined"
    if kappa < 0:
        return "poor"
    for bound, label in LANDIS_KOCH[1:]:
        if kappa <= bound + 1e-12:
            return label
    return "almost perfect"


def agreement_weights(k: int, weights: str | None) -> np.ndarray:
    """(k, k) agreement weights: identity, linear or quadratic (Cicchetti-Allison / Fleiss-Cohen)."""
    if k == 1:
        return np.ones((1, 1))
    d = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / (k - 1)
    if weights in (None, "none", "unweighted"):
        return np.eye(k)
    if weights == "linear":
        return 1.0 - d
    if weights == "quadratic":
        return 1.0 - d**2
    raise BreastlabInputError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")


def kappa_from_table(table, weights: str | None = None, conf_level: float = 0.95) -> KappaResult:
    """Cohen's (weighted) kappa from a k x k table of counts (rows reader 1, columns reader 2)."""
    conf_level = check_conf_level(conf_level)
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or (t < 0).any():
        raise BreastlabInputError(f"table must be a square array of non-negative counts, got shape {t.shape}")
    n = float(t.sum())
    if n < 2:
        raise BreastlabInputError(f"kappa needs at least 2 rated cases, got {n:g}")
    w = agreement_weights(t.shape[0], weights)
    p = t / n
    r, c = p.sum(axis=1), p.sum(axis=0)
    po = float((w * p).sum())
    pe = float((w * np.outer(r, c)).sum())
    label = "unweighted" if weights in (None, "none", "unweighted") else str(weights)
    if pe >= 1.0 - 1e-15:  # both readers used one and the same category: kappa undefined
        warn_degenerate("kappa: expected agreement is 1 (a single category); kappa is undefined")
        nan = math.nan
        return KappaResult(nan, nan, nan, nan, nan, nan, nan, int(n), label, "undefined", po, pe, conf_level)
    kappa = (po - pe) / (1.0 - pe)
    wr = w @ c  # wbar_i.
    wc = r @ w  # wbar_.j
    s = wr[:, None] + wc[None, :]
    var = ((p * (w - s * (1.0 - kappa)) ** 2).sum() - (kappa - pe * (1.0 - kappa)) ** 2) / (n * (1.0 - pe) ** 2)
    var0 = ((np.outer(r, c) * (w - s) ** 2).sum() - pe**2) / (n * (1.0 - pe) ** 2)
    se, se0 = math.sqrt(max(var, 0.0)), math.sqrt(max(var0, 0.0))
    q = _st.norm.ppf(1.0 - (1.0 - conf_level) / 2.0)
    if se == 0.0:
        warn_degenerate(f"kappa = {kappa:g} has zero standard error; the interval is degenerate")
    z = kappa / se0 if se0 > 0 else (0.0 if kappa == 0 else math.copysign(math.inf, kappa))
    p_value = float(min(1.0, 2.0 * _st.norm.sf(abs(z))))
    return KappaResult(
        kappa,
        se,
        kappa - q * se,
        kappa + q * se,
        se0,
        z,
        p_value,
        int(n),
        label,
        landis_koch(kappa),
        po,
        pe,
        conf_level,
    )


def cohen_kappa(rater1, rater2, weights: str | None = None, labels=None, conf_level: float = 0.95) -> KappaResult:
    """Cohen's kappa (1960) or weighted kappa (1968) between two readers rating the same cases.

    ``weights``: None (unweighted), ``"linear"`` or ``"quadratic"``. ``labels``
    fixes the ordered categories (default: the sorted union of both readers'
    ratings). The kappa value equals ``sklearn.metrics.cohen_kappa_score``.
    """
    a, b = as_1d(rater1, "rater1"), as_1d(rater2, "rater2")
    if a.size != b.size:
        raise BreastlabInputError(f"rater1 has {a.size} ratings but rater2 has {b.size}; lengths must match")
    for name, arr in (("rater1", a), ("rater2", b)):
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise BreastlabInputError(f"{name} holds missing ratings; drop the cases first")
    cats = np.unique(np.concatenate([a, b])) if labels is None else np.asarray(labels)
    index = {v: i for i, v in enumerate(cats.tolist())}
    try:
        ia = np.array([index[v] for v in a.tolist()])
        ib = np.array([index[v] for v in b.tolist()])
    except KeyError as exc:
        raise BreastlabInputError(f"rating {exc.args[0]!r} is not among labels {cats.tolist()}") from None
    k = len(cats)
    table = np.bincount(ia * k + ib, minlength=k * k).reshape(k, k)
    return kappa_from_table(table, weights, conf_level)
