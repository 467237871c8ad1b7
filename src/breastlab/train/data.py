"""Training input pipeline on tensors from the array store (no image files decoded).

SpurBreast's loader opens a PNG per sample and runs ``Resize(256)``,
``RandomResizedCrop(224)``, ``ToTensor()`` (evaluation: ``Resize(224)``). Here a
whole batch is read from the store's memory map as uint8, moved to the device
(GPU when there is one) and transformed there:

* the crop box of every sample is drawn exactly as torchvision's
  ``RandomResizedCrop.get_params`` draws it (area share ~ U(0.08, 1), log aspect
  ratio ~ U(log 3/4, log 4/3), 10 attempts, central-crop fallback), vectorised over
  the batch, directly in the stored image's frame. ``Resize(256)`` only changes the
  scale and the box distribution is scale-invariant (area share, aspect ratio and
  relative offset), so this equals Resize(256) + RandomResizedCrop up to the integer
  rounding of the box, with one resampling instead of two;
* each box is resized to 224 x 224 with anti-aliased bilinear interpolation
  (torchvision's ``resized_crop``; on the CPU on the uint8 pixels, as PIL does);
* values are scaled to [0, 1] like ``ToTensor``; no mean/std normalisation (as the
  paper's loader);
* evaluation is torchvision's ``Resize((224, 224))`` (anti-aliased bilinear).

The split's ``transform`` column ("vflip", "hflip") is applied to the pixels at
load time; the store is never modified.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from breastlab.curate.split_store import (
    SPLIT_COLUMNS,
    SPLIT_NAMES,
    check_split_store,
)
from breastlab.data.store import ArrayStore, manifest_checksum
from breastlab.errors import BreastlabInputError
from breastlab.transforms import (
    apply_transforms,
    flip_axes,
    grey_to_channels,
    resize_bilinear,
    resized_crops_uint8,
    scale_to_unit,
)


# --------------------------------------------------------------------------- split + store
def check_split_matches_store(man: pd.DataFrame, split_dir: str | os.PathLike, store: ArrayStore) -> None:
    """The split must address this store (:func:`breastlab.curate.split_store.check_split_store`), a
    fixed-layout one (the batches are slices of one array)."""
    check_split_store(man, split_dir, store)
    if store.layout != "fixed":
        raise BreastlabInputError(f"{store.path}: training needs a fixed-layout store (one image size)")


def split_checksum(man: pd.DataFrame) -> str:
    return manifest_checksum(man[SPLIT_COLUMNS])


# --------------------------------------------------------------------------- image source
class ImageSource:
    """Batches of stored images as uint8 tensors on ``device``.

    ``preload=True`` copies the addressed images to the device once (GPU: no host
    traffic per batch); otherwise each batch is read from the memory map.
    """

    def __init__(self, store: ArrayStore, rows: np.ndarray, device: torch.device, preload: bool = False) -> None:
        self.store = store
        self.rows = np.asarray(rows, dtype=np.int64)
        self.device = device
        self._cache: torch.Tensor | None = None
        if preload:
            self._cache = torch.from_numpy(store.batch(self.rows)).to(device)

    def get(self, positions: np.ndarray) -> torch.Tensor:
        positions = np.asarray(positions, dtype=np.int64)
        if self._cache is not None:
            return self._cache[torch.from_numpy(positions).to(self.device)]
        batch = torch.from_numpy(self.store.batch(self.rows[positions]))
        if self.device.type == "cuda":
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        return batch

    def for_training(self, positions: np.ndarray) -> MappedBatch | torch.Tensor:
        """A batch for :func:`preprocess_train`: on the CPU left in the memory map (crops are read from it)."""
        if self._cache is not None or self.device.type != "cpu":
            return self.get(positions)
        return MappedBatch(self.store.images, self.rows[np.asarray(positions, dtype=np.int64)])


@dataclass(frozen=True)
class MappedBatch:
    """Images of a fixed-layout store, addressed by row and not yet copied out of its memory map.

    The CPU path of :func:`preprocess_train` cuts each crop straight from the map (in its
    threads), so whole images are never gathered; every other use gathers the batch first.
    """

    images: np.ndarray  # (N, H, W) memory map
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def gather(self) -> np.ndarray:
        return np.ascontiguousarray(self.images[self.rows])


# --------------------------------------------------------------------------- transforms
def _as_batch(images: torch.Tensor | np.ndarray, device: torch.device | None) -> tuple[torch.Tensor, float]:
    """(B, 1, H, W) tensor in its own dtype on ``device`` and the value that maps to 1.0 (255 for uint8)."""
    t = torch.as_tensor(images)
    if device is not None:
        t = t.to(device, non_blocking=True)
    if t.ndim == 2:
        t = t[None]
    if t.ndim == 3:
        t = t[:, None]
    if t.ndim != 4 or t.shape[1] != 1:
        raise BreastlabInputError(f"images: expected (B, H, W) or (B, 1, H, W), got {tuple(t.shape)}")
    if t.dtype.is_floating_point:
        return t.float(), 1.0
    scale = float(torch.iinfo(t.dtype).max)  # ToTensor's 1/255 for uint8
    return (t if t.dtype == torch.uint8 else t.float()), scale  # few kernels take uint16


def _to_float(images: torch.Tensor | np.ndarray, device: torch.device | None) -> torch.Tensor:
    t, scale = _as_batch(images, device)
    return scale_to_unit(t, scale) if scale != 1.0 else t


def preprocess_train(
    images: torch.Tensor | np.ndarray | MappedBatch,
    boxes: torch.Tensor,
    image_size: int = 224,
    in_channels: int = 1,
    transforms: Sequence[str] | None = None,
    device: torch.device | str | None = None,
    channels_last: bool = False,
    threads: int | None = None,
) -> torch.Tensor:
    """Training transform (RandomResizedCrop(image_size) -> [0, 1]) of a batch with given crop boxes.

    ``boxes`` are (top, left, h, w) in the stored image's frame, from
    :func:`~breastlab.transforms.random_resized_crop_boxes`. Each box is cut out and resized
    to ``image_size`` with anti-aliased bilinear interpolation (torchvision's ``resized_crop``);
    on the CPU this runs on the uint8 pixels (:func:`breastlab.transforms.resized_crops_uint8`,
    SIMD kernels like PIL) split over ``threads`` threads (default: torch's intra-op thread
    count), on a GPU in float (:func:`breastlab.transforms.resize_bilinear`).
    A :class:`MappedBatch` (``ImageSource.for_training``) has its crops read straight from
    the store's memory map.
    """
    device = torch.device(device) if device is not None else None
    if isinstance(images, MappedBatch):
        names = ["" if t is None else str(t) for t in transforms] if transforms is not None else [""] * len(images)
        on_cpu = device is None or device.type == "cpu"
        if on_cpu and images.images.dtype == np.uint8 and set(names) <= {"", *flip_axes()}:
            crops = crop_uint8(images, boxes, image_size, names, threads)
            return to_model_input(crops, in_channels, None, channels_last)
        images = images.gather()
    x, scale = _as_batch(images, device)
    x = apply_transforms(x, transforms)
    box_list = boxes.to(torch.int64).tolist()
    if len(box_list) != len(x):
        raise BreastlabInputError(f"boxes: {len(box_list)} crop boxes for {len(x)} images")
    if x.dtype == torch.uint8 and x.device.type == "cpu":
        out = resized_crops_uint8(x[:, 0], box_list, image_size, threads=threads)
    else:
        x = x.float()
        out = torch.empty((len(x), 1, image_size, image_size), dtype=x.dtype, device=x.device)
        for i, (t, l, h, w) in enumerate(box_list):
            out[i] = resize_bilinear(x[i : i + 1, :, t : t + h, l : l + w], image_size)[0]
    return grey_to_channels(scale_to_unit(out, scale, reciprocal=True), in_channels, channels_last)


def crop_uint8(
    batch: MappedBatch,
    boxes: torch.Tensor,
    image_size: int = 224,
    transforms: Sequence[str] | None = None,
    threads: int | None = None,
) -> torch.Tensor:
    """The training crops of a uint8 batch as grey uint8 (B, 1, S, S): the smallest thing a loader can ship.

    Same pixels as :func:`preprocess_train` before its scaling to [0, 1]; :func:`to_model_input` finishes
    the job on the device (a quarter of the bytes of float, a twelfth of float RGB, cross the bus).
    """
    if not isinstance(batch, MappedBatch):
        where = f" on {batch.device}" if isinstance(batch, torch.Tensor) else ""
        raise BreastlabInputError(
            f"crop_uint8: batch is a {type(batch).__name__}{where}; it takes a MappedBatch, the batch that "
            "ImageSource.for_training gives for a CPU source without preload (the crops are cut from the "
            "store's memory map on the CPU; to_model_input then moves them to the device)"
        )
    names = ["" if t is None else str(t) for t in transforms] if transforms is not None else [""] * len(batch)
    axes = flip_axes()
    bad = sorted(set(names) - {"", *axes})
    if bad:
        raise BreastlabInputError(f"transforms {bad}: crop_uint8 applies only {sorted(axes)}")
    flips = [axes[n] if n else None for n in names]
    return resized_crops_uint8(batch.images, boxes, image_size, batch.rows, flips, threads)


def to_model_input(
    crops: torch.Tensor, in_channels: int = 1, device: torch.device | str | None = None, channels_last: bool = False
) -> torch.Tensor:
    """uint8 crops (B, 1, S, S) -> float in [0, 1] on ``device`` (``v / 255``), grey repeated to ``in_channels``.

    The copy to the device happens before the conversion, so only uint8 crosses the bus; three
    channels are a view of one (as the SpurBreast loader's ``convert("RGB")``, without the copies).
    """
    if device is not None:
        crops = crops.to(device, non_blocking=True)
    return grey_to_channels(scale_to_unit(crops, reciprocal=True), in_channels, channels_last)


def preprocess_eval(
    images: torch.Tensor | np.ndarray,
    image_size: int = 224,
    in_channels: int = 1,
    transforms: Sequence[str] | None = None,
    device: torch.device | str | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """Evaluation transform: uint8 (B, H, W) -> float (B, C, image_size, image_size) in [0, 1].

    ``Resize((image_size, image_size))`` (anti-aliased), the per-image ``transforms``
    ("vflip"/"hflip", the split's ``transform`` column) applied first. Use the run's
    ``config["image_size"]`` and ``config["in_channels"]`` (see ``load_run_model``).
    """
    device = torch.device(device) if device is not None else None
    x = apply_transforms(_to_float(images, device), transforms)
    return grey_to_channels(resize_bilinear(x, image_size), in_channels, channels_last)


# --------------------------------------------------------------------------- split tensors
@dataclass
class SplitPart:
    """One part (train/val/test/tune) of a split: positions into the split manifest and per-image arrays."""

    name: str
    index: np.ndarray  # positions in the split manifest
    rows: np.ndarray
    labels: np.ndarray
    groups: np.ndarray  # integer group ids
    transforms: list[str]

    def __len__(self) -> int:
        return len(self.index)


def split_parts(man: pd.DataFrame, group_names: list[str]) -> dict[str, SplitPart]:
    gid = {g: i for i, g in enumerate(group_names)}
    parts = {}
    for name in SPLIT_NAMES:
        sel = np.flatnonzero(man["split"].to_numpy() == name)
        sub = man.iloc[sel]
        parts[name] = SplitPart(
            name=name,
            index=sel,
            rows=sub["row"].to_numpy(np.int64),
            labels=sub["label"].to_numpy(np.int64),
            groups=np.array([gid[g] for g in sub["group"]], dtype=np.int64),
            transforms=sub["transform"].tolist(),
        )
    return parts
