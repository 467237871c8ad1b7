"""Training FCDD, BCE and HSC on a breast-MIP store with patient-grouped k-fold cross-validation.

``train_anomaly(AnomalyConfig(store=..., out=RUN, model="fcdd"))`` writes::

    RUN/config.json               the configuration
    RUN/predictions.parquet       one row per (seed, held-out breast): row, image_id, patient_id, side,
                                  label, has_box, seed, fold, model, score (higher = more anomalous)
    RUN/heatmaps_seed<S>.npy      (N, H, W) float16 explanation of every store row for seed S
                                  (FCDD: upsampled A(X); BCE and HSC: Grad-CAM), from its held-out fold
    RUN/.folds/                   per-fold results and per-epoch checkpoints (resume)

Folds: both breasts of a patient are always in the same fold (scikit-learn's
``StratifiedGroupKFold`` on breast labels grouped by patient, shuffled by the seed).
Semi-supervised training (Liznerski et al. 2021): the normal breasts of the training folds
plus ``n_abnormal`` of their abnormal breasts (all by default, none with ``n_abnormal=0``);
with outlier exposure (``oe="confetti"``, automatic when no abnormal breast is used) every
batch adds confetti-noise copies of its normal images as anomalies. Device selection and
bf16 autocast on CUDA come from :mod:`breastlab.runtime`; the held-out scores are computed with
the network's final layer in float32 (not rounded to bf16, whose ties would move the AUCs).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from breastlab._io import atomic_path, record_path, save_npy, write_json, write_table
from breastlab.anomaly.fcdd import (
    FCDDNet,
    HSCScore,
    PooledNet,
    confetti_noise,
    fcdd_loss,
    hsc_loss,
    hsc_score,
)
from breastlab.curate.patients import patient_kfold
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError
from breastlab.runtime import DistInfo, autocast_context, derive_seed, float32_layers, resolve_device
from breastlab.schemas import RUN
from breastlab.train.harness import Harness, Schedule, Step
from breastlab.transforms import resize_area, scale_to_unit

MODELS = ("fcdd", "bce", "hsc")


@dataclasses.dataclass
class AnomalyConfig:
    """Everything that defines an anomaly run (saved as RUN/config.json)."""

    store: str
    out: str
    model: str = "fcdd"
    backbone: str = "small"
    width: int = 16
    depth: int = 4
    weights: str | None = None
    image_size: int | None = None  # resize on load (None: the store's size)
    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    wd: float = 1e-5
    folds: int = 5
    seeds: tuple[int, ...] = (0,)
    n_abnormal: int | None = None
    oe: str = "auto"
    hsc_dim: int = 32
    device: str = "auto"
    progress: bool = True

    def validate(self) -> None:
        if self.model not in MODELS:
            raise BreastlabInputError(f"model={self.model!r}: valid models are {', '.join(MODELS)}")
        if self.oe not in ("auto", "confetti", "none"):
            raise BreastlabInputError(f"oe={self.oe!r}: valid values are 'auto', 'confetti', 'none'")
        if self.folds < 2:
            raise BreastlabInputError(f"folds={self.folds}: patient-grouped cross-validation needs >= 2 folds")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise BreastlabInputError(
                f"epochs={self.epochs}, batch_size={self.batch_size}, lr={self.lr}: "
                "need epochs >= 1, batch_size >= 1, lr > 0"
            )
        if self.n_abnormal is not None and self.n_abnormal < 0:
            raise BreastlabInputError(f"n_abnormal={self.n_abnormal}: must be None (all) or >= 0")
        if self.model == "bce" and self.n_abnormal == 0 and self.oe == "none":
            raise BreastlabInputError("model='bce' needs anomalous examples: n_abnormal > 0 or oe='confetti'")
        if self.weights is not None and str(self.weights).lower() != "none":
            if self.backbone != "vgg11":
                raise BreastlabInputError(
                    f"weights={self.weights!r}: only the vgg11 backbone takes weights; the {self.backbone!r} "
                    "backbone would train from random initialisation and ignore them"
                )
            path = Path(self.weights)
            if self.weights != "imagenet" and not (path.is_file() and path.stat().st_size > 0):
                raise BreastlabInputError(
                    f"weights={str(self.weights)!r}: {'an empty file' if path.is_file() else 'no such file'}; "
                    "valid: 'imagenet' or the path of a state dict"
                )

    def use_oe(self) -> bool:
        return self.oe == "confetti" or (self.oe == "auto" and self.n_abnormal == 0)


def patient_folds(manifest: pd.DataFrame, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number (0..k-1) of every manifest row; both breasts of a patient share a fold and folds
    are stratified by breast label (:func:`breastlab.curate.patients.patient_kfold`, ``method="sklearn"``:
    scikit-learn's ``StratifiedGroupKFold``)."""
    return patient_kfold(manifest["patient_id"].to_numpy(), manifest["label"].to_numpy(), k, seed, method="sklearn")


def build_model(cfg: AnomalyConfig) -> nn.Module:
    kw = {"backbone": cfg.backbone, "width": cfg.width, "depth": cfg.depth, "weights": cfg.weights}
    if cfg.model == "fcdd":
        return FCDDNet(**kw)
    return PooledNet(out_dim=1 if cfg.model == "bce" else cfg.hsc_dim, **kw)


def loss_fn(model_name: str, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = net(x)
    if model_name == "fcdd":
        return fcdd_loss(out.float(), y)
    if model_name == "hsc":
        return hsc_loss(out.float(), y)
    return F.binary_cross_entropy_with_logits(out.float()[:, 0], y.float())


def final_layer(net: nn.Module) -> nn.Module:
    """The layer that makes the network's output: FCDD's 1x1 convolution, the BCE / HSC linear layer."""
    return net.head if isinstance(net, FCDDNet) else net.fc


@torch.no_grad()
def _scores(model_name: str, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Anomaly scores (B,) in float32: under autocast the final layer is computed in float32
    (:func:`breastlab.runtime.float32_layers`), so scores are not rounded to bf16."""
    with float32_layers(final_layer(net)):
        out = net(x).float()
    if model_name == "fcdd":
        return out.flatten(1).mean(1)
    if model_name == "hsc":
        return hsc_score(out)
    return out[:, 0]


def explain(model_name: str, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Heatmaps (B, H, W): FCDD's Gaussian upsampling of A(X); Grad-CAM (breastlab.models.gradcam) of the
    BCE logit or of the HSC score."""
    net.eval()
    if model_name == "fcdd":
        with torch.no_grad():
            return net.heatmap(x).float()
    from breastlab.models.gradcam import grad_cam

    target = net if model_name == "bce" else HSCScore(net)
    return grad_cam(target, x, target_class=1).float()


def load_images(store: ArrayStore, rows: np.ndarray, image_size: int | None) -> torch.Tensor:
    """uint8 store rows -> float (B, 1, S, S) in [0, 1] (area-resized when ``image_size`` is set)."""
    x = torch.from_numpy(scale_to_unit(store.batch(rows)))[:, None]
    if image_size is not None and image_size != x.shape[-1]:
        x = resize_area(x, image_size)
    return x


class AnomalyStudy:
    """Batches and loss of one fold's model for the harness: epoch ``e``'s order and confetti noise come
    from a generator seeded by ``(seed, e)`` only, so a resumed fold follows the uninterrupted one."""

    def __init__(self, cfg: AnomalyConfig, x: torch.Tensor, y: torch.Tensor, seed: int, device) -> None:
        self.cfg, self.x, self.y, self.seed, self.device = cfg, x, y, seed, device
        self.gen = torch.Generator().manual_seed(derive_seed(seed, 0xA1))

    def batches(self, epoch: int) -> list[torch.Tensor]:
        self.gen.manual_seed(derive_seed(self.seed, 0xA2, epoch - 1))
        order = torch.randperm(len(self.x), generator=self.gen)
        chunks = [order[i : i + self.cfg.batch_size] for i in range(0, len(order), self.cfg.batch_size)]
        return [c for c in chunks if len(c) >= 2]  # BatchNorm needs two images

    def step(self, net: nn.Module, idx: torch.Tensor, amp) -> Step:
        xb, yb = self.x[idx], self.y[idx]
        if self.cfg.use_oe():
            normal = xb[yb == 0]
            if len(normal):
                xb = torch.cat([xb, confetti_noise(normal, self.gen)])
                yb = torch.cat([yb, torch.ones(len(normal), dtype=yb.dtype)])
        xb, yb = xb.to(self.device), yb.to(self.device)
        with amp():
            loss = loss_fn(self.cfg.model, net, xb, yb)
        return Step(loss, n=float(len(xb)))


def _train_fold(
    cfg: AnomalyConfig, x: torch.Tensor, y: torch.Tensor, seed: int, ckpt: Path, device: torch.device
) -> tuple[nn.Module, float]:
    """Train one model (resumable per epoch); returns it and the measured training images per second."""
    torch.manual_seed(derive_seed(seed, 0xA0))
    net = build_model(cfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.wd)
    harness = Harness(
        net,
        opt,
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs),
        Schedule("epoch", cfg.epochs),
        device,
        checkpoint=ckpt,
        desc=f"{cfg.model} {ckpt.name}",
        where=f"{cfg.out} ({cfg.model}, {ckpt.name.split('.')[0]})",
        hint="lower the learning rate",
        progress=False,
        deterministic=False,  # as before the harness: FCDD's figures were made without the switch
    )
    harness.resume(map_location=device)
    fit = harness.fit(AnomalyStudy(cfg, x, y, seed, device))
    return net, fit.images_per_second


@dataclasses.dataclass
class AnomalyRun:
    run_dir: Path
    predictions: pd.DataFrame
    images_per_second: float


def train_anomaly(cfg: AnomalyConfig) -> AnomalyRun:
    """Cross-validated training and scoring (resumable per fold and per epoch); see the module docstring."""
    from breastlab.progress import progress

    cfg.validate()
    store = ArrayStore(cfg.store)
    if store.layout != "fixed":
        raise BreastlabInputError(f"{cfg.store}: anomaly training needs a fixed-layout MIP store")
    man = store.manifest
    for col in ("label", "patient_id"):
        if col not in man.columns:
            raise BreastlabInputError(f"{cfg.store}: manifest lacks column {col!r} (build it with `anomaly mip`)")
    for seed in cfg.seeds:  # the folds can be drawn: checked before anything is written
        patient_folds(man, cfg.folds, seed)
    run = Path(cfg.out)
    folds_dir = run / ".folds"
    folds_dir.mkdir(parents=True, exist_ok=True)
    config = {**dataclasses.asdict(cfg), "seeds": list(cfg.seeds), "store_checksum": store.checksum}
    config |= {"store": record_path(cfg.store, run), "out": run.resolve().name}  # no local path in the run
    _check_resume(run, config)
    write_json(config, run / RUN.config)
    device = resolve_device(cfg.device, DistInfo())
    size = cfg.image_size or store.shape[0]
    labels = man["label"].to_numpy().astype(np.int64)
    speeds = []
    jobs = [(s, f) for s in cfg.seeds for f in range(cfg.folds)]
    bar = progress(jobs, desc=f"anomaly {cfg.model}", unit="fold", disable=not cfg.progress)
    for seed, fold in bar:
        stem = folds_dir / f"s{seed}_f{fold}"
        if Path(f"{stem}.done").exists():
            continue
        fold_of = patient_folds(man, cfg.folds, seed)
        train_rows = np.flatnonzero(fold_of != fold)
        test_rows = np.flatnonzero(fold_of == fold)
        train_rows = _select_abnormal(train_rows, labels, cfg.n_abnormal, seed, fold)
        x = load_images(store, train_rows, cfg.image_size)
        y = torch.from_numpy(labels[train_rows])
        net, ips = _train_fold(cfg, x, y, seed * 1000 + fold, Path(f"{stem}.ckpt.pt"), device)
        speeds.append(ips)
        net.eval()
        scores, heat = [], []
        for i in range(0, len(test_rows), 64):
            xb = load_images(store, test_rows[i : i + 64], cfg.image_size).to(device)
            with autocast_context(device):
                scores.append(_scores(cfg.model, net, xb).cpu())
            h = explain(cfg.model, net, xb).cpu()
            if h.shape[-1] != store.shape[0]:  # heatmaps live on the store's pixel grid (boxes are there)
                h = F.interpolate(h[:, None], size=store.shape, mode="bilinear", align_corners=False)[:, 0]
            heat.append(h)
        pred = man.loc[
            test_rows, [c for c in ("row", "image_id", "patient_id", "side", "label", "has_box") if c in man.columns]
        ].copy()
        pred["seed"], pred["fold"], pred["model"] = seed, fold, cfg.model
        pred["score"] = torch.cat(scores).numpy().astype(np.float64)
        write_table(pred, Path(f"{stem}.parquet"))
        save_npy(torch.cat(heat).numpy().astype(np.float16), f"{stem}.heat.npy")
        write_json({"images_per_second": ips, "device": str(device), "image_size": size}, f"{stem}.done")
        Path(f"{stem}.ckpt.pt").unlink(missing_ok=True)
    return _assemble(cfg, store, run, folds_dir)


def _select_abnormal(rows: np.ndarray, labels: np.ndarray, n: int | None, seed: int, fold: int) -> np.ndarray:
    if n is None:
        return rows
    abnormal = rows[labels[rows] == 1]
    keep = np.random.default_rng([seed, fold, 0xAB]).permutation(abnormal)[:n]
    return np.sort(np.concatenate([rows[labels[rows] == 0], keep]))


def _check_resume(run: Path, config: dict[str, Any]) -> None:
    path = run / RUN.config
    if not path.exists():
        return
    old = json.loads(path.read_text())
    ignore = {"out", "device", "progress", "store"}  # the store is compared by its checksum, wherever it is
    diff = {k: (old.get(k), v) for k, v in config.items() if k not in ignore and old.get(k) != v}
    if diff:
        raise BreastlabInputError(f"{run}: holds a run with other settings {diff} (old, new); use another folder")


def _assemble(cfg: AnomalyConfig, store: ArrayStore, run: Path, folds_dir: Path) -> AnomalyRun:
    preds, speeds = [], []
    for seed in cfg.seeds:
        target = run / f"heatmaps_seed{seed}.npy"
        with atomic_path(target) as tmp:
            heat = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(len(store), *store.shape))
            for fold in range(cfg.folds):
                stem = folds_dir / f"s{seed}_f{fold}"
                p = pd.read_parquet(f"{stem}.parquet")
                heat[p["row"].to_numpy()] = np.load(f"{stem}.heat.npy", allow_pickle=False)
                preds.append(p)
                speeds.append(json.loads(Path(f"{stem}.done").read_text())["images_per_second"])
            heat.flush()
            del heat
    predictions = pd.concat(preds, ignore_index=True)
    write_table(predictions, run / RUN.predictions)
    ips = float(np.nanmean(speeds)) if speeds else float("nan")
    write_json({"images_per_second_train": ips, "n_predictions": len(predictions)}, run / RUN.summary)
    return AnomalyRun(run, predictions, ips)


def load_heatmaps(run_dir: str | os.PathLike, seed: int) -> np.ndarray:
    """The (N, H, W) heatmaps of ``seed`` (memory-mapped)."""
    path = Path(run_dir) / f"heatmaps_seed{seed}.npy"
    if not path.exists():
        raise BreastlabInputError(f"{path}: no heatmaps for seed {seed}; train with `breastlab anomaly train`")
    return np.load(path, mmap_mode="r", allow_pickle=False)
