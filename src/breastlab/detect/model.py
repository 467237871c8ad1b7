"""Faster R-CNN for mammography findings: model, presets, data path, training, prediction.

Model (torchvision, Ren et al., NeurIPS 2015; FPN: Lin et al., CVPR 2017): four finding
classes (:data:`~breastlab.data.mammo.vocabulary.FINDING_CLASSES`, labels 1-4) plus
background (label 0). ``arch``:

* ``"fasterrcnn_resnet50_fpn_v2"`` (the study's; Li et al. 2021 v2 recipe) or
  ``"fasterrcnn_resnet50_fpn"``; ``weights``: None (random), ``"coco"`` (torchvision's
  COCO weights from the torch hub cache, box predictor replaced) or a path to a
  breastlab checkpoint or state dict; ``backbone_weights``: ``"imagenet"`` or None.
* ``"small"``: a CPU configuration for tests and the demo -- a narrow VGG-style body
  (:class:`TinyBody`, widths 16-128, BatchNorm, random weights), a 32-channel FPN on
  strides 4, 8, 16 (+ max pool), anchors ``anchor_sizes`` (8-64 px), a 256-unit box head.

Input: stored uint16 mammograms (:mod:`breastlab.data.mammo.preprocess`, chest wall
left, background 0) mapped with the manifest's ``map_low``/``map_high`` to
``(v - lo) / (hi - lo)`` (5 % of breast pixels below 0, 5 % above 1), clipped to
[-0.5, 1.5], repeated to three channels and normalised with ImageNet's mean/std by
the model. The model never resizes: images arrive at the config's pixel spacing
(``spacing_mm``; a store made at another spacing is an error), padded to a multiple of 32.

Images without findings train as negatives: their target has ``boxes`` of shape
(0, 4) and no labels (torchvision then trains the RPN and box classifier on
background only, with zero box-regression loss).

Presets (:data:`PRESETS`): ``"study"`` -- the DNN-assisted reading study's recipe:
0.15 mm pixels, random rescale 0.8-1.2 and horizontal flips, SGD (momentum 0.9),
lr 0.005 with a 500-iteration linear warm-up and x0.1 step decay at 2/3 and 8/9 of
the iterations, weight decay 1e-4, batch 4, bf16 autocast on the GPU, test-time
horizontal and vertical flips merged by weighted box fusion (:func:`~breastlab.
detect._boxes.weighted_box_fusion`; ``tta="nms"`` pools the views' boxes and applies
class-wise NMS instead); ``"cpu-small"`` -- the ``small`` arch at ``spacing_mm`` 1.0 for
CPU runs (AdamW, lr 1e-3, same augmentation, no test-time flips).

Training (:func:`train_detector`) is iteration-based and resumable: the sample order
of iteration *k* is a function of (seed, k) only (:func:`breastlab.runtime.derive_seed`
streams, as the classifier's training), ``checkpoint.pt`` (model,
optimiser, scheduler, iteration) is written atomically every ``checkpoint_every``
iterations, and ``resume=True`` continues from it; ``metrics.csv`` logs losses, lr and
the time waiting for data versus the whole step.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from breastlab._io import record_path, write_json
from breastlab.data.mammo.vocabulary import FINDING_CLASSES
from breastlab.data.store import ArrayStore
from breastlab.detect._boxes import BOX, check_box_table, empty_detections, nms_merge, weighted_box_fusion
from breastlab.detect.select import store_images
from breastlab.errors import BreastlabInputError
from breastlab.runtime import DistInfo, derive_seed, holds_half, load_torch, resolve_device, save_torch, to_float32
from breastlab.schemas import RUN, read_json
from breastlab.train.harness import Harness, Schedule, Step, check_run_folder

ARCHS = ("fasterrcnn_resnet50_fpn_v2", "fasterrcnn_resnet50_fpn", "small")
TTAS = ("none", "wbf", "nms")


@dataclasses.dataclass(frozen=True)
class DetectorConfig:
    arch: str = "small"
    classes: tuple[str, ...] = FINDING_CLASSES
    spacing_mm: float = 1.0
    weights: str | None = None
    backbone_weights: str | None = None
    anchor_sizes: tuple[int, ...] = (8, 16, 32, 64)
    rescale: tuple[float, float] = (0.8, 1.2)
    hflip: bool = True
    optimizer: str = "adamw"  # "sgd" | "adamw"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 50
    lr_steps: tuple[float, ...] = (2 / 3, 8 / 9)  # fractions of ``iterations``
    gamma: float = 0.1
    iterations: int = 600
    batch_size: int = 4
    workers: int = 0
    tta: str = "none"
    tta_iou: float = 0.55
    score_threshold: float = 0.01
    detections_per_image: int = 50
    checkpoint_every: int = 100
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise BreastlabInputError(f"arch={self.arch!r}: valid architectures are {list(ARCHS)}")
        if self.tta not in TTAS:
            raise BreastlabInputError(f"tta={self.tta!r}: valid values are {list(TTAS)}")
        if self.optimizer not in ("sgd", "adamw"):
            raise BreastlabInputError(f"optimizer={self.optimizer!r}: valid values are 'sgd' and 'adamw'")
        bad = [c for c in self.classes if c not in FINDING_CLASSES]
        if bad or not self.classes:
            raise BreastlabInputError(f"classes={list(self.classes)}: choose from {list(FINDING_CLASSES)}")
        if not (self.spacing_mm > 0 and self.iterations >= 1 and self.batch_size >= 1):
            raise BreastlabInputError("spacing_mm, iterations and batch_size must be positive")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectorConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise BreastlabInputError(f"detector config: unknown key(s) {sorted(unknown)}; known: {sorted(fields)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


PRESETS: dict[str, DetectorConfig] = {
    "study": DetectorConfig(
        arch="fasterrcnn_resnet50_fpn_v2",
        spacing_mm=0.15,
        backbone_weights="imagenet",
        anchor_sizes=(32, 64, 128, 256, 512),
        optimizer="sgd",
        lr=0.005,
        momentum=0.9,
        weight_decay=1e-4,
        warmup_iters=500,
        iterations=18000,
        batch_size=4,
        workers=8,
        tta="wbf",
        score_threshold=0.01,
        detections_per_image=100,
        checkpoint_every=1000,
    ),
    "cpu-small": DetectorConfig(),
}


def preset(name: str, **overrides: Any) -> DetectorConfig:
    if name not in PRESETS:
        raise BreastlabInputError(f"preset {name!r}: known presets are {list(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)


# ============================================================================ model
def _no_resize_transform(model: nn.Module) -> None:
    """Images arrive at the config's spacing: keep torchvision's normalise + batch, drop its resize."""
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    class _Transform(GeneralizedRCNNTransform):
        def resize(self, image, target=None):
            return image, target

    old = model.transform
    model.transform = _Transform(old.min_size, old.max_size, old.image_mean, old.image_std, size_divisible=32)


def _float32_outputs(_module: nn.Module, _inputs: Any, out: Any) -> Any:
    return to_float32(out) if holds_half(out) else None


def _float32_anchor_inputs(_module: nn.Module, args: tuple) -> tuple | None:
    image_list, feature_maps = args
    if not holds_half(feature_maps):
        return None
    # the generator reads the maps' shape, dtype and device only: float32 stand-ins of no memory
    stand_ins = [torch.empty((), dtype=torch.float32, device=f.device).expand(f.shape) for f in feature_maps]
    return image_list, stand_ins


def _float32_box_coordinates(model: nn.Module) -> None:
    """Anchors, proposals and detected boxes in float32 under bf16 autocast (the convolutions stay bf16).

    torchvision makes the anchors in the feature maps' dtype (and keeps its cell anchors in it) and
    decodes boxes in the dtype of the regression outputs; in bf16 (8 significant bits) a coordinate
    between 1024 and 2048 px is a multiple of 8 px. These hooks give the anchor generator float32
    stand-ins of the feature maps and turn the RPN head's and the box predictor's outputs into float32;
    on float32 inputs they do nothing.
    """
    model.rpn.anchor_generator.register_forward_pre_hook(_float32_anchor_inputs)
    model.rpn.head.register_forward_hook(_float32_outputs)
    model.roi_heads.box_predictor.register_forward_hook(_float32_outputs)


def build_model(cfg: DetectorConfig) -> nn.Module:
    """A torchvision Faster R-CNN as configured (module notes)."""
    from torchvision.models.detection import faster_rcnn as frc

    n = len(cfg.classes) + 1
    common = {"box_score_thresh": cfg.score_threshold, "box_detections_per_img": cfg.detections_per_image}
    if cfg.arch == "small":
        model = _small(n, cfg, common)
    else:
        bb = "IMAGENET1K_V1" if cfg.backbone_weights == "imagenet" else None
        build = frc.fasterrcnn_resnet50_fpn_v2 if cfg.arch.endswith("v2") else frc.fasterrcnn_resnet50_fpn
        if cfg.weights == "coco":
            try:
                model = build(weights="DEFAULT", **common)
            except Exception as exc:  # offline and not cached
                raise BreastlabInputError(
                    f"COCO weights for {cfg.arch} are not in the torch hub cache "
                    f"({torch.hub.get_dir()}/checkpoints): {exc}"
                ) from None
            inf = model.roi_heads.box_predictor.cls_score.in_features
            model.roi_heads.box_predictor = frc.FastRCNNPredictor(inf, n)
        else:
            try:
                model = build(weights=None, weights_backbone=bb, num_classes=n, **common)
            except Exception as exc:
                raise BreastlabInputError(
                    f"ImageNet backbone weights for {cfg.arch} are not in the torch hub "
                    f"cache ({torch.hub.get_dir()}/checkpoints): {exc}"
                ) from None
        from torchvision.models.detection.anchor_utils import AnchorGenerator

        k = len(model.rpn.anchor_generator.sizes)
        sizes = tuple((s,) for s in cfg.anchor_sizes)
        if len(sizes) == k:
            model.rpn.anchor_generator = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * k)
    _no_resize_transform(model)
    _float32_box_coordinates(model)
    if cfg.weights not in (None, "coco"):
        state = load_torch(cfg.weights)
        if isinstance(state, dict) and "model" in state:
            _check_classes(state, cfg.classes, str(cfg.weights))
            state = state["model"]
        model.load_state_dict(state)
    return model


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TinyBody(nn.Module):
    """A narrow VGG-style body for CPU runs: widths 16 / 32 / 64 / 128 at strides 2 / 4 / 8 / 16."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = _block(in_channels, 16, 2)
        self.layer1 = _block(16, 32, 2)
        self.layer2 = _block(32, 64, 2)
        self.layer3 = _block(64, 128, 2)

    def forward(self, x):  # pragma: no cover - used through IntermediateLayerGetter
        return self.layer3(self.layer2(self.layer1(self.stem(x))))


def _small(n: int, cfg: DetectorConfig, common: dict) -> nn.Module:
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    backbone = BackboneWithFPN(
        TinyBody(), {"layer1": "0", "layer2": "1", "layer3": "2"}, [32, 64, 128], 32, extra_blocks=LastLevelMaxPool()
    )
    k = 4
    sizes = tuple((s,) for s in cfg.anchor_sizes[:k])
    if len(sizes) != k:
        raise BreastlabInputError(f"anchor_sizes={cfg.anchor_sizes}: the small arch needs {k} sizes")
    return FasterRCNN(
        backbone,
        num_classes=None,
        min_size=64,
        max_size=4096,
        rpn_anchor_generator=AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * k),
        box_roi_pool=MultiScaleRoIAlign(["0", "1", "2"], 7, 2),
        box_head=TwoMLPHead(32 * 7 * 7, 256),
        box_predictor=FastRCNNPredictor(256, n),
        rpn_pre_nms_top_n_train=600,
        rpn_post_nms_top_n_train=300,
        rpn_pre_nms_top_n_test=300,
        rpn_post_nms_top_n_test=150,
        rpn_batch_size_per_image=128,
        box_batch_size_per_image=64,
        **common,
    )


def _check_classes(ckpt: dict, classes: Sequence[str], where: str) -> None:
    saved = list(ckpt.get("classes") or ckpt.get("config", {}).get("classes", []))
    if saved and saved != list(classes):
        raise BreastlabInputError(
            f"{where}: checkpoint trained with classes {saved}, but {list(classes)} were "
            "asked for; use a checkpoint of these classes or the same --classes"
        )


# ============================================================================ data
def _check_store(store: ArrayStore, rows: np.ndarray, cfg: DetectorConfig) -> None:
    man = store.manifest
    if "spacing_mm" not in man.columns:
        raise BreastlabInputError(
            f"{store.path}: manifest has no spacing_mm column; build the store with "
            "breastlab.data.mammo.preprocess.build_mammo_store (standard method)"
        )
    sp = pd.to_numeric(man["spacing_mm"].iloc[rows], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(sp))
    if bad.size:
        raise BreastlabInputError(
            f"{store.path}: image {man['image_id'].iloc[rows[bad[0]]]} has no pixel spacing "
            "(spacing_mm empty); the detector needs images at a known spacing"
        )
    off = np.flatnonzero(np.abs(sp - cfg.spacing_mm) > 0.01 * cfg.spacing_mm)
    if off.size:
        raise BreastlabInputError(
            f"{store.path}: image {man['image_id'].iloc[rows[off[0]]]} is at {sp[off[0]]:g} mm "
            f"but the detector works at {cfg.spacing_mm:g} mm; rebuild the store with "
            f"spacing={cfg.spacing_mm:g} or use a config of that spacing"
        )


def load_image(store: ArrayStore, row: int) -> np.ndarray:
    """Mapped float32 image of one stored mammogram, clipped to [-0.5, 1.5] (module notes)."""
    from breastlab.data.mammo.preprocess import apply_mapping, grey_mapping

    img = store[int(row)]
    rec = store.manifest.iloc[int(row)]
    lo, hi = rec.get("map_low"), rec.get("map_high")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        mask = img > 0
        lo, hi = grey_mapping(img, mask if mask.any() else np.ones_like(mask))
    return np.clip(apply_mapping(img, float(lo), float(hi)), -0.5, 1.5)


def store_targets(store: ArrayStore, cfg: DetectorConfig) -> dict[str, pd.DataFrame]:
    """Validated boxes per image_id (classes outside the config's are left out)."""
    f = store.findings
    if len(f) == 0:
        return {}
    f = f[f["finding_class"].isin(cfg.classes)]
    f = f[f[BOX].notna().all(axis=1)]
    man = store_images(store)
    shapes = {str(i): (int(h), int(w)) for i, h, w in zip(man["image_id"], man["height"], man["width"], strict=True)}
    f = check_box_table(f, f"{store.path}/findings.parquet", shapes=shapes, classes=tuple(cfg.classes))
    return {k: v for k, v in f.groupby("image_id")}


class DetectionData(torch.utils.data.Dataset):
    """(image (1, H, W) float, target) for items ``(row, augmentation seed or -1)``.

    One grey channel: the loader's pinned-memory copy needs a tensor whose elements have memory of
    their own (an image expanded to three channels has not), and a third of the bytes crosses to the
    GPU; :class:`DetectorStudy` expands it to the model's three channels on the device.
    """

    def __init__(self, store: ArrayStore, cfg: DetectorConfig, targets: dict[str, pd.DataFrame]) -> None:
        self.store, self.cfg, self.targets = store, cfg, targets
        self.code = {c: i + 1 for i, c in enumerate(cfg.classes)}

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, item: tuple[int, int]):
        row, seed = item
        img = torch.from_numpy(load_image(self.store, row))
        iid = str(self.store.manifest["image_id"].iloc[row])
        t = self.targets.get(iid)
        boxes = (
            torch.zeros((0, 4))
            if t is None
            else torch.as_tensor(t[BOX].to_numpy(float, copy=True), dtype=torch.float32)
        )
        labels = (
            torch.zeros(0, dtype=torch.int64)
            if t is None
            else torch.as_tensor([self.code[c] for c in t["finding_class"]], dtype=torch.int64)
        )
        if seed >= 0:
            img, boxes = self._augment(img, boxes, np.random.default_rng(seed))
        return img[None], {"boxes": boxes, "labels": labels, "row": row}

    def _augment(self, img: torch.Tensor, boxes: torch.Tensor, rng: np.random.Generator):
        lo, hi = self.cfg.rescale
        s = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        if s != 1.0:
            h, w = img.shape
            nh, nw = max(8, round(h * s)), max(8, round(w * s))
            img = torch.nn.functional.interpolate(
                img[None, None], size=(nh, nw), mode="bilinear", align_corners=False, antialias=s < 1
            )[0, 0]
            boxes = boxes * torch.tensor([nw / w, nh / h, nw / w, nh / h])
        if self.cfg.hflip and rng.random() < 0.5:
            w = img.shape[1]
            img = img.flip(-1)
            boxes = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], dim=1)
        return img.contiguous(), boxes


def _collate(batch):
    return [b[0] for b in batch], [b[1] for b in batch]


class _Batches(torch.utils.data.Sampler):
    """Batches of (row, augmentation seed) for iterations ``start .. stop - 1``; depends on (seed, k) only."""

    def __init__(self, rows: np.ndarray, cfg: DetectorConfig, start: int, stop: int) -> None:
        self.rows, self.cfg, self.start, self.stop = np.asarray(rows), cfg, start, stop
        self._perm: dict[int, np.ndarray] = {}

    def _at(self, g: int) -> int:
        n = len(self.rows)
        epoch, pos = divmod(g, n)
        if epoch not in self._perm:
            self._perm = {epoch: np.random.default_rng(derive_seed(self.cfg.seed, 17, epoch)).permutation(n)}
        return int(self.rows[self._perm[epoch][pos]])

    def __iter__(self):
        bs = self.cfg.batch_size
        for it in range(self.start, self.stop):
            yield [(self._at(it * bs + j), derive_seed(self.cfg.seed, 29, it, j)) for j in range(bs)]

    def __len__(self) -> int:
        return self.stop - self.start


# ============================================================================ training
def _lr_lambda(cfg: DetectorConfig):
    steps = sorted(int(round(f * cfg.iterations)) for f in cfg.lr_steps)

    def f(it: int) -> float:
        warm = min(1.0, 0.001 + (1 - 0.001) * it / cfg.warmup_iters) if cfg.warmup_iters > 0 else 1.0
        return warm * cfg.gamma ** sum(it >= s for s in steps)

    return f


def _optimizer(model: nn.Module, cfg: DetectorConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _open_store(store: str | os.PathLike | ArrayStore) -> ArrayStore:
    return store if isinstance(store, ArrayStore) else ArrayStore(store)


class DetectorStudy:
    """Batches and loss of the detector for the harness: iteration ``k``'s images and augmentations are
    functions of ``(seed, k)`` only (:class:`_Batches`), so a resumed run follows the uninterrupted one."""

    def __init__(self, data: DetectionData, rows: np.ndarray, cfg: DetectorConfig, device: torch.device) -> None:
        self.data, self.rows, self.cfg, self.device = data, rows, cfg, device

    def batches(self, iterations: range):
        return torch.utils.data.DataLoader(
            self.data,
            batch_sampler=_Batches(self.rows, self.cfg, iterations.start, iterations.stop),
            num_workers=self.cfg.workers,
            collate_fn=_collate,
            persistent_workers=False,
            pin_memory=self.device.type == "cuda",
        )

    def step(self, net: nn.Module, batch, amp) -> Step:
        images, tgts = batch
        images = [x.to(self.device, non_blocking=True).expand(3, -1, -1) for x in images]
        tgts = [{"boxes": t["boxes"].to(self.device), "labels": t["labels"].to(self.device)} for t in tgts]
        with amp():
            losses = net(images, tgts)
        loss = sum(losses.values())
        return Step(loss, n=float(len(images)), log={k: v.item() for k, v in losses.items()})

    def state_dict(self) -> dict[str, Any]:
        return {"config": self.cfg.to_dict(), "classes": list(self.cfg.classes)}

    def load_state_dict(self, ckpt: dict[str, Any]) -> None:
        _check_classes(ckpt, self.cfg.classes, "checkpoint.pt")


def train_detector(
    store: str | os.PathLike | ArrayStore,
    out: str | os.PathLike,
    cfg: DetectorConfig = PRESETS["cpu-small"],
    *,
    rows: Sequence[int] | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
) -> Path:
    """Train on ``rows`` of the store (default all) into run folder ``out`` (module notes).

    Writes ``config.json``, ``metrics.csv``, ``checkpoint.pt`` and, when all
    ``cfg.iterations`` are done, ``model.pt``. ``stop_after`` ends early after that many
    iterations of this call (for tests of resume). An existing run is never overwritten:
    without ``resume`` a folder holding one is an error; with it the config must match.
    """
    store = _open_store(store)
    rows = np.arange(len(store)) if rows is None else np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        raise BreastlabInputError(f"{store.path}: no images to train on")
    _check_store(store, rows, cfg)
    targets = store_targets(store, cfg)
    out = Path(out)
    fp = {
        "config": cfg.to_dict(),
        "store": record_path(store.path, out),  # relative to the run: no local path in it
        "store_checksum": store.checksum,
        "rows": int(rows.size),
        "rows_sum": int(rows.sum()),
    }
    saved = read_json(out / RUN.config)
    if resume and saved.get("store") == str(store.path):  # a run of an earlier version (the store as given)
        fp["store"] = saved["store"]
    check_run_folder(out, fp, resume, what="a detector run")
    device = resolve_device(cfg.device, DistInfo())
    torch.manual_seed(cfg.seed)
    model = build_model(cfg).to(device)  # before anything is written: a bad --weights file is refused here
    write_json(fp, out / RUN.config)
    opt = _optimizer(model, cfg)
    harness = Harness(
        model,
        opt,
        torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg)),
        Schedule("iteration", cfg.iterations, cfg.checkpoint_every, scheduler_step="iteration", log="iteration"),
        device,
        checkpoint=out / RUN.checkpoint,
        run=out,
        fingerprint=fp,
        desc="detector",
        where=str(out),
        hint="lower the lr",
        progress=progress,
        # as before the harness: torchvision's detection ops have no deterministic CUDA backward
        # (warnings at every step) and the CPU path is deterministic without the switch
        deterministic=False,
    )
    study = DetectorStudy(DetectionData(store, cfg, targets), rows, cfg, device)
    if resume:
        harness.resume(study, map_location=device)
    fit = harness.fit(study, stop_after)
    if fit.finished:
        save_torch(
            {"model": model.state_dict(), "config": cfg.to_dict(), "classes": list(cfg.classes)}, out / RUN.model
        )
    return out


def load_detector(
    run: str | os.PathLike, classes: Sequence[str] | None = None, device: str = "cpu"
) -> tuple[nn.Module, DetectorConfig]:
    """Model and config of a run folder (``model.pt``, else ``checkpoint.pt``) or a checkpoint file."""
    path = Path(run)
    if path.is_dir():
        path = path / RUN.model if (path / RUN.model).exists() else path / RUN.checkpoint
    if not path.exists():
        raise BreastlabInputError(f"{run}: no model.pt or checkpoint.pt; train a detector first")
    ck = load_torch(path)
    if not isinstance(ck, dict) or "model" not in ck or "config" not in ck:
        raise BreastlabInputError(f"{path}: not a breastlab detector checkpoint (needs 'model' and 'config')")
    cfg = DetectorConfig.from_dict(ck["config"])
    if classes is not None:
        _check_classes(ck, classes, str(path))
    model = build_model(dataclasses.replace(cfg, weights=None, backbone_weights=None))
    model.load_state_dict(ck["model"])
    return model.to(device).eval(), cfg


# ============================================================================ prediction
def _views(img: torch.Tensor, tta: str) -> list[str]:
    return ["id"] if tta == "none" else ["id", "hflip", "vflip"]


def _apply(img: torch.Tensor, view: str) -> torch.Tensor:
    return img if view == "id" else img.flip(-1) if view == "hflip" else img.flip(-2)


def _unapply(boxes: np.ndarray, view: str, h: int, w: int) -> np.ndarray:
    b = boxes.copy()
    if view == "hflip":
        b[:, [0, 2]] = w - boxes[:, [2, 0]]
    elif view == "vflip":
        b[:, [1, 3]] = h - boxes[:, [3, 1]]
    return b


@torch.no_grad()
def predict_images(
    model: nn.Module, cfg: DetectorConfig, images: Sequence[np.ndarray], *, tta: str | None = None, batch_size: int = 4
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(boxes (n, 4), scores, class indices 0..) per mapped float image; test-time flips merged per ``tta``."""
    tta = cfg.tta if tta is None else tta
    if tta not in TTAS:
        raise BreastlabInputError(f"tta={tta!r}: valid values are {list(TTAS)}")
    model.eval()
    device = next(model.parameters()).device
    out = []
    for k in range(0, len(images), batch_size):
        chunk = [torch.as_tensor(np.asarray(x, np.float32)) for x in images[k : k + batch_size]]
        on_device = [x.to(device) for x in chunk]  # one grey channel crosses, once for all views
        per_view = {}
        for view in _views(chunk[0], tta):
            batch = [_apply(x, view).expand(3, -1, -1) for x in on_device]
            per_view[view] = model(batch)
        for i, x in enumerate(chunk):
            h, w = x.shape
            bs, ss, ls = [], [], []
            for view, res in per_view.items():
                bs.append(_unapply(res[i]["boxes"].float().cpu().numpy(), view, h, w))
                ss.append(res[i]["scores"].float().cpu().numpy())
                ls.append(res[i]["labels"].cpu().numpy())
            b, s, lab = np.concatenate(bs), np.concatenate(ss), np.concatenate(ls)
            if tta == "wbf":
                b, s, lab = weighted_box_fusion(b, s, lab, n_views=len(per_view), iou_threshold=cfg.tta_iou)
            elif tta == "nms":
                b, s, lab = nms_merge(b, s, lab, cfg.tta_iou)
            b = np.clip(b, 0, [w, h, w, h])
            ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
            out.append((b[ok], s[ok], lab[ok].astype(int) - 1))
    return out


def predict(
    model: nn.Module,
    cfg: DetectorConfig,
    store: str | os.PathLike | ArrayStore,
    rows: Sequence[int] | None = None,
    *,
    tta: str | None = None,
    batch_size: int = 4,
    progress: bool = True,
) -> pd.DataFrame:
    """Detections table (image_id, finding_class, score, x0, y0, x1, y1) for ``rows`` of a store."""
    from breastlab.progress import progress as progress_bar

    store = _open_store(store)
    rows = np.arange(len(store)) if rows is None else np.asarray(rows, dtype=np.int64)
    _check_store(store, rows, cfg)
    frames = []
    for k in progress_bar(range(0, len(rows), batch_size), desc="detect", unit="batch", disable=not progress):
        chunk = rows[k : k + batch_size]
        res = predict_images(model, cfg, [load_image(store, r) for r in chunk], tta=tta, batch_size=batch_size)
        for r, (b, s, lab) in zip(chunk, res, strict=True):
            if len(s) == 0:
                continue
            frames.append(
                pd.DataFrame(
                    {
                        "image_id": str(store.manifest["image_id"].iloc[r]),
                        "finding_class": [cfg.classes[i] for i in lab],
                        "score": s,
                        "x0": b[:, 0],
                        "y0": b[:, 1],
                        "x1": b[:, 2],
                        "y1": b[:, 3],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True) if frames else empty_detections()


def n_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


__all__ = [
    "ARCHS",
    "DetectorConfig",
    "DetectionData",
    "PRESETS",
    "build_model",
    "load_detector",
    "load_image",
    "predict",
    "predict_images",
    "preset",
    "train_detector",
]
