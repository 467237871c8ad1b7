"""breastlab.transforms: one registry of named image transforms for arrays and tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from breastlab.errors import BreastlabInputError
from breastlab.transforms import TRANSFORMS, apply_transforms, register_transform


@pytest.fixture
def rotate180():
    register_transform("rot180_probe", lambda a: np.rot90(a, 2, axes=(-2, -1)), "rotated")
    yield "rot180_probe"
    TRANSFORMS.pop("rot180_probe")


def test_arrays_and_tensors_give_the_same_pixels(rotate180):
    imgs = np.arange(4 * 3 * 5, dtype=np.float32).reshape(4, 1, 3, 5)
    names = ["vflip", "", rotate180, "hflip"]
    expected = np.stack([imgs[0, :, ::-1, :], imgs[1], imgs[2, :, ::-1, ::-1], imgs[3, :, :, ::-1]])
    out = apply_transforms(imgs, names)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(apply_transforms(torch.from_numpy(imgs), names).numpy(), expected)


def test_the_input_is_not_modified():
    imgs = np.arange(8, dtype=np.uint8).reshape(2, 2, 2)
    imgs.setflags(write=False)  # a read-only memory map, as a store hands out
    out = apply_transforms(imgs, ["vflip", None])
    assert out is not imgs and out[0, 0, 0] == 2 and imgs[0, 0, 0] == 0
    x = torch.zeros(1, 1, 2, 2)
    x[0, 0, 0, 0] = 1
    y = apply_transforms(x, ["vflip"])
    assert x[0, 0, 0, 0] == 1 and y[0, 0, 1, 0] == 1


def test_bad_names_and_lengths_are_clear_errors():
    with pytest.raises(BreastlabInputError, match=r"transform values \['warp'\] unknown; valid: .*'hflip', 'vflip'"):
        apply_transforms(np.zeros((1, 2, 2)), ["warp"])
    with pytest.raises(BreastlabInputError, match="2 values for 1 images"):
        apply_transforms(np.zeros((1, 2, 2)), ["vflip", ""])
    with pytest.raises(BreastlabInputError, match="without '|'"):
        register_transform("a|b", lambda a: a, "x")
