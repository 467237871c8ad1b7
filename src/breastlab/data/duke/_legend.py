"""Parser for the code legends of TCIA's ``Clinical_and_Other_Features.xlsx``.

Header row 3 of the clinical table holds a free-text legend per column, in two
opposite conventions:

* technical columns, *label = code*: ``GE MEDICAL SYSTEMS=0, MPTronic software=1, SIEMENS=2``,
  ``1.494=0,1.5=1,2.8936=2,3=3`` (codes are 0..k-1, comma separated);
* clinical columns, *code = label*: ``{0 = pre,\\n1 = post,\\n2 = N/A}``,
  ``1=low 2=intermediate 3=high``, ``Side of cancer L=left R=right``,
  ``{ -1 = TX;  0 = T0; ...; NA = not applicable}``, where labels may contain commas
  (``1 = ER/PR pos, HER2 pos``) and the separators are commas, semicolons, newlines or
  blanks; text before the codes, and anything after the first ``{...}`` block, is prose.

:func:`parse_legend` handles both generically and returns ``{code: label}`` with the
code as the string written in the legend (``"0"``, ``"-1"``, ``"L"``, ``"NA"``).
"""

from __future__ import annotations

import math
import re
from typing import Any

# label=code: every item "<label without = or ,> = <integer>", items separated by commas
_RIGHT_ITEM = re.compile(r"\s*([^=,]+?)\s*=\s*(-?\d+)\s*(?:,|$)")
# code=label: a code token (integer, or 1-2 capital letters such as L/R/NA/NP) that starts a
# word (after start, blank, "{", ",", ";" or "(") and is followed by "="
_LEFT_CODE = re.compile(r"(?:^|(?<=[\s{,;(]))(-?\d+|[A-Z]{1,2})\s*=")
_BRACES = re.compile(r"\{([^{}]*)\}")
_SEPARATORS = " \t\r\n,;{}"

# Cell values that mean "no value" in the Duke table (TCIA's NA/NC/NP = not available /
# not collected / not pertinent), and Excel error values left by broken formulas.
MISSING_TOKENS = frozenset({"", "NA", "N/A", "NC", "NP", "NAN", "NONE", "NULL"})
_EXCEL_ERROR = re.compile(r"#(REF!|VALUE!|N/A|DIV/0!|NAME\?|NUM!|NULL!)")
# Legend labels that mean the value is not available (these codes decode to missing).
_MISSING_LABEL = re.compile(
    r"^(n/?a|nc|np)$|not applicable|not available|unavailable|not pertinent|not enough information",
    re.IGNORECASE,
)


def parse_legend(text: str | None) -> dict[str, str] | None:
    """Parse a legend into ``{code: label}``; ``None`` where the text defines no codes.

    Label=code legends are recognised when the whole text is a comma-separated list of
    ``label=integer`` items whose integers are distinct and either the labels are not all
    integers or the integers are exactly ``0..k-1`` (TCIA numbers technical categories
    that way, e.g. ``7=0,8=1,10=2,12=3`` for flip angles). Otherwise the text is read as
    code=label: each code token starts a label that runs to the next code token.

    >>> parse_legend("1.494=0,1.5=1,2.8936=2,3=3")
    {'0': '1.494', '1': '1.5', '2': '2.8936', '3': '3'}
    >>> parse_legend("{0 = luminal-like,\\n1 = ER/PR pos, HER2 pos,\\n2 = her2}")
    {'0': 'luminal-like', '1': 'ER/PR pos, HER2 pos', '2': 'her2'}
    """
    if text is None or not str(text).strip():
        return None
    text = str(text)
    block = _BRACES.search(text)
    body = block.group(1) if block else text
    right = _parse_label_equals_code(body)
    if right is not None:
        return right
    return _parse_code_equals_label(body)


def _parse_label_equals_code(body: str) -> dict[str, str] | None:
    stripped = body.strip()
    items = list(_RIGHT_ITEM.finditer(stripped))
    if not items or "".join(m.group(0) for m in items) != stripped:
        return None  # not entirely "label=int, label=int, ..."
    labels = [m.group(1).strip() for m in items]
    codes = [int(m.group(2)) for m in items]
    if len(set(codes)) != len(codes):
        return None
    labels_are_ints = all(re.fullmatch(r"-?\d+", lab) for lab in labels)
    if labels_are_ints and codes != list(range(len(codes))):
        return None  # e.g. "1=10,2=20": read it as code=label instead
    return {str(c): lab for c, lab in zip(codes, labels, strict=True)}


def _parse_code_equals_label(body: str) -> dict[str, str] | None:
    matches = list(_LEFT_CODE.finditer(body))
    if not matches:
        return None
    out: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(body)
        label = body[m.end() : end].strip(_SEPARATORS)
        code = m.group(1)
        if code in out and out[code] != label:
            raise ValueError(f"legend defines code {code!r} twice ({out[code]!r}, {label!r}): {body!r}")
        out[code] = label
    return out


def label_means_missing(label: str) -> bool:
    """True for legend labels such as ``N/A``, ``not applicable``, ``... unavailable``."""
    return bool(_MISSING_LABEL.search(label.strip()))


def code_key(value: Any) -> str | None:
    """Normalise a raw cell value to the legend's code spelling; ``None`` for a blank cell.

    ``1``, ``1.0`` and ``" 1"`` all give ``"1"``; other floats keep their repr.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    try:  # numpy scalars, pd.NA
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        return code_key(value.item())
    return str(value).strip()


def is_missing_token(value: Any) -> bool:
    """True for blank cells, NA/NC/NP/N/A and Excel error values such as ``=#REF!-#REF!``."""
    key = code_key(value)
    if key is None:
        return True
    return key.upper() in MISSING_TOKENS or bool(_EXCEL_ERROR.search(key))
