"""What a spurious feature is: two groups of a clinical column, or an image transform.

A *clinical* feature is a patient-level column of the slice table (e.g.
``field_strength_t``) with two disjoint groups of values A and B; each group is
one value or a set of values (``GroupSpec("surgery_type", ["BCS"], ["mastectomy"])``).
An *image-transform* feature is a named pixel operation (e.g. ``"vflip"``) that
is applied at load time to the rows whose manifest ``transform`` column names
it; the array store is never modified. The transforms live in :mod:`breastlab.transforms`
(new ones are added with :func:`breastlab.transforms.register_transform`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import pandas as pd

from breastlab.errors import BreastlabInputError


# ----------------------------------------------------------------------------- value matching
def canonical(value: object) -> str | None:
    """Canonical string of a table value, so that 3, 3.0 and "3" all match.

    Numbers become ``format(float(v), "g")``-style text without a trailing
    ".0"; strings are stripped and case-folded; missing values give None.
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).casefold()
    if isinstance(value, int | float | np.integer | np.floating):
        return repr(float(value)).removesuffix(".0")
    text = str(value).strip()
    try:
        return repr(float(text)).removesuffix(".0")
    except ValueError:
        return text.casefold()


def display(value: object) -> str:
    """Readable text of a value for the manifest's ``attribute`` column ("1.5", "3.0", "white")."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return str(float(value))
    return str(value)


def canonical_array(values: pd.Series | np.ndarray) -> np.ndarray:
    """:func:`canonical` of every value (object array, None for missing)."""
    s = pd.Series(values)
    uniq = pd.unique(s.astype(object))
    table = {u: canonical(u) for u in uniq if not _is_na(u)}
    return np.array([None if _is_na(v) else table[v] for v in s.astype(object)], dtype=object)


def _is_na(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


# ----------------------------------------------------------------------------- clinical groups
@dataclasses.dataclass(frozen=True)
class GroupSpec:
    """Two disjoint groups of values of one patient-level column.

    ``a`` is associated with the tumour class in a spurious split, ``b`` with the
    non-tumour class. ``names`` label the groups in the manifest's ``attribute``
    column; by default the matched values themselves ("1.5", "3.0"), joined with
    "+" for a set of values.
    """

    column: str
    a: tuple[str, ...]
    b: tuple[str, ...]
    names: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        a = tuple(_tokens(self.a))
        b = tuple(_tokens(self.b))
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        if not a or not b:
            raise BreastlabInputError(f"{self.column}: both groups need at least one value (got A={a}, B={b})")
        overlap = {canonical(v) for v in a} & {canonical(v) for v in b}
        if overlap:
            raise BreastlabInputError(
                f"{self.column}: values {sorted(overlap)} are in both groups; groups A and B must be disjoint"
            )

    def to_dict(self) -> dict:
        return {
            "column": self.column,
            "a": list(self.a),
            "b": list(self.b),
            "names": list(self.names) if self.names else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> GroupSpec:
        return cls(d["column"], tuple(d["a"]), tuple(d["b"]), tuple(d["names"]) if d.get("names") else None)


def _tokens(values: Iterable[object] | str) -> list[str]:
    """Group values as text; a string may list several values separated by commas."""
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        parts = str(v).split(",") if isinstance(v, str) else [display(v)]
        out.extend(p.strip() for p in parts if p.strip())
    return out


def assign_groups(patient_values: pd.Series, spec: GroupSpec) -> tuple[np.ndarray, tuple[str, str]]:
    """Group code per patient (0 = A, 1 = B, -1 = neither or missing) and the two group names.

    Raises :class:`BreastlabInputError` when a group matches no patient, naming
    the values that are present with their patient counts.
    """
    canon = canonical_array(patient_values)
    code = np.full(len(canon), -1, dtype=np.int8)
    want_a = {canonical(v) for v in spec.a}
    want_b = {canonical(v) for v in spec.b}
    in_a = np.array([c in want_a for c in canon], dtype=bool)
    in_b = np.array([c in want_b for c in canon], dtype=bool)
    code[in_a] = 0
    code[in_b] = 1
    for label, mask, want in (("A", in_a, spec.a), ("B", in_b, spec.b)):
        if not mask.any():
            raise BreastlabInputError(
                f"{spec.column}={'+'.join(want)} (group {label}) matches no patient; "
                f"values present: {value_counts_text(patient_values)}"
            )
    names = spec.names or (_group_name(patient_values[in_a]), _group_name(patient_values[in_b]))
    return code, (str(names[0]), str(names[1]))


def _group_name(values: pd.Series) -> str:
    shown = sorted({display(v) for v in pd.unique(values.dropna())}, key=_sort_key)
    return "+".join(shown)


def _sort_key(text: str) -> tuple:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def value_counts_text(values: pd.Series, limit: int = 12) -> str:
    """ "1.5 (468), 3.0 (453), 2.8936 (1)": the values of a column with patient counts."""
    vc = pd.Series(values).dropna().map(display).value_counts()
    text = ", ".join(f"{k} ({v})" for k, v in vc.head(limit).items())
    if len(vc) > limit:
        text += f", ... ({len(vc) - limit} more)"
    n_missing = int(pd.Series(values).isna().sum())
    if n_missing:
        text += f"; missing ({n_missing})"
    return text or "none (all missing)"
