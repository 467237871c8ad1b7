"""Negative / recalled-benign / malignant mammogram classification (Aboutalib et al. 2018).

Aboutalib SS, Mohamed AA, Berg WA, Zuley ML, Sumkin JH, Wu S. Deep learning to
distinguish recalled but benign mammography images in breast cancer screening.
Clin Cancer Res 2018;24:5902-5909.

Data: a fixed-layout store of either kind (one grey channel; the registry sums a
pretrained first convolution over RGB, which equals feeding the grey image three times):

* the study's path, ``build_mammo_store(dataset, out, method="aboutalib2018")``: 227 x 227
  uint8, histogram-equalised, bicubic-downsampled; ``store.json`` holds ``pixel_mean``.
  Input ``x = resize(v / 255) - pixel_mean`` (the study's mean subtraction);
* the standard path, ``build_mammo_store(..., method="standard", layout="fixed",
  spacing=S, size=(H, W))``: uint16, segmented, resampled to ``S`` mm, chest wall at
  column 0. Input ``x = clip((v - map_low) / (map_high - map_low), -0.5, 6) - mean``
  (the 5 %/95 % breast mapping; values above 1 are kept up to 6 so that a finding denser
  than the 95th percentile is not flattened into the dense tissue), background -0.5;
  ``mean`` is that input's mean over up to 512 evenly spaced images of the store.

``image_size=None`` feeds the stored pixels as they are (no resize; non-square canvases
allowed), an integer resizes to ``image_size x image_size`` (anti-aliased bilinear).
Stores whose inputs fit in 1 GiB are converted once and kept in memory.

:data:`CPU_PRESET` is breastlab's CPU setting (documented substitute for the study's
GPU preset): standard path at 1.6 mm in a 128 x 96 canvas, ``small_cnn`` (width 8,
global max pool: the image score follows its most suspicious location), batch 32,
lr 0.005 (x0.1 after 420), 600 iterations, label-balanced batches. At the study's
227 x 227 equalised path shrunk for a CPU (112 px) the phantom's findings are a few
faint pixels and a CPU-sized model (global average pool) stays at chance for hundreds
of iterations; at 1.6 mm with the linear mapping they keep their contrast.

Training (:func:`train_classifier`): iteration-based SGD as the study's preset
:data:`PAPER_PRESET` -- batch 50, momentum 0.9, weight decay 0.001, learning rate
0.001 multiplied by 0.1 every 2,500 iterations. breastlab's choices where the paper
is silent: mini-batches drawn with replacement, class-balanced by default
(``balanced=True``: each class equally likely, so a 70 % negative set does not
collapse the model; ``balanced="labels"``: each class equally likely and, within a
class, each of the image labels it pools -- e.g. negative and malignant in
"recalled-benign vs rest" -- so the rarer pooled label, often the hard one, is not
drowned; ``False``: uniform), random vertical flips (``augment=True``; CC/MLO views are
roughly symmetric about the nipple line once the chest wall is on the left), and
7,500 iterations (three learning-rate stages) by default. Batch order is drawn from
generators seeded by ``(seed, iteration)``, so a run resumed from ``checkpoint.pt``
follows the path of an uninterrupted one.

Strategies (:data:`STRATEGIES`):

* ``imagenet`` -- ImageNet weights (registry, read from the torch hub cache; offline
  without the file use ``weights=None`` = random init) -> train on dataset B;
* ``incremental`` -- ImageNet -> train on dataset A (``pretrain/<scenario>/model.pt``,
  reused by every fold and later run with the same settings) -> fine-tune on B;
* ``mixed`` -- ImageNet -> train on A and B together.

Evaluation: a patient-level held-out test set (:func:`patient_holdout`; the study used
5, 10 and 15 %) or patient-grouped k-fold cross-validation (:func:`patient_kfold`,
default 6 folds, no patient in two folds); per binary scenario the AUC with a
patient-level (cluster) bootstrap 95 % CI; for the three-class task Hand and Till's M
(mean pairwise AUC) with its bootstrap CI and the per-pair ROC curves; two strategies
scored on the same test images compared with the paired DeLong test
(:func:`compare_strategies`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from breastlab._io import write_json, write_table
from breastlab.curate import patients
from breastlab.data._csv import read_text_csv
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError
from breastlab.mammo.scenarios import CLASSES, Scenario, get_scenario, parse_scenarios
from breastlab.models import check_weights, get_classifier, get_model, imagenet_weights_file, list_models
from breastlab.presets import CPU_PRESET, PAPER_PRESET  # noqa: F401 - re-exported by breastlab.mammo
from breastlab.runtime import derive_seed, inference_autocast, load_torch, resolve_device, save_torch
from breastlab.schemas import CLASSIFY_SECTION, RUN
from breastlab.train.harness import Harness, Schedule, Step, config_fingerprint, digest
from breastlab.transforms import resize_bilinear, scale_to_unit

STRATEGIES = ("imagenet", "incremental", "mixed")
MAPPED_RANGE = (-0.5, 6.0)  # clip of the mapped standard-path input; background = the lower bound
_CACHE_BYTES = 1 << 30
HOLDOUT_FRACTIONS = (0.05, 0.10, 0.15)
_NOT_IN_FINGERPRINT = {"device", "checkpoint_every", "eval_batch_size"}
SECTION_MARKER = CLASSIFY_SECTION  # breastlab report's marker of a classify output folder


# ============================================================================ data
@dataclasses.dataclass
class MammoImages:
    """A classification data set: the store and one row per usable image.

    ``table``: ``row`` (store address), ``image_id``, ``patient_id``, ``label`` (one of
    :data:`CLASSES`), ``site`` (and ``map_low``/``map_high`` for a standard-path store).
    ``pixel_mean`` is subtracted from the converted input (module notes).
    """

    store: ArrayStore
    table: pd.DataFrame
    pixel_mean: float
    cache: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.table)

    def subset(self, keep: np.ndarray) -> MammoImages:
        return MammoImages(self.store, self.table[np.asarray(keep, bool)].reset_index(drop=True), self.pixel_mean)

    @property
    def mapped(self) -> bool:
        """True for a standard-path (uint16, 5 %/95 % mapping) store."""
        return "map_low" in self.table.columns

    @property
    def key(self) -> str:
        """Store checksum: identifies the pixels in run fingerprints."""
        return str(self.store.checksum)


def load_images(
    store: str | os.PathLike | ArrayStore,
    sites: str | os.PathLike | Mapping[str, str] | None = None,
    site: str | Sequence[str] | None = None,
) -> MammoImages:
    """Open an ``aboutalib2018`` store and (optionally) keep the images of ``site``.

    ``sites``: where an image's site comes from -- a CSV with columns ``image_id`` and
    ``site`` (the phantom's ``phantom_truth.csv``), a mapping image_id -> site, or
    ``None`` (the manifest's ``site`` column if it has one, else every image is site
    ``"all"``). ``site``: a site name or several (``None`` keeps all).
    """
    st = store if isinstance(store, ArrayStore) else ArrayStore(store)
    if st.layout != "fixed":
        raise BreastlabInputError(
            f"{st.path}: classification needs a fixed-size store; build it with "
            "build_mammo_store(..., method='aboutalib2018') or (..., method='standard', "
            "layout='fixed', size=(H, W))"
        )
    man = st.manifest
    for col in ("image_id", "patient_id", "label"):
        if col not in man.columns:
            raise BreastlabInputError(f"{st.path}: manifest has no column {col!r}; not a mammography store")
    table = pd.DataFrame(
        {
            "row": man["row"].astype(np.int64) if "row" in man else np.arange(len(man)),
            "image_id": man["image_id"].astype(str),
            "patient_id": man["patient_id"].astype(str),
            "label": man["label"].astype(str),
        }
    )
    table["site"] = _sites_of(table["image_id"], man, sites)
    mapped = np.dtype(st.dtype) != np.uint8
    if mapped:
        if not {"map_low", "map_high"} <= set(man.columns):
            raise BreastlabInputError(
                f"{st.path}: a {st.dtype} store without map_low/map_high columns; build it "
                "with build_mammo_store(..., method='standard', layout='fixed')"
            )
        table["map_low"] = man["map_low"].astype(np.float64).to_numpy()
        table["map_high"] = man["map_high"].astype(np.float64).to_numpy()
    bad = sorted(set(table["label"]) - set(CLASSES))
    if bad:
        raise BreastlabInputError(f"{st.path}: image labels {bad} are not image classes; valid: {list(CLASSES)}")
    if site is not None:
        want = [site] if isinstance(site, str) else list(site)
        have = sorted(table["site"].unique())
        missing = [s for s in want if s not in have]
        if missing:
            raise BreastlabInputError(f"site {missing} not found in {st.path}; sites there: {have}")
        table = table[table["site"].isin(want)]
    if not len(table):
        raise BreastlabInputError(f"{st.path}: no images left to classify")
    mean = None if mapped else st.meta.get("pixel_mean")
    if mean is None:  # over the whole store (not the selected site): datasets A and B of one store share it
        rows = np.unique(np.linspace(0, len(man) - 1, min(512, len(man))).round().astype(np.int64))
        sample = man.iloc[rows]
        raw = st.batch(sample["row"].to_numpy() if "row" in sample else rows)
        x = _convert(raw, sample["map_low"].to_numpy(), sample["map_high"].to_numpy()) if mapped else None
        x = scale_to_unit(raw, dtype=np.float64) if x is None else x
        mean = float(np.asarray(x, np.float64).mean())
    return MammoImages(st, table.reset_index(drop=True), float(mean))


def _convert(raw: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Standard-path input: ``clip((v - lo) / (hi - lo), *MAPPED_RANGE)``, background (v = 0) at the lower bound."""
    raw = np.asarray(raw)
    lo = np.asarray(lo, np.float32).reshape(-1, 1, 1)
    span = np.maximum(np.asarray(hi, np.float32).reshape(-1, 1, 1) - lo, 1e-6)
    x = np.clip((raw.astype(np.float32) - lo) / span, *MAPPED_RANGE)
    x[raw == 0] = MAPPED_RANGE[0]
    return x


def _sites_of(image_ids: pd.Series, man: pd.DataFrame, sites) -> np.ndarray:
    if sites is None:
        return (man["site"].astype(str) if "site" in man.columns else pd.Series("all", index=man.index)).to_numpy()
    if not isinstance(sites, Mapping):
        path = Path(sites)
        if not path.exists():
            raise BreastlabInputError(f"sites={str(sites)!r}: no such file (a CSV with image_id and site columns)")
        tab = read_text_csv(path, "sites CSV")
        if not {"image_id", "site"} <= set(tab.columns):
            raise BreastlabInputError(f"{path}: needs columns image_id and site, has {list(tab.columns)}")
        tab = tab[tab["site"] != ""]  # an empty cell is no site: the image is reported below
        sites = dict(zip(tab["image_id"], tab["site"], strict=True))
    out = image_ids.map(sites)
    if out.isna().any():
        raise BreastlabInputError(
            f"no site for images {image_ids[out.isna()].head(5).tolist()} ({int(out.isna().sum())} in all)"
        )
    return out.astype(str).to_numpy()


# ============================================================================ splits
def patient_holdout(
    patient_ids: Sequence[str], labels: Sequence[str], test_fraction: float = 0.15, seed: int = 0
) -> np.ndarray:
    """Boolean test mask of a patient-level held-out split, stratified by the patient's worst label
    (negative < recalled-benign < malignant): :func:`breastlab.curate.patients.patient_holdout`.

    In each stratum ``round(test_fraction * n_patients)`` patients (at least one when the
    stratum has two or more) go to the test set, with all their images.
    """
    return patients.patient_holdout(patient_ids, np.asarray(labels).astype(str), test_fraction, seed, order=CLASSES)


def patient_kfold(patient_ids: Sequence[str], labels: Sequence[str], k: int = 6, seed: int = 0) -> np.ndarray:
    """Fold (0..k-1) of every image; all images of a patient share a fold; strata (worst label) dealt evenly
    (:func:`breastlab.curate.patients.patient_kfold`, ``method="dealt"``)."""
    return patients.patient_kfold(patient_ids, np.asarray(labels).astype(str), k, seed, order=CLASSES)


# ============================================================================ training
@dataclasses.dataclass
class ClassifierConfig:
    """Everything that defines a training run (the study's preset by default; see the module notes)."""

    model: str = "alexnet"
    weights: str | None = "imagenet"
    iterations: int = 7500
    batch_size: int = 50
    lr: float = 1e-3
    momentum: float = 0.9
    wd: float = 1e-3
    lr_step: int = 2500
    lr_gamma: float = 0.1
    image_size: int | None = 227  # None: the stored size, no resize
    balanced: bool | str = True  # True: per target class; "labels": per class, then per image label; False
    augment: bool = True
    seed: int = 0
    model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    checkpoint_every: int = 500
    eval_batch_size: int = 128
    device: str = "auto"

    def validate(self) -> None:
        if self.model not in list_models():
            raise BreastlabInputError(f"model {self.model!r}: valid models are {', '.join(list_models())}")
        if self.balanced not in (True, False, "labels"):
            raise BreastlabInputError(f"balanced={self.balanced!r}: valid values are True, False and 'labels'")
        for name in ("iterations", "batch_size", "lr_step", "checkpoint_every", "image_size"):
            v = getattr(self, name)
            if name == "image_size" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise BreastlabInputError(
                    f"{name}={v!r}: must be a positive integer"
                    + (" or None (the stored size)" if name == "image_size" else "")
                )
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise BreastlabInputError(f"lr={self.lr!r}: must be a positive number (the study: 0.001)")
        if self.wd < 0 or not 0 <= self.momentum < 1 or not 0 < self.lr_gamma <= 1:
            raise BreastlabInputError(
                f"wd={self.wd!r} (>= 0), momentum={self.momentum!r} (in [0, 1)), "
                f"lr_gamma={self.lr_gamma!r} (in (0, 1]) out of range"
            )


def resolve_weights(model: str, weights: str | None) -> tuple[str | None, str]:
    """``(weights, note)``: "imagenet" when torchvision's file is in the hub cache, else ``None`` with a note.

    Used where a run must go on offline (the acceptance script); the CLI passes the
    user's choice straight to the registry, which names the missing file.
    """
    if weights != "imagenet":
        return weights, "" if weights else "random initialisation (weights none)"
    if model in ("small_cnn",):
        return None, f"{model} has no ImageNet weights: random initialisation stands in for ImageNet"
    expected, known = imagenet_weights_file(model)
    if any(p.exists() for p in known):
        return "imagenet", f"ImageNet weights from {expected.parent}"
    return None, (
        f"ImageNet weights for {model} are not in the torch hub cache ({expected}); offline, random "
        "initialisation stands in for ImageNet"
    )


@dataclasses.dataclass
class TrainPart:
    """Training images of one data set: positions into ``images.table`` and integer targets."""

    images: MammoImages
    positions: np.ndarray
    y: np.ndarray


def _fingerprint(cfg: ClassifierConfig, parts: Sequence[TrainPart], num_classes: int, init: str | None) -> str:
    d = config_fingerprint(cfg, _NOT_IN_FINGERPRINT)
    data = [(p.images.key, p.images.table["image_id"].to_numpy()[p.positions].tolist(), p.y.tolist()) for p in parts]
    init_id = init
    if init is not None and Path(init).is_file():
        init_id = load_torch(init).get("fingerprint", str(init))
    return digest(d, data, num_classes, init_id)


def _inputs(images: MammoImages, positions: np.ndarray, image_size: int | None) -> torch.Tensor:
    """Converted, resized, mean-subtracted (n, 1, H, W) float inputs of the images at ``positions`` (CPU)."""
    tab = images.table.iloc[positions]
    raw = images.store.batch(tab["row"].to_numpy())
    if images.mapped:
        x = _convert(raw, tab["map_low"].to_numpy(), tab["map_high"].to_numpy())
    else:
        x = scale_to_unit(raw, dtype=np.float64)
    x = torch.from_numpy(np.ascontiguousarray(x, np.float32))[:, None]
    if image_size is not None and tuple(x.shape[-2:]) != (image_size, image_size):
        x = resize_bilinear(x, image_size)
    return x - images.pixel_mean


def model_input(
    images: MammoImages,
    positions: np.ndarray,
    image_size: int | None,
    flips: Sequence[bool] | None,
    device: torch.device,
) -> torch.Tensor:
    """Network input of the images at ``positions`` (module notes), optionally flipped vertically.

    When all of the table's inputs fit in 1 GiB they are converted once and cached.
    """
    positions = np.asarray(positions, np.int64)
    h, w = images.store.shape if image_size is None else (image_size, image_size)
    if len(images) * h * w * 4 <= _CACHE_BYTES:
        if image_size not in images.cache:
            images.cache.clear()
            images.cache[image_size] = torch.cat(
                [
                    _inputs(images, np.arange(s, min(s + 1024, len(images))), image_size)
                    for s in range(0, len(images), 1024)
                ]
            )
        x = images.cache[image_size][torch.from_numpy(positions)]
    else:
        x = _inputs(images, positions, image_size)
    if flips is not None and np.any(flips):
        f = torch.as_tensor(np.asarray(flips, bool))
        x = torch.where(f[:, None, None, None], x.flip(-2), x)
    return x.to(device)


@dataclasses.dataclass
class TrainedClassifier:
    path: Path  # RUN/model.pt
    model: nn.Module
    config: ClassifierConfig
    num_classes: int
    fingerprint: str
    reused: bool  # True when a finished run with the same fingerprint was found and loaded
    images_per_second: float = float("nan")  # training loop of this call (the harness's measure)


def train_classifier(
    parts: TrainPart | Sequence[TrainPart],
    num_classes: int,
    cfg: ClassifierConfig,
    out: str | os.PathLike,
    init: str | os.PathLike | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainedClassifier:
    """Train a registry model on the images of ``parts`` (several data sets are mixed) for ``cfg.iterations``.

    ``init``: a ``model.pt`` of an earlier run (incremental transfer: its weights, head
    re-initialised when the class count differs); ``None``: ``cfg.weights`` ("imagenet",
    ``None`` or a state-dict path). Writes ``out/config.json``, ``out/metrics.csv`` (one
    row per ``checkpoint_every`` iterations), ``out/checkpoint.pt`` (resume) and finally
    ``out/model.pt``. A finished run with the same fingerprint (settings, images,
    targets, init) is loaded instead of retrained; an unfinished one is resumed.
    ``stop_after``: run at most that many iterations in this call (then resume later).
    """
    cfg.validate()
    parts = [parts] if isinstance(parts, TrainPart) else list(parts)
    if not parts or sum(len(p.positions) for p in parts) == 0:
        raise BreastlabInputError("no training images")
    y_all = np.concatenate([np.asarray(p.y, np.int64) for p in parts])
    if y_all.min() < 0 or y_all.max() >= num_classes or np.unique(y_all).size < 2:
        raise BreastlabInputError(
            f"training targets {sorted(np.unique(y_all).tolist())}: need at least two of 0..{num_classes - 1}"
        )
    out = Path(out)
    init = str(init) if init is not None else None
    fp = _fingerprint(cfg, parts, num_classes, init)
    device = resolve_device(cfg.device)
    final = out / RUN.model
    if final.exists():
        saved = load_torch(final)
        if saved.get("fingerprint") == fp:
            model = get_model(cfg.model, num_classes, 1, None, **cfg.model_kwargs)
            model.load_state_dict(saved["model"])
            return TrainedClassifier(final, model.to(device).eval(), cfg, num_classes, fp, True)
        raise BreastlabInputError(
            f"{out}: holds a finished run with other settings or data; choose another folder "
            "or delete it (nothing was overwritten)"
        )
    model, ips = _train(parts, y_all, num_classes, cfg, out, init, fp, device, progress, stop_after)
    return TrainedClassifier(final, model, cfg, num_classes, fp, False, ips)


class ClassifierStudy:
    """Batches and loss of the classifier for the harness: iteration ``k`` draws its images, flips and
    dropout from ``(seed, k)`` streams only, so a resumed run follows the uninterrupted one."""

    def __init__(self, parts: Sequence[TrainPart], y_all: np.ndarray, num_classes: int, cfg: ClassifierConfig, device):
        self.parts, self.y_all, self.cfg, self.device = parts, y_all, cfg, device
        self.weights = torch.as_tensor(_sampling_weights(parts, y_all, num_classes, cfg.balanced))
        self.offsets = np.cumsum([0] + [len(p.positions) for p in parts])

    def batches(self, iterations: range):
        cfg = self.cfg
        for it in iterations:
            gen = torch.Generator().manual_seed(derive_seed(cfg.seed, it, 7))
            idx = torch.multinomial(self.weights, cfg.batch_size, replacement=True, generator=gen).numpy()
            flips = (torch.rand(cfg.batch_size, generator=gen) < 0.5).numpy() if cfg.augment else None
            torch.manual_seed(derive_seed(cfg.seed, it, 8))  # dropout stream
            yield idx, flips

    def step(self, net: nn.Module, batch, amp) -> Step:
        idx, flips = batch
        x = _pooled_batch(self.parts, self.offsets, idx, self.cfg.image_size, flips, self.device)
        y = torch.as_tensor(self.y_all[idx], device=self.device)
        with amp():
            logits = net(x).float()
        loss = F.cross_entropy(logits, y)
        return Step(loss, n=float(len(idx)), correct=float((logits.argmax(1) == y).sum()))


def _train(
    parts, y_all, num_classes, cfg, out: Path, init, fp, device, progress, stop_after
) -> tuple[nn.Module, float]:
    torch.manual_seed(cfg.seed)
    model = get_model(cfg.model, num_classes, 1, init if init is not None else cfg.weights, **cfg.model_kwargs)
    model = Harness.place(model, device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.wd)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    harness = Harness(
        model,
        opt,
        sched,
        Schedule("iteration", cfg.iterations, cfg.checkpoint_every, scheduler_step="iteration"),
        device,
        checkpoint=out / RUN.checkpoint,
        run=out,
        fingerprint=fp,
        desc=f"{cfg.model} -> {out.name}",
        where=str(out),
        hint="try a smaller lr",
        progress=progress,
    )
    harness.resume()
    write_json(
        {
            **dataclasses.asdict(cfg),
            "num_classes": num_classes,
            "init": init,
            "fingerprint": fp,
            "n_train": int(len(y_all)),
            "class_counts": np.bincount(y_all, minlength=num_classes).tolist(),
        },
        out / RUN.config,
    )
    fit = harness.fit(ClassifierStudy(parts, y_all, num_classes, cfg, device), stop_after)
    if fit.finished:
        save_torch(
            {
                "model": model.state_dict(),
                "fingerprint": fp,
                "num_classes": num_classes,
                "config": dataclasses.asdict(cfg),
                "init": init,
            },
            out / RUN.model,
        )
    return model.eval(), fit.images_per_second


def _sampling_weights(
    parts: Sequence[TrainPart], y_all: np.ndarray, num_classes: int, balanced: bool | str
) -> np.ndarray:
    """Draw probabilities of the pooled training images (see ``ClassifierConfig.balanced``)."""
    if not balanced:
        return np.full(len(y_all), 1.0 / len(y_all))
    counts = np.bincount(y_all, minlength=num_classes).astype(np.float64)
    w = 1.0 / counts[y_all]  # each target class 1/K of the draws
    if balanced == "labels":  # ... shared equally by the image labels pooled into the class
        labels = np.concatenate([p.images.table["label"].to_numpy()[p.positions] for p in parts]).astype(str)
        for c in np.unique(y_all):
            sel = y_all == c
            names, inverse, n = np.unique(labels[sel], return_inverse=True, return_counts=True)
            w[sel] = 1.0 / (len(names) * n[inverse])  # class total 1, each label 1 / L of it
    return w / w.sum()


def _pooled_batch(
    parts: Sequence[TrainPart],
    offsets: np.ndarray,
    idx: np.ndarray,
    size: int | None,
    flips: np.ndarray | None,
    device: torch.device,
) -> torch.Tensor:
    """Input tensor for pooled indices ``idx`` (each data set read from its own store, order kept)."""
    which = np.searchsorted(offsets, idx, side="right") - 1
    x = None
    for k in np.unique(which):
        sel = np.flatnonzero(which == k)
        p = parts[k]
        xk = model_input(
            p.images, p.positions[idx[sel] - offsets[k]], size, None if flips is None else flips[sel], device
        )
        if x is None:
            x = torch.empty((len(idx), *xk.shape[1:]), device=device)
        elif xk.shape[1:] != x.shape[1:]:
            raise BreastlabInputError(
                f"data sets give inputs of {tuple(x.shape[-2:])} and {tuple(xk.shape[-2:])} "
                "pixels; set image_size to resize both"
            )
        x[torch.as_tensor(sel, device=device)] = xk
    return x


@torch.no_grad()
def predict_proba(
    model: nn.Module, images: MammoImages, positions: np.ndarray, image_size: int | None, batch_size: int = 128
) -> np.ndarray:
    """Softmax probabilities (n, num_classes) of the images at ``positions``.

    On CUDA the network runs under bf16 autocast and its classifier in float32
    (:func:`breastlab.runtime.inference_autocast`): the logits are float32, not rounded to bf16.
    """
    model.eval()
    device = next(model.parameters()).device
    head = get_classifier(model)
    out = []
    positions = np.asarray(positions, np.int64)
    for s in range(0, len(positions), batch_size):
        x = model_input(images, positions[s : s + batch_size], image_size, None, device)
        with inference_autocast(device, head):
            logits = model(x).float()
        out.append(torch.softmax(logits, 1).cpu())
    return torch.cat(out).numpy().astype(np.float64) if out else np.empty((0, 0))


# ============================================================================ evaluation
@dataclasses.dataclass
class ScenarioResult:
    """AUC of one scenario on one set of test images (binary: AUC; three-class: Hand & Till's M)."""

    scenario: str
    strategy: str
    auc: float
    ci_lower: float
    ci_upper: float
    n_images: int
    n_patients: int
    class_counts: dict[str, int]
    pairwise: pd.DataFrame | None  # three-class: class_i, class_j, auc_i_vs_j, auc_j_vs_i, auc_pair
    curves: list[dict[str, Any]]  # label, fpr, tpr, auc (binary: one; three-class: one per pair)

    def row(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "scenario": self.scenario,
            "auc": self.auc,
            "ci_lower": self.ci_lower,
            "ci_upper": self.ci_upper,
            "n_images": self.n_images,
            "n_patients": self.n_patients,
            **{f"n_{k}": v for k, v in self.class_counts.items()},
        }

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form (ROC points as lists) for :func:`load_scenario_results`."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("pairwise", "curves")}
        d["pairwise"] = None if self.pairwise is None else self.pairwise.to_dict(orient="records")
        d["curves"] = [
            {k: (np.asarray(v).tolist() if k in ("fpr", "tpr") else v) for k, v in c.items()} for c in self.curves
        ]
        return d


def save_scenario_results(results: Sequence[ScenarioResult], path: str | os.PathLike) -> Path:
    """Write every :class:`ScenarioResult` (AUC, CI, counts, pairwise AUCs, ROC points) as JSON."""
    write_json([r.to_json() for r in results], path)
    return Path(path)


def load_scenario_results(path: str | os.PathLike) -> list[ScenarioResult]:
    """Read what :func:`save_scenario_results` wrote."""
    out = []
    for d in json.loads(Path(path).read_text()):
        d = dict(d)
        d["pairwise"] = None if d.get("pairwise") is None else pd.DataFrame(d["pairwise"])
        d["curves"] = [
            {k: (np.asarray(v, float) if k in ("fpr", "tpr") else v) for k, v in c.items()} for c in d["curves"]
        ]
        out.append(ScenarioResult(**d))
    return out


def evaluate_scenario(
    scenario: str | Scenario,
    y: Sequence[int],
    proba: np.ndarray,
    patient_ids: Sequence[str],
    strategy: str = "",
    n_boot: int = 2000,
    seed: int = 0,
) -> ScenarioResult:
    """AUC and patient-level bootstrap 95 % CI of one scenario's test predictions.

    Binary: ``score = proba[:, 1]``, AUC = Mann-Whitney (``stats.auc``), CI = percentile
    cluster bootstrap over patients (``stats.bootstrap_ci(cluster=patient_ids)``).
    Three-class: M = 2 / (c (c - 1)) sum_{i<j} (A(i|j) + A(j|i)) / 2 (``stats.multiclass_auc``),
    CI = percentile bootstrap of M over patients (replicates missing a class are
    dropped); curves: for each pair the ROC of ``p_j`` (the more severe class j as
    positive) on the cases of i and j.
    """
    from breastlab.evaluate.stats import auc, bootstrap_ci, multiclass_auc, roc_curve

    sc = get_scenario(scenario)
    y = np.asarray(y, np.int64)
    proba = np.asarray(proba, np.float64)
    pid = np.asarray(patient_ids).astype(str)
    if proba.shape != (y.size, sc.num_classes):
        raise BreastlabInputError(f"proba has shape {proba.shape}; expected ({y.size}, {sc.num_classes})")
    counts = {name: int((y == i).sum()) for i, name in enumerate(sc.classes)}
    if sc.multiclass:
        m = multiclass_auc(y, proba, labels=list(range(sc.num_classes)))
        lo, hi = _bootstrap_multiclass(y, proba, pid, n_boot, seed)
        pairs = m.pairwise.copy()
        pairs["class_i"] = [CLASSES[int(i)] for i in pairs["class_i"]]
        pairs["class_j"] = [CLASSES[int(j)] for j in pairs["class_j"]]
        curves = []
        for _, r in m.pairwise.iterrows():
            i, j = int(r["class_i"]), int(r["class_j"])
            keep = (y == i) | (y == j)
            c = roc_curve((y[keep] == j).astype(int), proba[keep, j])
            curves.append(
                {
                    "label": f"{CLASSES[j]} vs {CLASSES[i]}",
                    "fpr": c.fpr,
                    "tpr": c.tpr,
                    "auc": float(r["auc_j_vs_i"]),
                    "auc_pair": float(r["auc_pair"]),
                }
            )
        return ScenarioResult(
            sc.name, strategy, m.auc, lo, hi, int(y.size), int(np.unique(pid).size), counts, pairs, curves
        )
    score = proba[:, 1]
    a = float(auc(y, score))
    ci = bootstrap_ci(y, score, "auc", n_boot=n_boot, cluster=pid, seed=seed)
    c = roc_curve(y, score)
    return ScenarioResult(
        sc.name,
        strategy,
        a,
        float(ci.lower),
        float(ci.upper),
        int(y.size),
        int(np.unique(pid).size),
        counts,
        None,
        [{"label": sc.title, "fpr": c.fpr, "tpr": c.tpr, "auc": a}],
    )


def _bootstrap_multiclass(
    y: np.ndarray, proba: np.ndarray, pid: np.ndarray, n_boot: int, seed: int
) -> tuple[float, float]:
    """Percentile 95 % CI of Hand & Till's M, resampling patients with replacement."""
    import warnings

    from breastlab.evaluate.stats import multiclass_auc

    codes, uniq = pd.factorize(pd.Series(pid))
    members = [np.flatnonzero(codes == k) for k in range(len(uniq))]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB007]))
    k = proba.shape[1]
    reps = []
    for _ in range(n_boot):
        idx = np.concatenate([members[c] for c in rng.integers(0, len(uniq), len(uniq))])
        if np.unique(y[idx]).size < k:
            continue  # a class absent from this replicate: M undefined
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reps.append(multiclass_auc(y[idx], proba[idx], labels=list(range(k))).auc)
    if len(reps) < 2:
        return float("nan"), float("nan")
    lo, hi = np.quantile(reps, [0.025, 0.975])
    return float(lo), float(hi)


def compare_strategies(y: Sequence[int], score_a: Sequence[float], score_b: Sequence[float]):
    """Paired DeLong test of two strategies' scores on the same test images (H1: AUCs differ; two-sided)."""
    from breastlab.evaluate.stats import delong_test

    return delong_test(np.asarray(y), np.asarray(score_a, float), np.asarray(score_b, float))


# ============================================================================ experiment
@dataclasses.dataclass
class ClassifyResult:
    """What :func:`classify` wrote: results (one row per strategy x scenario), predictions, comparisons."""

    out: Path
    results: pd.DataFrame
    predictions: pd.DataFrame
    comparisons: pd.DataFrame
    scenario_results: list[ScenarioResult]
    notes: list[str]


def _strategy_parts(
    strategy: str,
    sc: Scenario,
    b: MammoImages,
    b_pos: np.ndarray,
    a: MammoImages | None,
) -> tuple[list[TrainPart], TrainPart | None]:
    """(parts trained on last, pretraining part or None) of a strategy for a scenario."""
    keep_b, y_b = sc.select(b.table["label"].to_numpy()[b_pos])
    part_b = TrainPart(b, b_pos[keep_b], y_b)
    if strategy == "imagenet":
        return [part_b], None
    if a is None:
        raise BreastlabInputError(f"strategy {strategy!r} needs dataset A (pretrain_store and/or pretrain_site)")
    keep_a, y_a = sc.select(a.table["label"].to_numpy())
    part_a = TrainPart(a, np.flatnonzero(keep_a), y_a)
    if strategy == "incremental":
        return [part_b], part_a
    return [part_a, part_b], None


def classify(
    store: str | os.PathLike,
    out: str | os.PathLike,
    *,
    scenarios: str | Sequence[str] = "all",
    strategies: str | Sequence[str] = "imagenet",
    sites: str | os.PathLike | Mapping[str, str] | None = None,
    site: str | Sequence[str] | None = None,
    pretrain_store: str | os.PathLike | None = None,
    pretrain_site: str | Sequence[str] | None = None,
    test_fraction: float | None = 0.15,
    folds: int | None = None,
    train_patients: int | None = None,
    config: ClassifierConfig | None = None,
    pretrain_config: ClassifierConfig | None = None,
    finetune_config: ClassifierConfig | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    progress: bool = True,
) -> ClassifyResult:
    """Train and evaluate every (strategy, scenario) on dataset B = ``store`` (``site``).

    Dataset A (``incremental``/``mixed``) = ``pretrain_store`` (default ``store``) restricted to
    ``pretrain_site``; patients of B are removed from A. Evaluation on B: a patient-level
    held-out test set of ``test_fraction`` or, with ``folds``, k-fold cross-validation
    (out-of-fold predictions pooled). ``train_patients`` keeps that many of B's training
    patients (stratified, seeded): the "small training set" of a transfer study.
    Two or more strategies are compared pairwise with DeLong on the same test images.
    ``finetune_config``: settings of the incremental strategy's step on B (default
    ``config``), e.g. a 10x lower learning rate, as usual when fine-tuning a trained model,
    while ``config`` trains the ``imagenet`` strategy (from scratch when ImageNet weights
    are not available offline).
    Writes ``out/results.csv``, ``out/pairwise.csv``, ``out/comparisons.csv``,
    ``out/predictions.parquet``, ``out/split.csv`` and one run folder per model.
    """
    cfg = config or ClassifierConfig()
    pcfg = pretrain_config or cfg
    fcfg = finetune_config or cfg
    scs = parse_scenarios(scenarios)
    strats = [s.strip() for s in (strategies.split(",") if isinstance(strategies, str) else strategies) if s.strip()]
    bad = [s for s in strats if s not in STRATEGIES]
    if bad or not strats:
        raise BreastlabInputError(f"strategies {bad or strats}: valid strategies are {', '.join(STRATEGIES)}")
    if (test_fraction is None) == (folds is None):
        raise BreastlabInputError("give either test_fraction (held-out test) or folds (cross-validation), not both")
    check_weights(cfg.model, cfg.weights)  # before anything is written to out
    if any(s != "imagenet" for s in strats):
        check_weights(pcfg.model, pcfg.weights)
    elif pretrain_store is not None or pretrain_site is not None:
        raise BreastlabInputError(
            f"pretrain_store / pretrain_site: dataset A is used by the incremental and mixed strategies only; "
            f"strategies {strats} would ignore it"
        )
    out = Path(out)
    notes: list[str] = []
    if "imagenet" in strats and cfg.weights is None:  # the strategy's name says what the paper did, not this run
        notes.append(f"strategy imagenet started {cfg.model} from random initialisation (weights none), not ImageNet")
    b = load_images(store, sites, site)
    a = None
    if any(s != "imagenet" for s in strats):
        a = load_images(pretrain_store or store, sites, pretrain_site)
        overlap = np.isin(a.table["patient_id"], b.table["patient_id"].unique())
        if overlap.any():
            notes.append(f"{int(overlap.sum())} images of patients in dataset B removed from dataset A")
            a = a.subset(~overlap)
    labels, pid = b.table["label"].to_numpy(), b.table["patient_id"].to_numpy()
    if folds is not None:
        fold = patient_kfold(pid, labels, folds, seed)
        plan = [(f"fold{k}", fold != k, fold == k) for k in range(folds)]
        design = f"{folds}-fold patient-grouped cross-validation"
    else:
        test = patient_holdout(pid, labels, test_fraction, seed)
        plan = [("holdout", ~test, test)]
        design = f"patient-level held-out test ({test_fraction:.0%} of patients)"
    split_rows = []
    for name, tr, te in plan:
        tr = _limit_patients(tr, pid, labels, train_patients, seed) if train_patients else tr
        split_rows.append(
            pd.DataFrame(
                {
                    "image_id": b.table["image_id"],
                    "patient_id": pid,
                    "label": labels,
                    "part": name,
                    "role": np.where(te, "test", np.where(tr, "train", "unused")),
                }
            )
        )
    split = pd.concat(split_rows, ignore_index=True)
    write_table(split, out / "split.csv")
    notes.append(design)
    preds = []
    for sc in scs:
        for strat in strats:
            for name, _, _ in plan:
                sp = split[split["part"] == name]
                tr_pos = np.flatnonzero(sp["role"].to_numpy() == "train")
                te_pos = np.flatnonzero(sp["role"].to_numpy() == "test")
                parts, pre = _strategy_parts(strat, sc, b, tr_pos, a)
                init = None
                if pre is not None:  # dataset A model: one per scenario, reused by every fold and strategy
                    init = train_classifier(
                        pre, sc.num_classes, pcfg, out / "pretrain" / sc.name, progress=progress
                    ).path
                rcfg = fcfg if strat == "incremental" else cfg
                run = train_classifier(
                    parts, sc.num_classes, rcfg, out / strat / sc.name / name, init=init, progress=progress
                )
                keep, y = sc.select(labels[te_pos])
                pos = te_pos[keep]
                proba = predict_proba(run.model, b, pos, rcfg.image_size, rcfg.eval_batch_size)
                frame = b.table.iloc[pos][["image_id", "patient_id", "label", "site"]].copy()
                frame.insert(0, "part", name)
                frame.insert(0, "strategy", strat)
                frame.insert(0, "scenario", sc.name)
                frame["y"] = y
                for j in range(sc.num_classes):
                    frame[f"p{j}"] = proba[:, j]
                preds.append(frame)
    predictions = pd.concat(preds, ignore_index=True)
    results, comparisons = summarize_predictions(predictions, n_boot=n_boot, seed=seed)
    write_table(predictions, out / RUN.predictions)
    write_table(pd.DataFrame([r.row() for r in results]), out / "results.csv")
    pw = [r.pairwise.assign(strategy=r.strategy, scenario=r.scenario) for r in results if r.pairwise is not None]
    write_table(pd.concat(pw, ignore_index=True) if pw else pd.DataFrame(), out / "pairwise.csv")
    write_table(comparisons, out / "comparisons.csv")
    write_json(
        {
            "store": Path(store).resolve().name,  # the folder's name: no local path in a shared run folder
            "site": site,
            "pretrain_store": Path(pretrain_store or store).resolve().name,
            "pretrain_site": pretrain_site,
            "strategies": strats,
            "scenarios": [s.name for s in scs],
            "test_fraction": test_fraction,
            "folds": folds,
            "train_patients": train_patients,
            "seed": seed,
            "config": dataclasses.asdict(cfg),
            "pretrain_config": dataclasses.asdict(pcfg),
            "finetune_config": dataclasses.asdict(fcfg),
            "notes": notes,
        },
        out / "classify.json",
    )
    save_scenario_results(results, out / "scenario_results.json")
    # written last: its presence means everything the report section needs is on disk
    write_json(
        {
            "kind": "mammogram classification",
            "heading": f"Mammogram classification ({out.name})",
            "notes": notes,
            "store": Path(store).resolve().name,
            "files": {
                "results": "results.csv",
                "comparisons": "comparisons.csv",
                "pairwise": "pairwise.csv",
                "predictions": RUN.predictions,
                "scenario_results": "scenario_results.json",
                "settings": "classify.json",
            },
        },
        out / SECTION_MARKER,
    )
    return ClassifyResult(out, pd.DataFrame([r.row() for r in results]), predictions, comparisons, results, notes)


def summarize_predictions(
    predictions: pd.DataFrame, n_boot: int = 2000, seed: int = 0
) -> tuple[list[ScenarioResult], pd.DataFrame]:
    """Per (strategy, scenario) results and pairwise DeLong comparisons of strategies on the same images.

    For the three-class scenario the DeLong test compares malignant-class probabilities
    on malignant vs the rest (the paired test needs one binary score per image).
    """
    results, comps = [], []
    for sc_name, by_sc in predictions.groupby("scenario", sort=False):
        sc = get_scenario(sc_name)
        cols = [f"p{j}" for j in range(sc.num_classes)]
        strat_frames = {}
        for strat, sub in by_sc.groupby("strategy", sort=False):
            results.append(
                evaluate_scenario(
                    sc, sub["y"], sub[cols].to_numpy(), sub["patient_id"], strat, n_boot=n_boot, seed=seed
                )
            )
            strat_frames[strat] = sub.set_index(["part", "image_id"])
        names = list(strat_frames)
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                fa, fb = strat_frames[names[i]], strat_frames[names[j]]
                common = fa.index.intersection(fb.index)
                fa, fb = fa.loc[common], fb.loc[common]
                if sc.multiclass:
                    y, sa, sb = (fa["y"] == 2).astype(int), fa["p2"], fb["p2"]
                else:
                    y, sa, sb = fa["y"], fa["p1"], fb["p1"]
                t = compare_strategies(y, sa, sb)
                comps.append(
                    {
                        "scenario": sc.name,
                        "strategy_a": names[i],
                        "strategy_b": names[j],
                        "auc_a": t.auc1,
                        "auc_b": t.auc2,
                        "difference": t.difference,
                        "z": t.statistic,
                        "p_value": t.p_two_sided,
                        "n_images": int(len(common)),
                    }
                )
    return results, pd.DataFrame(comps)


def _limit_patients(train: np.ndarray, pid: np.ndarray, labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Keep ``n`` of the training patients (stratified by worst label; seeded)."""
    tr_ids = np.unique(pid[train])
    if n >= tr_ids.size:
        return train
    frac = n / tr_ids.size
    sub = train.copy()
    # A held-out split of the training patients: its "test" part is the subset kept.
    keep = patient_holdout(pid[train], labels[train], frac, seed + 1)
    sub[np.flatnonzero(train)[~keep]] = False
    return sub
