"""Result tables from columns of a data frame (what ``breastlab stats ...`` prints and writes).

Each function takes a table and column names, validates that the columns exist
(BreastlabInputError naming the column otherwise) and returns a DataFrame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from breastlab.errors import BreastlabInputError


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise BreastlabInputError(f"{path}: no such CSV file")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BreastlabInputError(f"{path}: not a readable CSV ({exc})") from None


def column(df: pd.DataFrame, name: str, argument: str = "column"):
    if name not in df.columns:
        raise BreastlabInputError(f"{argument} {name!r} is not a column of the table (columns: {list(df.columns)})")
    return df[name].to_numpy()


def auc_table(
    df,
    truth: str,
    scores: Sequence[str],
    direction: str = "<",
    conf_level: float = 0.95,
    method: str = "delong",
    n_boot: int = 2000,
    seed: int = 0,
    cluster: str | None = None,
) -> pd.DataFrame:
    from breastlab.evaluate.stats.delong import ci_auc

    y = column(df, truth, "--truth")
    cl = None if cluster is None else column(df, cluster, "--cluster")
    rows = []
    for s in scores:
        ci = ci_auc(
            y,
            column(df, s, "--score"),
            conf_level=conf_level,
            method=method,
            direction=direction,
            n_boot=n_boot,
            seed=seed,
            cluster=cl,
        )
        rows.append(
            {
                "score": s,
                "n_pos": ci.n_positive,
                "n_neg": ci.n_negative,
                "auc": ci.auc,
                "lower": ci.lower,
                "upper": ci.upper,
                "se": ci.se,
                "p_vs_0.5": ci.p_value,
                "method": method,
            }
        )
    return pd.DataFrame(rows)


def delong_table(
    df,
    truth: str,
    scores: Sequence[str],
    by: str | None = None,
    direction: str = "<",
    alternative: str = "two-sided",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Paired test of two score columns, or (``by``) unpaired test of one score between two groups."""
    from breastlab.evaluate.stats.delong import delong_test

    if by is None:
        if len(scores) != 2:
            raise BreastlabInputError(f"a paired DeLong test needs exactly two --score columns, got {list(scores)}")
        t = delong_test(
            column(df, truth, "--truth"),
            column(df, scores[0], "--score"),
            column(df, scores[1], "--score"),
            alternative=alternative,
            conf_level=conf_level,
            direction=direction,
        )
        label = f"{scores[0]} vs {scores[1]}"
    else:
        if len(scores) != 1:
            raise BreastlabInputError(f"an unpaired test (--by) takes one --score column, got {list(scores)}")
        groups = pd.Series(column(df, by, "--by"))
        levels = list(dict.fromkeys(groups.dropna()))
        if len(levels) != 2:
            raise BreastlabInputError(f"--by column {by!r} must hold exactly two groups, found {levels[:10]}")
        a, b = (groups == levels[0]).to_numpy(), (groups == levels[1]).to_numpy()
        y, s = column(df, truth, "--truth"), column(df, scores[0], "--score")
        t = delong_test(
            y[a], s[a], s[b], y_true2=y[b], alternative=alternative, conf_level=conf_level, direction=direction
        )
        label = f"{scores[0]}: {by}={levels[0]} vs {by}={levels[1]}"
    return pd.DataFrame([{"comparison": label, **t.to_dict()}])


def bootstrap_table(
    df,
    truth: str,
    score: str | None,
    metrics: Sequence[str],
    pred: str | None = None,
    threshold: float | None = None,
    cluster: str | None = None,
    n_boot: int = 2000,
    conf_level: float = 0.95,
    stratified: bool = True,
    seed: int = 0,
    direction: str = "<",
) -> pd.DataFrame:
    from breastlab.evaluate.stats.bootstrap import bootstrap_metrics

    res = bootstrap_metrics(
        column(df, truth, "--truth"),
        y_score=None if score is None else column(df, score, "--score"),
        y_pred=None if pred is None else column(df, pred, "--pred"),
        metrics=list(metrics),
        threshold=threshold,
        direction=direction,
        n_boot=n_boot,
        conf_level=conf_level,
        stratified=stratified,
        cluster=None if cluster is None else column(df, cluster, "--cluster"),
        seed=seed,
    )
    return pd.DataFrame([r.to_dict() for r in res.values()])


def youden_table(df, truth: str, score: str, direction: str = "<") -> pd.DataFrame:
    from breastlab.evaluate.stats.operating import coords_best

    best = coords_best(column(df, truth, "--truth"), column(df, score, "--score"), direction=direction)
    best.insert(0, "score", score)
    best["youden_index"] = best.pop("youden") - 1.0
    return best


def kappa_table(df, rater1: str, rater2: str, weights: str | None = None, conf_level: float = 0.95) -> pd.DataFrame:
    from breastlab.evaluate.stats.agreement import cohen_kappa

    k = cohen_kappa(
        column(df, rater1, "--rater1"), column(df, rater2, "--rater2"), weights=weights, conf_level=conf_level
    )
    return pd.DataFrame([{"rater1": rater1, "rater2": rater2, **k.to_dict()}])


def wilcoxon_table(df, x: str, y: str, alternative: str = "two-sided") -> pd.DataFrame:
    from breastlab.evaluate.stats.paired import shapiro_wilk, wilcoxon_signed_rank

    xa, ya = column(df, x, "--x"), column(df, y, "--y")
    w = wilcoxon_signed_rank(xa, ya, alternative=alternative)
    row = {"x": x, "y": y, **w.to_dict()}
    if w.n >= 3:
        sw = shapiro_wilk(xa.astype(float) - ya.astype(float))
        row.update({"shapiro_w_diff": sw.statistic, "shapiro_p_diff": sw.p_value})
    return pd.DataFrame([row])
