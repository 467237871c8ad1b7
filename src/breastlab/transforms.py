"""Named image transforms, applied per image by the name a split's manifest gives it.

An image-transform feature of a split (SpurBreast's "vertical alignment": ``"vflip"``) is a
pixel operation that the loaders apply at load time to the rows whose manifest ``transform``
column names it; the array store is never modified. Curation builds splits from these names,
the trainers and the report apply them, and a new one is added with :func:`register_transform`.

A transform maps an array whose last two axes are (rows, columns) to one of the same shape.
The built-in flips also carry the axis they reverse, so that a batch on a GPU is flipped there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from breastlab.errors import BreastlabInputError


@dataclasses.dataclass(frozen=True)
class ImageTransform:
    """A pixel operation applied at load time to the rows that name it.

    ``fn`` maps an array whose last two axes are (rows, columns) to one of the same shape;
    ``attribute`` is the manifest attribute of transformed rows ("flipped"), untransformed rows
    get ``"original"``. ``flip_axis``: the axis a flip reverses (-2 rows, -1 columns), else None.
    """

    name: str
    attribute: str
    fn: Callable[[np.ndarray], np.ndarray]
    description: str = ""
    flip_axis: int | None = None


TRANSFORMS: dict[str, ImageTransform] = {}


def register_transform(
    name: str,
    fn: Callable[[np.ndarray], np.ndarray],
    attribute: str,
    description: str = "",
    flip_axis: int | None = None,
) -> None:
    """Make a new image-transform feature available to the split builder and the loaders."""
    if not name or "|" in name or "," in name:
        raise BreastlabInputError(f"transform name {name!r}: use a short identifier without '|' or ','")
    TRANSFORMS[name] = ImageTransform(name, attribute, fn, description, flip_axis)


def get_transform(name: str) -> ImageTransform:
    """The registered transform ``name``."""
    if name not in TRANSFORMS:
        raise BreastlabInputError(f"transform {name!r} is not registered; known transforms: {sorted(TRANSFORMS)}")
    return TRANSFORMS[name]


register_transform(
    "vflip",
    lambda a: a[..., ::-1, :],
    "flipped",
    "vertical flip (rows reversed): SpurBreast's 'vertical alignment' feature",
    flip_axis=-2,
)
register_transform("hflip", lambda a: a[..., :, ::-1], "mirrored", "horizontal flip (columns reversed)", flip_axis=-1)


def apply_transforms(images, transforms: Sequence[str | None] | np.ndarray | None):
    """Apply each image's transform (the manifest's ``transform`` column; "" or None: none) to a batch.

    ``images``: a numpy array (N, H, W) or (N, C, H, W), or a torch tensor (N, C, H, W) on any
    device; the result is a new array or tensor of the same kind (the input, often a read-only
    memory map, is not modified). Flips run on the tensor's device; any other transform runs its
    array function per image.
    """
    if transforms is None:
        return images
    names = ["" if t is None else str(t) for t in transforms]
    if len(names) != len(images):
        raise BreastlabInputError(f"transforms: {len(names)} values for {len(images)} images")
    wanted = sorted(set(names) - {""})
    unknown = [n for n in wanted if n not in TRANSFORMS]
    if unknown:
        raise BreastlabInputError(
            f"transform values {unknown} unknown; valid: {sorted(TRANSFORMS)} "
            "(register new ones with breastlab.transforms.register_transform)"
        )
    if isinstance(images, np.ndarray) or not hasattr(images, "clone"):
        return _apply_arrays(np.asarray(images), names, wanted)
    return _apply_tensor(images, names, wanted)


def _apply_arrays(images: np.ndarray, names: list[str], wanted: list[str]) -> np.ndarray:
    out = np.array(images, copy=True)
    for name in wanted:
        idx = np.flatnonzero(np.asarray(names, dtype=object) == name)
        out[idx] = TRANSFORMS[name].fn(images[idx])
    return out


def _apply_tensor(x, names: list[str], wanted: list[str]):
    import torch

    if not wanted:
        return x
    x = x.clone()
    for name in wanted:
        idx = [i for i, t in enumerate(names) if t == name]
        sel = torch.tensor(idx, device=x.device)
        transform = TRANSFORMS[name]
        if transform.flip_axis is not None:
            x[sel] = x[sel].flip(transform.flip_axis)
        else:
            done = [torch.from_numpy(np.ascontiguousarray(transform.fn(x[i].cpu().numpy()))) for i in idx]
            x[sel] = torch.stack(done).to(device=x.device, dtype=x.dtype)
    return x


__all__ = ["TRANSFORMS", "ImageTransform", "apply_transforms", "get_transform", "register_transform"]
