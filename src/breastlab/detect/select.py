"""Which images of a mammography store, and which detections, a detection step works on."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

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


def split_images(store: ArrayStore, split: str) -> pd.DataFrame:
    """The manifest rows of the split ``split`` (every image for ``"all"``)."""
    rows = split_rows(store, split)
    return store.manifest if rows is None else store.manifest.iloc[rows]


def read_detections(path: str | os.PathLike) -> pd.DataFrame:
    """A detections table (``detections.csv`` of predict, or .parquet); errors name the file and what it lacks."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise BreastlabInputError(f"{path}: a detections file must be .csv or .parquet")
    if not path.is_file():
        raise BreastlabInputError(f"{path}: {'not a file' if path.exists() else 'no such detections file'}")
    try:
        table = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BreastlabInputError(f"{path}: not a readable detections table ({exc})") from None
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


__all__ = ["IMAGE_COLUMNS", "detections_on", "evaluation_images", "read_detections", "split_images", "split_rows"]
