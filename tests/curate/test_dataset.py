"""StoreDataset: the store's pixels and the split's labels, patients and transforms, row by row."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from breastlab._io import write_table
from breastlab.curate import load_split
from breastlab.curate.dataset import StoreDataset
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError


def test_items_are_the_store_pixels_and_the_split_rows(small_release):
    _, imported = small_release
    split = imported.splits["baseline_low"]
    store = ArrayStore(imported.store)
    man = load_split(split)
    train = man[man["split"] == "train"].reset_index(drop=True)
    ds = StoreDataset(imported.store, split, subset="train")
    assert len(ds) == len(train) == 6
    for i, rec in train.iterrows():
        image, label, meta = ds[i]
        assert image.dtype == torch.float32 and image.shape == (1, 16, 12)
        np.testing.assert_array_equal((image[0] * 255).round().numpy().astype(np.uint8), store[rec["row"]])
        assert label == rec["label"]
        assert (meta["image_id"], meta["patient_id"], meta["row"]) == (rec["image_id"], rec["patient_id"], rec["row"])
    everything = StoreDataset(store, split, subset=None)
    assert len(everything) == len(man)
    images, labels, meta = next(iter(DataLoader(ds, batch_size=4)))
    assert images.shape == (4, 1, 16, 12) and labels.tolist() == train["label"].iloc[:4].tolist()
    assert meta["patient_id"] == train["patient_id"].iloc[:4].tolist()
    # a user transform runs last, on the tensor
    doubled = StoreDataset(store, split, subset="val", transform=lambda x: 2 * x)
    assert torch.equal(doubled[0][0], 2 * StoreDataset(store, split, subset="val")[0][0])


def test_split_transforms_applied_and_mismatches_refused(small_release, tmp_path):
    _, imported = small_release
    split = tmp_path / "flipped"
    shutil.copytree(imported.splits["baseline_low"], split)
    man = load_split(split)
    man["transform"] = np.where(np.arange(len(man)) % 2 == 0, "vflip", "")
    write_table(man, split / "manifest.parquet")
    store = ArrayStore(imported.store)
    ds = StoreDataset(store, split, subset=None)
    for i in range(len(man)):
        want = store[man["row"].iloc[i]]
        want = want[::-1] if i % 2 == 0 else want
        np.testing.assert_array_equal((ds[i][0][0] * 255).round().numpy().astype(np.uint8), want)
    with pytest.raises(BreastlabInputError, match="valid parts"):
        StoreDataset(store, split, subset="training")
    man.loc[0, "image_id"] = "someone-else"
    write_table(man, split / "manifest.parquet")
    with pytest.raises(BreastlabInputError, match="does not match this store"):
        StoreDataset(store, split)


def test_uint16_scaled_by_type_maximum(tmp_path):
    from breastlab.curate.dataset import to_float_tensor

    a = np.array([[0, 65535], [32768, 1]], np.uint16)
    np.testing.assert_allclose(to_float_tensor(a)[0].numpy(), a / 65535.0, rtol=1e-6)
    f = np.array([[0.5, -2.0]], np.float32)
    assert torch.equal(to_float_tensor(f)[0], torch.from_numpy(f))
    with pytest.raises(BreastlabInputError, match="2-D"):
        to_float_tensor(np.zeros((2, 2, 2), np.uint8))
