"""Evaluation of breast-level anomaly scores and pixel-level heatmaps (Oviedo et al. 2025 tasks).

* Balanced task: all abnormal vs all normal breasts; AUC with DeLong 95% CI
  (:func:`breastlab.evaluate.stats.ci_auc`).
* Low prevalence: the normal breasts are kept and abnormal ones drawn without replacement so
  that ``n_abnormal / (n_abnormal + n_normal)`` is the set prevalence (default 2%, at least 2
  abnormal breasts), ``repeats`` times; AUC and triage figures are reported as the mean and
  the 2.5-97.5th percentiles over the repeats (their spread).
* Triage: the share of normal breasts that can be set aside (specificity) while keeping
  sensitivity >= 100%, 99%, 95%; sensitivity at >= 90% specificity (empirical operating
  points, :mod:`breastlab.evaluate.stats.operating`).
* Explanation quality: per abnormal breast with a projected box, the AUC of the heatmap's
  pixels against the box mask (or a given mask), within the non-padded image area;
  summarised by median and IQR.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab._io import recorded_path
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats import (
    DegenerateCIWarning,
    auc,
    ci_auc,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
)
from breastlab.schemas import RUN

TRIAGE_SENSITIVITIES = (1.0, 0.99, 0.95)


def triage(y_true, y_score) -> dict[str, float]:
    """Share of normals set aside at sensitivity 100/99/95% and sensitivity at 90% specificity."""
    out = {}
    for se in TRIAGE_SENSITIVITIES:
        point = specificity_at_sensitivity(y_true, y_score, se)
        out[f"normals_set_aside_at_sens_{round(se * 100)}"] = point.specificity
    out["sens_at_spec_90"] = sensitivity_at_specificity(y_true, y_score, 0.90).sensitivity
    return out


def breast_level(y_true, y_score, conf_level: float = 0.95) -> dict[str, float]:
    """AUC with DeLong CI plus the triage figures (balanced task)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateCIWarning)
        ci = ci_auc(y_true, y_score, conf_level=conf_level, method="delong")
    return {
        "auc": ci.auc,
        "auc_lower": ci.lower,
        "auc_upper": ci.upper,
        "n_abnormal": ci.n_positive,
        "n_normal": ci.n_negative,
        **triage(y_true, y_score),
    }


def low_prevalence_draws(y_true, prevalence: float = 0.02, repeats: int = 200, seed: int = 0):
    """Index arrays of the ``repeats`` low-prevalence subsamples: every normal breast plus
    ``max(2, round(prevalence / (1 - prevalence) * n_normal))`` abnormal ones drawn without
    replacement (seeded). Shared by the figures and the ROC curves of the task."""
    y = np.asarray(y_true).astype(int)
    if not 0 < prevalence < 1:
        raise BreastlabInputError(f"prevalence={prevalence!r}: must lie in (0, 1)")
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n_pos = max(2, int(round(prevalence / (1 - prevalence) * len(neg))))
    if n_pos > len(pos):
        raise BreastlabInputError(
            f"prevalence={prevalence}: needs {n_pos} abnormal breasts against {len(neg)} normal ones but only "
            f"{len(pos)} exist; choose a prevalence <= {len(pos) / (len(pos) + len(neg)):.3f}"
        )
    rng = np.random.default_rng(seed)
    for _ in range(repeats):
        yield np.concatenate([rng.choice(pos, n_pos, replace=False), neg])


def low_prevalence(
    y_true, y_score, prevalence: float = 0.02, repeats: int = 200, seed: int = 0, conf_level: float = 0.95
) -> pd.DataFrame:
    """One row per repeat: abnormal breasts subsampled to ``prevalence`` against all normals."""
    y = np.asarray(y_true).astype(int)
    s = np.asarray(y_score, dtype=float)
    rows = []
    for r, idx in enumerate(low_prevalence_draws(y, prevalence, repeats, seed)):
        share = float(np.mean(y[idx] == 1))
        rows.append({"repeat": r, "prevalence": share, **breast_level(y[idx], s[idx], conf_level)})
    return pd.DataFrame(rows)


def mean_roc(y_true, y_score, draws, grid: int = 101) -> pd.DataFrame:
    """Vertically averaged ROC curve over subsamples (Fawcett 2006, sec. 8.1).

    For every index array of ``draws`` the empirical ROC curve (points joined by straight
    lines) is read at ``fpr = 0, 1/(grid-1), ..., 1`` (the highest TPR where the curve is
    vertical); returns ``fpr, tpr_mean, tpr_p2.5, tpr_p97.5``.
    """
    from breastlab.evaluate.stats import roc_curve

    y = np.asarray(y_true).astype(int)
    s = np.asarray(y_score, dtype=float)
    fpr_grid = np.round(np.linspace(0.0, 1.0, grid), 12)
    curves = []
    for idx in draws:
        roc = roc_curve(y[idx], s[idx])
        # rounded: 1 - tn/n and k/n differ in the last bit, and a grid point should meet its level
        fpr, tpr = np.round(np.asarray(roc.fpr, float), 12), np.asarray(roc.tpr, float)
        order = np.lexsort((tpr, fpr))  # along the curve: ascending fpr, then tpr
        fpr, tpr = fpr[order], tpr[order]
        curve = np.interp(fpr_grid, fpr, tpr)  # between ROC points: the straight line
        # on a vertical step (one fpr, several tpr) np.interp may return any of them: take the top
        levels, first = np.unique(fpr, return_index=True)
        top = np.maximum.reduceat(tpr, first)
        at = np.minimum(np.searchsorted(levels, fpr_grid), len(levels) - 1)
        hit = levels[at] == fpr_grid
        curve[hit] = top[at[hit]]
        curves.append(curve)
    if not curves:
        raise BreastlabInputError("mean_roc: no subsamples given")
    c = np.vstack(curves)
    lo, hi = np.percentile(c, [2.5, 97.5], axis=0)
    return pd.DataFrame({"fpr": fpr_grid, "tpr_mean": c.mean(axis=0), "tpr_p2.5": lo, "tpr_p97.5": hi})


def summarise_repeats(df: pd.DataFrame) -> dict[str, float]:
    """Mean and 2.5/97.5th percentiles of every figure over the repeats."""
    out: dict[str, float] = {"repeats": len(df), "prevalence": float(df["prevalence"].mean())}
    for col in df.columns:
        if col in ("repeat", "prevalence", "n_abnormal", "n_normal"):
            continue
        v = df[col].to_numpy(float)
        out[col] = float(np.mean(v))
        out[f"{col}_p2.5"], out[f"{col}_p97.5"] = (float(q) for q in np.percentile(v, [2.5, 97.5]))
    return out


def box_mask(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """Boolean mask of a half-open pixel box (x0, y0, x1, y1)."""
    m = np.zeros(shape, bool)
    x0, y0, x1, y1 = (int(v) for v in box)
    m[max(y0, 0) : y1, max(x0, 0) : x1] = True
    return m


def pixel_auc(heatmap: np.ndarray, mask: np.ndarray, region: tuple[int, int, int, int] | None = None) -> float:
    """AUC of heatmap pixels (score) against ``mask`` (truth), inside ``region`` (x0, y0, x1, y1) if given.
    NaN when the region holds only one class."""
    h = np.asarray(heatmap, dtype=np.float64)
    m = np.asarray(mask, bool)
    if h.shape != m.shape:
        raise BreastlabInputError(f"pixel_auc: heatmap shape {h.shape} differs from mask shape {m.shape}")
    if region is not None:
        x0, y0, x1, y1 = region
        h, m = h[y0:y1, x0:x1], m[y0:y1, x0:x1]
    if m.all() or not m.any():
        return float("nan")
    return float(auc(m.ravel(), h.ravel()))


def pixel_aucs(store: ArrayStore, heatmaps: np.ndarray, rows=None) -> pd.DataFrame:
    """Per abnormal breast with a tumour box: pixel AUC of its heatmap against the box."""
    man = store.manifest
    boxes = store.findings[store.findings["finding_class"] == "tumour_box"].drop_duplicates("image_id")
    boxes = boxes.set_index("image_id")
    if rows is not None:
        man = man[man["row"].isin(rows)]
    out = []
    for rec in man.itertuples():
        if rec.label != 1 or rec.image_id not in boxes.index:
            continue
        b = boxes.loc[rec.image_id]
        box = (b["x0"], b["y0"], b["x1"], b["y1"])
        region = None
        if hasattr(rec, "content_x0"):
            region = (int(rec.content_x0), int(rec.content_y0), int(rec.content_x1), int(rec.content_y1))
        heat = np.asarray(heatmaps[int(rec.row)], dtype=np.float32)
        out.append(
            {
                "row": int(rec.row),
                "image_id": rec.image_id,
                "pixel_auc": pixel_auc(heat, box_mask(heat.shape, box), region),
            }
        )
    return pd.DataFrame(out, columns=["row", "image_id", "pixel_auc"])


def median_iqr(values) -> dict[str, float]:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return {"median": float("nan"), "q1": float("nan"), "q3": float("nan"), "n": 0}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "n": int(len(v))}


@dataclasses.dataclass
class AnomalyEvaluation:
    """Figures of one run (model), averaged over its seeds where there are several."""

    run_dir: Path
    model: str
    balanced: pd.DataFrame  # one row per seed
    low_prevalence: pd.DataFrame  # one row per seed (summary over repeats)
    pixel: pd.DataFrame  # one row per (seed, abnormal breast with box)
    predictions: pd.DataFrame
    settings: dict = dataclasses.field(default_factory=dict)  # prevalence, repeats, seed of the evaluation
    kind: str = "run"  # "run": a trained run folder (its store and heatmaps give the gallery); "scores": a file

    def summary(self) -> dict[str, float]:
        b = self.balanced.mean(numeric_only=True)
        lp = self.low_prevalence.mean(numeric_only=True)
        px = median_iqr(self.pixel["pixel_auc"])
        return {
            "model": self.model,
            "auc_balanced": b["auc"],
            "auc_lower": b["auc_lower"],
            "auc_upper": b["auc_upper"],
            "auc_low_prev": lp.get("auc", np.nan),
            "auc_low_prev_p2.5": lp.get("auc_p2.5", np.nan),
            "auc_low_prev_p97.5": lp.get("auc_p97.5", np.nan),
            **{k: b[k] for k in b.index if k.startswith(("normals_set_aside", "sens_at"))},
            "pixel_auc_median": px["median"],
            "pixel_auc_q1": px["q1"],
            "pixel_auc_q3": px["q3"],
            "pixel_auc_n": px["n"],
        }


def run_store(run: Path, config: dict) -> ArrayStore:
    """The MIP store the run in ``run`` was trained on: its config's ``"store"``, relative to the run folder.

    Runs of earlier versions recorded it as typed (absolute, or relative to the working folder of the
    training command); the store checksum the config records tells which place holds it."""
    value, want = str(config["store"]), config.get("store_checksum")
    places = [recorded_path(value, run)] + ([] if Path(value).is_absolute() else [Path(value)])
    for place in places:
        if (place / "store.json").is_file():
            store = ArrayStore(place)
            if want is None or store.checksum == want:
                return store
    raise BreastlabInputError(
        f"{run}: its {RUN.config} names the store {value!r}, but no store with the checksum it was trained on "
        f"is at {places[0]}; move the store back there (beside the run, as when it was trained)"
    )


def evaluate_anomaly_run(
    run_dir: str | os.PathLike, prevalence: float = 0.02, repeats: int = 200, seed: int = 0
) -> AnomalyEvaluation:
    """Breast-level (balanced and low-prevalence) and pixel-level figures of a trained run."""
    from breastlab.anomaly.train import load_heatmaps

    run = Path(run_dir)
    pred_path = run / RUN.predictions
    if not pred_path.exists():
        raise BreastlabInputError(f"{run}: no predictions.parquet; train it first with `breastlab anomaly train`")
    config = json.loads((run / RUN.config).read_text())
    pred = pd.read_parquet(pred_path)
    store = run_store(run, config)
    balanced, lows, pixel = [], [], []
    for s, p in pred.groupby("seed", sort=True):
        balanced.append({"seed": s, **breast_level(p["label"], p["score"])})
        lp = low_prevalence(p["label"], p["score"], prevalence, repeats, seed)
        lows.append({"seed": s, **summarise_repeats(lp)})
        px = pixel_aucs(store, load_heatmaps(run, int(s)), p["row"])
        px["seed"] = s
        pixel.append(px)
    return AnomalyEvaluation(
        run,
        config["model"],
        pd.DataFrame(balanced),
        pd.DataFrame(lows),
        pd.concat(pixel, ignore_index=True),
        pred,
        {"prevalence": prevalence, "repeats": repeats, "seed": seed},
    )


def comparison_table(evs: list[AnomalyEvaluation]) -> pd.DataFrame:
    return pd.DataFrame([e.summary() for e in evs])
