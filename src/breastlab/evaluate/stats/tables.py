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
    *,
    partial=None,
    focus: str = "specificity",
    correct: bool = False,
    smooth: str | None = None,
    var_method: str | None = None,
    best_method: str | None = None,
    best_weights=(1.0, 0.5),
) -> pd.DataFrame:
    """One row per score: AUC with CI, and on request the partial AUC (bootstrap CI),
    the smoothed AUC (with its bootstrap CI where ``method="bootstrap"``), the AUC
    variance by ``var_method`` and the best threshold."""
    from breastlab.evaluate.stats.delong import ci_auc

    y = column(df, truth, "--truth")
    cl = None if cluster is None else column(df, cluster, "--patient")
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
                **_auc_extras(
                    y,
                    column(df, s, "--score"),
                    direction,
                    conf_level,
                    n_boot,
                    seed,
                    partial,
                    focus,
                    correct,
                    smooth,
                    var_method,
                    best_method,
                    best_weights,
                ),
            }
        )
        if smooth is not None and method == "bootstrap":
            sc = ci_auc(
                y,
                column(df, s, "--score"),
                conf_level,
                "bootstrap",
                direction,
                n_boot=n_boot,
                seed=seed,
                cluster=cl,
                smooth=smooth,
            )
            rows[-1].update({f"auc_{smooth}_lower": sc.lower, f"auc_{smooth}_upper": sc.upper})
    return pd.DataFrame(rows)


def _auc_extras(
    y, s, direction, conf_level, n_boot, seed, partial, focus, correct, smooth, var_method, best_method, best_weights
) -> dict:
    from breastlab.evaluate.stats.coords import best_threshold
    from breastlab.evaluate.stats.delong import ci_auc, var_auc
    from breastlab.evaluate.stats.smooth import smooth_roc

    out: dict = {}
    if partial is not None:
        lo, hi = sorted(partial)
        pc = ci_auc(
            y,
            s,
            conf_level,
            "bootstrap",
            direction,
            n_boot=n_boot,
            seed=seed,
            partial=partial,
            focus=focus,
            correct=correct,
        )
        out.update(
            {
                "partial_range": f"{focus} {lo:g}-{hi:g}",
                "partial_auc" + ("_mcclish" if correct else ""): pc.auc,
                "partial_lower": pc.lower,
                "partial_upper": pc.upper,
            }
        )
    if smooth is not None:
        sm = smooth_roc(y, s, smooth, direction=direction)
        out[f"auc_{smooth}"] = sm.auc
        if partial is not None:
            out[f"partial_auc_{smooth}"] = sm.partial_auc(partial, focus, correct)
    if var_method is not None:
        out[f"var_{var_method}"] = var_auc(
            y,
            s,
            direction,
            var_method,
            n_boot=n_boot,
            seed=seed,
            **({"partial": partial, "focus": focus, "correct": correct} if var_method == "bootstrap" else {}),
        )
    if best_method is not None:
        best = best_threshold(y, s, best_method, best_weights, direction)
        row = best.loc[best["sensitivity"].idxmax()]  # ties: the most sensitive, as youden() does
        out.update(
            {
                f"{best_method}_threshold": float(row["threshold"]),
                f"{best_method}_sensitivity": float(row["sensitivity"]),
                f"{best_method}_specificity": float(row["specificity"]),
                f"{best_method}_tied": len(best),
            }
        )
    return out


def roc_test_table(
    df,
    truth: str,
    scores: Sequence[str],
    method: str = "delong",
    by: str | None = None,
    **kwargs,
) -> pd.DataFrame:
    """``roc_test`` of two score columns (paired) or of one score between the two groups of ``by`` (unpaired)."""
    from breastlab.evaluate.stats.roc_test import roc_test

    y = column(df, truth, "--truth")
    if by is None:
        if len(scores) != 2:
            raise BreastlabInputError(f"roc-test compares exactly two --score columns, got {list(scores)}")
        t = roc_test(y, column(df, scores[0], "--score"), column(df, scores[1], "--score"), method=method, **kwargs)
        label = f"{scores[0]} - {scores[1]}"
    else:
        if len(scores) != 1:
            raise BreastlabInputError(f"an unpaired roc-test (--by) takes one --score column, got {list(scores)}")
        groups = pd.Series(column(df, by, "--by"))
        levels = list(dict.fromkeys(groups.dropna()))
        if len(levels) != 2:
            raise BreastlabInputError(f"--by column {by!r} must hold exactly two groups, found {levels[:10]}")
        a, b = (groups == levels[0]).to_numpy(), (groups == levels[1]).to_numpy()
        sc = column(df, scores[0], "--score")
        t = roc_test(y[a], sc[a], sc[b], y_true2=y[b], method=method, **kwargs)
        label = f"{scores[0]}: {by}={levels[0]} - {by}={levels[1]}"
    return pd.DataFrame([{"comparison": label, **t.to_dict()}])


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
        cluster=None if cluster is None else column(df, cluster, "--patient"),
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


def power_table(
    auc: float | None = None,
    ncases: float | None = None,
    ncontrols: float | None = None,
    kappa: float | None = None,
    power: float | None = None,
    sig_level: float | None = 0.05,
    alternative: str = "two-sided",
    binormal: Sequence[float] | None = None,
    pilot: pd.DataFrame | None = None,
    truth: str | None = None,
    scores: Sequence[str] | None = None,
    direction: str = "<",
    method: str = "delong",
) -> pd.DataFrame:
    """One row: power, number of cases, detectable AUC or (``sig_level=None``) significance level, whichever
    is missing; see ``stats.power``."""
    from breastlab.evaluate.stats import power as pw

    if pilot is not None:
        if truth is None or not scores or len(scores) > 2:
            raise BreastlabInputError("--pilot needs --truth and one or two --score columns")
        y = column(pilot, truth, "--truth")
        if len(scores) == 1:
            res = pw.power_one_pilot(
                y, column(pilot, scores[0], "--score"), power, sig_level, kappa, alternative, direction
            )
        else:
            res = pw.power_two_pilot(
                y,
                column(pilot, scores[0], "--score"),
                column(pilot, scores[1], "--score"),
                power,
                sig_level,
                kappa,
                alternative,
                direction,
                method,
            )
    elif binormal is not None:
        if len(binormal) != 7:
            raise BreastlabInputError(f"--binormal takes 7 numbers A1 B1 A2 B2 RN RA DELTA, got {list(binormal)}")
        a1, b1, a2, b2, rn, ra, delta = binormal
        res = pw.power_two_binormal(
            a1,
            b1,
            a2,
            b2,
            rn,
            ra,
            delta,
            ncases,
            ncontrols,
            power,
            1.0 if kappa is None else kappa,
            sig_level,
            alternative,
        )
    else:
        res = pw.power_one_curve(auc, ncases, ncontrols, power, 1.0 if kappa is None else kappa, sig_level, alternative)
    return pd.DataFrame([{k: v for k, v in res.to_dict().items() if v is not None}])
