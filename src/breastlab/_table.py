"""Command-line output: a readable table on the terminal, JSON/CSV beside it."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from breastlab._io import write_json, write_table

EN_DASH = "\u2013"


def fixed(value: float, digits: int, signed: bool = False) -> str:
    """``value`` with ``digits`` decimals; never ``-0.000`` (a rounded tiny negative reads as a real sign)."""
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return f"{0.0:.{digits}f}" if text.lstrip("+-").strip("0.") == "" else text


def format_ci(
    estimate: float | None,
    lower: float | None,
    upper: float | None,
    digits: int = 3,
    *,
    scale: float = 1.0,
    signed: bool = False,
) -> str:
    """The one on-screen format of an estimate with its confidence interval: ``0.830 (0.770–0.870)``.

    The bounds are joined by an en dash, or by " to " when one is negative, since a dash beside
    a minus sign reads as one: ``-0.050 (-0.120 to 0.020)``. ``scale`` (e.g. 100 for percent)
    multiplies all three; ``signed`` shows the sign of a difference's estimate (``+0.050``). A missing
    estimate prints ``-``, missing bounds the estimate alone. Files keep the exact numbers.
    """
    if estimate is None or not math.isfinite(estimate):
        return "-"
    est = fixed(estimate * scale, digits, signed)
    if lower is None or upper is None or not (math.isfinite(lower) and math.isfinite(upper)):
        return est
    lo, hi = fixed(lower * scale, digits), fixed(upper * scale, digits)
    joint = " to " if lo.startswith("-") or hi.startswith("-") else EN_DASH
    return f"{est} ({lo}{joint}{hi})"


def format_number(value: float, floatfmt: str = "{:.4g}") -> str:
    """A table cell: whole numbers as integers (``20130``, never ``2.013e+04``), large ones without
    an exponent, others by ``floatfmt``; a missing value as ``-``."""
    if not math.isfinite(value):
        return "-"
    if value == round(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1e4:
        return f"{value:.1f}"
    text = floatfmt.format(value)
    return text[1:] if text.startswith("-") and text.lstrip("-").strip("0.") == "" else text


# the estimate a bare ``lower``/``upper`` (or ``ci_lower``/``ci_upper``) pair belongs to: the first present
ESTIMATE_COLUMNS = {"lower": ("estimate", "auc", "kappa"), "ci_lower": ("difference", "estimate")}


def _ci_triples(columns: list[str]) -> list[tuple[str, str, str]]:
    """(estimate, lower, upper) column names: ``X, X_lower, X_upper``, or a bare pair of bounds with
    its estimate from :data:`ESTIMATE_COLUMNS`."""
    found = []
    for lo in columns:
        if lo in ESTIMATE_COLUMNS:
            hi, est = lo.replace("lower", "upper"), next((c for c in ESTIMATE_COLUMNS[lo] if c in columns), None)
        elif lo.endswith("_lower"):
            stem = lo[: -len("_lower")]
            hi, est = f"{stem}_upper", next((c for c in (stem, f"{stem}_auc") if c in columns), None)
        else:
            continue
        if est is not None and hi in columns and all(est != t[0] for t in found):
            found.append((est, lo, hi))
    return found


def with_ci_columns(df: pd.DataFrame, conf_level: float = 0.95, digits: int = 3) -> pd.DataFrame:
    """For the screen: each estimate with its bounds becomes one column ``X (95% CI)`` in the format of
    :func:`format_ci`, the bound columns go (files keep them: pass the original frame to CSV/JSON)."""
    out = df.copy()
    for est, lo, hi in _ci_triples(list(df.columns)):
        if not all(pd.api.types.is_numeric_dtype(df[c]) for c in (est, lo, hi)):
            continue
        signed = est == "difference"
        cells = [format_ci(*(float(v) for v in row), digits, signed=signed) for row in df[[est, lo, hi]].to_numpy()]
        out[est] = cells
        out = out.drop(columns=[lo, hi]).rename(columns={est: f"{est} ({100 * conf_level:g}% CI)"})
    return out


def format_table(df: pd.DataFrame, title: str | None = None, floatfmt: str = "{:.4g}") -> str:
    """Render ``df`` as an aligned plain-text table (numbers by :func:`format_number`)."""
    text = df.to_string(index=False, float_format=lambda v: format_number(v, floatfmt), na_rep="-")
    if title:
        rule = "=" * max(len(title), min(100, max(len(line) for line in text.splitlines() or [""])))
        return f"{title}\n{rule}\n{text}"
    return text


def emit(
    df: pd.DataFrame,
    title: str | None = None,
    csv_path: str | os.PathLike | None = None,
    json_path: str | os.PathLike | None = None,
    extra: dict[str, Any] | None = None,
    shown: pd.DataFrame | None = None,
) -> None:
    """Print ``df`` (or ``shown``, its screen version) and write ``df`` as CSV and/or JSON (records, plus ``extra``)."""
    print(format_table(df if shown is None else shown, title))
    if csv_path:
        write_table(df, Path(csv_path))
    if json_path:
        payload: dict[str, Any] = {"rows": df.to_dict(orient="records")}
        if extra:
            payload.update(extra)
        write_json(payload, json_path)
