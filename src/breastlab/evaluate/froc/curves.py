r"""Empirical FROC, AFROC and wAFROC operating characteristics (RJafroc's ``PlotEmpiricalOperatingCharacteristics``).

At each threshold :math:`\zeta` (the distinct finite ratings, descending) of one reader in one
treatment (Chakraborty 2017, ch. 13):

* FROC: NLF = NL marks rated :math:`\ge\zeta` on all K cases / K; LLF = lesions whose LL rating is
  :math:`\ge\zeta` / L. Starts at (0, 0) and ends at the observed end point (MaxNLFAllCases,
  MaxLLF); it is not extended.
* AFROC: FPF = non-diseased cases whose highest NL rating is :math:`\ge\zeta` / :math:`K_1`,
  against LLF; wAFROC: against wLLF = :math:`\sum W_{kl}[LL_{kl}\ge\zeta] / K_2`. Both join
  (0, 0), the operating points and a straight segment from the end point to (1, 1); the
  trapezoidal area under them is the empirical AFROC / wAFROC figure of merit.

``pooled`` curves count the marks of all readers of a treatment together (each reader's cases
and lesions once per reader), as RJafroc does when it is given several readers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.froc._data import FROCData

KINDS = ("froc", "afroc", "wafroc")
_AXES = {
    "froc": ("NLF (non-lesion localisations per case)", "LLF (lesion localisation fraction)"),
    "afroc": ("FPF (non-diseased cases with a mark)", "LLF (lesion localisation fraction)"),
    "wafroc": ("FPF (non-diseased cases with a mark)", "wLLF (weighted lesion localisation fraction)"),
}


def _points(data: FROCData, kind: str, i: int, readers: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k1 = data.n_normal
    mask = data.lesion_mask
    nl = data.nl[i, readers]  # (J, K, L1)
    ll = data.ll[i, readers][:, mask]  # (J, L)
    w = np.broadcast_to(data.weights[mask], ll.shape) if kind == "wafroc" else np.ones(ll.shape)
    ll_den = len(readers) * (data.n_diseased if kind == "wafroc" else data.n_lesions)
    if kind == "froc":
        x_vals, x_den = nl[np.isfinite(nl)], len(readers) * nl.shape[1]
    else:
        fp = nl[:, :k1].max(axis=-1)
        x_vals, x_den = fp[np.isfinite(fp)], len(readers) * k1
    y_vals, y_w = ll[np.isfinite(ll)], w[np.isfinite(ll)]
    zeta = np.unique(np.concatenate([x_vals, y_vals]))[::-1]
    xs = np.sort(x_vals)
    x = (len(xs) - np.searchsorted(xs, zeta, side="left")) / x_den  # count of values >= zeta
    order = np.argsort(y_vals)
    cw = np.concatenate([[0.0], np.cumsum(y_w[order])])
    y = (cw[-1] - cw[np.searchsorted(y_vals[order], zeta, side="left")]) / ll_den
    return zeta, x, y


def froc_curves(
    data: FROCData,
    kind: str = "wafroc",
    *,
    treatments: Sequence[str] | None = None,
    readers: Sequence[str] | None = None,
    pooled: bool = True,
) -> pd.DataFrame:
    """Operating points: one row per (treatment, reader, point) with columns treatment, reader
    (``"pooled"`` for the pooled curve), threshold (NaN for the added (0, 0) and (1, 1)), x, y."""
    kind = str(kind).lower()
    if kind not in KINDS:
        raise BreastlabInputError(f"kind must be one of {KINDS}, got {kind!r}")
    sub = data.subset(treatments, readers)
    frames = []
    groups = [(r, [j]) for j, r in enumerate(sub.readers)] + (
        [("pooled", list(range(len(sub.readers))))] if pooled else []
    )
    for i, trt in enumerate(sub.treatments):
        for name, idx in groups:
            zeta, x, y = _points(sub, kind, i, idx)
            thr = np.concatenate([[np.nan], zeta])
            x, y = np.concatenate([[0.0], x]), np.concatenate([[0.0], y])
            if kind != "froc":
                thr, x, y = np.append(thr, np.nan), np.append(x, 1.0), np.append(y, 1.0)
            frames.append(pd.DataFrame({"treatment": trt, "reader": name, "threshold": thr, "x": x, "y": y}))
    return pd.concat(frames, ignore_index=True)


def curve_area(curve: pd.DataFrame) -> float:
    """Trapezoidal area under one (A)FROC curve's points (x ascending as listed)."""
    return float(np.trapezoid(curve["y"].to_numpy(), curve["x"].to_numpy()))


def plot_froc_curves(
    data: FROCData,
    path: str | os.PathLike,
    kind: str = "wafroc",
    *,
    treatments: Sequence[str] | None = None,
    readers: Sequence[str] | None = None,
    per_reader: bool = True,
    title: str | None = None,
) -> Path:
    """PNG of the pooled curve of each treatment (thick) and, with ``per_reader``, each reader's (thin)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from breastlab._io import atomic_path

    pts = froc_curves(data, kind, treatments=treatments, readers=readers)
    fig, ax = plt.subplots(figsize=(5.2, 4.6), dpi=120)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, (trt, g) in enumerate(pts.groupby("treatment", sort=False)):
        colour = colours[n % len(colours)]
        if per_reader:
            for _, r in g[g.reader != "pooled"].groupby("reader", sort=False):
                ax.plot(r.x, r.y, color=colour, alpha=0.35, lw=0.8)
        p = g[g.reader == "pooled"]
        ax.plot(p.x, p.y, color=colour, lw=2.2, label=f"{trt} (pooled, area {curve_area(p):.3f})")
    ax.set_xlabel(_AXES[kind.lower()][0])
    ax.set_ylabel(_AXES[kind.lower()][1])
    ax.set_ylim(0, 1.02)
    if kind.lower() != "froc":
        ax.set_xlim(0, 1.0)
    ax.set_title(title or f"Empirical {kind.upper() if kind != 'wafroc' else 'wAFROC'} curves")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
