"""Command-line output: a readable table on the terminal, JSON/CSV beside it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from breastlab._io import write_json, write_table


def format_table(df: pd.DataFrame, title: str | None = None, floatfmt: str = "{:.4g}") -> str:
    """Render ``df`` as an aligned plain-text table."""
    text = df.to_string(index=False, float_format=lambda v: floatfmt.format(v), na_rep="-")
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
) -> None:
    """Print ``df`` and write it as CSV and/or JSON (records, plus ``extra``)."""
    print(format_table(df, title))
    if csv_path:
        write_table(df, Path(csv_path))
    if json_path:
        payload: dict[str, Any] = {"rows": df.to_dict(orient="records")}
        if extra:
            payload.update(extra)
        write_json(payload, json_path)
