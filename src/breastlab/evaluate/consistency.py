"""Can one confusion matrix produce a reported accuracy, PPV and NPV?

Published tables sometimes list figures no classifier can reach at once. With
``P`` positives, ``N`` negatives (prevalence ``pi = P / (P + N)``), sensitivity
``a = TP / P`` and specificity ``b = TN / N``::

    accuracy = pi a + (1 - pi) b
    PPV      = pi a / (pi a + (1 - pi)(1 - b))
    NPV      = (1 - pi) b / ((1 - pi) b + pi (1 - a))

PPV and NPV alone fix ``a`` and ``b``. Writing ``odds(x) = x / (1 - x)``,
``r = odds(PPV) (1 - pi) / pi`` and ``s = odds(NPV) pi / (1 - pi)``, the two
equations read ``a = r (1 - b)`` and ``b = s (1 - a)``, whose solution is::

    a = r (1 - s) / (1 - r s),        b = s (1 - r) / (1 - r s)

and the accuracy is then determined. On a balanced set (``pi = 1/2``,
``r = odds(PPV)``, ``s = odds(NPV)``) the sign structure is simple:
``PPV > 1/2  <=>  a > 1 - b  <=>  a + b > 1  <=>  NPV > 1/2  <=>  accuracy > 1/2``
(because ``accuracy = (a + b) / 2``). So PPV, NPV and accuracy must all lie on
the same side of 1/2. SpurBreast's Table 2 (field strength, ResNet-50, balanced
test set) reports accuracy 0.52, PPV 0.62 and NPV 0.41: PPV > 1/2 but
NPV < 1/2, which is impossible; the formulas above give ``a = -3.72``,
``b = 3.28`` (outside [0, 1]).

Reported figures are rounded, so a triple is *possible* when some confusion
matrix reproduces each figure within a tolerance (by default half a unit of
its last reported decimal: 0.52 -> +-0.005). :func:`check_reported_metrics`
decides this and returns the closest achievable triple, i.e. the one that
minimises the largest absolute deviation ``d`` from the reported figures:

- with class counts, over all integer matrices: for a fixed ``TP`` every
  constraint "metric within +-d" is an interval of ``TN`` (each metric is
  monotone in ``TN``), so feasibility for a given ``t`` is exact and O(P);
- without counts (rates only, prevalence ``pi``), each constraint is a
  half-plane in ``(a, b)`` (e.g. ``PPV >= p`` <=> ``(1 - pi) p (1 - b) <= pi a (1 - p)``),
  so feasibility is a linear programme.

Feasibility grows with ``d``; bisection on ``d`` gives the closest triple.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from breastlab.errors import BreastlabInputError

#: SpurBreast (Lin et al.) Table 2, field strength, ResNet-50, test set: accuracy, PPV, NPV.
SPURBREAST_FIELD_STRENGTH_RESNET50_TEST = {"accuracy": 0.52, "ppv": 0.62, "npv": 0.41}

_EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class ConsistencyResult:
    """Whether reported accuracy/PPV/NPV can come from one confusion matrix.

    ``closest`` holds the achievable figures nearest to the reported ones (largest
    absolute deviation ``distance``); ``confusion`` the matrix (tp, fp, tn, fn)
    when class counts were given, else None (rates only).
    """

    possible: bool
    reported: dict[str, float]
    tolerance: dict[str, float]
    closest: dict[str, float]
    distance: float
    prevalence: float
    n_pos: int | None
    n_neg: int | None
    confusion: dict[str, int] | None
    implied_sensitivity: float
    implied_specificity: float

    @property
    def explanation(self) -> str:
        rep = ", ".join(f"{k} {v:g}" for k, v in self.reported.items())
        base = (
            f"PPV and NPV imply sensitivity {self.implied_sensitivity:.3f} and specificity "
            f"{self.implied_specificity:.3f} at prevalence {self.prevalence:.3g}"
        )
        near = ", ".join(f"{k} {self.closest[k]:.3f}" for k in ("accuracy", "ppv", "npv"))
        if self.possible:
            return f"possible: {rep} ({base}); e.g. {near}"
        return (
            f"impossible: no confusion matrix gives {rep} within rounding ({base}); "
            f"the closest achievable is {near} (largest deviation {self.distance:.3f})"
        )

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["explanation"] = self.explanation
        return d


def _odds(x: float) -> float:
    return math.inf if x >= 1 else x / (1 - x)


def rates_from_predictive_values(ppv: float, npv: float, prevalence: float = 0.5) -> tuple[float, float]:
    """Sensitivity and specificity implied by PPV and NPV at a prevalence.

    ``a = r (1 - s) / (1 - r s)``, ``b = s (1 - r) / (1 - r s)`` with
    ``r = odds(PPV) (1 - pi) / pi`` and ``s = odds(NPV) pi / (1 - pi)``. Values outside
    [0, 1] mean no classifier has these predictive values; ``nan`` when ``r s = 1``
    (then PPV and NPV do not determine the rates).
    """
    _check_rate("ppv", ppv)
    _check_rate("npv", npv)
    _check_prevalence(prevalence)
    r = _odds(ppv) * (1 - prevalence) / prevalence
    s = _odds(npv) * prevalence / (1 - prevalence)
    den = 1 - r * s
    if not np.isfinite(r) or not np.isfinite(s) or abs(den) < _EPS:
        return math.nan, math.nan
    return r * (1 - s) / den, s * (1 - r) / den


def figures_from_counts(tp: float, fp: float, tn: float, fn: float) -> dict[str, float]:
    """Accuracy, PPV, NPV, sensitivity, specificity of a confusion matrix (nan when undefined)."""

    def div(a: float, b: float) -> float:
        return a / b if b > 0 else math.nan

    return {
        "accuracy": div(tp + tn, tp + fp + tn + fn),
        "ppv": div(tp, tp + fp),
        "npv": div(tn, tn + fn),
        "sensitivity": div(tp, tp + fn),
        "specificity": div(tn, tn + fp),
    }


def _check_rate(name: str, value: float) -> None:
    if not (isinstance(value, int | float | np.floating) and 0 <= float(value) <= 1):
        raise BreastlabInputError(f"{name}={value!r}: must be a number in [0, 1]")


def _check_prevalence(prevalence: float) -> None:
    if not 0 < prevalence < 1:
        raise BreastlabInputError(f"prevalence={prevalence!r}: must be strictly between 0 and 1")


def _default_tolerance(value: float) -> float:
    """Half a unit of the last decimal of ``value`` as written (0.52 -> 0.005)."""
    text = np.format_float_positional(float(value), trim="-")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0 ** (-decimals)


def _tn_interval(tp: np.ndarray, n_pos: int, n_neg: int, bounds: dict) -> tuple[np.ndarray, np.ndarray]:
    """For each TP, the real interval of TN allowed by the three figures.

    accuracy = (TP + TN) / n; PPV = TP / (TP + N - TN) and NPV = TN / (TN + P - TP)
    both increase with TN, so each bound is a linear inequality in TN.
    """
    n = n_pos + n_neg
    fn = n_pos - tp
    (a_lo, a_hi), (p_lo, p_hi), (q_lo, q_hi) = bounds["accuracy"], bounds["ppv"], bounds["npv"]
    lo = np.maximum(0.0, a_lo * n - tp)
    hi = np.minimum(float(n_neg), a_hi * n - tp)
    with np.errstate(divide="ignore", invalid="ignore"):
        # PPV >= p_lo  <=>  TP (1 - p_lo) >= p_lo FP  <=>  TN >= N - TP (1 - p_lo) / p_lo
        if p_lo > 0:
            lo = np.maximum(lo, n_neg - tp * (1 - p_lo) / p_lo)
        # PPV <= p_hi  <=>  FP >= TP (1 - p_hi) / p_hi  (p_hi = 0: no true positive at all)
        if 0 < p_hi < 1:
            hi = np.minimum(hi, n_neg - tp * (1 - p_hi) / p_hi)
        elif p_hi <= 0:
            hi = np.where(tp > 0, -1.0, hi)
        # NPV >= q_lo  <=>  TN (1 - q_lo) >= q_lo FN
        if q_lo >= 1:
            hi = np.where(fn > 0, -1.0, hi)
        else:
            lo = np.maximum(lo, q_lo * fn / (1 - q_lo))
        # NPV <= q_hi  <=>  TN (1 - q_hi) <= q_hi FN
        if q_hi < 1:
            hi = np.minimum(hi, q_hi * fn / (1 - q_hi))
    return lo, hi


def _feasible_counts(n_pos: int, n_neg: int, bounds: dict) -> tuple[int, int] | None:
    """An integer (TP, TN) whose figures are all defined and inside ``bounds``, or None."""
    tp = np.arange(n_pos + 1, dtype=np.float64)
    lo, hi = _tn_interval(tp, n_pos, n_neg, bounds)
    tn_lo = np.ceil(lo - 1e-9)
    tn_hi = np.floor(hi + 1e-9)
    for i in np.flatnonzero(tn_lo <= tn_hi):
        for tn in (tn_lo[i], tn_lo[i] + 1, tn_hi[i] - 1, tn_hi[i]):
            if not tn_lo[i] <= tn <= tn_hi[i]:
                continue
            figs = figures_from_counts(tp[i], n_neg - tn, tn, n_pos - tp[i])
            if all(np.isfinite(figs[k]) and b[0] - 1e-9 <= figs[k] <= b[1] + 1e-9 for k, b in bounds.items()):
                return int(tp[i]), int(tn)
    return None


def _feasible_rates(prevalence: float, bounds: dict) -> tuple[float, float] | None:
    """Rates (a, b) in [0, 1]^2 with all figures inside ``bounds`` (a linear programme), or None."""
    pi = prevalence
    (a_lo, a_hi), (p_lo, p_hi), (q_lo, q_hi) = bounds["accuracy"], bounds["ppv"], bounds["npv"]
    rows, rhs = [], []  # A @ (a, b) <= rhs
    rows += [[-pi, -(1 - pi)], [pi, 1 - pi]]
    rhs += [-a_lo, a_hi]
    # PPV >= p: (1-pi) p (1-b) <= pi a (1-p)  <=>  -pi(1-p) a - (1-pi) p b <= -(1-pi) p
    rows.append([-pi * (1 - p_lo), -(1 - pi) * p_lo])
    rhs.append(-(1 - pi) * p_lo)
    # PPV <= p: pi a (1-p) <= (1-pi) p (1-b)
    rows.append([pi * (1 - p_hi), (1 - pi) * p_hi])
    rhs.append((1 - pi) * p_hi)
    # NPV >= q: pi q (1-a) <= (1-pi) b (1-q)
    rows.append([-pi * q_lo, -(1 - pi) * (1 - q_lo)])
    rhs.append(-pi * q_lo)
    # NPV <= q: (1-pi) b (1-q) <= pi q (1-a)
    rows.append([pi * q_hi, (1 - pi) * (1 - q_hi)])
    rhs.append(pi * q_hi)
    # Keep PPV and NPV defined (some positive and some negative predictions):
    # a + (1 - b) >= delta and b + (1 - a) >= delta.
    delta = 1e-6
    rows += [[-1, 1], [1, -1]]
    rhs += [1 - delta, 1 - delta]
    from scipy.optimize import linprog  # lazy: scipy.optimize takes a second to import

    res = linprog(np.zeros(2), A_ub=np.array(rows), b_ub=np.array(rhs) + 1e-12, bounds=[(0, 1), (0, 1)], method="highs")
    return (float(res.x[0]), float(res.x[1])) if res.status == 0 else None


def check_reported_metrics(
    accuracy: float,
    ppv: float,
    npv: float,
    n_pos: int | None = None,
    n_neg: int | None = None,
    prevalence: float | None = None,
    tolerance: float | dict[str, float] | None = None,
) -> ConsistencyResult:
    """Decide whether one confusion matrix gives ``accuracy``, ``ppv`` and ``npv`` at once.

    Parameters
    ----------
    accuracy, ppv, npv : the reported figures, in [0, 1].
    n_pos, n_neg : class counts of the evaluated set. When given, only integer
        confusion matrices count. Without them, rates at ``prevalence`` are used.
    prevalence : share of positives when counts are not given (default 0.5: balanced).
    tolerance : allowed absolute deviation, one number or one per figure; default
        half a unit of each figure's last decimal (0.52 -> 0.005), i.e. rounding.

    Returns
    -------
    ConsistencyResult with ``possible``, the closest achievable figures and the
    sensitivity/specificity implied by PPV and NPV (see the module docstring).
    """
    reported = {"accuracy": float(accuracy), "ppv": float(ppv), "npv": float(npv)}
    for k, v in reported.items():
        _check_rate(k, v)
    if (n_pos is None) != (n_neg is None):
        raise BreastlabInputError("n_pos and n_neg: give both class counts or neither")
    if n_pos is not None:
        if int(n_pos) < 1 or int(n_neg) < 1 or int(n_pos) != n_pos or int(n_neg) != n_neg:
            raise BreastlabInputError(f"n_pos={n_pos!r}, n_neg={n_neg!r}: class counts must be integers >= 1")
        if prevalence is not None:
            raise BreastlabInputError("prevalence: give either class counts or a prevalence, not both")
        n_pos, n_neg = int(n_pos), int(n_neg)
        prevalence = n_pos / (n_pos + n_neg)
    prevalence = 0.5 if prevalence is None else float(prevalence)
    _check_prevalence(prevalence)
    if tolerance is None:
        tol = {k: _default_tolerance(v) for k, v in reported.items()}
    elif isinstance(tolerance, dict):
        tol = {k: float(tolerance[k]) for k in reported}
    else:
        tol = dict.fromkeys(reported, float(tolerance))
    if any(t < 0 for t in tol.values()):
        raise BreastlabInputError(f"tolerance={tolerance!r}: must be >= 0")

    def solve(bounds: dict):
        if n_pos is not None:
            return _feasible_counts(n_pos, n_neg, bounds)
        return _feasible_rates(prevalence, bounds)

    def within(d: float) -> dict:
        return {k: (max(0.0, v - d), min(1.0, v + d)) for k, v in reported.items()}

    possible = solve({k: (max(0.0, v - tol[k]), min(1.0, v + tol[k])) for k, v in reported.items()}) is not None
    # Closest achievable figures: bisection on the largest absolute deviation d.
    lo, hi = 0.0, 1.0
    point = solve(within(hi))
    for _ in range(40):
        mid = (lo + hi) / 2
        found = solve(within(mid))
        if found is None:
            lo = mid
        else:
            hi, point = mid, found
    if n_pos is not None:
        tp, tn = point
        confusion = {"tp": tp, "fp": n_neg - tn, "tn": tn, "fn": n_pos - tp}
        closest = figures_from_counts(tp, n_neg - tn, tn, n_pos - tp)
    else:
        a, b = (min(1.0, max(0.0, x)) for x in point)  # the LP solver may overshoot [0, 1] by ~1e-9
        confusion = None
        pi = prevalence
        closest = figures_from_counts(pi * a, (1 - pi) * (1 - b), (1 - pi) * b, pi * (1 - a))
    distance = max(abs(closest[k] - v) for k, v in reported.items())
    sens, spec = rates_from_predictive_values(ppv, npv, prevalence)
    return ConsistencyResult(
        possible=possible,
        reported=reported,
        tolerance=tol,
        closest=closest,
        distance=float(distance),
        prevalence=prevalence,
        n_pos=n_pos,
        n_neg=n_neg,
        confusion=confusion,
        implied_sensitivity=sens,
        implied_specificity=spec,
    )


@dataclasses.dataclass(frozen=True)
class SwapExplanation:
    """Do columns labelled PPV and NPV read as sensitivity and specificity of a balanced set?

    On a balanced set (as many positives as negatives) ``accuracy = (sensitivity +
    specificity) / 2`` exactly. If the reported accuracy equals the mean of the
    "PPV" and "NPV" columns within rounding, the columns are consistent with being
    sensitivity and specificity under the wrong labels.
    """

    fits: bool
    reported: dict[str, float]
    implied_accuracy: float  # (ppv column + npv column) / 2
    deviation: float  # |reported accuracy - implied accuracy|
    allowed: float  # rounding of accuracy plus half the rounding of the two columns

    @property
    def explanation(self) -> str:
        verdict = "fits" if self.fits else "does not fit"
        return (
            f"reading PPV {self.reported['ppv']:g} and NPV {self.reported['npv']:g} as sensitivity and specificity "
            f"on a balanced set {verdict}: accuracy would be {self.implied_accuracy:.4f}, reported "
            f"{self.reported['accuracy']:g} (|difference| {self.deviation:.4f}, rounding allows {self.allowed:.4f})"
        )

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["explanation"] = self.explanation
        return d


def check_sensitivity_specificity_swap(
    accuracy: float, ppv: float, npv: float, tolerance: float | dict[str, float] | None = None
) -> SwapExplanation:
    """Test the explanation that reported PPV/NPV are sensitivity/specificity on a balanced set.

    With rounding tolerances ``t`` (default half a unit of each figure's last decimal),
    the explanation fits when ``|accuracy - (ppv + npv) / 2| <= t_acc + (t_ppv + t_npv) / 2``:
    some sensitivity and specificity within rounding of the two columns give an
    accuracy within rounding of the reported one.
    """
    reported = {"accuracy": float(accuracy), "ppv": float(ppv), "npv": float(npv)}
    for k, v in reported.items():
        _check_rate(k, v)
    if tolerance is None:
        tol = {k: _default_tolerance(v) for k, v in reported.items()}
    elif isinstance(tolerance, dict):
        tol = {k: float(tolerance[k]) for k in reported}
    else:
        tol = dict.fromkeys(reported, float(tolerance))
    implied = (reported["ppv"] + reported["npv"]) / 2.0
    deviation = abs(reported["accuracy"] - implied)
    allowed = tol["accuracy"] + (tol["ppv"] + tol["npv"]) / 2.0
    return SwapExplanation(deviation <= allowed + _EPS, reported, implied, deviation, allowed)


def check_table(rows) -> list[dict]:
    """Both checks for every row (dicts with accuracy, ppv, npv, optional label, n_pos, n_neg, prevalence)."""
    out = []
    for i, row in enumerate(rows):
        try:
            acc, ppv, npv = (float(row[k]) for k in ("accuracy", "ppv", "npv"))
        except (KeyError, TypeError, ValueError):
            raise BreastlabInputError(f"row {i + 1}: needs numeric accuracy, ppv and npv, got {row!r}") from None
        counts = {k: row.get(k) for k in ("n_pos", "n_neg", "prevalence") if row.get(k) is not None}
        joint = check_reported_metrics(acc, ppv, npv, **counts)
        swap = check_sensitivity_specificity_swap(acc, ppv, npv)
        out.append(
            {
                "label": str(row.get("label", i + 1)),
                "as_reported": joint.to_dict(),
                "as_sensitivity_specificity_balanced": swap.to_dict(),
            }
        )
    return out
