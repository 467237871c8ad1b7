"""Which images of a mammography store, and which detections, a detection step works on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from breastlab.data.store import ArrayStore
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


def detections_on(detections: pd.DataFrame, images: pd.DataFrame) -> pd.DataFrame:
    """The detections of the images in ``images`` (matched by ``image_id``)."""
    keep = detections["image_id"].astype(str).isin(images["image_id"].astype(str))
    return detections[keep]


def evaluation_images(images: pd.DataFrame) -> pd.DataFrame:
    """The columns of :data:`IMAGE_COLUMNS` that ``images`` has."""
    return images[[c for c in IMAGE_COLUMNS if c in images.columns]]


__all__ = ["IMAGE_COLUMNS", "detections_on", "evaluation_images", "split_images", "split_rows"]
