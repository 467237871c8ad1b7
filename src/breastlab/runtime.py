"""What every trainer needs from the machine: seeds, device, mixed precision, deterministic kernels,
distributed information and checkpoint files.

This module sits below every study and below the training harness (:mod:`breastlab.train.harness`);
it imports nothing of breastlab except the error types and the atomic file writer.

* :func:`derive_seed` -- independent 31-bit seeds from tuples of integers (NumPy's ``SeedSequence``),
  so a stream for "epoch 3, crop boxes" never depends on how many numbers another stream drew.
* :func:`resolve_device` -- ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N``; under DDP each rank its local GPU.
* :func:`autocast_context` -- bf16 autocast on CUDA, nothing on the CPU (CPU results stay float32).
* :func:`deterministic_kernels` -- deterministic kernels where the hardware has them, restored afterwards.
* :class:`DistInfo`, :func:`init_dist` -- rank / world of a ``torchrun`` (or ``launch_local``) job.
* :func:`save_torch`, :func:`load_torch` -- checkpoints written atomically and read without pickle
  (``weights_only=True``: tensors, numbers, strings, lists and dicts only).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from breastlab._io import atomic_path
from breastlab.errors import BreastlabInputError


def derive_seed(*parts: int) -> int:
    """A seed in [0, 2**31) from integers (independent streams per epoch and purpose).

    It is the first 32-bit word of ``SeedSequence(parts)``'s state shifted right by one bit
    (kept as it is: every saved run's random streams depend on it).
    """
    return int(
        np.random.SeedSequence([int(p) for p in parts])
        .generate_state(2, np.uint32)
        .astype(np.uint64)
        .view(np.uint64)[0]
        >> np.uint64(1)
    )


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through a temporary file renamed into place (a crash leaves the old file or none)."""
    with atomic_path(Path(path)) as tmp:
        torch.save(obj, tmp)


def load_torch(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Read a checkpoint without executing anything in it (``weights_only=True``).

    A file that holds more than tensors and plain containers (a pickled object, a file of
    another program) is refused with an error naming it.
    """
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise BreastlabInputError(f"{path}: no such checkpoint file") from None
    except Exception as exc:
        raise BreastlabInputError(
            f"{path}: not a checkpoint breastlab can read safely (tensors, numbers, strings, lists and "
            f"dicts only): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


@dataclass
class DistInfo:
    """Rank and world size of this process (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    created: bool = False  # this process created the group and must destroy it
    group: bool = False  # a process group exists (DDP even with one process, e.g. one GPU under torchrun)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_reduce(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(t)
        return t

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def close(self) -> None:
        """Leave the process group when this process created it."""
        if self.created:
            torch.distributed.destroy_process_group()
            self.created = False


def init_dist(device_pref: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1) or when one exists already."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return DistInfo(dist.get_rank(), dist.get_world_size(), local, group=True)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    use_cuda = torch.cuda.is_available() and device_pref in ("auto", "cuda")
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, created=True, group=True)


def resolve_device(pref: str, dist: DistInfo | None = None) -> torch.device:
    """``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``; under DDP each rank takes its local GPU."""
    dist = dist or DistInfo()
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BreastlabInputError(f"device={pref!r}: no CUDA device is available; use --device cpu")
        return torch.device("cuda", dist.local_rank) if dist.world > 1 else torch.device(pref)
    if pref != "cpu":
        raise BreastlabInputError(f"device={pref!r}: valid values are auto, cpu, cuda, cuda:N")
    return torch.device("cpu")


@contextlib.contextmanager
def deterministic_kernels(device: torch.device):
    """Deterministic kernels where the hardware has them (restored afterwards)."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    prev = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.backends.cudnn.benchmark = prev[2]


def autocast_context(device: torch.device):
    """bf16 autocast on CUDA (weights and the loss stay float32); a no-op context on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


__all__ = [
    "DistInfo",
    "autocast_context",
    "derive_seed",
    "deterministic_kernels",
    "init_dist",
    "load_torch",
    "resolve_device",
    "save_torch",
]
