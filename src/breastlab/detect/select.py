"""Which images of a mammography store, and which detections, a detection step works on."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breastlab._io import read_user_table
from breastlab.data.store import ArrayStore
from breastlab.detect._boxes import DETECTION_COLUMNS
from breastlab.errors import BreastlabInputError

#: Manifest columns the detection evaluation reads of every image.
IMAGE_COLUMNS = ("image_id", "patient_id", "laterality", "view", "height", "width")


def split_rows(store: ArrayStore, split: str) -> np.ndarray | None:
    """Store rows of the manifest split ``split``; ``None`` (every image) for ``"all"``."""
    if split == "all":
        return None
    manifest = store.manifest
    if "split" not in manifest.columns or not (manifest["split"] == split).any():
        raise BreastlabInputError(
            f"{store.path}: no images with split {split!r}; use --split all or a split of the manifest"
        )
    return manifest.index[manifest["split"] == split].to_numpy()


def store_images(store: ArrayStore) -> pd.DataFrame:
    """The store's manifest with each image's ``height`` and ``width`` in stored pixels: a ragged store's
    manifest holds them; every image of a fixed-layout store (the chest wall at column 0 of one canvas,
    at the store's spacing) has the canvas's size."""
    manifest = store.manifest
    if {"height", "width"} <= set(manifest.columns) or store.layout != "fixed":
        return manifest
    height, width = store.shape
    return manifest.assign(height=int(height), width=int(width))


def split_images(store: ArrayStore, split: str) -> pd.DataFrame:
    """The manifest rows of the split ``split`` (every image for ``"all"``), with their sizes (:func:`store_images`)."""
    rows = split_rows(store, split)
    images = store_images(store)
    return images if rows is None else images.iloc[rows]


def read_detections(path: str | os.PathLike) -> pd.DataFrame:
    """A detections table (``detections.csv`` of predict, or .parquet); errors name the file and what it lacks."""
    path = Path(path)
    table = read_user_table(path, "detections")
    missing = [c for c in DETECTION_COLUMNS if c not in table.columns]
    if missing:
        raise BreastlabInputError(
            f"{path}: detections lack column(s) {missing}; it has {[str(c) for c in table.columns]}, "
            f"needs {DETECTION_COLUMNS}"
        )
    return table


def detections_on(detections: pd.DataFrame, images: pd.DataFrame) -> pd.DataFrame:
    """The detections of the images in ``images`` (matched by ``image_id``)."""
    keep = detections["image_id"].astype(str).isin(images["image_id"].astype(str))
    return detections[keep]


def evaluation_images(images: pd.DataFrame) -> pd.DataFrame:
    """The columns of :data:`IMAGE_COLUMNS` that ``images`` has."""
    return images[[c for c in IMAGE_COLUMNS if c in images.columns]]


@dataclasses.dataclass(frozen=True)
class EvaluatedInputs:
    """What :func:`evaluate_inputs` evaluated: the evaluation, the store (None for COCO files) and the
    settings to record with it (file names, never paths)."""

    evaluation: Any  # breastlab.detect.froc.DetectionEvaluation
    store: ArrayStore | None
    settings: dict[str, Any]


def evaluate_inputs(
    store: str | os.PathLike | None = None,
    detections: str | os.PathLike | None = None,
    *,
    coco_gt: str | os.PathLike | None = None,
    coco_results: str | os.PathLike | None = None,
    split: str = "all",
    hit: str = "iou_or_centre",
    iou_threshold: float = 0.5,
) -> EvaluatedInputs:
    """FROC, AP@0.5 and Table 1 of one of two inputs: a store with the ``detections.csv`` of its
    images (those of ``split``), or COCO results against a COCO ground truth (all their images).

    Exactly one of the two pairs must be given, whole; ``split`` goes with a store only.
    """
    from breastlab.detect.froc import evaluate_detections

    if coco_gt is not None or coco_results is not None:
        if coco_gt is None or coco_results is None or store is not None or detections is not None:
            raise BreastlabInputError(
                "give either STORE DETECTIONS or both --coco-gt GT.json and --coco-results RESULTS.json"
            )
        if split != "all":
            raise BreastlabInputError("--split: only with a store; COCO files are evaluated on all their images")
        from breastlab.detect.coco import evaluate_coco

        ev = evaluate_coco(coco_gt, coco_results, hit=hit, iou_threshold=iou_threshold)
        settings = {"coco_gt": Path(coco_gt).name, "coco_results": Path(coco_results).name}
        return EvaluatedInputs(ev, None, {**settings, "hit": hit, "iou": iou_threshold})
    if store is None or detections is None:
        raise BreastlabInputError("give STORE and DETECTIONS (or --coco-gt and --coco-results)")
    st = ArrayStore(store)
    images = split_images(st, split)
    det = detections_on(read_detections(detections), images)
    ev = evaluate_detections(evaluation_images(images), st.findings, det, hit=hit, iou_threshold=iou_threshold)
    settings = {"detections": Path(detections).name, "split": split, "hit": hit, "iou": iou_threshold}
    return EvaluatedInputs(ev, st, settings)


__all__ = [
    "IMAGE_COLUMNS",
    "EvaluatedInputs",
    "detections_on",
    "evaluate_inputs",
    "evaluation_images",
    "read_detections",
    "split_images",
    "split_rows",
    "store_images",
]
