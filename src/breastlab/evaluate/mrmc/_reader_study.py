"""One-table OR-Hillis summary of a reader study (e.g. unaided vs aided), per reader group and overall.

Used by ``breastlab.evaluate.stats.reader_study`` to fill ``ReaderStudyResult.mrmc``;
usable on its own for any long table.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from breastlab._table import format_ci
from breastlab.errors import BreastlabInputError
from breastlab.evaluate.mrmc._analysis import or_hillis

MRMC_TABLE_COLUMNS = [
    "readers",
    "n_readers",
    "first",
    "second",
    "auc_first",
    "auc_first_lower",
    "auc_first_upper",
    "auc_first_ci",
    "auc_second",
    "auc_second_lower",
    "auc_second_upper",
    "auc_second_ci",
    "difference",
    "diff_lower",
    "diff_upper",
    "diff_ci",
    "F",
    "df1",
    "df2",
    "p_value",
    "p_fixed_readers",
    "covariance",
    "note",
]
#: the columns worth printing (the CSV keeps all of them)
MRMC_DISPLAY_COLUMNS = [
    "readers",
    "n_readers",
    "first",
    "second",
    "auc_first_ci",
    "auc_second_ci",
    "diff_ci",
    "F",
    "df2",
    "p_value",
    "p_fixed_readers",
    "note",
]


def _ci(est: float, lo: float, hi: float) -> str:
    return format_ci(est, lo, hi)


def or_hillis_table(
    data: pd.DataFrame,
    *,
    treatments: Sequence[str] = ("unaided", "aided"),
    group: str | None = "reader_group",
    reader: str = "reader",
    treatment: str = "condition",
    case: str = "case_id",
    truth: str = "truth",
    rating: str = "score",
    cov: str = "delong",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """OR-Hillis random-reader random-case comparison of two treatments: one row per reader group and overall.

    ``treatments`` = (first, second); the difference is first minus second.
    Columns :data:`MRMC_TABLE_COLUMNS`: reader-averaged AUCs with
    single-treatment Hillis CIs, the difference with its CI, Hillis F(df1, df2)
    and p, and the fixed-reader p-value. A group with one reader gets only the
    fixed-reader p-value; a subset that is not fully crossed gets a ``note``
    instead of numbers.
    """
    if len(treatments) != 2:
        raise BreastlabInputError(f"or_hillis_table compares two treatments, got {list(treatments)}")
    first, second = (str(t) for t in treatments)
    data = data[data[treatment].astype(str).isin([first, second])]
    subsets: list[tuple[str, pd.DataFrame]] = []
    if group is not None and group in data.columns:
        subsets = [(str(g), sub) for g, sub in data.groupby(group, sort=False)]
    if len(subsets) != 1:
        subsets.append(("all readers", data))
    rows = []
    for label, sub in subsets:
        row = {
            "readers": label,
            "n_readers": sub[reader].nunique(),
            "first": first,
            "second": second,
            "covariance": cov,
            "note": "",
        }
        try:
            res = or_hillis(
                sub,
                reader=reader,
                treatment=treatment,
                case=case,
                truth=truth,
                rating=rating,
                treatments=[first, second],
                cov=cov,
                alpha=alpha,
            )
        except BreastlabInputError as exc:
            rows.append({**row, "note": str(exc)})
            continue
        row["p_fixed_readers"] = res.fixed_readers_differences.p_value.iloc[0]
        if res.test is None:
            mi = res.foms.mean(axis=1)
            rows.append(
                {
                    **row,
                    "auc_first": mi[0],
                    "auc_second": mi[1],
                    "difference": mi[0] - mi[1],
                    "note": "one reader: fixed-reader p only",
                }
            )
            continue
        trt, diff = res.treatment_foms, res.differences.iloc[0]
        for k, name in enumerate(("auc_first", "auc_second")):
            row[name], row[f"{name}_lower"], row[f"{name}_upper"] = trt.iloc[k][["estimate", "ci_lower", "ci_upper"]]
        row.update(
            difference=diff.estimate,
            diff_lower=diff.ci_lower,
            diff_upper=diff.ci_upper,
            F=res.test.statistic,
            df1=res.test.df1,
            df2=res.test.df2,
            p_value=res.test.p_value,
        )
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=MRMC_TABLE_COLUMNS)
    for name in ("auc_first", "auc_second"):
        table[f"{name}_ci"] = [_ci(*v) for v in table[[name, f"{name}_lower", f"{name}_upper"]].to_numpy(float)]
    table["diff_ci"] = [_ci(*v) for v in table[["difference", "diff_lower", "diff_upper"]].to_numpy(float)]
    return table.astype({"n_readers": int})
