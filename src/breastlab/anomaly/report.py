"""The anomaly section of the HTML report: ROC curves per model and task, the triage table,
box plots of pixel AUC and a gallery of MIPs with heatmap overlay and reference box
(true positives, misses, false alarms). Self-contained (PNG figures inlined as base64),
built with the helpers of :mod:`breastlab._html`.

Two ways to the same fragment:

* :func:`anomaly_section` from evaluations in memory (:func:`write_anomaly_report` wraps it in a page);
* :func:`write_anomaly_section` saves what the section needs in a folder (``anomaly_section.json``,
  the marker ``breastlab report`` looks for, written last) and :func:`section_from_dir` rebuilds the
  fragment from that folder alone: scores, per-seed figures, pixel AUCs, the low-prevalence mean ROC
  and the gallery's images, heatmaps and boxes are copied there, so neither the runs nor the store
  need to exist any more.

Folder layout (``MODEL`` is the model name, made unique)::

    anomaly_section.json      marker: version, settings, models and their files (relative names)
    comparison.csv            one row per model (the CLI table)
    MODEL/scores.parquet      seed, row, image_id, patient_id, label, score
    MODEL/balanced.parquet    one row per seed: AUC, DeLong CI, triage figures
    MODEL/low_prevalence.parquet  one row per seed: mean and 2.5/97.5th percentiles over the repeats
    MODEL/pixel.parquet       seed, row, image_id, pixel_auc
    MODEL/roc_low_prevalence.parquet  vertically averaged ROC of the low-prevalence subsamples
    MODEL/gallery.parquet, gallery_images.npy, gallery_heatmaps.npy
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab._html import html_page, html_table, img_tag, png_uri, pyplot
from breastlab._io import save_npy, write_json, write_table, write_text
from breastlab.anomaly.evaluate import AnomalyEvaluation, comparison_table, low_prevalence_draws, mean_roc, run_store
from breastlab.errors import BreastlabInputError
from breastlab.schemas import ANOMALY_SECTION, RUN, SECTION, read_section_marker, section_marker

MARKER = ANOMALY_SECTION
GALLERY_KINDS = ("true positive", "miss", "false alarm")
_SCORE_COLUMNS = ["seed", "row", "image_id", "patient_id", "label", "score"]


@dataclasses.dataclass
class ModelSection:
    """Everything the section shows of one model (run): tables, curves and gallery panels."""

    name: str
    model: str
    run_dir: str
    scores: pd.DataFrame
    balanced: pd.DataFrame
    low_prevalence: pd.DataFrame
    pixel: pd.DataFrame
    roc_low_prevalence: pd.DataFrame
    gallery: pd.DataFrame  # kind, image_id, score, label, x0, y0, x1, y1 (box; -1 where none)
    gallery_images: np.ndarray  # (k, H, W) uint8
    gallery_heatmaps: np.ndarray  # (k, H, W) float32

    _TABLES = ("scores", "balanced", "low_prevalence", "pixel", "roc_low_prevalence", "gallery")

    def save(self, folder: Path) -> dict:
        """Write the model's files below ``folder / name``; returns their relative names."""
        files = {}
        for key in self._TABLES:
            files[key] = f"{self.name}/{key}.parquet"
            write_table(getattr(self, key), folder / files[key])
        for key in ("gallery_images", "gallery_heatmaps"):
            files[key] = f"{self.name}/{key}.npy"
            save_npy(getattr(self, key), folder / files[key])
        return files

    @classmethod
    def load(cls, folder: Path, entry: dict) -> ModelSection:
        files = entry["files"]
        missing = [f for f in files.values() if not (folder / f).is_file()]
        if missing:
            raise BreastlabInputError(
                f"{folder / MARKER}: lists {missing} but they are missing; run "
                "`breastlab anomaly evaluate` again into this folder"
            )
        tables = {key: pd.read_parquet(folder / files[key]) for key in cls._TABLES}
        arrays = {
            key: np.load(folder / files[key], allow_pickle=False) for key in ("gallery_images", "gallery_heatmaps")
        }
        return cls(entry["name"], entry["model"], entry.get("run_dir", ""), **tables, **arrays)


def model_section(ev: AnomalyEvaluation, name: str | None = None, per_kind: int = 3) -> ModelSection:
    """The section's data of one evaluated run (first seed for curves and gallery)."""
    settings = {"prevalence": 0.02, "repeats": 200, "seed": 0, **ev.settings}
    pred = ev.predictions
    first = pred[pred["seed"] == pred["seed"].min()]
    y, s = first["label"].to_numpy(), first["score"].to_numpy()
    draws = low_prevalence_draws(y, settings["prevalence"], settings["repeats"], settings["seed"])
    gallery, images, heatmaps = _gallery_panels(ev, first, per_kind)
    return ModelSection(
        name=name or ev.model,
        model=ev.model,
        run_dir=str(ev.run_dir),
        scores=pred[[c for c in _SCORE_COLUMNS if c in pred.columns]].reset_index(drop=True),
        balanced=ev.balanced,
        low_prevalence=ev.low_prevalence,
        pixel=ev.pixel,
        roc_low_prevalence=mean_roc(y, s, draws),
        gallery=gallery,
        gallery_images=images,
        gallery_heatmaps=heatmaps,
    )


def _gallery_panels(ev: AnomalyEvaluation, pred: pd.DataFrame, per_kind: int):
    """True positives (highest scores), misses (lowest-scored abnormal breasts) and false alarms
    (highest-scored normal breasts) at the Youden threshold, with their images, heatmaps and boxes."""
    from breastlab.anomaly.train import load_heatmaps
    from breastlab.evaluate.stats import youden

    if ev.kind != "run":  # a scores file: no images to show
        empty = pd.DataFrame(columns=["kind", "image_id", "score", "label", "x0", "y0", "x1", "y1"])
        return empty, np.zeros((0, 1, 1), np.uint8), np.zeros((0, 1, 1), np.float32)
    thr = youden(pred["label"], pred["score"]).threshold
    picks = [
        pred[(pred["label"] == 1) & (pred["score"] >= thr)].nlargest(per_kind, "score"),
        pred[(pred["label"] == 1) & (pred["score"] < thr)].nsmallest(per_kind, "score"),
        pred[(pred["label"] == 0) & (pred["score"] >= thr)].nlargest(per_kind, "score"),
    ]
    config = json.loads((ev.run_dir / RUN.config).read_text())
    store = run_store(ev.run_dir, config)
    heat = load_heatmaps(ev.run_dir, int(pred["seed"].min()))
    boxes = store.findings[store.findings["finding_class"] == "tumour_box"].drop_duplicates("image_id")
    boxes = boxes.set_index("image_id")
    rows, images, heatmaps = [], [], []
    for kind, sel in zip(GALLERY_KINDS, picks, strict=True):
        for rec in sel.itertuples():
            box = [-1] * 4
            if rec.image_id in boxes.index:
                box = boxes.loc[rec.image_id, ["x0", "y0", "x1", "y1"]].tolist()
            rows.append(
                {
                    "kind": kind,
                    "image_id": rec.image_id,
                    "score": float(rec.score),
                    "label": int(rec.label),
                    **dict(zip(("x0", "y0", "x1", "y1"), (int(v) for v in box), strict=True)),
                }
            )
            images.append(np.asarray(store[int(rec.row)], dtype=np.uint8))
            heatmaps.append(np.asarray(heat[int(rec.row)], dtype=np.float32))
    h, w = store.shape if store.shape else (0, 0)
    gallery = pd.DataFrame(rows, columns=["kind", "image_id", "score", "label", "x0", "y0", "x1", "y1"])
    return (
        gallery,
        np.stack(images) if images else np.zeros((0, h, w), np.uint8),
        np.stack(heatmaps) if heatmaps else np.zeros((0, h, w), np.float32),
    )


def _unique_names(evs: Sequence[AnomalyEvaluation]) -> list[str]:
    """Model names, with the run folder's name added where two runs share a model."""
    names = [ev.model for ev in evs]
    out = [f"{n}-{Path(ev.run_dir).name}" if names.count(n) > 1 else n for n, ev in zip(names, evs, strict=True)]
    return [f"{n}-{i}" if out.count(n) > 1 else n for i, n in enumerate(out)]


# ---------------------------------------------------------------------------------------- figures
def roc_figure(models: Sequence[ModelSection]) -> str:
    """ROC curves of every model: balanced task (first seed) and low prevalence (vertical mean over
    the subsamples, band: 2.5-97.5th percentiles)."""
    from breastlab.evaluate.stats import roc_curve

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 4.2))
    for i, m in enumerate(models):
        color = f"C{i}"
        first = m.scores[m.scores["seed"] == m.scores["seed"].min()]
        roc = roc_curve(first["label"], first["score"])
        axes[0].plot(roc.fpr, roc.tpr, color=color, label=f"{m.name} (AUC {m.balanced['auc'].iloc[0]:.3f})")
        r = m.roc_low_prevalence
        lp = m.low_prevalence.iloc[0]
        axes[1].plot(
            r["fpr"],
            r["tpr_mean"],
            color=color,
            label=f"{m.name} (AUC {lp['auc']:.3f}, {lp['auc_p2.5']:.3f}-{lp['auc_p97.5']:.3f})",
        )
        axes[1].fill_between(r["fpr"], r["tpr_p2.5"], r["tpr_p97.5"], color=color, alpha=0.15, lw=0)
    lp0 = models[0].low_prevalence.iloc[0]
    titles = ["balanced task", f"low prevalence ({100 * lp0['prevalence']:.1f}%, {int(lp0['repeats'])} subsamples)"]
    for ax, title in zip(axes, titles, strict=True):
        ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--")
        ax.set(
            xlabel="1 - specificity", ylabel="sensitivity", title=f"breast level, {title}", xlim=(0, 1), ylim=(0, 1.01)
        )
        ax.legend(loc="lower right", fontsize=7)
    return png_uri(fig)


def pixel_box_figure(models: Sequence[ModelSection]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    data = [m.pixel["pixel_auc"].dropna().to_numpy() for m in models]
    ax.boxplot(data, tick_labels=[m.name for m in models])
    ax.set(ylabel="pixel AUC vs projected box", title="explanation quality (abnormal breasts)")
    ax.set_ylim(0, 1.02)
    return png_uri(fig)


def gallery_figure(m: ModelSection) -> str:
    """One row per kind (true positives, misses, false alarms): MIP, heatmap overlay (scaled to its
    own maximum), reference box in green."""
    plt = pyplot()
    per_kind = max(1, int(m.gallery["kind"].value_counts().max()) if len(m.gallery) else 1)
    fig, axes = plt.subplots(len(GALLERY_KINDS), per_kind, figsize=(2.3 * per_kind, 7.2), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, kind in enumerate(GALLERY_KINDS):
        sel = m.gallery.index[m.gallery["kind"] == kind]
        if not len(sel):
            axes[r, 0].set_title(f"{kind}: none", fontsize=7)
        for c, i in enumerate(sel[:per_kind]):
            rec, ax = m.gallery.loc[i], axes[r, c]
            ax.imshow(m.gallery_images[i], cmap="gray", vmin=0, vmax=255)
            h = m.gallery_heatmaps[i]
            ax.imshow(h / (h.max() or 1), cmap="jet", alpha=0.35, vmin=0, vmax=1)
            if rec["x0"] >= 0:
                ax.add_patch(
                    plt.Rectangle(
                        (rec["x0"] - 0.5, rec["y0"] - 0.5),
                        rec["x1"] - rec["x0"],
                        rec["y1"] - rec["y0"],
                        fill=False,
                        edgecolor="lime",
                        lw=1.2,
                    )
                )
            ax.set_title(f"{kind}\n{rec['image_id']}\nscore {rec['score']:.3g}", fontsize=7)
    return png_uri(fig)


# ---------------------------------------------------------------------------------------- the section
def _render(models: Sequence[ModelSection], settings: dict) -> str:
    if not models:
        raise BreastlabInputError("anomaly section: no evaluated runs")
    table = _comparison(models)
    triage_cols = ["model"] + [c for c in table.columns if c.startswith(("normals_set_aside", "sens_at"))]
    prevalence = settings.get("prevalence")
    parts = [
        "<h2>Anomaly detection on breast MIPs</h2>",
        "<p class='note'>Breast-level AUC with DeLong 95% CI (balanced task: all abnormal vs all normal "
        "breasts), low-prevalence AUC (mean and 2.5-97.5th percentiles over "
        f"{settings.get('repeats', '?')} stratified subsamples at "
        f"{'?' if prevalence is None else f'{100 * prevalence:g}'}% prevalence), triage figures, and pixel AUC of "
        "each heatmap against the projected tumour box (median and IQR; FCDD: Gaussian-upsampled A(X); "
        "BCE and HSC: Grad-CAM). Figures are means over the CV seeds; curves and gallery show the first seed.</p>",
        html_table(_wrappable(table.drop(columns=triage_cols[1:]))),
        "<h3>Triage</h3>",
        "<p class='note'>Share of normal breasts set aside (specificity) at 100, 99 and 95% sensitivity; "
        "sensitivity at 90% specificity (balanced task).</p>",
        html_table(_wrappable(table[triage_cols])),
        "<h3>ROC curves</h3>",
        img_tag(roc_figure(models), "ROC curves per model and task"),
        "<h3>Explanation quality</h3>",
        img_tag(pixel_box_figure(models), "pixel AUC box plots"),
    ]
    for m in models:
        if not len(m.gallery):  # a model evaluated from a scores file
            continue
        parts.append(f"<h3>Gallery: {html.escape(m.name)}</h3>")
        parts.append(
            "<p class='note'>At the Youden threshold: true positives (highest scores), misses "
            "(lowest-scored abnormal breasts), false alarms (highest-scored normal breasts); "
            "heatmap overlay, projected tumour box in green.</p>"
        )
        parts.append(img_tag(gallery_figure(m), f"gallery {m.name}"))
    return "\n".join(parts)


def _wrappable(table: pd.DataFrame) -> pd.DataFrame:
    """Column names with spaces for underscores, so that a narrow window wraps the headers instead of
    pushing the table past the page's edge."""
    return table.rename(columns=lambda c: str(c).replace("_", " "))


def _comparison(models: Sequence[ModelSection]) -> pd.DataFrame:
    """The comparison table from the saved per-seed tables (same figures as
    :func:`breastlab.anomaly.evaluate.comparison_table`)."""
    evs = [AnomalyEvaluation(Path(m.run_dir), m.name, m.balanced, m.low_prevalence, m.pixel, m.scores) for m in models]
    return comparison_table(evs)


def anomaly_section(evs: Sequence[AnomalyEvaluation], per_kind: int = 3) -> str:
    """The HTML fragment (starting with its ``<h2>``) for a set of evaluated runs."""
    models = [model_section(ev, name, per_kind) for ev, name in zip(evs, _unique_names(evs), strict=True)]
    return _render(models, {"prevalence": 0.02, "repeats": 200, **(evs[0].settings if evs else {})})


def write_anomaly_section(evs: Sequence[AnomalyEvaluation], folder: str | os.PathLike, per_kind: int = 3) -> Path:
    """Save what the anomaly section needs in ``folder`` (see the module docstring); returns the marker path.

    The marker is written last, so a folder holding it is complete."""
    if not evs:
        raise BreastlabInputError("write_anomaly_section: no evaluated runs")
    folder = Path(folder)
    models = [model_section(ev, name, per_kind) for ev, name in zip(evs, _unique_names(evs), strict=True)]
    entries = [  # the run folder by its name: the section is read without it, and holds no local path
        {"name": m.name, "model": m.model, "run_dir": Path(m.run_dir).name, "files": m.save(folder)} for m in models
    ]
    write_table(_comparison(models), folder / "comparison.csv")
    marker = section_marker(
        "anomaly",
        files={"comparison": "comparison.csv"},
        settings={"prevalence": 0.02, "repeats": 200, **evs[0].settings, "per_kind": per_kind},
        comparison="comparison.csv",
        models=entries,
    )
    return write_json(marker, folder / MARKER)


def section_from_dir(path: str | os.PathLike) -> str:
    """The anomaly section's HTML fragment (starting with its ``<h2>``), rebuilt from a folder that
    :func:`write_anomaly_section` (``breastlab anomaly evaluate --out``) wrote."""
    folder = Path(path)
    remedy = f"write it with `breastlab anomaly evaluate RUN ... --out {folder}`"
    meta = read_section_marker(folder, MARKER, remedy=remedy, version=SECTION.version)
    models = [ModelSection.load(folder, entry) for entry in meta["models"]]
    return _render(models, meta.get("settings", {}))


def write_anomaly_report(evs: Sequence[AnomalyEvaluation], path: str | os.PathLike) -> Path:
    """A self-contained HTML page holding :func:`anomaly_section`."""
    page = html_page("breastlab anomaly report", f"<section>{anomaly_section(evs)}</section>")
    return write_text(page, path)


def comparison_frame(evs: Sequence[AnomalyEvaluation]) -> pd.DataFrame:
    return comparison_table(list(evs))
