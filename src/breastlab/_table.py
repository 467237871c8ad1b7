"""Command-line output: a readable table on the terminal, JSON/CSV beside it."""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd

from breastlab._io import write_json, write_table

EN_DASH = "\u2013"
SCREEN_WIDTH = 120  # widest table printed on the terminal; wider ones keep their full width in the files


def fixed(value: float, digits: int, signed: bool = False) -> str:
    """``value`` with ``digits`` decimals; never ``-0.000`` (a rounded tiny negative reads as a real sign)."""
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return f"{0.0:.{digits}f}" if text.lstrip("+-").strip("0.") == "" else text


def format_p(p: Any) -> str:
    """A p-value as printed in a journal table: "<0.001" below 0.001, else three decimals; "-" if missing."""
    if p is None or not math.isfinite(float(p)):
        return "-"
    return "<0.001" if float(p) < 0.001 else f"{float(p):.3f}"


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


def _render(df: pd.DataFrame, floatfmt: str) -> str:
    return df.to_string(index=False, float_format=lambda v: format_number(v, floatfmt), na_rep="-")


def _width(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _shorten(cells: pd.Series, length: int) -> pd.Series:
    """Text cells cut to ``length`` characters, the cut marked by an ellipsis."""
    return cells.map(lambda v: v if not isinstance(v, str) or len(v) <= length else v[: length - 1] + "\u2026")


def fit_columns(
    df: pd.DataFrame, max_width: int = SCREEN_WIDTH, keep: int = 1, floatfmt: str = "{:.4g}"
) -> tuple[pd.DataFrame, list[str]]:
    """The columns of ``df`` that fit ``max_width`` characters when rendered, and those left out.

    The first ``keep`` columns (the ones naming a row) always stay; every later column is taken, left
    to right, when the table with it still fits, so one wide column does not hide the narrow ones
    after it. The first columns take at most half the width: their longest text cells are cut to one
    common length (ending in ``…``) so the columns after them can show; numbers are never cut.
    """
    if _width(_render(df, floatfmt)) <= max_width:
        return df, []
    ids = _cut_to_width(df.iloc[:, : max(keep, 1)], max_width // 2, floatfmt)
    shown = pd.concat([ids, df.iloc[:, ids.shape[1] :]], axis=1)
    cols = list(ids.columns)
    for col in df.columns[len(cols) :]:
        if _width(_render(shown[[*cols, col]], floatfmt)) <= max_width:
            cols.append(col)
    return _cut_to_width(shown[cols], max_width, floatfmt), [c for c in df.columns if c not in cols]


def _cut_to_width(df: pd.DataFrame, width: int, floatfmt: str) -> pd.DataFrame:
    """``df`` with its longest text cells cut to one common length (never under 8) so it renders within ``width``."""
    lengths = [len(v) for col in df.columns for v in df[col] if isinstance(v, str)]
    out = df
    for length in range(max(lengths, default=0), 7, -1):
        if _width(_render(out, floatfmt)) <= width:
            break
        out = df.apply(lambda cells, n=length: _shorten(cells, n))
    return out


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


def format_table(
    df: pd.DataFrame,
    title: str | None = None,
    floatfmt: str = "{:.4g}",
    *,
    max_width: int | None = None,
    keep: int = 1,
    full_table: str | os.PathLike | None = None,
) -> str:
    """Render ``df`` as an aligned plain-text table (numbers by :func:`format_number`).

    With ``max_width``, a wider table shows the columns :func:`fit_columns` keeps and one closing
    line naming the ones left out and where the full table is (``full_table``, or how to get it).
    """
    left_out: list[str] = []
    if max_width:
        df, left_out = fit_columns(df, max_width, keep, floatfmt)
    text = _render(df, floatfmt)
    if left_out:
        where = f"full table: {full_table}" if full_table else "pass --out DIR to write the full table"
        note = f"left out to fit {max_width} characters: {', '.join(left_out)}; {where}"
        text += "\n" + "\n".join(_wrap(note, max_width))
    if title:
        heading = "\n".join(_wrap(title, max_width)) if max_width else title
        rule = "=" * max(_width(heading), min(100, _width(text)))
        return f"{heading}\n{rule}\n{text}"
    return text


def emit(
    df: pd.DataFrame,
    title: str | None = None,
    csv_path: str | os.PathLike | None = None,
    json_path: str | os.PathLike | None = None,
    extra: dict[str, Any] | None = None,
    shown: pd.DataFrame | None = None,
    keep: int = 1,
) -> None:
    """Print ``df`` (or ``shown``, its screen version) and write ``df`` as CSV and/or JSON (records, plus ``extra``).

    The printed table fits :data:`SCREEN_WIDTH` columns: its first ``keep`` columns always show, the
    columns that do not fit are named on screen and kept in the files (see :func:`format_table`);
    a single row too wide for the screen prints as ``field`` / ``value`` lines instead.
    """
    screen = df if shown is None else shown
    if len(screen) == 1 and _width(_render(screen, "{:.4g}")) > SCREEN_WIDTH:  # one wide row reads as field/value
        cells = screen.astype(object).map(lambda v: format_number(v) if isinstance(v, float) else v)
        screen = cells.T.reset_index().set_axis(["field", "value"], axis=1)
    full_table = csv_path or json_path
    print(format_table(screen, title, max_width=SCREEN_WIDTH, keep=keep, full_table=full_table))
    if csv_path:
        write_table(df, Path(csv_path))
    if json_path:
        payload: dict[str, Any] = {"rows": df.to_dict(orient="records")}
        if extra:
            payload.update(extra)
        write_json(payload, json_path)
