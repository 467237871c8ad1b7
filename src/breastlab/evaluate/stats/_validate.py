"""Input checks shared by the statistics functions.

Every check raises :class:`~breastlab.errors.BreastlabInputError` whose
message names the argument and says what would be valid.
"""

from __future__ import annotations

import warnings

import numpy as np

from breastlab.errors import BreastlabInputError

DIRECTIONS = ("<", ">")


class DegenerateCIWarning(UserWarning):
    """A confidence interval or test is degenerate (zero variance, too few valid replicates)."""


def warn_degenerate(message: str) -> None:
    warnings.warn(message, DegenerateCIWarning, stacklevel=3)


def as_1d(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 0:
        raise BreastlabInputError(f"{name} must be a 1-D array, got a scalar")
    if arr.ndim != 1:
        raise BreastlabInputError(f"{name} must be a 1-D array, got shape {arr.shape}")
    return arr


def check_truth(y_true, name: str = "y_true", min_per_class: int = 2) -> np.ndarray:
    """``y_true`` as a bool array; 0/1 (or False/True) only, both classes, ``min_per_class`` each."""
    arr = as_1d(y_true, name)
    if arr.size == 0:
        raise BreastlabInputError(f"{name} is empty; need 0/1 labels")
    if arr.dtype == bool:
        truth = arr
    else:
        try:
            num = arr.astype(np.float64)
        except (TypeError, ValueError):
            bad = sorted({str(v) for v in arr.tolist()})[:5]
            raise BreastlabInputError(f"{name} must hold only 0 and 1 (found {bad})") from None
        if np.isnan(num).any():
            raise BreastlabInputError(f"{name} holds {int(np.isnan(num).sum())} missing value(s); need 0 or 1")
        bad = np.setdiff1d(np.unique(num), [0.0, 1.0])
        if bad.size:
            raise BreastlabInputError(f"{name} must hold only 0 and 1 (non-binary values: {bad[:5].tolist()})")
        truth = num == 1.0
    n_pos = int(truth.sum())
    n_neg = truth.size - n_pos
    if n_pos == 0 or n_neg == 0:
        only = "1 (positives)" if n_neg == 0 else "0 (negatives)"
        raise BreastlabInputError(f"{name} holds a single class, only {only}; need both 0 and 1")
    if min(n_pos, n_neg) < min_per_class:
        raise BreastlabInputError(
            f"{name} has {n_pos} positive(s) and {n_neg} negative(s); need at least {min_per_class} of each"
        )
    return truth


def check_scores(y_score, n: int | None, name: str = "y_score", ndim: int = 1) -> np.ndarray:
    """Finite float64 scores of length ``n`` (``ndim`` 1, or 2 for (n, k) columns)."""
    arr = np.asarray(y_score)
    if arr.ndim == 0 or arr.ndim > ndim:
        allowed = "1-D" if ndim == 1 else "1-D or 2-D (n_cases, n_columns)"
        raise BreastlabInputError(f"{name} must be {allowed}, got shape {arr.shape}")
    try:
        arr = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise BreastlabInputError(f"{name} must be numeric (dtype {arr.dtype})") from None
    if n is not None and arr.shape[0] != n:
        raise BreastlabInputError(f"{name} has length {arr.shape[0]} but y_true has length {n}; lengths must match")
    bad = ~np.isfinite(arr)
    if bad.any():
        kinds = "NaN" if np.isnan(arr).any() else "infinite"
        first = int(np.argwhere(bad)[0][0])
        raise BreastlabInputError(
            f"{name} holds {int(bad.sum())} non-finite value(s) ({kinds}, first at index {first}); "
            "scores must be finite numbers"
        )
    return arr


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise BreastlabInputError(
            f"direction must be '<' (higher scores mean positive) or '>' (lower scores mean positive), "
            f"got {direction!r}"
        )
    return direction


def orient(scores: np.ndarray, direction: str) -> np.ndarray:
    """Scores oriented so that higher means positive (``direction='>'`` negates them)."""
    return scores if check_direction(direction) == "<" else -scores


def check_conf_level(conf_level: float) -> float:
    if not 0.0 < float(conf_level) < 1.0:
        raise BreastlabInputError(f"conf_level must be in (0, 1), got {conf_level!r}")
    return float(conf_level)


def check_alternative(alternative: str) -> str:
    if alternative not in ("two-sided", "greater", "less"):
        raise BreastlabInputError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")
    return alternative
