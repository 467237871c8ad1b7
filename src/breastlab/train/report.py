"""The SpurBreast shortcut section of the report: training runs and sweeps on SpurBreast splits.

Parts: the runs; SpurBreast's Table 2 layout (accuracy, PPV, NPV on train,
validation and test, 95% CIs from a patient-level bootstrap); all figures per
run (sensitivity, specificity, AUC); ROC curves; per-group accuracy bars and
confusion counts; the shortcut (attribute-only rule) and the validation-minus-
test gap; accuracy against the correlation strength rho when the runs' splits
differ in rho; a check of published figures (can one confusion matrix give
them?); and a gallery of test slices with Grad-CAM, correct predictions beside
shortcut-driven errors (wrong, and equal to the attribute-only rule).

A run folder (:data:`breastlab.schemas.RUN`) is found by its ``predictions.parquet``;
:func:`runs_section` renders all runs found together (Table 2 compares them).
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breastlab._html import html_table, img_tag, png_uri, pyplot
from breastlab._table import fixed, format_ci
from breastlab.errors import BreastlabInputError
from breastlab.evaluate.consistency import SPURBREAST_FIELD_STRENGTH_RESNET50_TEST, check_reported_metrics
from breastlab.evaluate.metrics import (
    SPLIT_LABELS,
    RunEvaluation,
    detail_frame,
    evaluate_run,
    find_runs,
    group_frame,
    shortcut_frame,
    table2_frame,
)
from breastlab.schemas import RUN, run_split_dir, run_store_dir, split_rho

ModelLoader = Callable[[Path], tuple[Any, dict]]

#: Published triples checked in the report: (label, accuracy, PPV, NPV, n_pos or None, n_neg or None).
PUBLISHED = [
    (
        "SpurBreast Table 2, field strength, ResNet-50, test (balanced)",
        SPURBREAST_FIELD_STRENGTH_RESNET50_TEST["accuracy"],
        SPURBREAST_FIELD_STRENGTH_RESNET50_TEST["ppv"],
        SPURBREAST_FIELD_STRENGTH_RESNET50_TEST["npv"],
        None,
        None,
    ),
]


# --------------------------------------------------------------------------- figures
def roc_figure(ev: RunEvaluation) -> str:
    """ROC curves of every split of one run (AUC in the legend)."""
    from breastlab.evaluate.stats import roc_curve

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    df = ev.predictions
    for split in ev.overall["split"].unique():
        part = df[df["split"] == split]
        if part["label"].nunique() < 2:
            continue
        curve = roc_curve(part["label"].to_numpy(), part["score"].to_numpy())
        a = ev.value(split, "auc")
        ax.plot(curve.fpr, curve.tpr, label=f"{SPLIT_LABELS.get(split, split)} (AUC {a:.3f})")
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=f"ROC: {ev.name}", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    return png_uri(fig)


def group_figure(ev: RunEvaluation) -> str:
    """Accuracy per group (label|attribute) and split, with CI error bars."""
    plt = pyplot()
    n_groups = ev.groups["group"].nunique()
    fig, ax = plt.subplots(figsize=(max(4.6, 1.3 * n_groups + 2), 3.6))
    draw_group_bars(ax, ev)
    return png_uri(fig)


def draw_group_bars(ax, ev: RunEvaluation) -> None:
    """The per-group accuracy bars on ``ax``.

    A group with no images in a split has no accuracy: it gets a hatched outline over the whole
    height labelled "n/a", so it cannot be mistaken for an accuracy of 0 (drawn as a bar of height
    0 labelled "0").
    """
    g = ev.groups
    groups = sorted(g["group"].unique())
    splits = list(dict.fromkeys(g["split"]))
    width = 0.8 / max(len(splits), 1)
    for i, split in enumerate(splits):
        sub = g[g["split"] == split].set_index("group").reindex(groups)
        x = np.arange(len(groups)) + (i - (len(splits) - 1) / 2) * width
        acc = sub["accuracy"].to_numpy(dtype=float)
        missing = ~np.isfinite(acc)
        err = np.vstack([acc - sub["ci_low"].to_numpy(dtype=float), sub["ci_high"].to_numpy(dtype=float) - acc])
        err = np.where(np.isfinite(err), np.clip(err, 0, None), 0)
        bars = ax.bar(x, np.where(missing, 0, acc), width, yerr=err, capsize=2, label=SPLIT_LABELS.get(split, split))
        colour = bars.patches[0].get_facecolor() if bars.patches else "grey"
        for xi, gone, a in zip(x, missing, acc, strict=True):
            if gone:
                ax.bar(xi, 1.0, width, fill=False, hatch="///", edgecolor=colour, linewidth=0.8)
                ax.text(
                    xi,
                    0.5,
                    "n/a",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="#222",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
                )
            elif a == 0:
                ax.text(xi, 0.01, "0", ha="center", va="bottom", fontsize=7, color="#444")
    ax.set_xticks(np.arange(len(groups)), [f"label {s.replace('|', chr(10) + 'attr ')}" for s in groups], fontsize=8)
    ax.set(ylim=(0, 1.05), ylabel="accuracy", title=f"Per-group accuracy: {ev.name}")
    ax.axhline(0.5, ls=":", c="grey", lw=1)
    ax.legend(fontsize=8, ncol=len(splits), loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    if g["accuracy"].isna().any() or len(g) < len(groups) * len(splits):
        ax.annotate(
            "hatched n/a: no images of the group in that split",
            xy=(0.5, -0.32),
            xycoords="axes fraction",
            ha="center",
            va="top",
            fontsize=7,
            color="#444",
        )


def rho_figure(evs: Sequence[RunEvaluation], rhos: Sequence[float]) -> str:
    """Validation, test and worst-group test accuracy against the split's rho (one point per run, mean line)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    rows = []
    for ev, rho in zip(evs, rhos, strict=True):
        for split, what in (("val", "Validation accuracy"), ("test", "Test accuracy")):
            if (ev.overall["split"] == split).any():
                rows.append((rho, what, ev.value(split, "accuracy")))
        rows.append((rho, "Test worst-group accuracy", ev.worst_group_accuracy("test")))
    df = pd.DataFrame(rows, columns=["rho", "what", "value"]).dropna()
    for what, sub in df.groupby("what", sort=False):
        ax.scatter(sub["rho"], sub["value"], s=14, alpha=0.5)
        mean = sub.groupby("rho")["value"].mean()
        ax.plot(mean.index, mean.to_numpy(), marker="o", label=what)
    ax.set(
        xlabel="correlation strength rho of the split",
        ylabel="accuracy",
        ylim=(0, 1.05),
        title="Accuracy against correlation strength",
    )
    ax.axhline(0.5, ls=":", c="grey", lw=1)
    ax.legend(fontsize=8)
    return png_uri(fig)


# --------------------------------------------------------------------------- gallery
SHORTCUT_ERROR = "shortcut-driven error"
NO_RULE_ERROR = "error (no shortcut rule)"


def _default_loader(run_dir: Path):
    from breastlab.train import load_run_model

    return load_run_model(run_dir)


def gallery_selection(ev: RunEvaluation, per_kind: int = 4, seed: int = 0) -> pd.DataFrame:
    """Test images to show: correct ones and shortcut-driven errors (wrong and equal to the attribute rule).

    Falls back to other errors when no error follows the rule. A run without an attribute-only rule
    (:attr:`RunEvaluation.rule` empty: no attribute value is mostly tumour on train) has no shortcut
    to follow, so its errors are "error (no shortcut rule)". Column ``kind`` says which.
    """
    df = ev.predictions
    test = df[df["split"] == "test"].copy()
    if test.empty:
        return test.assign(kind=pd.Series(dtype=str))
    wrong = test["pred"] != test["label"]
    kinds = {"correct": test[~wrong]}
    if not ev.rule:
        kinds[NO_RULE_ERROR] = test[wrong]
    else:
        follows_rule = test["pred"] == test["attribute"].isin(ev.rule).astype(int)
        kinds[SHORTCUT_ERROR] = test[wrong & follows_rule]
        if kinds[SHORTCUT_ERROR].empty:
            kinds["other error"] = test[wrong]
    picked = []
    for kind, sub in kinds.items():
        if sub.empty:
            continue
        # Half of each kind per true label when possible, so both classes show up.
        take = []
        for _, lab in sub.groupby("label"):
            take.append(lab.sample(min(len(lab), max(1, per_kind // 2)), random_state=seed))
        chosen = pd.concat(take).head(per_kind)
        picked.append(chosen.assign(kind=kind))
    return pd.concat(picked) if picked else test.head(0).assign(kind=pd.Series(dtype=str))


def _store_of(run_dir: Path, config: dict):
    from breastlab.data.store import ArrayStore

    store = run_store_dir(config, run_dir)
    if store is None:
        raise BreastlabInputError(
            f"{run_dir}: {RUN.config} names no array store ('{RUN.store}'), so no slices can be shown"
        )
    return ArrayStore(store)


def gallery_figure(
    ev: RunEvaluation,
    loader: ModelLoader | None = None,
    preprocess: Callable | None = None,
    per_kind: int = 4,
    seed: int = 0,
) -> tuple[str, pd.DataFrame]:
    """Grid of test slices (top) with their Grad-CAM overlays (bottom), by kind. Returns (PNG URI, selection).

    Grad-CAM runs on the device of the loader's model (its first parameter's; the CPU for a model without any).
    """
    import torch

    from breastlab.models.gradcam import grad_cam

    sel = gallery_selection(ev, per_kind=per_kind, seed=seed)
    if sel.empty:
        raise BreastlabInputError(f"{ev.name}: no test images to show")
    model, cfg = (loader or _default_loader)(ev.run_dir)
    if preprocess is None:
        from breastlab.train import preprocess_eval as preprocess
    store = _store_of(ev.run_dir, {**ev.config, **cfg})
    images = store.batch(sel["row"].to_numpy())
    x = preprocess(
        images,
        image_size=int(cfg.get("image_size", images.shape[-1])),
        in_channels=int(cfg.get("in_channels", 1)),
        transforms=sel["transform"].fillna("").tolist(),
    )
    model.eval()
    first = next(iter(model.parameters()), None)  # a user's model may sit on a GPU: its input goes there
    device = first.device if first is not None else torch.device("cpu")
    target = torch.tensor(sel["pred"].to_numpy(dtype=np.int64), device=device)
    cams = grad_cam(model, x.to(device), target_class=target).detach().cpu().numpy()
    shown = x[:, 0].detach().cpu().numpy()
    fig = gallery_grid(shown, cams, sel, f"Test slices: {ev.name}")
    return png_uri(fig), sel


def gallery_grid(shown: np.ndarray, cams: np.ndarray, sel: pd.DataFrame, title: str):
    """The gallery's figure: slices (top row) over their Grad-CAM overlays, one column per row of ``sel``.

    Constrained layout makes room for the three-line column captions under the title (a plain
    ``suptitle`` overlaps the middle columns' captions).
    """
    plt = pyplot()
    n = len(sel)
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.6), squeeze=False, layout="constrained")
    for i, (_, r) in enumerate(sel.iterrows()):
        for row in (0, 1):
            ax = axes[row, i]
            ax.imshow(shown[i], cmap="gray")
            if row == 1:
                ax.imshow(cams[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, i].set_title(
            f"{r['kind']}\ntrue {r['label']} pred {r['pred']}\nattr {r['attribute']} p={r['score']:.2f}", fontsize=7
        )
    axes[1, 0].set_ylabel("Grad-CAM (predicted class)", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


# --------------------------------------------------------------------------- HTML pieces
def _table2_html(evs: Sequence[RunEvaluation]) -> str:
    t2 = table2_frame(evs)
    t2.columns = ["Run"] + [c.split(" ", 1)[1] for c in t2.columns[1:]]
    present = [SPLIT_LABELS[s] for s in ("train", "val", "test")]
    return html_table(t2, header_groups=[("", 1)] + [(s, 3) for s in present])


def _fmt3(x: float) -> str:
    return fixed(x, 3) if np.isfinite(x) else "-"


def _runs_table(evs: Sequence[RunEvaluation], rhos: Sequence[float | None]) -> str:
    rows = []
    for ev, rho in zip(evs, rhos, strict=True):
        c = ev.config
        split = run_split_dir(c, ev.run_dir or ".")  # only its name is shown
        rows.append(
            {
                "run": ev.name,
                "split": split.name if split else "-",
                "rho": "-" if rho is None else f"{rho:g}",
                "model": c.get("model", "-"),
                "method": c.get("method", "-"),
                "optimizer": c.get("optimizer", "-"),
                "lr": c.get("lr", "-"),
                "wd": c.get("wd", "-"),
                "epochs": c.get("epochs", "-"),
                "images": len(ev.predictions) if ev.predictions is not None else "-",
                "patients": ev.predictions["patient_id"].nunique() if ev.predictions is not None else "-",
                "val worst-group acc": _fmt3(ev.worst_group_accuracy("val")),
                "test worst-group acc": _fmt3(ev.worst_group_accuracy("test")),
            }
        )
    return html_table(pd.DataFrame(rows))


def _share_frame(ev: RunEvaluation) -> pd.DataFrame:
    share = pd.DataFrame(ev.tumour_share).T
    share.columns = [f"P(tumour | attribute {c})" for c in share.columns]
    return share.rename_axis("split").reset_index()


def _consistency_html(published: Sequence[tuple]) -> str:
    rows, notes = [], []
    for label, acc, ppv, npv, n_pos, n_neg in published:
        res = check_reported_metrics(acc, ppv, npv, n_pos=n_pos, n_neg=n_neg)
        c = res.closest
        rows.append(
            {
                "figures": label,
                "accuracy": f"{acc:g}",
                "PPV": f"{ppv:g}",
                "NPV": f"{npv:g}",
                "one confusion matrix possible?": "yes" if res.possible else "NO",
                "implied sens / spec": f"{res.implied_sensitivity:.2f} / {res.implied_specificity:.2f}",
                "closest achievable acc / PPV / NPV": f"{c['accuracy']:.3f} / {c['ppv']:.3f} / {c['npv']:.3f}",
            }
        )
        cls = "good" if res.possible else "bad"
        notes.append(
            f'<p class="note"><span class="{cls}">{html.escape(label)}:</span> {html.escape(res.explanation)}</p>'
        )
    return html_table(pd.DataFrame(rows)) + "".join(notes)


def _error_kinds_note(ev: RunEvaluation) -> str:
    if not ev.rule:
        return (
            "This run has no attribute-only rule (no attribute value is mostly tumour on train), so no error "
            "can be called shortcut-driven: its errors are shown as plain errors."
        )
    return "A shortcut-driven error is wrong and equals the attribute-only rule."


def _run_section(ev: RunEvaluation, gallery: bool, loader, preprocess, per_kind: int, seed: int) -> str:
    name = html.escape(ev.name)
    level = int(round(100 * ev.level))
    out = [
        f'<h2 id="run-{name}">Run {name}</h2>',
        f"<h3>All figures ({level}% CI, {ev.n_boot} patient-level bootstrap replicates)</h3>",
        html_table(detail_frame(ev)),
    ]
    out += [
        img_tag(roc_figure(ev), f"ROC curves {ev.name}"),
        img_tag(group_figure(ev), f"per-group accuracy {ev.name}"),
    ]
    out += [
        "<h3>Per group (label|attribute): confusion counts and accuracy; * = worst group</h3>",
        html_table(group_frame(ev)),
    ]
    rule = " or ".join(ev.rule) if ev.rule else "none (no attribute value is mostly tumour on train)"
    gap = ev.gap
    out += [
        "<h3>Shortcut</h3>",
        f'<p class="note">Attribute-only rule fitted on the train labels: predict tumour iff attribute is '
        f"<b>{html.escape(rule)}</b>. rule_accuracy: the rule against the truth; rule_agreement: the rule "
        "against the model's predictions; rule_kappa: Cohen's kappa of rule and model (0: chance); "
        "attribute_explained: the share of the model's predictions that the best attribute-only rule "
        "reproduces; model_accuracy: the model against the truth.</p>",
        html_table(shortcut_frame(ev)),
        '<p class="note">Share of tumour slices per attribute value (the attribute-label correlation):</p>',
        html_table(_share_frame(ev)),
        f"<p>Validation minus test accuracy ({level}% CI): "
        f"<b>{format_ci(gap['estimate'], gap['ci_low'], gap['ci_high'], signed=True)}</b></p>",
    ]
    if gallery:
        out.append("<h3>Test slices with Grad-CAM</h3>")
        try:
            uri, _ = gallery_figure(ev, loader=loader, preprocess=preprocess, per_kind=per_kind, seed=seed)
            out += [
                '<p class="note">Top: the slice as the model sees it; bottom: Grad-CAM of the predicted class '
                f"on the last convolutional layer (red = most influential). {_error_kinds_note(ev)}</p>",
                img_tag(uri, f"Grad-CAM gallery {ev.name}"),
            ]
        except (BreastlabInputError, FileNotFoundError, ImportError, KeyError) as exc:
            out.append(f'<p class="note">Gallery not available: {html.escape(str(exc))}</p>')
    return "\n".join(out)


def _shortcut_parts(
    evs: Sequence[RunEvaluation],
    gallery: bool,
    max_gallery_runs: int,
    model_loader,
    preprocess,
    per_kind: int,
    seed: int,
    published,
) -> list[str]:
    """The shortcut part of the page: runs, Table 2, rho curve, published-figure check, one section per run."""
    rhos = [None if ev.run_dir is None else rho_of(ev.config, ev.run_dir) for ev in evs]
    parts = [
        '<p class="note">Shortcut evaluation. Confidence intervals: percentile intervals of a '
        "bootstrap that resamples patients (all slices of a drawn patient together).</p>",
        "<h2>Runs</h2>",
        '<p class="note">Worst-group accuracy: the lowest accuracy over the label x attribute groups '
        "(compare mitigation methods by it).</p>",
        _runs_table(evs, rhos),
        "<h2>Table 2 layout (SpurBreast): accuracy, PPV, NPV</h2>",
        f'<p class="note">Estimate ({int(round(100 * evs[0].level))}% CI).</p>',
        _table2_html(evs),
    ]
    with_rho = [(ev, r) for ev, r in zip(evs, rhos, strict=True) if r is not None]
    if len({r for _, r in with_rho}) >= 2:
        parts += [
            "<h2>Accuracy against correlation strength</h2>",
            img_tag(rho_figure([e for e, _ in with_rho], [r for _, r in with_rho]), "accuracy against rho"),
        ]
    parts += [
        "<h2>Published figures: can one confusion matrix produce them?</h2>",
        _consistency_html(PUBLISHED if published is None else published),
    ]
    for i, ev in enumerate(evs):
        parts.append(
            _run_section(
                ev,
                gallery and i < max_gallery_runs and ev.run_dir is not None,
                model_loader,
                preprocess,
                per_kind,
                seed,
            )
        )
    return parts


def rho_of(config: dict, run_dir: str | os.PathLike) -> float | None:
    """The correlation strength of the split of the run in ``run_dir`` (:func:`breastlab.schemas.split_rho`)."""
    split = run_split_dir(config, run_dir)
    return None if split is None else split_rho(split)


def find_run_folders(path: str | os.PathLike) -> list[Path]:
    """Training-run folders at or below ``path`` (none when it holds none)."""
    return find_runs(path, missing_ok=True)


def runs_section(
    run_dirs: Sequence[str | os.PathLike],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    gallery: bool = True,
    max_gallery_runs: int = 3,
    per_kind: int = 4,
    published: Sequence[tuple] | None = None,
    model_loader: ModelLoader | None = None,
    preprocess: Callable | None = None,
) -> str:
    """The shortcut section's HTML for training-run folders, evaluated with
    :func:`breastlab.evaluate.metrics.evaluate_run` (an existing evaluation with the same settings is reused;
    nothing is written into the run folders: the report writes only its own file).

    ``model_loader(run_dir) -> (model, config)`` defaults to ``breastlab.train.load_run_model``;
    ``preprocess`` to ``breastlab.train.preprocess_eval``. ``published``: (label, accuracy, PPV, NPV,
    n_pos, n_neg) triples to check for consistency (default: :data:`PUBLISHED`).
    """
    evs = [evaluate_run(run_dir, n_boot=n_boot, seed=seed, level=level, write=False) for run_dir in run_dirs]
    for ev in evs:
        if ev.predictions is None:
            raise BreastlabInputError(f"{ev.name}: the evaluation carries no predictions (needed for ROC curves)")
    parts = _shortcut_parts(evs, gallery, max_gallery_runs, model_loader, preprocess, per_kind, seed, published)
    return "\n".join(parts)


__all__ = ["PUBLISHED", "find_run_folders", "gallery_selection", "rho_of", "runs_section"]
