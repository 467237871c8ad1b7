"""Feature scan: which clinical columns can carry a spurious split of the requested sizes?

SpurBreast screened over 100 patient, device and protocol features and kept a
few. :func:`scan_features` does that screen for every patient-level column of a
slice table and every sensible two-group partition of its values:

- a column with 2..``max_values`` distinct values: every pair of values
  (A vs B) and, with more than two values, every value against the rest;
- a numeric column with more distinct values: a median split (<= m vs > m);
- anything else (identifiers, free text, constants) is listed as not splittable.

For each partition it reports the patients of each group, the share of missing
values, and the patients and tumour / non-tumour slices each (label x group)
cell can supply after the seeded test set is removed; a partition is
*feasible* at sizes (train, val) when both groups have at least the patients a
spurious split of correlation ``rho`` needs (the same count the split builder
checks: ceil(n/2) tumour patients and floor(n/2) non-tumour patients per split).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from breastlab.curate.cohort import Cohort, as_cohort
from breastlab.curate.features import canonical_array, display
from breastlab.curate.splits import SplitConfig, _rng, _side
from breastlab.errors import BreastlabInputError


@dataclasses.dataclass(frozen=True)
class _Partition:
    column: str
    kind: str
    a: np.ndarray  # patient mask
    b: np.ndarray
    name_a: str
    name_b: str
    values_a: str
    values_b: str


def parse_sizes(text: str | Sequence[int]) -> tuple[int, int]:
    """ "400/150" -> (400, 150): patients for train and validation."""
    if not isinstance(text, str):
        n_train, n_val = (int(x) for x in text)
        return n_train, n_val
    try:
        n_train, n_val = (int(x) for x in text.split("/"))
    except ValueError:
        raise BreastlabInputError(f"sizes {text!r}: write train/val patients, e.g. 400/150") from None
    return n_train, n_val


def scan_features(
    data: Cohort | pd.DataFrame | str | os.PathLike,
    sizes: Sequence[tuple[int, int] | str] = ((400, 150), (200, 100)),
    n_test: int = 150,
    rho: float = 1.0,
    seed: int = 0,
    columns: Sequence[str] | None = None,
    max_values: int = 12,
) -> pd.DataFrame:
    """One row per (column, two-group partition), sorted by feasibility (see module docstring)."""
    cohort = as_cohort(data)
    sizes = [parse_sizes(s) for s in sizes]
    if not sizes:
        raise BreastlabInputError("sizes: give at least one train/val size, e.g. 400/150")
    if n_test > len(cohort):
        raise BreastlabInputError(f"n_test={n_test}: the cohort has only {len(cohort)} patients")
    cfg = SplitConfig("scan", "baseline", 0, 0, n_test=n_test, seed=seed)
    in_test = np.zeros(len(cohort), bool)
    in_test[_rng(cfg, "test").permutation(len(cohort))[:n_test]] = True
    cols = list(columns) if columns else cohort.clinical_columns()
    recs = []
    for col in cols:
        try:
            values = cohort.patient_values(col)
        except BreastlabInputError as exc:
            if columns:
                raise
            recs.append(_unsplittable(col, str(exc), sizes))
            continue
        parts, why = _partitions(col, values, max_values)
        missing = float(values.isna().mean())
        if not parts:
            recs.append(_unsplittable(col, why, sizes, missing))
        for p in parts:
            recs.append(_evaluate(cohort, p, in_test, sizes, rho, missing))
    df = pd.DataFrame(recs)
    counts = [
        c for c in df.columns if c.startswith(("patients_", "eligible_", "tumour_slices", "nontumour_slices", "need_"))
    ]
    df[counts] = df[counts].astype("Int64")  # unsplittable columns have no counts
    feas = [f"feasible_{t}_{v}" for t, v in sizes]
    df["n_feasible"] = df[feas].sum(axis=1)
    df = df.sort_values(["n_feasible", "headroom"], ascending=[False, False], kind="stable", na_position="last")
    return df.reset_index(drop=True)


def _partitions(col: str, values: pd.Series, max_values: int) -> tuple[list[_Partition], str]:
    canon = canonical_array(values)
    present = pd.Series(canon).dropna()
    uniq = list(pd.unique(present))
    if len(uniq) < 2:
        return [], "fewer than two distinct values"
    shown = {}
    for raw, c in zip(values, canon, strict=True):
        if c is not None and c not in shown:
            shown[c] = display(raw)
    numeric = pd.to_numeric(values, errors="coerce").astype(float)
    is_numeric = numeric.notna().sum() == values.notna().sum()
    out: list[_Partition] = []
    if len(uniq) > max_values:
        if not is_numeric:
            return [], f"{len(uniq)} distinct values: not a two-group feature (identifier or free text?)"
        med = float(numeric.median())
        a = (numeric <= med).to_numpy(bool)  # NaN compares False: missing values are in neither group
        b = (numeric > med).to_numpy(bool)
        if not a.any() or not b.any():
            return [], "median split leaves one group empty"
        return [
            _Partition(
                col,
                "median",
                a,
                b,
                f"<={med:g}",
                f">{med:g}",
                ",".join(sorted({shown[c] for c, m in zip(canon, a, strict=True) if m})),
                ",".join(sorted({shown[c] for c, m in zip(canon, b, strict=True) if m})),
            )
        ], ""
    order = sorted(uniq, key=lambda c: (-int((canon == c).sum()), c))
    masks = {c: canon == c for c in order}
    for i, ca in enumerate(order):
        for cb in order[i + 1 :]:
            out.append(_Partition(col, "pair", masks[ca], masks[cb], shown[ca], shown[cb], shown[ca], shown[cb]))
    if len(order) > 2:
        for ca in order:
            rest = [c for c in order if c != ca]
            b = np.logical_or.reduce([masks[c] for c in rest])
            out.append(
                _Partition(
                    col,
                    "one-vs-rest",
                    masks[ca],
                    b,
                    shown[ca],
                    f"not {shown[ca]}",
                    shown[ca],
                    ",".join(shown[c] for c in rest),
                )
            )
    return out, ""


def _evaluate(
    cohort: Cohort, p: _Partition, in_test: np.ndarray, sizes: list[tuple[int, int]], rho: float, missing: float
) -> dict:
    ea, eb = p.a & ~in_test, p.b & ~in_test
    rec = {
        "column": p.column,
        "partition": p.kind,
        "group_a": p.name_a,
        "group_b": p.name_b,
        "patients_a": int(p.a.sum()),
        "patients_b": int(p.b.sum()),
        "missing_share": missing,
        "eligible_a": int(ea.sum()),
        "eligible_b": int(eb.sum()),
        "tumour_slices_a": int(cohort.n_pos[ea].sum()),
        "tumour_slices_b": int(cohort.n_pos[eb].sum()),
        "nontumour_slices_a": int(cohort.n_neg[ea].sum()),
        "nontumour_slices_b": int(cohort.n_neg[eb].sum()),
    }
    reasons, head = [], []
    for n_train, n_val in sizes:
        need_a = need_b = 0
        for n in (n_train, n_val):
            pos_a, pos_b, neg_b, neg_a = _side(n, rho)
            need_a += pos_a + neg_a
            need_b += pos_b + neg_b
        ok = rec["eligible_a"] >= need_a and rec["eligible_b"] >= need_b
        rec[f"need_a_{n_train}_{n_val}"] = need_a
        rec[f"need_b_{n_train}_{n_val}"] = need_b
        rec[f"feasible_{n_train}_{n_val}"] = bool(ok)
        head.append(min(rec["eligible_a"] / max(need_a, 1), rec["eligible_b"] / max(need_b, 1)))
        if not ok:
            short = [(p.name_a, rec["eligible_a"], need_a), (p.name_b, rec["eligible_b"], need_b)]
            txt = "; ".join(
                f"{p.column}={name} has {have} eligible patients; {need} requested"
                for name, have, need in short
                if have < need
            )
            reasons.append(f"{n_train}/{n_val}: {txt}")
    rec["headroom"] = float(head[0])
    rec["reason"] = " | ".join(reasons) if reasons else "feasible at all sizes"
    rec["values_a"], rec["values_b"] = p.values_a, p.values_b
    return rec


def _unsplittable(col: str, why: str, sizes: list[tuple[int, int]], missing: float = float("nan")) -> dict:
    rec = {
        "column": col,
        "partition": "none",
        "group_a": "",
        "group_b": "",
        "missing_share": missing,
        "headroom": float("nan"),
        "reason": why,
    }
    for n_train, n_val in sizes:
        rec[f"feasible_{n_train}_{n_val}"] = False
    return rec


def scan_table(scan: pd.DataFrame, top: int | None = 40) -> pd.DataFrame:
    """Readable columns of a scan, for the terminal: the partition, its feasibility, then the counts
    behind it (a narrow screen shows the first ones; see :func:`breastlab._table.fit_columns`)."""
    feas = [c for c in scan.columns if c.startswith("feasible_")]
    cols = [
        "column",
        "group_a",
        "group_b",
        *feas,
        "headroom",
        "eligible_a",
        "eligible_b",
        "patients_a",
        "patients_b",
        "missing_share",
        "tumour_slices_a",
        "nontumour_slices_b",
        "reason",
    ]
    out = scan[[c for c in cols if c in scan.columns]]
    return out.head(top) if top else out
