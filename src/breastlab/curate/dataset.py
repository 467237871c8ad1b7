"""A store and a split as a PyTorch ``Dataset``, for training code outside breastlab.

::

    from torch.utils.data import DataLoader
    from breastlab.curate.dataset import StoreDataset

    train = StoreDataset("OUT/store", split="OUT/splits/baseline_high/rep00", subset="train")
    image, label, meta = train[0]  # float32 (1, H, W); 0/1; image_id, patient_id, group, ...
    loader = DataLoader(train, batch_size=32, shuffle=True)

Each item is one row of the split's manifest (:data:`breastlab.schemas.SPLIT`), in its order:

* ``image``: the stored pixels at the row's store ``row``, with the split's per-image
  ``transform`` applied (e.g. ``vflip`` of a transform split, as breastlab's trainer applies
  it at load time), as a float32 tensor of shape (1, H, W); integer pixels are divided by
  their type's maximum (uint8: 255, as torchvision's ``ToTensor``; uint16: 65535), float
  pixels are kept. ``transform`` (any callable on that tensor, e.g. torchvision transforms)
  is applied last.
* ``label``: the split's 0/1 label (1 = tumour) as an int.
* ``meta``: ``image_id``, ``patient_id``, ``split``, ``attribute``, ``group``, ``transform``
  (strings) and ``row`` (int); the default collate turns them into lists and a tensor.

The split is checked against the store first (its recorded store checksum and the
``image_id`` at every row; :func:`breastlab.curate.split_store.check_split_store`).
This module imports torch; the rest of :mod:`breastlab.curate` does not.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from breastlab.curate.split_store import check_split_store, load_split_manifest, split_subset, transformed_pixels
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError
from breastlab.transforms import scale_to_unit

META_COLUMNS = ("image_id", "patient_id", "split", "attribute", "group", "transform")


def to_float_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W) pixels as a float32 (1, H, W) tensor, integers scaled by their type's maximum."""
    a = np.asarray(pixels)
    if a.ndim != 2:
        raise BreastlabInputError(f"image of shape {a.shape}: expected a 2-D grayscale image")
    if np.issubdtype(a.dtype, np.integer):
        return torch.from_numpy(scale_to_unit(a, float(np.iinfo(a.dtype).max)))[None]
    return torch.from_numpy(a.astype(np.float32))[None]


class StoreDataset(Dataset):
    """Images of a store addressed by a split (module notes): ``(image, label, meta)`` per row."""

    def __init__(
        self,
        store: ArrayStore | str | os.PathLike,
        split: str | os.PathLike,
        subset: str | None = "train",
        transform: Callable[[torch.Tensor], Any] | None = None,
    ) -> None:
        self.store = store if isinstance(store, ArrayStore) else ArrayStore(store)
        man = load_split_manifest(split)
        check_split_store(man, split, self.store)
        self.manifest = split_subset(man, subset, str(split))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, index: int) -> tuple[Any, int, dict[str, Any]]:
        rec = self.manifest.iloc[index]
        image = to_float_tensor(transformed_pixels(self.store, int(rec["row"]), rec["transform"]))
        if self.transform is not None:
            image = self.transform(image)
        meta = {c: str(rec[c]) for c in META_COLUMNS}
        meta["row"] = int(rec["row"])
        return image, int(rec["label"]), meta


__all__ = ["StoreDataset", "to_float_tensor"]
