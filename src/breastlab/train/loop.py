"""The training run: SpurBreast's protocol on a split, resumable, single- or multi-process.

Protocol (SpurBreast): batch 32, up to 50 epochs; SGD (momentum 0.9, cosine annealing
of the learning rate over the epochs), Adam or AdamW (constant rate); learning rate
1e-5..1e-2; weight decay 1e-4, 1e-5 or 0; the epoch with the best validation accuracy
is kept (option: best worst-group validation accuracy).

Run directory (the loop mechanics are :class:`breastlab.train.harness.Harness`'s)::

    RUN/config.json          everything that defines the run (+ checksums of store and split)
    RUN/metrics.csv          one row per epoch
    RUN/checkpoint.pt        last finished epoch (model, optimiser, scheduler, method state)
    RUN/best.pt              the selected model
    RUN/predictions.parquet  every image of every split part scored by the selected model
    RUN/summary.json         written last: the run is complete

Reproducibility: the model is initialised from ``seed``; the sample order, the crop
boxes and the dropout stream of epoch ``e`` are drawn from generators seeded by
``(seed, e)``, so a run resumed from the checkpoint of epoch ``e - 1`` follows exactly the
path of an uninterrupted run.

Distributed (``torchrun``): every rank draws the same global batch of ``batch_size``
images and takes a contiguous share; the loss of a rank is ``world * sum_local c_i l_i``
and DDP averages the gradients, so the update is the gradient of ``sum_global c_i l_i``,
the single-process objective (exact for models without batch statistics; BatchNorm uses
per-rank statistics on the CPU and SyncBatchNorm on GPUs).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from breastlab._io import record_path, write_json, write_table
from breastlab.curate.split_store import load_split_manifest
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError
from breastlab.models import get_classifier, get_model, list_models
from breastlab.runtime import (
    DistInfo,
    derive_seed,
    deterministic_kernels,
    inference_autocast,
    init_dist,
    load_torch,
    resolve_device,
    save_torch,
)
from breastlab.schemas import RUN
from breastlab.train.data import (
    ImageSource,
    SplitPart,
    check_split_matches_store,
    preprocess_eval,
    preprocess_train,
    split_checksum,
    split_parts,
)
from breastlab.train.harness import (
    Harness,
    Schedule,
    Step,
    TrainingDivergedError,
    check_run_folder,
    config_fingerprint,
)
from breastlab.train.methods import METHODS, Objective, dfr_refit
from breastlab.transforms import random_resized_crop_boxes

OPTIMIZERS = ("sgd", "adam", "adamw")
SELECT_BY = ("val_acc", "worst_group_acc")
__all__ = ["TrainConfig", "TrainResult", "TrainingDivergedError", "load_run_model", "predict_part", "train"]
# Settings that do not change the result: a resumed run may use other values.
_NOT_IN_FINGERPRINT = {"out", "device", "progress", "preload", "eval_batch_size", "store", "split"}


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as RUN/config.json)."""

    store: str
    split: str
    out: str
    model: str = "resnet50"
    optimizer: str = "sgd"
    lr: float = 1e-3
    wd: float = 1e-4
    epochs: int = 50
    batch_size: int = 32
    seed: int = 0
    method: str = "erm"
    select_by: str = "val_acc"
    weights: str = "none"  # "none", "imagenet" or the path of a state dict (None is read as "none")
    in_channels: int = 1
    image_size: int = 224
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    momentum: float = 0.9
    groupdro_eta: float = 0.01
    dfr_repeats: int = 10
    eval_batch_size: int = 128
    device: str = "auto"
    preload: str | bool = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        # one spelling of "no weights", so a run of the API and one of `breastlab train` share a fingerprint
        if self.weights is None or (isinstance(self.weights, str) and self.weights.lower() == "none"):
            self.weights = "none"

    def validate(self) -> None:
        if self.model not in list_models():
            raise BreastlabInputError(f"model {self.model!r} is not in the registry; valid: {', '.join(list_models())}")
        if self.optimizer not in OPTIMIZERS:
            raise BreastlabInputError(f"optimizer {self.optimizer!r}: valid optimisers are {', '.join(OPTIMIZERS)}")
        if self.method not in METHODS:
            raise BreastlabInputError(f"method {self.method!r}: valid methods are {', '.join(METHODS)}")
        if self.select_by not in SELECT_BY:
            raise BreastlabInputError(f"select_by {self.select_by!r}: valid values are {', '.join(SELECT_BY)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise BreastlabInputError(f"lr={self.lr!r}: must be a positive number (the paper uses 1e-5..1e-2)")
        if self.wd < 0:
            raise BreastlabInputError(f"wd={self.wd!r}: must be >= 0 (the paper uses 1e-4, 1e-5, 0)")
        if self.epochs < 1 or self.batch_size < 1:
            raise BreastlabInputError(f"epochs={self.epochs}, batch_size={self.batch_size}: both must be >= 1")
        if self.image_size < 16:
            raise BreastlabInputError(f"image_size={self.image_size}: must be >= 16")
        if self.in_channels not in (1, 3):
            raise BreastlabInputError(f"in_channels={self.in_channels}: valid values are 1 and 3")


@dataclass
class TrainResult:
    run_dir: Path
    finished: bool
    best_epoch: int
    best_score: float
    metrics: pd.DataFrame
    summary: dict[str, Any]
    images_per_second: float = float("nan")  # training loop of this call (the harness's measure)


# --------------------------------------------------------------------------- helpers
def _fingerprint(cfg: TrainConfig, store_sum: str, split_sum: str) -> dict[str, Any]:
    return config_fingerprint(cfg, _NOT_IN_FINGERPRINT, store_checksum=store_sum, split_checksum=split_sum)


def _make_optimizer(cfg: TrainConfig, params) -> tuple[torch.optim.Optimizer, Any]:
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.wd)
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg.lr, weight_decay=cfg.wd), None


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict_part(
    model: nn.Module,
    source: ImageSource,
    part: SplitPart,
    cfg: TrainConfig,
    device: torch.device,
    positions: np.ndarray | None = None,
    features_of: nn.Linear | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Probability of class 1, per-sample loss and (optionally) the input of ``features_of`` for a part.

    On CUDA the network runs under bf16 autocast and its classifier in float32
    (:func:`breastlab.runtime.inference_autocast`): the logits are float32, not rounded to bf16.
    """
    model.eval()
    head = get_classifier(model, cfg.model)
    pos = np.arange(len(part)) if positions is None else positions
    probs, losses, feats = [], [], []
    hook = None
    if features_of is not None:
        hook = features_of.register_forward_hook(lambda m, inp, out: feats.append(inp[0].float().cpu()))
    try:
        for s in range(0, len(pos), cfg.eval_batch_size):
            p = pos[s : s + cfg.eval_batch_size]
            x = preprocess_eval(
                source.get(part.index[p]),
                cfg.image_size,
                cfg.in_channels,
                [part.transforms[i] for i in p],
                device,
                device.type == "cuda",
            )
            with inference_autocast(device, head):
                logits = model(x).float()
            y = torch.as_tensor(part.labels[p], device=device)
            losses.append(F.cross_entropy(logits, y, reduction="none").cpu())
            probs.append(torch.softmax(logits, 1)[:, 1].cpu())
    finally:
        if hook is not None:
            hook.remove()
    cat = lambda xs: torch.cat(xs).numpy() if xs else np.empty(0, np.float32)  # noqa: E731
    return cat(probs), cat(losses), (cat(feats) if features_of is not None else None)


def _group_metrics(pred: np.ndarray, labels: np.ndarray, groups: np.ndarray, names: list[str]) -> dict[str, float]:
    out = {}
    for g in np.unique(groups):
        m = groups == g
        out[names[g]] = float((pred[m] == labels[m]).mean())
    return out


def _evaluate_val(model, source, part, cfg, device, dist: DistInfo, names) -> dict[str, Any]:
    """Validation accuracy, loss, per-group and worst-group accuracy (ranks share the work)."""
    chunks = np.array_split(np.arange(len(part)), dist.world)
    prob, loss, _ = predict_part(model, source, part, cfg, device, positions=chunks[dist.rank])
    if dist.world > 1:
        gathered: list[Any] = [None] * dist.world
        torch.distributed.all_gather_object(gathered, (prob, loss))
        prob = np.concatenate([g[0] for g in gathered])
        loss = np.concatenate([g[1] for g in gathered])
    pred = (prob >= 0.5).astype(np.int64)
    per_group = _group_metrics(pred, part.labels, part.groups, names)
    return {
        "val_loss": float(loss.mean()),
        "val_acc": float((pred == part.labels).mean()),
        "val_worst_group_acc": float(min(per_group.values())),
        **{f"val_acc[{g}]": v for g, v in per_group.items()},
    }


# --------------------------------------------------------------------------- the run
def _prepare(cfg: TrainConfig):
    cfg.validate()
    store = ArrayStore(cfg.store)
    man = load_split_manifest(cfg.split)
    check_split_matches_store(man, cfg.split, store)
    names = sorted(man["group"].unique())
    parts = split_parts(man, names)
    for need in ("train", "val"):
        if len(parts[need]) == 0:
            raise BreastlabInputError(f"{cfg.split}: the split has no '{need}' images")
    if cfg.method == "dfr" and len(parts["tune"]) == 0:
        raise BreastlabInputError(f"{cfg.split}: method 'dfr' needs 'tune' images (the group-balanced tuning split)")
    return store, man, names, parts


def train(
    cfg: TrainConfig,
    resume: bool = False,
    stop_after: int | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.split``; see the module docstring for the protocol and the outputs.

    Parameters
    ----------
    resume : continue from ``RUN/checkpoint.pt`` (when there is one; an error when it was made
        with another configuration). Without it an existing run directory is an error.
    stop_after : run at most this many epochs in this call (time-limited jobs; ``resume`` later).
    on_epoch_end : called with each epoch's metrics row (e.g. to report to Ray Tune).
    """
    store, man, names, parts = _prepare(cfg)
    fp = _fingerprint(cfg, store.checksum, split_checksum(man))
    run = Path(cfg.out)
    summary_path = run / RUN.summary
    check_run_folder(run, fp, resume)
    if resume and summary_path.exists() and (run / RUN.checkpoint).exists():
        ckpt = load_torch(run / RUN.checkpoint)
        if ckpt.get("fingerprint") == fp and ckpt["epoch"] >= cfg.epochs:
            hist, summary = pd.DataFrame(ckpt["history"]), json.loads(summary_path.read_text())
            return TrainResult(run, True, ckpt["best_epoch"], ckpt["best_score"], hist, summary)
    dist = init_dist(cfg.device)
    try:
        device = resolve_device(cfg.device, dist)
        return _run(cfg, store, man, names, parts, fp, dist, device, stop_after, on_epoch_end)
    finally:
        dist.close()


class SpurBreastStudy:
    """SpurBreast's batches and loss for the harness (module notes: streams, DDP shares, objectives)."""

    def __init__(self, cfg: TrainConfig, source: ImageSource, parts, names, objective, dist, device, shape) -> None:
        self.cfg, self.source, self.names, self.objective = cfg, source, names, objective
        self.train_p, self.val_p = parts["train"], parts["val"]
        self.dist, self.device, self.shape = dist, device, shape

    def batches(self, epoch: int) -> list[tuple[np.ndarray, torch.Tensor]]:
        """(global batch positions, their crop boxes) of ``epoch``, drawn from ``(seed, epoch)`` streams."""
        gen = torch.Generator().manual_seed(derive_seed(self.cfg.seed, epoch, 0))
        torch.manual_seed(derive_seed(self.cfg.seed, epoch, 1))  # dropout etc.
        order = self.objective.sample_order(self.train_p.groups, gen)
        boxes = random_resized_crop_boxes(len(order), *self.shape, gen)
        starts = list(range(0, len(order), self.cfg.batch_size))
        if self.dist.world > 1 and len(order) - starts[-1] < self.dist.world:
            starts = starts[:-1]  # a last batch smaller than the number of ranks is dropped
        bs = self.cfg.batch_size
        return [(order[s : s + bs], boxes[s : s + bs]) for s in starts]

    def step(self, net: nn.Module, batch, amp) -> Step:
        cfg, dist, tp, device = self.cfg, self.dist, self.train_p, self.device
        glob, glob_boxes = batch
        lo, hi = _share(len(glob), dist)
        loc = glob[lo:hi]
        x = preprocess_train(
            self.source.for_training(tp.index[loc]),
            glob_boxes[lo:hi],
            cfg.image_size,
            cfg.in_channels,
            [tp.transforms[i] for i in loc],
            device,
            device.type == "cuda",
        )
        y = torch.as_tensor(tp.labels[loc], device=device)
        with amp():
            logits = net(x).float()
        losses = F.cross_entropy(logits, y, reduction="none")
        sums = None
        if self.objective.needs_group_losses:
            g_loc = torch.as_tensor(tp.groups[loc])
            sums = torch.zeros(len(self.names), dtype=torch.float64)
            sums.index_add_(0, g_loc, losses.detach().double().cpu())
            dist.all_reduce(sums)
        coef = self.objective.coefficients(torch.as_tensor(tp.groups[glob]), sums)[lo:hi]
        loss = (coef.to(device, torch.float32) * losses).sum() * dist.world
        stats = torch.stack(
            [
                (coef * losses.detach().double().cpu()).sum(),
                (logits.argmax(1) == y).sum().double().cpu(),
                torch.tensor(float(len(loc))),
            ]
        )
        dist.all_reduce(stats)  # every rank sees the global batch's loss: all stop together on NaN
        return Step(loss, n=float(stats[2]), value=float(stats[0]), correct=float(stats[1]))

    def evaluate(self, model: nn.Module, epoch: int) -> dict[str, Any]:
        return _evaluate_val(model, self.source, self.val_p, self.cfg, self.device, self.dist, self.names)

    def state_dict(self) -> dict[str, Any]:
        return {"objective": self.objective.state_dict()}

    def load_state_dict(self, ckpt: dict[str, Any]) -> None:
        self.objective.load_state_dict(ckpt["objective"])


def _run(cfg, store, man, names, parts, fp, dist: DistInfo, device, stop_after, on_epoch_end) -> TrainResult:
    run = Path(cfg.out)
    torch.manual_seed(cfg.seed)
    model = Harness.place(get_model(cfg.model, 2, cfg.in_channels, cfg.weights, **cfg.model_kwargs), device, dist)
    optimizer, scheduler = _make_optimizer(cfg, model.parameters())
    objective = Objective(cfg.method, parts["train"].groups, len(names), cfg.groupdro_eta)
    preload = (
        cfg.preload
        if cfg.preload != "auto"
        else (device.type == "cuda" and len(man) * int(np.prod(store.shape)) < 8 * 2**30)
    )
    source = ImageSource(store, man["row"].to_numpy(), device, preload=bool(preload))
    study = SpurBreastStudy(cfg, source, parts, names, objective, dist, device, store.shape)
    harness = Harness(
        model,
        optimizer,
        scheduler,
        Schedule("epoch", cfg.epochs),
        device,
        checkpoint=run / RUN.checkpoint,
        run=run,
        fingerprint=fp,
        dist=dist,
        select_metric="val_acc" if cfg.select_by == "val_acc" else "val_worst_group_acc",
        select_name=cfg.select_by,
        desc=f"{cfg.model} {cfg.optimizer} lr={cfg.lr:g}",
        where=str(run),
        hint="try a smaller --lr",
        progress=cfg.progress,
        tensorboard=True,
        on_round_end=on_epoch_end,
    )
    harness.resume(study)
    if dist.main:
        write_json(
            {
                **dataclasses.asdict(cfg),
                "out": run.resolve().name,  # the run's own folder: its name is enough
                "store": record_path(cfg.store, run),  # relative to the run: no local path, movable together
                "split": record_path(cfg.split, run),
                "group_names": names,
                "fingerprint": fp,
                "num_classes": 2,
                "world_size": dist.world,
                "device": str(device),
                "torch": torch.__version__,
            },
            run / RUN.config,
        )
    fit = harness.fit(study, stop_after)
    metrics = fit.metrics
    ips = fit.images_per_second
    if not fit.finished:
        return TrainResult(run, False, fit.best_round, fit.best_score, metrics, {}, ips)
    summary: dict[str, Any] = {}
    if dist.main:
        with deterministic_kernels(device):
            summary = _finish(cfg, store, man, names, parts, source, device, fit.best_round, fit.best_score, metrics)
    dist.barrier()
    return TrainResult(run, True, fit.best_round, fit.best_score, metrics, summary, ips)


def _share(n: int, dist: DistInfo) -> tuple[int, int]:
    """Contiguous share [lo, hi) of a global batch of ``n`` for this rank (sizes differ by at most one)."""
    cuts = np.r_[0, np.cumsum([len(c) for c in np.array_split(np.arange(n), dist.world)])]
    return int(cuts[dist.rank]), int(cuts[dist.rank + 1])


def _finish(cfg, store, man, names, parts, source, device, best_epoch, best_score, metrics) -> dict[str, Any]:
    """Load the selected model, refit its last layer for DFR, score every split part, write the summary."""
    run = Path(cfg.out)
    model = get_model(cfg.model, 2, cfg.in_channels, None, **cfg.model_kwargs).to(device)
    best = load_torch(run / RUN.best, device)
    model.load_state_dict(best["model"])
    extra: dict[str, Any] = {}
    if cfg.method == "dfr":
        head = get_classifier(model, cfg.model)

        def features(name: str):
            p = parts[name]
            _, _, f = predict_part(model, source, p, cfg, device, features_of=head)
            return f, p.labels, p.groups

        extra = dfr_refit(head, features, n_repeats=cfg.dfr_repeats, seed=cfg.seed)
        save_torch({**best, "model": model.state_dict(), **extra}, run / RUN.best)
    frames = []
    for p in parts.values():
        if len(p) == 0:
            continue
        prob, _, _ = predict_part(model, source, p, cfg, device)
        sub = man.iloc[p.index][
            ["row", "image_id", "patient_id", "split", "label", "group", "attribute", "transform"]
        ].copy()
        sub["score"] = prob.astype(np.float64)
        sub["pred"] = (prob >= 0.5).astype(np.int64)
        frames.append(sub)
    pred = pd.concat(frames).sort_index().reset_index(drop=True)
    write_table(pred, run / RUN.predictions)
    summary = {
        "best_epoch": best_epoch,
        "select_by": cfg.select_by,
        "best_score": best_score,
        "method": cfg.method,
        **extra,
    }
    for name, sub in pred.groupby("split"):
        ok = sub["pred"] == sub["label"]
        summary[f"{name}_acc"] = float(ok.mean())
        summary[f"{name}_worst_group_acc"] = float(ok.groupby(sub["group"]).mean().min())
    write_json(summary, run / RUN.summary)
    return summary


# --------------------------------------------------------------------------- for evaluation
def load_run_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The selected model of a run (eval mode) and its config (``image_size``, ``in_channels``, ``model`` ...).

    Feed it ``preprocess_eval(images, config["image_size"], config["in_channels"], transforms)``.
    """
    run = Path(run_dir)
    if not (run / RUN.config).exists() or not (run / RUN.best).exists():
        raise BreastlabInputError(f"{run}: not a finished training run (needs config.json and best.pt)")
    cfg = json.loads((run / RUN.config).read_text())
    model = get_model(cfg["model"], cfg.get("num_classes", 2), cfg["in_channels"], None, **cfg.get("model_kwargs", {}))
    state = load_torch(run / RUN.best)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), cfg
