"""A split folder read and checked against the store it indexes (torch-free; trainers and exports share it).

:func:`load_split_manifest` reads ``SPLIT/manifest.parquet`` (:data:`breastlab.schemas.SPLIT`)
and checks its columns and values; :func:`check_split_store` checks that the split
addresses a given store (the store checksum its ``config.json`` records, and the same
``image_id`` at every row); :func:`split_subset` and :func:`transformed_pixels` give a part's
rows and an image as a loader sees it (the split's per-image transform applied).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab.curate.splits import load_split
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError
from breastlab.schemas import SPLIT
from breastlab.transforms import apply_transforms

SPLIT_COLUMNS = ["row", "image_id", "patient_id", "label", "split", "attribute", "group", "transform"]
SPLIT_NAMES = ("train", "val", "test", "tune")


def known_transforms() -> list[str]:
    """Transform names a split may use: "" (none) and every transform registered with curation."""
    from breastlab.transforms import TRANSFORMS as REGISTERED

    return ["", *sorted(REGISTERED)]


def load_split_manifest(split_dir: str | os.PathLike) -> pd.DataFrame:
    """Read ``SPLIT/manifest.parquet`` (:data:`breastlab.schemas.SPLIT`) and validate its columns and values."""
    split_dir = Path(split_dir)
    path = split_dir / SPLIT.manifest
    if not path.exists():
        raise BreastlabInputError(
            f"{split_dir}: not a split directory (no manifest.parquet); build one with `breastlab curate`"
        )
    man = load_split(split_dir).copy()
    if "transform" not in man.columns:
        man["transform"] = ""
    missing = [c for c in SPLIT_COLUMNS if c not in man.columns]
    if missing:
        raise BreastlabInputError(f"{path}: missing columns {missing}; a split manifest needs {SPLIT_COLUMNS}")
    man["transform"] = man["transform"].fillna("").astype(str)
    bad = sorted(set(man["transform"]) - set(known_transforms()))
    if bad:
        raise BreastlabInputError(f"{path}: column 'transform' has unknown values {bad}; valid: {known_transforms()}")
    bad = sorted(set(man["split"].astype(str)) - set(SPLIT_NAMES))
    if bad:
        raise BreastlabInputError(f"{path}: column 'split' has unknown values {bad}; valid: {list(SPLIT_NAMES)}")
    if not set(man["label"].unique()) <= {0, 1}:
        raise BreastlabInputError(f"{path}: column 'label' must hold 0/1, found {sorted(man['label'].unique())}")
    for col in ("attribute", "group", "split", "image_id", "patient_id"):
        man[col] = man[col].astype(str)
    man["row"] = man["row"].astype(np.int64)
    man["label"] = man["label"].astype(np.int64)
    return man.reset_index(drop=True)


def check_split_store(man: pd.DataFrame, split_dir: str | os.PathLike, store: ArrayStore) -> None:
    """The split must address this store: same checksum (config.json) and the same image_id at every row."""
    split_dir = Path(split_dir)
    cfg_path = split_dir / SPLIT.config
    if cfg_path.exists():
        cfg = json.loads(cfg_path.read_text())
        want = _find_checksum(cfg)
        if want and want != store.checksum:
            raise BreastlabInputError(
                f"{split_dir}: split was built from a store with checksum {want[:12]}..., but {store.path} has "
                f"{store.checksum[:12]}...; rebuild the split from this store or pass the store it was built from"
            )
    n = len(store)
    rows = man["row"].to_numpy()
    if len(rows) and (rows.min() < 0 or rows.max() >= n):
        raise BreastlabInputError(f"{split_dir}: manifest rows reach {rows.max()} but {store.path} has {n} images")
    ids = store.manifest["image_id"].astype(str).to_numpy()[rows]
    bad = np.flatnonzero(ids != man["image_id"].to_numpy())
    if len(bad):
        i = bad[0]
        raise BreastlabInputError(
            f"{split_dir}: row {rows[i]} is image_id {man['image_id'].iloc[i]!r} in the split but {ids[i]!r} in "
            f"{store.path}; the split does not match this store"
        )


def _find_checksum(cfg: dict) -> str | None:
    """The store checksum recorded in a split's config.json ("store_checksum", or "checksum" under "store")."""
    if cfg.get("store_checksum"):
        return str(cfg["store_checksum"])
    store = cfg.get("store")
    if isinstance(store, dict) and store.get("checksum"):
        return str(store["checksum"])
    return None


def split_subset(man: pd.DataFrame, subset: str | None, where: str) -> pd.DataFrame:
    """The rows of ``man`` in the split part ``subset`` (train, val, test, tune; None: every row)."""
    if subset is None:
        return man.reset_index(drop=True)
    if subset not in SPLIT_NAMES:
        raise BreastlabInputError(f"subset={subset!r}: valid parts are {list(SPLIT_NAMES)} (or None for all)")
    part = man[man["split"] == subset].reset_index(drop=True)
    if part.empty:
        raise BreastlabInputError(f"{where}: no rows in part {subset!r}; its parts are {sorted(set(man['split']))}")
    return part


def transformed_pixels(store: ArrayStore, row: int, transform: str) -> np.ndarray:
    """The stored image at ``row`` with a split's per-image transform ("" for none) applied."""
    pixels = store[int(row)]
    return apply_transforms(pixels[None], [transform])[0] if transform else pixels


__all__ = [
    "SPLIT_COLUMNS",
    "SPLIT_NAMES",
    "check_split_store",
    "known_transforms",
    "load_split_manifest",
    "split_subset",
    "transformed_pixels",
]
