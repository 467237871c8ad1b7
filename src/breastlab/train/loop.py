"""The training run: SpurBreast's protocol on a split, resumable, single- or multi-process.

Protocol (SpurBreast): batch 32, up to 50 epochs; SGD (momentum 0.9, cosine annealing
of the learning rate over the epochs), Adam or AdamW (constant rate); learning rate
1e-5..1e-2; weight decay 1e-4, 1e-5 or 0; the epoch with the best validation accuracy
is kept (option: best worst-group validation accuracy).

Run folder (:data:`breastlab.schemas.RUN`)::

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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from breastlab._io import write_json, write_table
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError
from breastlab.models import get_classifier, get_model, list_models
from breastlab.runtime import (
    DistInfo,
    autocast_context,
    derive_seed,
    deterministic_kernels,
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
    load_split_manifest,
    preprocess_eval,
    preprocess_train,
    random_resized_crop_boxes,
    split_checksum,
    split_parts,
)
from breastlab.train.methods import METHODS, Objective, dfr_refit

OPTIMIZERS = ("sgd", "adam", "adamw")
SELECT_BY = ("val_acc", "worst_group_acc")
# Settings that do not change the result: a resumed run may use other values.
_NOT_IN_FINGERPRINT = {"out", "device", "progress", "preload", "eval_batch_size", "store", "split"}


class TrainingDivergedError(BreastlabInputError):
    """The loss became NaN/inf (usually a learning rate too high for the model)."""


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
    weights: str | None = None
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


# --------------------------------------------------------------------------- helpers
def _fingerprint(cfg: TrainConfig, store_sum: str, split_sum: str) -> dict[str, Any]:
    d = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _NOT_IN_FINGERPRINT}
    return {**d, "store_checksum": store_sum, "split_checksum": split_sum}


def _make_optimizer(cfg: TrainConfig, params) -> tuple[torch.optim.Optimizer, Any]:
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.wd)
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg.lr, weight_decay=cfg.wd), None


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed: CSV only
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


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
    """Probability of class 1, per-sample loss and (optionally) the input of ``features_of`` for a part."""
    model.eval()
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
            with autocast_context(device):
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


def _check_run_dir(cfg: TrainConfig, resume: bool, fp: dict[str, Any]) -> dict[str, Any] | None:
    """Refuse to overwrite another run; on resume return the checkpoint after checking its configuration."""
    run = Path(cfg.out)
    ckpt_path = run / RUN.checkpoint
    cfg_path = run / RUN.config
    if not resume:
        if ckpt_path.exists() or cfg_path.exists():
            raise BreastlabInputError(
                f"{run}: holds a run already; pass --resume to continue it or choose another "
                "--out (nothing was overwritten)"
            )
        return None
    saved_fp = json.loads(cfg_path.read_text()).get("fingerprint") if cfg_path.exists() else None
    if saved_fp is not None and saved_fp != fp:
        diff = sorted(k for k in set(fp) | set(saved_fp) if fp.get(k) != saved_fp.get(k))
        detail = ", ".join(f"{k}: run {saved_fp.get(k)!r} vs now {fp.get(k)!r}" for k in diff[:6])
        raise BreastlabInputError(
            f"{run}: cannot resume, the run was made with another configuration ({detail}); "
            "use the same settings or another --out (nothing was overwritten)"
        )
    if not ckpt_path.exists():
        return None
    ckpt = load_torch(ckpt_path)
    if ckpt.get("fingerprint") != fp:
        raise BreastlabInputError(
            f"{ckpt_path}: checkpoint belongs to another configuration; use the same settings "
            "or another --out (nothing was overwritten)"
        )
    return ckpt


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
    ckpt = _check_run_dir(cfg, resume, fp)
    if ckpt is not None and ckpt["epoch"] >= cfg.epochs and summary_path.exists():
        hist, summary = pd.DataFrame(ckpt["history"]), json.loads(summary_path.read_text())
        return TrainResult(run, True, ckpt["best_epoch"], ckpt["best_score"], hist, summary)
    dist = init_dist(cfg.device)
    try:
        device = resolve_device(cfg.device, dist)
        with deterministic_kernels(device):
            return _run(cfg, store, man, names, parts, fp, ckpt, dist, device, stop_after, on_epoch_end)
    finally:
        if dist.created:
            torch.distributed.destroy_process_group()


def _run(cfg, store, man, names, parts, fp, ckpt, dist: DistInfo, device, stop_after, on_epoch_end) -> TrainResult:
    run = Path(cfg.out)
    train_p, val_p = parts["train"], parts["val"]
    torch.manual_seed(cfg.seed)
    model = get_model(cfg.model, 2, cfg.in_channels, cfg.weights, **cfg.model_kwargs)
    if dist.world > 1 and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(device)
    channels_last = device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer, scheduler = _make_optimizer(cfg, model.parameters())
    objective = Objective(cfg.method, train_p.groups, len(names), cfg.groupdro_eta)
    history: list[dict[str, Any]] = []
    start, best_score, best_epoch = 1, -math.inf, 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        objective.load_state_dict(ckpt["objective"])
        history = list(ckpt["history"])
        start, best_score, best_epoch = ckpt["epoch"] + 1, ckpt["best_score"], ckpt["best_epoch"]
    net = model
    if dist.world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    preload = (
        cfg.preload
        if cfg.preload != "auto"
        else (device.type == "cuda" and len(man) * int(np.prod(store.shape)) < 8 * 2**30)
    )
    source = ImageSource(store, man["row"].to_numpy(), device, preload=bool(preload))
    if dist.main:
        write_json(
            {
                **dataclasses.asdict(cfg),
                "store": str(Path(cfg.store).resolve()),
                "split": str(Path(cfg.split).resolve()),
                "group_names": names,
                "fingerprint": fp,
                "num_classes": 2,
                "world_size": dist.world,
                "device": str(device),
                "torch": torch.__version__,
            },
            run / RUN.config,
        )
    tb = _tensorboard(run) if dist.main else None
    from tqdm.auto import tqdm

    show = cfg.progress and dist.main
    height, width = store.shape
    epochs = tqdm(
        range(start, cfg.epochs + 1),
        desc=f"{cfg.model} {cfg.optimizer} lr={cfg.lr:g}",
        initial=start - 1,
        total=cfg.epochs,
        unit="epoch",
        disable=not show,
    )
    for ran, epoch in enumerate(epochs):
        if stop_after is not None and ran >= stop_after:
            break
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(derive_seed(cfg.seed, epoch, 0))
        torch.manual_seed(derive_seed(cfg.seed, epoch, 1))  # dropout etc.
        order = objective.sample_order(train_p.groups, gen)
        boxes = random_resized_crop_boxes(len(order), height, width, gen)
        starts = list(range(0, len(order), cfg.batch_size))
        if dist.world > 1 and len(order) - starts[-1] < dist.world:
            starts = starts[:-1]  # a last batch smaller than the number of ranks is dropped
        net.train()
        tot = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, count
        for b, s in enumerate(tqdm(starts, desc=f"epoch {epoch}", unit="batch", leave=False, disable=not show), 1):
            glob = order[s : s + cfg.batch_size]
            lo, hi = _share(len(glob), dist)
            loc = glob[lo:hi]
            x = preprocess_train(
                source.for_training(train_p.index[loc]),
                boxes[s + lo : s + hi],
                cfg.image_size,
                cfg.in_channels,
                [train_p.transforms[i] for i in loc],
                device,
                channels_last,
            )
            y = torch.as_tensor(train_p.labels[loc], device=device)
            with autocast_context(device):
                logits = net(x).float()
            losses = F.cross_entropy(logits, y, reduction="none")
            g_loc = torch.as_tensor(train_p.groups[loc])
            sums = None
            if objective.needs_group_losses:
                sums = torch.zeros(len(names), dtype=torch.float64).index_add_(0, g_loc, losses.detach().double().cpu())
                dist.all_reduce(sums)
            coef = objective.coefficients(torch.as_tensor(train_p.groups[glob]), sums)[lo:hi]
            loss = (coef.to(device, torch.float32) * losses).sum() * dist.world
            stats = torch.stack(
                [
                    (coef * losses.detach().double().cpu()).sum(),
                    (logits.argmax(1) == y).sum().double().cpu(),
                    torch.tensor(float(len(loc))),
                ]
            )
            dist.all_reduce(stats)
            if not math.isfinite(float(stats[0])):
                kept = f"{run / 'checkpoint.pt'} (epoch {epoch - 1})" if epoch > 1 else "none (first epoch)"
                raise TrainingDivergedError(
                    f"{run}: loss is {float(stats[0])} at epoch {epoch}, batch {b} of {len(starts)} "
                    f"({cfg.model}, {cfg.optimizer}, lr={cfg.lr:g}); training stopped, the last good checkpoint is "
                    f"{kept}; try a smaller --lr"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            tot += torch.stack([stats[0] * stats[2], stats[1], stats[2]])
        lr_used = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        val = _evaluate_val(model, source, val_p, cfg, device, dist, names)
        score = val["val_acc"] if cfg.select_by == "val_acc" else val["val_worst_group_acc"]
        improved = score > best_score
        if improved:
            best_score, best_epoch = score, epoch
        row = {
            "epoch": epoch,
            "lr": lr_used,
            "train_loss": float(tot[0] / tot[2]),
            "train_acc": float(tot[1] / tot[2]),
            **val,
            "selected": improved,
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        if dist.main:
            # Order matters: checkpoint.pt last, so a checkpoint implies best.pt and metrics.csv of its epoch.
            if improved:
                save_torch(
                    {"model": model.state_dict(), "epoch": epoch, "score": score, "select_by": cfg.select_by},
                    run / RUN.best,
                )
            write_table(pd.DataFrame(history), run / RUN.metrics)
            save_torch(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "objective": objective.state_dict(),
                    "epoch": epoch,
                    "best_score": best_score,
                    "best_epoch": best_epoch,
                    "history": history,
                    "fingerprint": fp,
                },
                run / RUN.checkpoint,
            )
            if tb is not None:
                for k, v in row.items():
                    if isinstance(v, float):
                        tb.add_scalar(k, v, epoch)
        dist.barrier()
        epochs.set_postfix(val_acc=f"{val['val_acc']:.3f}", best=f"{best_score:.3f}@{best_epoch}")
        if on_epoch_end is not None:
            on_epoch_end(row)
    if tb is not None:
        tb.close()
    metrics = pd.DataFrame(history)
    done = bool(history) and history[-1]["epoch"] >= cfg.epochs
    if not done:
        return TrainResult(run, False, best_epoch, best_score, metrics, {})
    summary: dict[str, Any] = {}
    if dist.main:
        summary = _finish(cfg, store, man, names, parts, source, device, best_epoch, best_score, metrics)
    dist.barrier()
    return TrainResult(run, True, best_epoch, best_score, metrics, summary)


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
