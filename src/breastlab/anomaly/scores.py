"""Any model's per-breast anomaly scores (and heatmaps), evaluated as breastlab's own runs are.

**Scores file** (``.csv`` or ``.parquet``, one row per breast): a 0/1 truth column (1 =
abnormal breast), a score column (higher = more abnormal; any finite number) and a patient
column, named by the caller; an id column (``image_id``) is needed for heatmaps. The rows
are read by :func:`breastlab.evaluate.metrics.predictions_from_table` (the same checks as
``breastlab evaluate PRED.csv``) and evaluated by the figures of
:mod:`breastlab.anomaly.evaluate`: balanced AUC with DeLong 95 % CI and the triage figures,
and the low-prevalence draws (mean and 2.5-97.5th percentiles over the repeats). Each row
is one breast; the patient column is kept with the scores (the figures do not cluster).

**Heatmaps** (optional): one ``ID.npy`` per breast in a folder, a 2-D array of finite
numbers (higher = more abnormal), read with ``np.load(..., allow_pickle=False)`` (nothing
in a data folder is executed). The pixel AUC of each abnormal breast's heatmap is taken
against

* the lesion box of an anomaly store (``store``: the MIP store of ``breastlab anomaly
  mip``; ids are its ``image_id`` values, heatmaps have its image size): exactly the
  computation of breastlab's FCDD heatmaps (:func:`~breastlab.anomaly.evaluate.pixel_aucs`:
  the store's abnormal breasts with a ``tumour_box``, within the image's content area), or
* a mask per breast (``masks``: a folder of ``ID.npy`` arrays, nonzero = lesion, of the
  heatmap's shape), over the whole image, for the rows whose truth is 1 and that have a mask.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab.anomaly.evaluate import (
    AnomalyEvaluation,
    breast_level,
    low_prevalence,
    pixel_auc,
    pixel_aucs,
    summarise_repeats,
)
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError
from breastlab.evaluate.metrics import predictions_from_table, read_predictions_file

PIXEL_COLUMNS = ["row", "image_id", "pixel_auc"]


def _check_ids(values: pd.Series, column: str, source: str) -> pd.Series:
    ids = values.astype(str).str.strip()
    blank = values.isna() | (ids == "")
    if blank.any():
        raise BreastlabInputError(
            f"{source}: column {column!r} (--id) is blank in data row {int(np.flatnonzero(blank.to_numpy())[0]) + 1}"
        )
    dup = ids.duplicated()
    if dup.any():
        raise BreastlabInputError(
            f"{source}: column {column!r} (--id) repeats {ids[dup].iloc[0]!r}; one row per breast is expected"
        )
    return ids


def read_breast_scores(
    path: str | os.PathLike,
    truth: str = "label",
    score: str = "score",
    patient: str = "patient_id",
    image_id: str | None = None,
) -> pd.DataFrame:
    """The scores file as ``image_id, patient_id, label, score, seed`` (seed 0; module notes).

    Without ``image_id`` the ids are the data row numbers (1-based). Errors name the file and column.
    """
    path = Path(path)
    table = read_predictions_file(path)
    pred = predictions_from_table(table, truth=truth, score=score, patient=patient, source=path.name)
    if image_id is not None:
        if image_id not in table.columns:
            raise BreastlabInputError(
                f"{path.name}: no column {image_id!r} (named by --id); "
                f"its columns are {[str(c) for c in table.columns]}"
            )
        pred["image_id"] = _check_ids(table[image_id], image_id, path.name).to_numpy()
    out = pred[["image_id", "patient_id", "label", "score"]].copy()
    out["seed"] = 0
    return out


def _plain_name(iid: str, folder: Path) -> str:
    if iid in (".", "..") or "/" in iid or "\\" in iid or "\0" in iid:
        raise BreastlabInputError(
            f"{folder.name}: id {iid!r} cannot name a file in the folder; ids of breasts with heatmaps must be "
            "plain file names (no '/', not '.' or '..')"
        )
    return f"{iid}.npy"


def load_npy_map(folder: str | os.PathLike, iid: str, shape: tuple[int, ...] | None, what: str) -> np.ndarray:
    """``folder/ID.npy`` as a 2-D float array of finite numbers (of ``shape`` when given); never unpickles."""
    folder = Path(folder)
    path = folder / _plain_name(iid, folder)
    if not path.is_file():
        raise BreastlabInputError(f"{what} {folder.name}: no {path.name} for breast {iid!r}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise BreastlabInputError(f"{what} {folder.name}/{path.name}: not a plain .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise BreastlabInputError(
            f"{what} {folder.name}/{path.name}: expected a 2-D numeric array, found "
            f"{getattr(arr, 'dtype', type(arr))} of shape {getattr(arr, 'shape', '?')}"
        )
    if shape is not None and arr.shape != tuple(shape):
        raise BreastlabInputError(
            f"{what} {folder.name}/{path.name}: shape {arr.shape} differs from the image's {tuple(shape)}; "
            "give maps at the image's size"
        )
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise BreastlabInputError(f"{what} {folder.name}/{path.name}: holds NaN or infinite values")
    return arr


class NpyHeatmaps(Mapping):
    """Store row -> heatmap read on demand from ``folder/ID.npy`` (checked against the image size)."""

    def __init__(self, folder: str | os.PathLike, store: ArrayStore, ids_by_row: Mapping[int, str]) -> None:
        self.folder, self.store, self.ids_by_row = Path(folder), store, dict(ids_by_row)

    def __getitem__(self, row: int) -> np.ndarray:
        iid = self.ids_by_row[int(row)]
        return load_npy_map(self.folder, iid, self.store[int(row)].shape, "heatmaps")

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids_by_row)

    def __len__(self) -> int:
        return len(self.ids_by_row)


def store_rows(store: ArrayStore, ids: pd.Series) -> np.ndarray:
    """The store rows of the breasts ``ids`` (its ``image_id`` values); an error names an id it lacks."""
    row_of = dict(zip(store.manifest["image_id"].astype(str), store.manifest["row"].astype(int), strict=True))
    missing = [i for i in ids if i not in row_of]
    if missing:
        raise BreastlabInputError(
            f"{len(missing)} id(s) of the scores file are not image_id values of the store {store.path.name} "
            f"(first: {missing[:3]}); the --id column must hold the store's image ids"
        )
    return np.array([row_of[i] for i in ids], dtype=np.int64)


def heatmap_pixel_aucs(
    scores: pd.DataFrame,
    heatmaps: str | os.PathLike,
    *,
    store: ArrayStore | None = None,
    masks: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Pixel AUC of each abnormal breast's ``ID.npy`` heatmap (module notes): ``row, image_id, pixel_auc``.

    ``row`` is the store row (``store``) or the 0-based data row of ``scores`` (``masks``).
    """
    if (store is None) == (masks is None):
        raise BreastlabInputError("heatmaps: give the reference as exactly one of a store (its lesion boxes) or masks")
    heatmaps = _existing_folder(heatmaps, "heatmaps")
    if store is not None:
        rows = store_rows(store, scores["image_id"])
        heat = NpyHeatmaps(heatmaps, store, dict(zip(rows.tolist(), scores["image_id"], strict=True)))
        return pixel_aucs(store, heat, rows)
    masks = _existing_folder(masks, "masks")
    out = []
    for k, rec in enumerate(scores.itertuples()):
        if rec.label != 1 or not (masks / _plain_name(rec.image_id, masks)).is_file():
            continue
        mask = load_npy_map(masks, rec.image_id, None, "masks") != 0
        heat = load_npy_map(heatmaps, rec.image_id, mask.shape, "heatmaps")
        out.append({"row": k, "image_id": rec.image_id, "pixel_auc": pixel_auc(heat, mask)})
    if not out:  # a wrong folder would otherwise give an empty pixel table and no error
        raise BreastlabInputError(
            f"masks {masks.name}: no ID.npy mask for any abnormal breast of the scores (ids: the --id column)"
        )
    return pd.DataFrame(out, columns=PIXEL_COLUMNS)


def _existing_folder(folder: str | os.PathLike, what: str) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise BreastlabInputError(f"{what} {folder}: {'not a folder' if folder.exists() else 'no such folder'}")
    return folder


def evaluate_breast_scores(
    path: str | os.PathLike,
    *,
    truth: str = "label",
    score: str = "score",
    patient: str = "patient_id",
    image_id: str | None = None,
    heatmaps: str | os.PathLike | None = None,
    store: str | os.PathLike | None = None,
    masks: str | os.PathLike | None = None,
    prevalence: float = 0.02,
    repeats: int = 200,
    seed: int = 0,
) -> AnomalyEvaluation:
    """Balanced and low-prevalence figures of a scores file, with pixel AUCs when ``heatmaps`` is given.

    The result is an :class:`~breastlab.anomaly.evaluate.AnomalyEvaluation` named after the
    file, so the comparison table and the report section take it beside trained runs.
    """
    path = Path(path)
    if heatmaps is None and (store is not None or masks is not None):
        raise BreastlabInputError("--store / --masks: the reference of heatmaps; give --heatmaps DIR too")
    if heatmaps is not None and image_id is None:
        raise BreastlabInputError("--heatmaps: name the id column (--id) whose values name the ID.npy files")
    pred = read_breast_scores(path, truth, score, patient, image_id)
    y, s = pred["label"].to_numpy(), pred["score"].to_numpy()
    balanced = pd.DataFrame([{"seed": 0, **breast_level(y, s)}])
    lows = pd.DataFrame([{"seed": 0, **summarise_repeats(low_prevalence(y, s, prevalence, repeats, seed))}])
    pixel = pd.DataFrame(columns=PIXEL_COLUMNS)
    if heatmaps is not None:
        st = ArrayStore(store) if store is not None else None
        pixel = heatmap_pixel_aucs(pred, heatmaps, store=st, masks=masks)
        if st is not None:
            pred["row"] = store_rows(st, pred["image_id"])
    pixel["seed"] = 0
    return AnomalyEvaluation(
        Path(path.name),
        path.stem,
        balanced,
        lows,
        pixel,
        pred,
        {"prevalence": prevalence, "repeats": repeats, "seed": seed},
        kind="scores",
    )


__all__ = ["NpyHeatmaps", "evaluate_breast_scores", "heatmap_pixel_aucs", "load_npy_map", "read_breast_scores"]
