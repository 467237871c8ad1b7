"""What every trainer needs from the machine: seeds, device, mixed precision, deterministic kernels,
distributed information and checkpoint files.

This module sits below every study and below the training harness (:mod:`breastlab.train.harness`);
it imports nothing of breastlab except the error types and the atomic file writer.

* :func:`derive_seed` -- independent 31-bit seeds from tuples of integers (NumPy's ``SeedSequence``),
  so a stream for "epoch 3, crop boxes" never depends on how many numbers another stream drew.
* :func:`resolve_device` -- ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N``; under DDP each rank its local GPU.
* :func:`autocast_context` -- bf16 autocast on CUDA, nothing on the CPU (CPU results stay float32).
* :func:`inference_autocast`, :func:`float32_layers` -- prediction's precision: the network under bf16
  autocast on CUDA, its final layer in float32 (scores are not rounded to bf16's 8 significant bits).
* :func:`deterministic_kernels` -- deterministic kernels where the hardware has them, restored afterwards
  (``CUBLAS_WORKSPACE_CONFIG`` is set when this module is imported, before CUDA is used; a warning
  when CUDA came first).
* :class:`DistInfo`, :func:`init_dist` -- rank / world of a ``torchrun`` (or ``launch_local``) job; under
  NCCL each rank on its local GPU, collectives of CPU tensors staged through it.
* :func:`save_torch`, :func:`load_torch` -- checkpoints written atomically and read without pickle
  (``weights_only=True``: tensors, numbers, strings, lists and dicts only).
"""

from __future__ import annotations

import contextlib
import os
import warnings
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
    """Rank and world size of this process (one process: rank 0 of 1).

    ``device``: where the group's collectives run (``cuda:LOCAL_RANK`` for NCCL, which reduces GPU
    tensors only; None: on the tensor's own device, as gloo does on the CPU).
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    created: bool = False  # this process created the group and must destroy it
    group: bool = False  # a process group exists (DDP even with one process, e.g. one GPU under torchrun)
    device: torch.device | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_reduce(self, t: torch.Tensor) -> torch.Tensor:
        """Sum ``t`` over the ranks, in place; a tensor away from :attr:`device` goes there and back."""
        if self.world > 1:
            if self.device is None or t.device == self.device:
                torch.distributed.all_reduce(t)
            else:
                buf = t.to(self.device)
                torch.distributed.all_reduce(buf)
                t.copy_(buf)
        return t

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def close(self) -> None:
        """Leave the process group when this process created it."""
        if self.created:
            torch.distributed.destroy_process_group()
            self.created = False


def _wants_cuda(device_pref: str) -> bool:
    return torch.cuda.is_available() and (device_pref == "auto" or device_pref.startswith("cuda"))


def _collective_device(local: int) -> torch.device | None:
    """NCCL's device for this rank, made the current one (``all_gather_object`` and ``barrier`` use the
    current device: without this every rank would take GPU 0); None for other backends."""
    import torch.distributed as dist

    if dist.get_backend() != "nccl":
        return None
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


def _chosen_gpu(device_pref: str) -> int | None:
    """N of ``cuda:N`` (None for other values; :func:`resolve_device` refuses the invalid ones)."""
    if not device_pref.startswith("cuda:"):
        return None
    try:
        return torch.device(device_pref).index
    except RuntimeError:
        return None


def init_dist(device_pref: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1) or when one exists already.

    On GPUs (NCCL) each rank's current CUDA device becomes its ``LOCAL_RANK``; in a group of one process
    ``cuda:N`` keeps GPU N (as :func:`resolve_device` does), so the model and the collectives share it.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        world = dist.get_world_size()
        gpu = _chosen_gpu(device_pref) if world == 1 else None
        return DistInfo(
            dist.get_rank(), world, local, group=True, device=_collective_device(local if gpu is None else gpu)
        )
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    dist.init_process_group(backend="nccl" if _wants_cuda(device_pref) else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return DistInfo(
        dist.get_rank(), dist.get_world_size(), local, created=True, group=True, device=_collective_device(local)
    )


def resolve_device(pref: str, dist: DistInfo | None = None) -> torch.device:
    """``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``; under DDP each rank takes its local GPU."""
    dist = dist or DistInfo()
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    valid = f"device={pref!r}: valid values are auto, cpu, cuda, cuda:N"
    if pref.startswith("cuda"):
        try:
            device = torch.device(pref)
        except RuntimeError:
            raise BreastlabInputError(valid) from None
        if device.type != "cuda":
            raise BreastlabInputError(valid)
        if not torch.cuda.is_available():
            raise BreastlabInputError(f"device={pref!r}: no CUDA device is available; use --device cpu")
        if dist.world > 1:
            return torch.device("cuda", dist.local_rank)
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise BreastlabInputError(
                f"device={pref!r}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
            )
        return device
    if pref != "cpu":
        raise BreastlabInputError(valid)
    return torch.device("cpu")


# cuBLAS is deterministic only with a fixed workspace, which it reads from this variable once per
# process, at its first use: set when this module is imported, before a study can touch the GPU.
_CUBLAS_VAR, _CUBLAS_DETERMINISTIC = "CUBLAS_WORKSPACE_CONFIG", ":4096:8"
_cublas_late = False  # the variable was set only after CUDA had been initialised in this process


def _ask_deterministic_cublas() -> None:
    """Set CUBLAS_WORKSPACE_CONFIG (a value the environment gives is kept); remember when it comes
    after CUDA's initialisation, where cuBLAS may have read the variable already."""
    global _cublas_late
    if _CUBLAS_VAR in os.environ:
        return
    _cublas_late = torch.cuda.is_initialized()
    os.environ[_CUBLAS_VAR] = _CUBLAS_DETERMINISTIC


_ask_deterministic_cublas()


@contextlib.contextmanager
def deterministic_kernels(device: torch.device):
    """Deterministic kernels where the hardware has them (restored afterwards).

    On CUDA, a warning says when cuBLAS may not be deterministic: CUDA was initialised in this process
    before ``CUBLAS_WORKSPACE_CONFIG`` was set (by :mod:`breastlab.runtime`'s import or here).
    """
    if device.type == "cuda":
        _ask_deterministic_cublas()
        if _cublas_late:
            warnings.warn(
                f"deterministic kernels: CUDA was initialised in this process before {_CUBLAS_VAR} was set, so "
                "cuBLAS may keep its default workspace and its matrix products may differ from run to run; "
                f"set {_CUBLAS_VAR}={_CUBLAS_DETERMINISTIC} in the environment before starting Python (or import "
                "breastlab before using the GPU)",
                RuntimeWarning,
                stacklevel=3,
            )
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


_HALF = (torch.float16, torch.bfloat16)


def holds_half(x: Any) -> bool:
    """Whether ``x`` (a tensor, or lists / tuples of them) holds a half-precision (bf16 / fp16) tensor."""
    if isinstance(x, torch.Tensor):
        return x.dtype in _HALF
    return isinstance(x, list | tuple) and any(holds_half(v) for v in x)


def to_float32(x: Any) -> Any:
    """``x`` (a tensor, or lists / tuples of them) with its half-precision tensors as float32, the rest
    as it is: where bf16's 8 significant bits would round a result (scores, box coordinates) away."""
    if isinstance(x, torch.Tensor):
        return x.float() if x.dtype in _HALF else x
    if isinstance(x, list | tuple):
        return type(x)(to_float32(v) for v in x)
    return x


def _float32_rerun(module: torch.nn.Module, args: tuple, out: Any) -> Any:
    """Forward hook: an output autocast made in half precision is computed again in float32 from the
    layer's inputs (as they came, bf16 values exactly representable in float32); other outputs stay."""
    if not isinstance(out, torch.Tensor) or out.dtype not in _HALF:
        return None
    with torch.autocast(out.device.type, enabled=False):
        return module.forward(*to_float32(args))


@contextlib.contextmanager
def float32_layers(*layers: torch.nn.Module):
    """While open, ``layers`` give float32 outputs under autocast (outside autocast nothing changes).

    bf16 keeps 8 significant bits: a logit of 3.2 is a multiple of 1/64, so the scores of
    different images tie, and ranks, AUCs and thresholds follow the rounding. The final layer is a
    small share of a network's work; computed in float32 from the bf16 features its outputs are
    distinct again.
    """
    handles = [m.register_forward_hook(_float32_rerun) for m in layers]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def inference_autocast(device: torch.device, *heads: torch.nn.Module):
    """Prediction's precision: the network under :func:`autocast_context` (bf16 on CUDA, whose tensor
    cores run the convolutions about twice as fast as float32), its final layers ``heads`` in float32
    (:func:`float32_layers`), so the scores are float32. On the CPU everything is float32, unchanged."""
    with autocast_context(device), float32_layers(*heads):
        yield


__all__ = [
    "DistInfo",
    "autocast_context",
    "derive_seed",
    "deterministic_kernels",
    "float32_layers",
    "holds_half",
    "inference_autocast",
    "init_dist",
    "load_torch",
    "resolve_device",
    "save_torch",
    "to_float32",
]
