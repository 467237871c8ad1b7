"""One training harness under the four studies: the loop mechanics a study does not write again.

A study supplies its model, its optimiser (and learning-rate schedule), its batches and its
loss; :class:`Harness` owns the rest:

* the schedule -- ``"epoch"`` rounds (SpurBreast, anomaly detection) or ``"iteration"`` rounds of
  ``checkpoint_every`` iterations (mammogram classification, finding detection); the learning-rate
  scheduler steps per round or per iteration;
* checkpoints -- ``checkpoint.pt`` written atomically at the end of every round and when a call stops
  early (``stop_after``), read back without pickle (:func:`breastlab.runtime.load_torch`); a resumed
  run continues bit for bit because the study draws every batch from generators seeded by
  ``(seed, round or iteration)`` only (:func:`breastlab.runtime.derive_seed`);
* the run folder's fingerprint -- :func:`config_fingerprint` and :func:`check_run_folder` refuse to
  overwrite a run or to resume one made with other settings, naming what differs;
* a NaN/inf stop naming the epoch (or iteration) and batch, and which checkpoint is the last good one;
* the metrics log (``metrics.csv``, one row per round, or per iteration for studies that log each
  step), optional TensorBoard scalars, progress bars;
* best-model selection -- after each round the study's ``evaluate`` gives metrics, the harness keeps
  ``best.pt`` of the round with the highest ``select_metric``;
* placement -- device, channels-last memory format and bf16 autocast on CUDA
  (:func:`breastlab.runtime.autocast_context`), deterministic kernels, DDP wrapping when the study
  runs under ``torchrun`` (SyncBatchNorm on GPUs).

The study protocol (duck-typed, see :class:`Study`): ``batches(span)`` gives the batches of one
epoch (``span`` is the 1-based epoch) or of a run of iterations (``span`` is a ``range`` of 0-based
iterations, one batch each); ``step(net, batch, amp)`` returns a :class:`Step` with the loss to
back-propagate; optional ``evaluate(model, span)``, ``state_dict()`` / ``load_state_dict(ckpt)``
(extra checkpoint entries, e.g. GroupDRO's weights).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import torch
from torch import nn

from breastlab._io import write_json, write_table
from breastlab.errors import BreastlabInputError
from breastlab.runtime import DistInfo, autocast_context, deterministic_kernels, load_torch, save_torch

UNITS = ("epoch", "iteration")


class TrainingDivergedError(BreastlabInputError):
    """The loss became NaN/inf (usually a learning rate too high for the model)."""


@dataclass
class Step:
    """What a study's ``step`` returns for one batch.

    ``loss``: the tensor ``backward()`` is called on. ``n``: images in the batch (under DDP the
    global batch). ``value``: the batch loss as logged and checked for NaN (default ``float(loss)``;
    under DDP the all-reduced value, so that every rank stops together). ``correct``: correctly
    classified images (for ``train_acc``). ``log``: further per-iteration values (per-iteration logs).
    """

    loss: torch.Tensor
    n: float
    value: float | None = None
    correct: float | None = None
    log: dict[str, float] = field(default_factory=dict)


class Study(Protocol):
    def batches(self, span: int | range) -> Iterable[Any]: ...

    def step(self, net: nn.Module, batch: Any, amp: Callable[[], Any]) -> Step: ...


@dataclass
class Schedule:
    """How a study's training is counted.

    ``unit``: "epoch" or "iteration"; ``total``: epochs or iterations of the whole run;
    ``checkpoint_every``: iterations per round ("iteration" only; an epoch is one round);
    ``scheduler_step``: "round" or "iteration"; ``log``: "round" (one metrics row per round) or
    "iteration" (one row per iteration with the step's ``log`` values and data / step seconds).
    """

    unit: str = "epoch"
    total: int = 1
    checkpoint_every: int = 1
    scheduler_step: str = "round"
    log: str = "round"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise BreastlabInputError(f"schedule unit {self.unit!r}: valid values are {', '.join(UNITS)}")
        if self.total < 1 or self.checkpoint_every < 1:
            raise BreastlabInputError(f"total={self.total}, checkpoint_every={self.checkpoint_every}: both >= 1")


@dataclass
class FitResult:
    """What one call of :meth:`Harness.fit` did: ``done`` counts finished epochs / iterations of the run."""

    done: int
    finished: bool
    history: list[dict[str, Any]]
    best_round: int
    best_score: float
    images_per_second: float

    @property
    def metrics(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)


# --------------------------------------------------------------------------- run folders
def config_fingerprint(cfg: Any, exclude: Iterable[str] = (), **extra: Any) -> dict[str, Any]:
    """The settings that define a run's result: the config's fields except ``exclude``, plus ``extra``
    (checksums of the data). Two runs with equal fingerprints compute the same thing."""
    d = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in set(exclude)}
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in {**d, **extra}.items()}


def digest(*parts: Any) -> str:
    """A short SHA-256 of JSON-serialised ``parts`` (a fingerprint as one string)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _differences(saved: dict[str, Any], now: dict[str, Any]) -> str:
    keys = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    return ", ".join(f"{k}: run {saved.get(k)!r} vs now {now.get(k)!r}" for k in keys[:6])


def check_run_folder(run: Path, fingerprint: dict[str, Any], resume: bool, what: str = "a run") -> None:
    """Refuse to overwrite a run (without ``resume``) or to resume one made with other settings.

    The run's ``config.json`` holds its fingerprint under ``"fingerprint"`` (older detector folders:
    the whole file is the fingerprint).
    """
    cfg_path = run / "config.json"
    if not resume:
        if cfg_path.exists() or (run / "checkpoint.pt").exists():
            raise BreastlabInputError(
                f"{run}: holds {what} already; pass --resume (resume=True) to continue it or choose another "
                "--out (nothing was overwritten)"
            )
        return
    if not cfg_path.exists():
        return
    saved = json.loads(cfg_path.read_text())
    saved_fp = saved.get("fingerprint", saved) if isinstance(saved, dict) else saved
    if saved_fp != fingerprint:
        detail = _differences(saved_fp, fingerprint) if isinstance(saved_fp, dict) else "settings differ"
        raise BreastlabInputError(
            f"{run}: cannot resume, the run was made with another configuration ({detail}); "
            "use the same settings or another --out (nothing was overwritten)"
        )


# --------------------------------------------------------------------------- the harness
@dataclass
class Harness:
    """The loop of one training run (see the module docstring).

    ``checkpoint``: the checkpoint file (``None``: no checkpoints); ``run``: folder for ``best.pt``,
    ``metrics.csv`` and TensorBoard (``None``: none of them); ``fingerprint``: stored in every
    checkpoint and checked on resume; ``select_metric``: the ``evaluate`` key that picks ``best.pt``
    (``select_name`` is recorded beside it); ``hint``: advice appended to the NaN message.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    schedule: Schedule
    device: torch.device
    checkpoint: Path | None = None
    run: Path | None = None
    fingerprint: Any = None
    dist: DistInfo = field(default_factory=DistInfo)
    select_metric: str | None = None
    select_name: str | None = None
    desc: str = "train"
    where: str = ""
    hint: str = "try a smaller learning rate"
    progress: bool = True
    amp: bool = True
    deterministic: bool = True
    tensorboard: bool = False
    on_round_end: Callable[[dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        self.net: nn.Module = self.model
        self.history: list[dict[str, Any]] = []
        self.done, self.best_round, self.best_score = 0, 0, -math.inf

    # ------------------------------------------------------------------ set-up
    @staticmethod
    def place(model: nn.Module, device: torch.device, dist: DistInfo | None = None) -> nn.Module:
        """Model on ``device``: SyncBatchNorm under multi-GPU DDP, channels-last memory on CUDA."""
        if dist is not None and dist.world > 1 and device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = model.to(device)
        return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model

    def resume(self, study: Any = None, map_location: str | torch.device = "cpu") -> bool:
        """Load ``checkpoint`` when it exists (an error when it belongs to another fingerprint)."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return False
        ck = load_torch(self.checkpoint, map_location)
        if self.fingerprint is not None and ck.get("fingerprint", self.fingerprint) != self.fingerprint:
            raise BreastlabInputError(
                f"{self.checkpoint}: checkpoint belongs to another configuration; use the same settings "
                "or another folder (nothing was overwritten)"
            )
        if study is not None and hasattr(study, "load_state_dict"):
            study.load_state_dict(ck)
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        if self.scheduler is not None and ck.get("scheduler") is not None:
            self.scheduler.load_state_dict(ck["scheduler"])
        unit = self.schedule.unit
        self.done = int(ck[unit])
        self.history = list(ck.get("history", ck.get("metrics", [])))  # detector checkpoints of older versions
        self.best_score = float(ck.get("best_score", -math.inf))
        self.best_round = int(ck.get(f"best_{unit}", 0))
        return True

    def amp_context(self):
        """bf16 autocast on CUDA when ``amp`` (a fresh context per use)."""
        return autocast_context(self.device) if self.amp else contextlib.nullcontext()

    # ------------------------------------------------------------------ the loop
    def fit(self, study: Any, stop_after: int | None = None) -> FitResult:
        """Train from ``done`` to ``schedule.total`` (at most ``stop_after`` epochs / iterations in this call)."""
        if self.dist.world > 1 or self.dist.group:
            ids = None
            if self.device.type == "cuda":  # plain "cuda" is the current device, where place() put the model
                ids = [self.device.index if self.device.index is not None else torch.cuda.current_device()]
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        ctx = deterministic_kernels(self.device) if self.deterministic else contextlib.nullcontext()
        with ctx:
            return self._fit(study, stop_after)

    def _fit(self, study: Any, stop_after: int | None) -> FitResult:
        from breastlab.progress import progress

        s = self.schedule
        stop = s.total if stop_after is None else min(s.total, self.done + stop_after)
        show = self.progress and self.dist.main
        tb = self._tensorboard() if self.tensorboard and self.dist.main else None
        images, seconds = 0.0, 0.0
        if s.unit == "epoch":
            bar = progress(
                range(self.done + 1, stop + 1),
                desc=self.desc,
                initial=self.done,
                total=s.total,
                unit="epoch",
                disable=not show,
            )
            for epoch in bar:
                t0 = time.perf_counter()
                batches = study.batches(epoch)
                total = len(batches) if hasattr(batches, "__len__") else None
                inner = progress(
                    batches, desc=f"epoch {epoch}", unit="batch", total=total, leave=False, disable=not show
                )
                acc, n, sec = self._round(study, inner, epoch, total, None)
                images, seconds = images + n, seconds + sec
                self._end_round(study, epoch, acc, time.perf_counter() - t0, tb)
                if self.select_metric is not None:
                    bar.set_postfix(best=f"{self.best_score:.3f}@{self.best_round}")
        else:
            bar = progress(total=s.total, initial=self.done, desc=self.desc, unit="it", disable=not show)
            batches = iter(study.batches(range(self.done, stop)))
            while self.done < stop:
                t0 = time.perf_counter()
                end = min(stop, (self.done // s.checkpoint_every + 1) * s.checkpoint_every)
                acc, n, sec = self._round(study, batches, None, end - self.done, bar)
                images, seconds = images + n, seconds + sec
                self._end_round(study, self.done, acc, time.perf_counter() - t0, tb)
            bar.close()
        if tb is not None:
            tb.close()
        ips = images / seconds if seconds > 0 else float("nan")
        return FitResult(self.done, self.done >= s.total, self.history, self.best_round, self.best_score, float(ips))

    def _round(self, study: Any, batches: Iterable[Any], epoch: int | None, total: int | None, bar):
        """Train on ``batches`` (an epoch, or ``total`` iterations); returns (sums, images, seconds)."""
        s = self.schedule
        self.net.train()
        acc = torch.zeros(3, dtype=torch.float64)  # loss x images, correct, images
        n_images, t_loop = 0.0, time.perf_counter()
        t_end = t_loop
        it = iter(batches)
        b = 0
        while epoch is not None or b < total:
            try:
                batch = next(it)
            except StopIteration:
                break
            t_data = time.perf_counter()
            b += 1
            out = study.step(self.net, batch, self.amp_context)
            value = float(out.loss.detach()) if out.value is None else float(out.value)
            if not math.isfinite(value):
                self._diverged(value, epoch, b, total)
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            self.optimizer.step()
            if s.scheduler_step == "iteration" and self.scheduler is not None:
                self.scheduler.step()
            acc += torch.tensor(
                [value * out.n, float(out.correct) if out.correct is not None else math.nan, out.n],
                dtype=torch.float64,
            )
            n_images += out.n
            if epoch is None:
                self.done += 1
                if s.log == "iteration":
                    now = time.perf_counter()
                    self.history.append(
                        {
                            "iteration": self.done,
                            "loss": value,
                            **out.log,
                            "lr": self.optimizer.param_groups[0]["lr"],
                            "data_s": t_data - t_end,
                            "step_s": now - t_end,
                        }
                    )
                    t_end = now
                if bar is not None:
                    bar.update(1)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return acc, n_images, time.perf_counter() - t_loop

    def _diverged(self, value: float, epoch: int | None, b: int, total: int | None) -> None:
        unit = self.schedule.unit
        at = f"epoch {epoch}, batch {b} of {total}" if epoch is not None else f"iteration {self.done + 1}"
        kept = "none (nothing finished yet)"
        if self.checkpoint is not None and self.checkpoint.exists() and self.done > 0:
            kept = f"{self.checkpoint} ({unit} {self.done})"
        raise TrainingDivergedError(
            f"{self.where or self.desc}: loss is {value} at {at} ({self.desc}); training stopped, the last good "
            f"checkpoint is {kept}; {self.hint}"
        )

    def _end_round(self, study: Any, mark: int, acc: torch.Tensor, seconds: float, tb) -> dict[str, Any] | None:
        """Scheduler, evaluation, best model, metrics log and checkpoint at the end of a round."""
        s = self.schedule
        if s.unit == "epoch":
            self.done = mark
        lr_used = self.optimizer.param_groups[0]["lr"]
        if s.scheduler_step == "round" and self.scheduler is not None:
            self.scheduler.step()
        evaluated = study.evaluate(self.model, mark) if hasattr(study, "evaluate") else {}
        improved = False
        if self.select_metric is not None:
            score = float(evaluated[self.select_metric])
            improved = score > self.best_score
            if improved:
                self.best_score, self.best_round = score, mark
        row = None
        if s.log == "round":
            row = {s.unit: mark, "lr": lr_used, "train_loss": float(acc[0] / acc[2])}
            if not math.isnan(float(acc[1])):
                row["train_acc"] = float(acc[1] / acc[2])
            row.update(evaluated)
            if self.select_metric is not None:
                row["selected"] = improved
            row["seconds"] = seconds
            self.history.append(row)
        if self.dist.main:
            self._save(study, improved, mark)
            if tb is not None and row is not None:
                for k, v in row.items():
                    if isinstance(v, float):
                        tb.add_scalar(k, v, mark)
        self.dist.barrier()
        if self.on_round_end is not None and row is not None:
            self.on_round_end(row)
        return row

    def _save(self, study: Any, improved: bool, mark: int) -> None:
        """best.pt, metrics.csv, then checkpoint.pt (so a checkpoint implies the others of its round)."""
        unit = self.schedule.unit
        if improved and self.run is not None:
            save_torch(
                {"model": self.model.state_dict(), unit: mark, "score": self.best_score, "select_by": self.select_name},
                self.run / "best.pt",
            )
        if self.run is not None and self.history:
            write_table(pd.DataFrame(self.history), self.run / "metrics.csv")
        if self.checkpoint is not None:
            extra = study.state_dict() if hasattr(study, "state_dict") else {}
            save_torch(
                {
                    **extra,
                    "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                    unit: self.done,
                    "best_score": self.best_score,
                    f"best_{unit}": self.best_round,
                    "history": self.history,
                    "fingerprint": self.fingerprint,
                },
                self.checkpoint,
            )

    def _tensorboard(self):
        if self.run is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard not installed: CSV only
            return None
        return SummaryWriter(str(self.run / "tensorboard"))


def write_run_config(run: Path, config: dict[str, Any], fingerprint: Any) -> None:
    """``RUN/config.json``: the resolved settings, with the fingerprint the resume check compares."""
    write_json({**config, "fingerprint": fingerprint}, run / "config.json")


__all__ = [
    "FitResult",
    "Harness",
    "Schedule",
    "Step",
    "TrainingDivergedError",
    "check_run_folder",
    "config_fingerprint",
    "digest",
    "write_run_config",
]
