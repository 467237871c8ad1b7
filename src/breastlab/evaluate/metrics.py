"""SpurBreast's Table 2 and the shortcut figures, from a run's predictions.

Input: a run's predictions table (``RUN/predictions.parquet``, :data:`breastlab.schemas.RUN`) with one row
per image and columns ``image_id``, ``patient_id``, ``split``, ``label`` (0/1),
``group`` ("<label>|<attribute>"), ``attribute``, ``score`` (probability of
tumour) and ``pred`` (0/1). Any other model's predictions (a CSV or Parquet file naming its truth, score,
patient and optional split and attribute columns) are mapped onto that table by
:func:`predictions_from_table` and evaluated by the same code (:func:`evaluate_predictions_file`).

Figures (per split; TP, FP, TN, FN counted over images)::

    accuracy    = (TP + TN) / n        sensitivity = TP / (TP + FN)
    PPV         = TP / (TP + FP)       specificity = TN / (TN + FP)
    NPV         = TN / (TN + FN)       AUC = P(score_pos > score_neg) + P(=) / 2

Confidence intervals (default 95 %) are percentile intervals of a *cluster*
bootstrap that resamples patients with replacement, taking all slices of a
drawn patient (slices of one patient are not independent; Field & Welsh 2007,
"Bootstrapping clustered data", JRSS B 69:369-390). The split figures use the
statistics package's ``bootstrap_metrics(..., cluster=patient_id)``; group,
shortcut and gap figures are weighted statistics under the same package's
patient draws (a replicate = case weights = how often each patient was drawn).

Group figures: for each split and group (label x attribute) the accuracy, its CI
and the confusion counts; the worst-group accuracy is the minimum over groups
(Sagawa et al. 2020, "Distributionally robust neural networks", ICLR).

The shortcut: an attribute-only rule ``predict tumour iff attribute in A`` where
``A`` holds the attribute values whose training images are mostly tumour
(P(label = 1 | attribute) > 1/2 on the train split, i.e. what a model learning
only the attribute would learn). On each split we report the rule's accuracy
against the truth, its agreement with the model's predictions (share and Cohen's
kappa), and how much of the model's predictions *any* attribute-only rule can
explain (``sum_v max(#pred=1, #pred=0 | attribute = v) / n``). A model that uses the
shortcut agrees with the rule almost perfectly while its accuracy drops once
the attribute-label correlation changes (validation -> test).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breastlab._io import read_table, read_user_table, record_path, recorded_path, write_json, write_table
from breastlab._table import format_ci
from breastlab.errors import BreastlabInputError
from breastlab.schemas import EVALUATION, RUN, run_config

#: The figures of one split, in this order (Table 2 has the first three).
METRICS = ("accuracy", "ppv", "npv", "sensitivity", "specificity", "auc")
METRIC_LABELS = {
    "accuracy": "Acc",
    "ppv": "PPV",
    "npv": "NPV",
    "sensitivity": "Sens",
    "specificity": "Spec",
    "auc": "AUC",
}
SPLIT_ORDER = ("train", "val", "test", "tune")
SPLIT_LABELS = {"train": "Train", "val": "Validation", "test": "Test", "tune": "Tune"}
PREDICTION_COLUMNS = ("image_id", "patient_id", "split", "label", "group", "attribute", "score", "pred")


# --------------------------------------------------------------------------- point estimates
def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, int]:
    """TP, FP, TN, FN of 0/1 arrays."""
    y_true = np.asarray(y_true).astype(bool)
    y_pred = np.asarray(y_pred).astype(bool)
    return {
        "tp": int(np.sum(y_true & y_pred)),
        "fp": int(np.sum(~y_true & y_pred)),
        "tn": int(np.sum(~y_true & ~y_pred)),
        "fn": int(np.sum(y_true & ~y_pred)),
    }


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC through the stats package (nan when a class has fewer than 2 images)."""
    y = np.asarray(y_true).astype(bool)
    if min(y.sum(), (~y).sum()) < 2:
        return float("nan")
    from breastlab.evaluate.stats import auc

    return float(auc(y, score))


def split_figures(y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray | None = None) -> np.ndarray:
    """The :data:`METRICS` of one set of images as a float array (nan when undefined)."""
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    tp, fp = np.sum(y & p), np.sum(~y & p)
    tn, fn = np.sum(~y & ~p), np.sum(y & ~p)
    figs = [
        _div(tp + tn, tp + fp + tn + fn),
        _div(tp, tp + fp),
        _div(tn, tn + fn),
        _div(tp, tp + fn),
        _div(tn, tn + fp),
    ]
    auc = _auc(y, np.asarray(score, dtype=np.float64)) if score is not None else np.nan
    return np.array([*map(float, figs), auc])


def binary_metrics(y_true, y_pred, score=None) -> dict[str, float]:
    """Point estimates of :data:`METRICS` plus the confusion counts (plain dict)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise BreastlabInputError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be 1-D of equal length")
    return {**dict(zip(METRICS, split_figures(y_true, y_pred, score), strict=True)), **confusion_counts(y_true, y_pred)}


# --------------------------------------------------------------------------- bootstrap (stats package)
def _nan_ci(k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(k, np.nan), np.full(k, np.nan)


def split_ci(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    score: np.ndarray,
    cluster: np.ndarray,
    n_boot: int,
    seed: int,
    level: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the :data:`METRICS` of one split: the stats package's clustered ``bootstrap_metrics``.

    nan where no interval exists (n_boot = 0, a class with < 2 images, a single patient).
    """
    if n_boot == 0 or len(np.unique(cluster)) < 2 or min(np.sum(y_true == 1), np.sum(y_true == 0)) < 2:
        return _nan_ci(len(METRICS))
    import warnings

    from breastlab.evaluate.stats import bootstrap_metrics

    with warnings.catch_warnings():  # degenerate replicates are expected on small sets (e.g. PPV undefined)
        warnings.simplefilter("ignore")
        res = bootstrap_metrics(
            y_true,
            y_score=score,
            y_pred=y_pred,
            metrics=list(METRICS),
            n_boot=n_boot,
            conf_level=level,
            cluster=cluster,
            seed=seed,
        )
    return np.array([res[m].lower for m in METRICS]), np.array([res[m].upper for m in METRICS])


def _replicate_weights(cluster: np.ndarray, n_boot: int, seed: int):
    """Case-weight matrices of a patient-level bootstrap (the stats package's draw)."""
    from breastlab.evaluate.stats.bootstrap import cluster_bootstrap_weights

    return cluster_bootstrap_weights(cluster, n_boot, seed)


def weighted_ci(
    statistic: Callable[..., np.ndarray],
    arrays: Sequence[np.ndarray],
    cluster: np.ndarray,
    n_boot: int,
    seed: int,
    level: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, low, high) of a weighted ``statistic(w, *arrays) -> (b, k)`` under the patient bootstrap.

    ``w`` holds one row of case weights per replicate (all ones for the estimate).
    Percentile interval over the replicates where the statistic is defined
    (quantiles with linear interpolation, as the stats package and R's type 7).
    """
    n = len(cluster)
    estimate = np.asarray(statistic(np.ones((1, n)), *arrays), dtype=np.float64)[0]
    if n_boot == 0 or len(np.unique(cluster)) < 2:
        return (estimate, *_nan_ci(len(estimate)))
    reps = np.concatenate([statistic(w, *arrays) for w in _replicate_weights(cluster, n_boot, seed)])
    low, high = _nan_ci(len(estimate))
    a = (1 - level) / 2
    for j in range(len(estimate)):
        valid = reps[:, j][np.isfinite(reps[:, j])]
        if valid.size:
            low[j], high[j] = np.quantile(valid, [a, 1 - a])
    return estimate, low, high


def _wmean(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Weighted mean of ``x`` under each row of ``w`` (nan for zero total weight)."""
    return _div(w @ x.astype(np.float64), w.sum(axis=1))


# --------------------------------------------------------------------------- validation
def _binary_values(values: pd.Series, source: str, what: str) -> pd.Series:
    """``values`` as int64 0/1, or an error naming ``source`` and ``what`` (e.g. "column 'label'")."""
    nums = pd.to_numeric(values, errors="coerce")
    if nums.isna().any() or not set(nums.unique()) <= {0, 1}:
        bad = sorted(map(str, set(values[nums.isna() | ~nums.isin([0, 1])].unique())))[:5]
        raise BreastlabInputError(f"{source}: {what} must hold only 0 and 1 (found {bad})")
    return nums.astype(np.int64)


def _score_values(values: pd.Series, source: str, what: str) -> pd.Series:
    """``values`` as finite float64, or an error naming the first bad row."""
    nums = pd.to_numeric(values, errors="coerce").astype(np.float64)
    bad = ~np.isfinite(nums.to_numpy())
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise BreastlabInputError(
            f"{source}: {what} must hold finite numbers; {int(bad.sum())} rows do not "
            f"(first: data row {row + 1}, value {values.iloc[row]!r})"
        )
    return nums


def check_predictions(df: pd.DataFrame, source: str = "predictions") -> pd.DataFrame:
    """Validate a run's predictions table (columns: :data:`PREDICTION_COLUMNS`) and return a clean copy."""
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise BreastlabInputError(
            f"{source}: missing columns {missing}; a predictions table needs {list(PREDICTION_COLUMNS)}"
        )
    out = df.copy()
    for col in ("label", "pred"):
        out[col] = _binary_values(out[col], source, f"column {col!r}")
    out["score"] = _score_values(out["score"], source, "column 'score'")
    for col in ("split", "group", "attribute", "patient_id", "image_id"):
        out[col] = out[col].astype(str)
    if out.empty:
        raise BreastlabInputError(f"{source}: no rows")
    return out


def _splits(df: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(df["split"]))
    return [s for s in SPLIT_ORDER if s in present] + sorted(s for s in present if s not in SPLIT_ORDER)


# --------------------------------------------------------------------------- tables
def overall_table(df: pd.DataFrame, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per split and metric: estimate and CI (long format; columns split, metric, estimate, ci_low, ci_high, ...)."""
    rows = []
    for split in _splits(df):
        part = df[df["split"] == split]
        y, p, s = part["label"].to_numpy(), part["pred"].to_numpy(), part["score"].to_numpy()
        est = split_figures(y, p, s)
        low, high = split_ci(y, p, s, part["patient_id"].to_numpy(), n_boot, seed, level)
        counts = confusion_counts(y, p)
        for i, metric in enumerate(METRICS):
            rows.append(
                {
                    "split": split,
                    "metric": metric,
                    "estimate": est[i],
                    "ci_low": low[i],
                    "ci_high": high[i],
                    "n_images": len(part),
                    "n_patients": part["patient_id"].nunique(),
                    **counts,
                }
            )
    return pd.DataFrame(rows)


def _accuracy_stat(w: np.ndarray, correct: np.ndarray) -> np.ndarray:
    return _wmean(w, correct)[:, None]


def group_table(df: pd.DataFrame, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per split and group (label x attribute): images, patients, confusion counts, accuracy and its CI."""
    rows = []
    for split in _splits(df):
        part = df[df["split"] == split]
        for (group, label, attribute), g in part.groupby(["group", "label", "attribute"], sort=True):
            y, p = g["label"].to_numpy(), g["pred"].to_numpy()
            est, low, high = weighted_ci(_accuracy_stat, (y == p,), g["patient_id"].to_numpy(), n_boot, seed, level)
            rows.append(
                {
                    "split": split,
                    "group": group,
                    "label": int(label),
                    "attribute": attribute,
                    "n_images": len(g),
                    "n_patients": g["patient_id"].nunique(),
                    **confusion_counts(y, p),
                    "accuracy": est[0],
                    "ci_low": low[0],
                    "ci_high": high[0],
                }
            )
    return pd.DataFrame(rows)


def worst_group_table(groups: pd.DataFrame) -> pd.DataFrame:
    """Per split: the group with the lowest accuracy (worst-group accuracy) and its CI."""
    if groups.empty:
        return pd.DataFrame(columns=["split", "group", "accuracy", "ci_low", "ci_high"])
    idx = groups.groupby("split", sort=False)["accuracy"].idxmin()
    return groups.loc[idx, ["split", "group", "accuracy", "ci_low", "ci_high"]].reset_index(drop=True)


# --------------------------------------------------------------------------- shortcut
def attribute_rule(df: pd.DataFrame, fit_split: str = "train") -> list[str]:
    """Attribute values A of "predict tumour iff attribute in A", fitted on ``fit_split``'s labels.

    A value enters A when most of its ``fit_split`` images are tumour (P(label=1 | value) > 1/2).
    """
    part = df[df["split"] == fit_split]
    if part.empty:
        raise BreastlabInputError(f"predictions: no rows in split {fit_split!r} to fit the attribute rule on")
    share = part.groupby("attribute")["label"].mean()
    return sorted(share.index[share > 0.5].tolist())


def tumour_share_by_attribute(df: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per split: P(label = 1 | attribute = v) for every attribute value v (the attribute-label correlation)."""
    return {
        split: {str(k): float(v) for k, v in part.groupby("attribute")["label"].mean().items()}
        for split, part in df.groupby("split", sort=False)
    }


SHORTCUT_FIGURES = ("rule_accuracy", "rule_agreement", "rule_kappa", "attribute_explained", "model_accuracy")


def _shortcut_stat(w: np.ndarray, y: np.ndarray, p: np.ndarray, r: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Weighted :data:`SHORTCUT_FIGURES`: (b, 5).

    rule_kappa is Cohen's kappa of rule and model predictions,
    ``(p_o - p_e) / (1 - p_e)`` with ``p_e = r1 m1 + r0 m0`` (shares of 1s and 0s),
    so a constant model scores 0 however often it meets the rule. ``onehot`` (n, k)
    codes the attribute; the best attribute-only rule predicts, for each attribute
    value, the model's majority prediction: sum_v max(W1_v, W_v - W1_v) / W.
    """
    tot = w @ onehot
    ones = w @ (onehot * p[:, None])
    explained = _div(np.maximum(ones, tot - ones).sum(axis=1), w.sum(axis=1))
    agree = _wmean(w, r == p)
    r1, m1 = _wmean(w, r), _wmean(w, p)
    chance = r1 * m1 + (1 - r1) * (1 - m1)
    kappa = _div(agree - chance, 1 - chance)
    return np.column_stack([_wmean(w, r == y), agree, kappa, explained, _wmean(w, p == y)])


def shortcut_table(
    df: pd.DataFrame,
    rule: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[pd.DataFrame, list[str]]:
    """Per split: how well the attribute alone explains the truth and the model's predictions.

    Returns (table with columns split, figure, estimate, ci_low, ci_high; the rule's attribute values).
    """
    rule = attribute_rule(df) if rule is None else sorted(map(str, rule))
    values = sorted(df["attribute"].unique())
    rows = []
    for split in _splits(df):
        part = df[df["split"] == split]
        onehot = (part["attribute"].to_numpy()[:, None] == np.array(values)[None, :]).astype(np.float64)
        r = part["attribute"].isin(rule).to_numpy().astype(np.int64)
        arrays = (part["label"].to_numpy(), part["pred"].to_numpy(), r, onehot)
        est, low, high = weighted_ci(_shortcut_stat, arrays, part["patient_id"].to_numpy(), n_boot, seed, level)
        for i, fig in enumerate(SHORTCUT_FIGURES):
            rows.append({"split": split, "figure": fig, "estimate": est[i], "ci_low": low[i], "ci_high": high[i]})
    return pd.DataFrame(rows), rule


def _gap_stat(w: np.ndarray, correct: np.ndarray, is_val: np.ndarray) -> np.ndarray:
    return (_div(w @ (correct & is_val), w @ is_val) - _div(w @ (correct & ~is_val), w @ ~is_val))[:, None]


def val_test_gap(df: pd.DataFrame, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Validation accuracy minus test accuracy, with a patient-level bootstrap CI.

    Patients of both splits are resampled together (a patient in both stays one
    cluster); replicates that miss one of the splits are left out.
    """
    part = df[df["split"].isin(["val", "test"])]
    if not {"val", "test"} <= set(part["split"]):
        return {"estimate": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    correct = (part["label"] == part["pred"]).to_numpy().astype(np.float64)
    is_val = (part["split"] == "val").to_numpy()
    est, low, high = weighted_ci(
        lambda w, c, v: _gap_stat(w, c.astype(bool), v),
        (correct, is_val),
        part["patient_id"].to_numpy(),
        n_boot,
        seed,
        level,
    )
    return {"estimate": float(est[0]), "ci_low": float(low[0]), "ci_high": float(high[0])}


# --------------------------------------------------------------------------- run evaluation
@dataclasses.dataclass
class RunEvaluation:
    """Everything ``breastlab evaluate`` computes for one run.

    ``overall``: split x metric with CI; ``groups``: split x group with confusion
    counts and accuracy CI; ``worst_group``: per split; ``shortcut``: split x
    figure (see module docstring); ``rule``: the attribute values of the rule;
    ``gap``: validation - test accuracy with CI; ``tumour_share``: per split,
    P(tumour | attribute value).
    """

    name: str
    overall: pd.DataFrame
    groups: pd.DataFrame
    worst_group: pd.DataFrame
    shortcut: pd.DataFrame
    rule: list[str]
    gap: dict[str, float]
    n_boot: int
    seed: int
    level: float
    run_dir: Path | None = None
    config: dict = dataclasses.field(default_factory=dict)
    evaluation_dir: Path | None = None  # where it was written (None: not written)
    tumour_share: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    predictions: pd.DataFrame | None = dataclasses.field(default=None, repr=False)

    def value(self, split: str, metric: str, column: str = "estimate") -> float:
        """One figure, e.g. ``ev.value("test", "accuracy")`` or ``column="ci_low"``."""
        sel = self.overall[(self.overall["split"] == split) & (self.overall["metric"] == metric)]
        if sel.empty:
            raise BreastlabInputError(f"{self.name}: no figure {metric!r} for split {split!r}")
        return float(sel[column].iloc[0])

    def worst_group_accuracy(self, split: str = "test") -> float:
        sel = self.worst_group[self.worst_group["split"] == split]
        return float(sel["accuracy"].iloc[0]) if len(sel) else float("nan")

    def to_dict(self, folder: str | os.PathLike | None = None) -> dict[str, Any]:
        """The evaluation as JSON values; ``folder``: where it is written (the run folder is recorded
        relative to it; without it, by its name only)."""

        def records(df: pd.DataFrame) -> list[dict]:
            # Plain Python values at full precision (to_json would round to 10 digits); nan -> null.
            return [
                {k: None if isinstance(v, float) and v != v else v for k, v in row.items()}
                for row in df.astype(object).to_dict(orient="records")
            ]

        return {
            "name": self.name,
            "run_dir": None if not self.run_dir else record_path(self.run_dir, folder) if folder else self.run_dir.name,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "level": self.level,
            "resampling": "patients (cluster bootstrap, percentile CI)",
            "overall": records(self.overall),
            "groups": records(self.groups),
            "worst_group": records(self.worst_group),
            "shortcut": {
                "rule_positive_attributes": self.rule,
                "figures": records(self.shortcut),
                "tumour_share_by_attribute": self.tumour_share,
            },
            "val_minus_test_accuracy": self.gap,
        }

    @classmethod
    def from_dict(
        cls,
        d: dict[str, Any],
        predictions: pd.DataFrame | None = None,
        config: dict | None = None,
        folder: str | os.PathLike | None = None,
    ):
        """The evaluation of :meth:`to_dict`; ``folder``: where it was read from (its recorded run folder is
        read from there; earlier versions recorded it absolute)."""
        frame = lambda key: pd.DataFrame(key)  # noqa: E731
        return cls(
            name=d["name"],
            overall=frame(d["overall"]),
            groups=frame(d["groups"]),
            worst_group=frame(d["worst_group"]),
            shortcut=frame(d["shortcut"]["figures"]),
            rule=list(d["shortcut"]["rule_positive_attributes"]),
            gap=d["val_minus_test_accuracy"],
            n_boot=int(d["n_boot"]),
            seed=int(d["seed"]),
            level=float(d["level"]),
            run_dir=None if not d.get("run_dir") else recorded_path(d["run_dir"], folder or "."),
            config=config or {},
            tumour_share=d["shortcut"].get("tumour_share_by_attribute", {}),
            predictions=predictions,
        )

    def write(self, out_dir: str | os.PathLike) -> Path:
        """Write metrics.json, metrics.csv (overall), groups.csv, shortcut.csv into ``out_dir``."""
        out_dir = Path(out_dir)
        write_json(self.to_dict(out_dir), out_dir / EVALUATION.metrics_json)
        write_table(self.overall, out_dir / EVALUATION.metrics)
        write_table(self.groups, out_dir / EVALUATION.groups)
        write_table(self.shortcut, out_dir / EVALUATION.shortcut)
        return out_dir


def evaluate_predictions(
    predictions: pd.DataFrame,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    name: str = "run",
    rule: Sequence[str] | None = None,
) -> RunEvaluation:
    """All figures of a predictions table (see the module docstring)."""
    if int(n_boot) < 0:
        raise BreastlabInputError(f"n_boot={n_boot!r}: must be >= 0 (0 skips the confidence intervals)")
    if not 0 < level < 1:
        raise BreastlabInputError(f"level={level!r}: must be in (0, 1), e.g. 0.95")
    df = check_predictions(predictions)
    kw = {"n_boot": int(n_boot), "seed": seed, "level": level}
    groups = group_table(df, **kw)
    if rule is None and "train" not in set(df["split"]):
        rule = []
    shortcut, rule = shortcut_table(df, rule=rule, **kw)
    return RunEvaluation(
        name=name,
        overall=overall_table(df, **kw),
        groups=groups,
        worst_group=worst_group_table(groups),
        shortcut=shortcut,
        rule=rule,
        gap=val_test_gap(df, **kw),
        tumour_share=tumour_share_by_attribute(df),
        n_boot=int(n_boot),
        seed=seed,
        level=level,
        predictions=df,
    )


def find_runs(path: str | os.PathLike, missing_ok: bool = False) -> list[Path]:
    """Run directories under ``path``: itself when it holds predictions.parquet, else every sub-folder that does.

    ``missing_ok``: an empty list, rather than an error, when ``path`` holds no run (a predictions
    table without the run columns then does not count at ``path`` itself either)."""
    path = Path(path)
    if not path.exists():
        raise BreastlabInputError(f"{path}: no such run or sweep directory")
    own = path / RUN.predictions
    if own.exists() and (not missing_ok or _has_prediction_columns(own)):
        return [path]
    # Below a folder, only tables with these columns count: anomaly, classification and detection
    # runs keep their own predictions.parquet with other columns.
    runs = sorted(p.parent for p in path.rglob(RUN.predictions) if _has_prediction_columns(p))
    if not runs and not missing_ok:
        raise BreastlabInputError(
            f"{path}: neither a run (no {RUN.predictions}) nor a sweep (no sub-folder holds one); "
            "finish training with `breastlab train` first"
        )
    return runs


def _has_prediction_columns(path: Path) -> bool:
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(path).names)
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        return False
    return set(PREDICTION_COLUMNS) <= names


def _fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def evaluate_run(
    run_dir: str | os.PathLike,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    write: bool = True,
    reuse: bool = True,
    out: str | os.PathLike | None = None,
) -> RunEvaluation:
    """Evaluate ``RUN/predictions.parquet``; write ``RUN/evaluation/`` (metrics.json, metrics.csv, groups.csv),
    or the folder ``out`` instead (``breastlab report`` finds only ``RUN/evaluation/``).

    With ``reuse`` an existing evaluation computed from the same predictions file
    and the same ``n_boot``, ``seed`` and ``level`` is read back instead of recomputed.
    """
    run_dir = Path(run_dir)
    pred_path = run_dir / RUN.predictions
    if not pred_path.exists():
        raise BreastlabInputError(
            f"{run_dir}: no {RUN.predictions}; train the run to the end (`breastlab train`) first"
        )
    predictions = check_predictions(read_table(pred_path), source=str(pred_path))
    config = run_config(run_dir)
    folder = run_dir / EVALUATION.folder if out is None else Path(out)
    cached = folder / EVALUATION.metrics_json
    key = {"predictions": _fingerprint(pred_path), "n_boot": int(n_boot), "seed": seed, "level": level}
    if reuse and cached.exists():
        saved = json.loads(cached.read_text())
        if saved.get("cache_key") == key:
            ev = RunEvaluation.from_dict(saved, predictions=predictions, config=config, folder=folder)
            ev.run_dir, ev.evaluation_dir = run_dir, folder  # where the run is now (it may have been moved)
            return ev
    ev = evaluate_predictions(predictions, n_boot=n_boot, seed=seed, level=level, name=run_name(run_dir, config))
    ev.run_dir, ev.config = run_dir, config
    if write:
        ev.write(folder)
        write_json({**ev.to_dict(folder), "cache_key": key}, cached)
        ev.evaluation_dir = folder
    return ev


# --------------------------------------------------------------------------- any model's predictions
#: Split names a predictions file may use (Table 2 reads train, val and test).
SPLIT_NAMES = SPLIT_ORDER
#: The split of every row when a predictions file has no split column.
DEFAULT_SPLIT = "test"
#: The attribute of every row when a predictions file names no attribute column (one group per class).
NO_ATTRIBUTE = "all"


def _required_column(df: pd.DataFrame, col: str, option: str, source: str) -> pd.Series:
    if col not in df.columns:
        raise BreastlabInputError(
            f"{source}: no column {col!r} (named by {option}); its columns are {[str(c) for c in df.columns]}"
        )
    return df[col]


def _label_column(df: pd.DataFrame, col: str, option: str, source: str) -> pd.Series:
    """A text column without blanks (patient, split, attribute)."""
    values = _required_column(df, col, option, source)
    blank = values.isna() | (values.astype(str).str.strip() == "")
    if blank.any():
        row = int(np.flatnonzero(blank.to_numpy())[0])
        raise BreastlabInputError(
            f"{source}: column {col!r} ({option}) is blank in {int(blank.sum())} rows (first: data row {row + 1}); "
            "every row needs a value"
        )
    return values.astype(str).str.strip()


def predictions_from_table(
    table: pd.DataFrame,
    truth: str = "label",
    score: str = "score",
    patient: str = "patient_id",
    split: str | None = None,
    attribute: str | None = None,
    threshold: float = 0.5,
    source: str = "predictions",
) -> pd.DataFrame:
    """Any model's predictions as breastlab's predictions table (:data:`PREDICTION_COLUMNS`).

    ``truth``: 0/1 reference (1 = tumour); ``score``: the model's score, higher = more likely tumour
    (a probability, a logit, any finite number); ``patient``: the unit the bootstrap resamples.
    ``pred = score >= threshold``. Without ``split`` every row is in the split ``"test"``; without
    ``attribute`` every row has the attribute ``"all"`` (then the groups are the two classes).
    Image ids are the data row numbers (1-based). Errors name ``source``, the column and its option.
    """
    if not np.isfinite(threshold):
        raise BreastlabInputError(f"--threshold {threshold!r}: must be a finite number (e.g. 0.5)")
    if table.empty:
        raise BreastlabInputError(f"{source}: no rows")
    y = _binary_values(_required_column(table, truth, "--truth", source), source, f"column {truth!r} (--truth)")
    s = _score_values(_required_column(table, score, "--score", source), source, f"column {score!r} (--score)")
    out = pd.DataFrame(
        {
            "image_id": [str(i) for i in range(1, len(table) + 1)],
            "patient_id": _label_column(table, patient, "--patient", source).to_numpy(),
            "split": DEFAULT_SPLIT if split is None else _label_column(table, split, "--split", source).to_numpy(),
            "label": y.to_numpy(),
            "attribute": NO_ATTRIBUTE
            if attribute is None
            else _label_column(table, attribute, "--attribute", source).to_numpy(),
            "score": s.to_numpy(),
            "pred": (s.to_numpy() >= threshold).astype(np.int64),
        }
    )
    unknown = sorted(set(out["split"]) - set(SPLIT_NAMES))
    if unknown:
        raise BreastlabInputError(
            f"{source}: column {split!r} (--split) holds {unknown[:5]}; split names must be one of {list(SPLIT_NAMES)}"
        )
    out["group"] = out["label"].astype(str) + "|" + out["attribute"]
    return out[list(PREDICTION_COLUMNS)]


def read_predictions_file(path: str | os.PathLike) -> pd.DataFrame:
    """A predictions table from a ``.csv`` or ``.parquet`` file (errors name the file)."""
    return read_user_table(path, "predictions")


def evaluate_predictions_file(
    path: str | os.PathLike,
    truth: str = "label",
    score: str = "score",
    patient: str = "patient_id",
    split: str | None = None,
    attribute: str | None = None,
    threshold: float = 0.5,
    out: str | os.PathLike | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> RunEvaluation:
    """All figures of any model's predictions file (see :func:`predictions_from_table`).

    With ``out``: metrics.json, metrics.csv, groups.csv and shortcut.csv written there, as for a run.
    """
    path = Path(path)
    predictions = predictions_from_table(
        read_predictions_file(path),
        truth=truth,
        score=score,
        patient=patient,
        split=split,
        attribute=attribute,
        threshold=threshold,
        source=str(path),
    )
    ev = evaluate_predictions(predictions, n_boot=n_boot, seed=seed, level=level, name=path.stem)
    ev.config = {
        "predictions_file": path.name,
        "columns": {"truth": truth, "score": score, "patient": patient, "split": split, "attribute": attribute},
        "threshold": threshold,
    }
    if out is not None:
        ev.write(out)
        write_json({**ev.to_dict(out), "input": ev.config}, Path(out) / EVALUATION.metrics_json)
    return ev


def run_name(run_dir: Path, config: dict) -> str:
    """A readable run label: the folder name (model and split name added when the config has them)."""
    return run_dir.name


# --------------------------------------------------------------------------- formatting
def _cell(est: float, low: float, high: float, digits: int = 2) -> str:
    return format_ci(est, low, high, digits)


def table2_frame(
    evaluations: RunEvaluation | Sequence[RunEvaluation],
    metrics: Sequence[str] = ("accuracy", "ppv", "npv"),
    splits: Sequence[str] = ("train", "val", "test"),
    digits: int = 2,
) -> pd.DataFrame:
    """SpurBreast Table 2 layout: one row per run, columns "<Split> <metric>" holding "est (low-high)"."""
    evs = [evaluations] if isinstance(evaluations, RunEvaluation) else list(evaluations)
    rows = []
    for ev in evs:
        row = {"run": ev.name}
        for split in splits:
            for metric in metrics:
                sel = ev.overall[(ev.overall["split"] == split) & (ev.overall["metric"] == metric)]
                col = f"{SPLIT_LABELS.get(split, split)} {METRIC_LABELS[metric]}"
                row[col] = "-" if sel.empty else _cell(*sel[["estimate", "ci_low", "ci_high"]].iloc[0], digits)
        rows.append(row)
    return pd.DataFrame(rows)


def detail_frame(ev: RunEvaluation, digits: int = 3) -> pd.DataFrame:
    """One run: rows split, columns all :data:`METRICS` as "est (low-high)", plus images and patients."""
    rows = []
    for split, part in ev.overall.groupby("split", sort=False):
        row = {"split": split, "images": int(part["n_images"].iloc[0]), "patients": int(part["n_patients"].iloc[0])}
        for _, r in part.iterrows():
            row[METRIC_LABELS[r["metric"]]] = _cell(r["estimate"], r["ci_low"], r["ci_high"], digits)
        rows.append(row)
    return pd.DataFrame(rows)


def group_frame(ev: RunEvaluation, digits: int = 3) -> pd.DataFrame:
    """Per split and group: images, patients, TP/FP/TN/FN and accuracy with CI (worst group marked)."""
    g = ev.groups.copy()
    if g.empty:
        return g
    worst = set(zip(ev.worst_group["split"], ev.worst_group["group"], strict=True))
    g["accuracy (95% CI)"] = [
        _cell(a, lo, hi, digits) for a, lo, hi in zip(g["accuracy"], g["ci_low"], g["ci_high"], strict=True)
    ]
    g["worst"] = ["*" if (s, grp) in worst else "" for s, grp in zip(g["split"], g["group"], strict=True)]
    return g[["split", "group", "n_images", "n_patients", "tp", "fp", "tn", "fn", "accuracy (95% CI)", "worst"]]


def shortcut_frame(ev: RunEvaluation, digits: int = 3) -> pd.DataFrame:
    """Per split: rule accuracy, rule-model agreement, attribute-explained share, model accuracy (with CIs)."""
    rows = []
    for split, part in ev.shortcut.groupby("split", sort=False):
        row = {"split": split}
        for _, r in part.iterrows():
            row[r["figure"]] = _cell(r["estimate"], r["ci_low"], r["ci_high"], digits)
        rows.append(row)
    return pd.DataFrame(rows)


def format_table2(evaluations: RunEvaluation | Sequence[RunEvaluation], digits: int = 2) -> str:
    """Plain-text Table 2 (accuracy, PPV, NPV on train/validation/test, 95% CI in brackets)."""
    from breastlab._table import format_table

    evs = [evaluations] if isinstance(evaluations, RunEvaluation) else list(evaluations)
    level = int(round(100 * evs[0].level)) if evs else 95
    return format_table(
        table2_frame(evs, digits=digits), title=f"Table 2 layout: estimate ({level}% CI, patient-level bootstrap)"
    )


def format_evaluation(ev: RunEvaluation) -> str:
    """Everything of one run as plain text: Table 2, all metrics, groups, shortcut, gap."""
    from breastlab._table import format_table

    rule = (
        "'tumour iff attribute is " + " or ".join(repr(v) for v in ev.rule) + "'"
        if ev.rule
        else "none: no attribute value is mostly tumour on train, the rule calls every image non-tumour"
        if "train" in set(ev.overall["split"])
        else "none: no train split to fit it on, the rule calls every image non-tumour"
    )
    gap = ev.gap
    parts = [
        format_table2(ev),
        format_table(detail_frame(ev), title=f"{ev.name}: all figures (n_boot={ev.n_boot}, seed={ev.seed})"),
        format_table(group_frame(ev), title="Per group (label|attribute); * = worst group of the split"),
        format_table(shortcut_frame(ev), title=f"Shortcut: attribute-only rule {rule}"),
        format_table(
            pd.DataFrame(ev.tumour_share).T.rename_axis("split").reset_index(),
            title="P(tumour | attribute value) per split",
        ),
        f"Validation - test accuracy: {_cell(gap['estimate'], gap['ci_low'], gap['ci_high'], 3)}",
    ]
    return "\n\n".join(parts)


def evaluate_runs(
    path: str | os.PathLike,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    reuse: bool = True,
    out: str | os.PathLike | None = None,
) -> list[RunEvaluation]:
    """Evaluate a run (or every run of a sweep folder) and write each run's evaluation folder:
    ``RUN/evaluation/``, or with ``out`` the folder ``out`` for a run and ``out/<run below path>`` for
    the runs of a sweep."""
    from breastlab.progress import progress

    path = Path(path)
    runs = find_runs(path)

    def folder(run: Path) -> Path | None:
        return None if out is None else Path(out) / run.relative_to(path)

    return [
        evaluate_run(r, n_boot=n_boot, seed=seed, level=level, reuse=reuse, out=folder(r))
        for r in progress(runs, desc="evaluate", unit="run", disable=len(runs) < 2)
    ]


def format_evaluations(evs: Sequence[RunEvaluation]) -> str:
    """What ``breastlab evaluate`` prints: every table of one run, or Table 2 of several; then the files written."""
    text = [format_evaluation(evs[0]) if len(evs) == 1 else format_table2(evs)]
    files = ", ".join((EVALUATION.metrics_json, EVALUATION.metrics, EVALUATION.groups, EVALUATION.shortcut))
    text += [f"written: {ev.evaluation_dir}/{files}" for ev in evs if ev.evaluation_dir is not None]
    return "\n".join(text)
