"""The one data model of breastlab: manifest + array store + findings.

Every modality (MRI slices, breast MIPs, mammograms) is stored the same way::

    STORE/
      store.json          layout, dtype, image shape, normalisation, modality, checksum
      manifest.parquet    one row per image; column ``row`` is the array address
      images.npy          layout "fixed": one (N, H, W) array, memory-mapped on read
      images.bin          layout "ragged": images of any size back to back; the
                          manifest's ``offset``, ``height``, ``width`` address them
      findings.parquet    zero or more rows per image (keyed by ``image_id``):
                          finding_class, box x0, y0, x1, y1 (pixels of the stored
                          array, 0-based, half-open), and any other columns

Required manifest columns: ``row`` (0..N-1), ``image_id`` (unique), ``patient_id``.
Everything else (label, slice_index, laterality, view, clinical columns ...)
is modality-specific. Splits and cross-validation folds are index tables of
``row`` values into the store; the array data is never copied.

Writing is per key (usually a patient) through :class:`StoreWriter`: each key
becomes an atomic shard in ``STORE/.shards/``; a job that is interrupted and
restarted skips the keys already written (:meth:`StoreWriter.done_keys`), and
:meth:`StoreWriter.finalize` streams the shards into the final files, so peak
memory is one shard of images, not the cohort. A shard is ``<key>.npy`` (pixels, read
with ``allow_pickle=False``), ``<key>.tables.json`` (its manifest and findings rows as
JSON that keeps every column's dtype, :func:`breastlab._io.encode_frame`) and
``<key>.done`` (written last). Nothing read from a store folder can run code: shard
tables of older versions that were pickles (``.tables.pkl``) are never opened (their
keys are redone), parquet shards of older versions (``.manifest.parquet``/
``.findings.parquet``) are still read on resume.

Pixels written once: where the number of images of every key is known before the job
starts (a fixed-layout store), :meth:`StoreWriter.reserve` lays out the final
``images.npy`` (``.shards/images.npy``, its header for the whole store, then one slot per
key in store order) and :meth:`write_shard` writes a key's pixels straight into its slot
(from any process). When every key filled its slot, :meth:`finalize` renames that file to
``images.npy``; otherwise (a key failed, or had another count than planned and went to its
own ``.npy``) it streams slots and shards into a new file as before.

Jobs with many small keys (one breast-MIP pair per patient) use :meth:`StoreWriter.add`
instead: keys are kept in memory and written together as one *batch* in
``STORE/.shards/batches/`` at checkpoints (every ``checkpoint_s`` seconds or
``checkpoint_bytes`` of pixels), and :meth:`StoreWriter.finalize` writes the keys still
in memory straight into the store files. Three files per key cost ~1 ms on a local disk
(more than a MIP takes to compute), and pixels of a short job are written once; an
interrupted job loses at most the keys added since the last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from breastlab._io import atomic_path, decode_frame, dumps_frames, encode_frame, write_json, write_table
from breastlab.errors import BreastlabInputError

STORE_VERSION = 1
FINDING_COLUMNS = ["image_id", "finding_id", "finding_class", "x0", "y0", "x1", "y1"]
Layout = Literal["fixed", "ragged"]


class ArrayStore:
    """Read side of a store. ``store[row]`` gives one image as a NumPy array."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        meta_path = self.path / "store.json"
        if not meta_path.exists():
            raise BreastlabInputError(
                f"{self.path}: not a breastlab store (no store.json); build one with "
                "`breastlab export` or StoreWriter.finalize()"
            )
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        self.manifest: pd.DataFrame = pd.read_parquet(self.path / "manifest.parquet")
        findings_path = self.path / "findings.parquet"
        self.findings: pd.DataFrame = pd.read_parquet(findings_path) if findings_path.exists() else empty_findings()
        self.layout: Layout = self.meta["layout"]
        self.dtype = np.dtype(self.meta["dtype"])
        if self.layout == "fixed":
            self._images = np.load(self.path / "images.npy", mmap_mode="r", allow_pickle=False)
            if len(self._images) != len(self.manifest):
                raise BreastlabInputError(
                    f"{self.path}: images.npy has {len(self._images)} images but "
                    f"manifest.parquet has {len(self.manifest)} rows"
                )
        elif (self.path / "images.bin").stat().st_size == 0:  # no image kept (all reported): mmap refuses 0 bytes
            self._images = np.empty(0, dtype=self.dtype)
        else:
            self._images = np.memmap(self.path / "images.bin", dtype=self.dtype, mode="r")

    def __len__(self) -> int:
        return len(self.manifest)

    @property
    def images(self) -> np.ndarray:
        """The (N, H, W) memory map of a fixed-layout store."""
        if self.layout != "fixed":
            raise BreastlabInputError(f"{self.path}: ragged store has no single image array; use store[row]")
        return self._images

    @property
    def shape(self) -> tuple[int, ...] | None:
        return tuple(self.meta["shape"]) if self.meta.get("shape") else None

    def __getitem__(self, row: int) -> np.ndarray:
        if self.layout == "fixed":
            return np.asarray(self._images[row])
        rec = self.manifest.iloc[int(row)]
        n = int(rec["height"]) * int(rec["width"])
        start = int(rec["offset"])
        return np.asarray(self._images[start : start + n]).reshape(int(rec["height"]), int(rec["width"]))

    def batch(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Images of ``rows`` as one (len(rows), H, W) array (fixed layout)."""
        rows = np.asarray(rows, dtype=np.int64)
        # Sorted reads are sequential on disk; restore the requested order after.
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), *self.images.shape[1:]), dtype=self.dtype)
        out[order] = self.images[rows[order]]
        return out

    def findings_for(self, image_id: str) -> pd.DataFrame:
        return self.findings[self.findings["image_id"] == image_id]

    @property
    def checksum(self) -> str:
        return self.meta["checksum"]


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c[0] in "xy" else "object") for c in FINDING_COLUMNS})


def manifest_checksum(manifest: pd.DataFrame) -> str:
    """SHA-256 of a manifest's content (column order and values), for provenance.

    The row hashes are ``pd.util.hash_pandas_object(manifest, index=False)``, computed
    column by column as pandas does (:func:`_hash_column`) without its per-column
    overhead (a Categorical for each object column), which dominated small manifests.
    """
    from pandas.core.util.hashing import combine_hash_arrays

    h = hashlib.sha256()
    h.update(",".join(map(str, manifest.columns)).encode())
    n_cols = manifest.shape[1]
    if n_cols:
        is_object = [isinstance(d, np.dtype) and d.kind == "O" for d in manifest.dtypes]
        objects = np.asarray(manifest.iloc[:, [i for i in range(n_cols) if is_object[i]]].to_numpy(), dtype=object)
        at = np.cumsum(is_object) - 1
        hashes = (
            _hash_column(objects[:, at[i]] if is_object[i] else manifest.iloc[:, i]._values) for i in range(n_cols)
        )
        rows = combine_hash_arrays(hashes, n_cols)
    else:
        rows = pd.util.hash_pandas_object(manifest, index=False).to_numpy()
    h.update(np.asarray(rows, dtype=np.uint64).tobytes())
    return h.hexdigest()


def _hash_column(values: Any) -> np.ndarray:
    """``pd.util.hash_array`` of one column's values (uint64 per row), as hash_pandas_object hashes
    them: an object array by its categories (factorize; the categories are hashed as their ``str``
    where any is not a string), missing values as 2**64 - 1."""
    if not (isinstance(values, np.ndarray) and values.dtype == object):
        return pd.util.hash_array(values)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("string", "integer", "boolean"):
        # Equal values of these kinds have equal ``str``, so no categories are needed: strings hash
        # as they are, integers and booleans as their ``str`` (pandas' fallback for non-strings).
        missing = pd.isna(values)
        plain = np.where(missing, "", values) if missing.any() else values
        if kind != "string":
            plain = plain.astype(str).astype(object)
        out = pd.util.hash_array(plain, categorize=False)
        out[missing] = np.iinfo(np.uint64).max
        return out
    # pandas' categorize path (hashing._hash_ndarray), minus the CategoricalDtype validation
    codes, uniques = pd.factorize(values, sort=False)
    categories = np.asarray(pd.Index(uniques, copy=False)._values)
    hashed = pd.util.hash_array(categories, categorize=False)
    out = hashed.take(codes) if len(hashed) else np.zeros(len(codes), dtype=np.uint64)
    out[codes < 0] = np.iinfo(np.uint64).max
    return out


def check_output_folder(path: Path, what: str = "output folder") -> None:
    """``path`` is a folder or can become one: neither it nor a parent is an existing file."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                where = "is" if folder == path else f"lies inside {folder}, which is"
                raise BreastlabInputError(f"{path}: the {what} {where} a file, not a folder; give a folder path")
            return


def digest(value: Any) -> str:
    """A short SHA-256 (16 hex digits) of a file's bytes (a Path), a table's content (a DataFrame,
    :func:`manifest_checksum`) or any JSON value: one part of a :func:`fingerprint`."""
    h = hashlib.sha256()
    if isinstance(value, Path):
        with open(value, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    elif isinstance(value, pd.DataFrame):
        h.update(manifest_checksum(value.reset_index(drop=True)).encode())
    else:
        h.update(json.dumps(value, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def fingerprint(**parts: Any) -> dict[str, str]:
    """What a store is built from, part by part (``{"box file": digest, ...}``, see :func:`digest`).

    Saved with the shards of a job and in ``store.json``: a job resumed in a folder, or a
    finished store reused, must have the same fingerprint, so finished parts of one cohort
    or of other settings are never mixed into another (:func:`check_fingerprint`).
    """
    return {name: digest(value) for name, value in parts.items()}


def check_fingerprint(folder: Path, saved: dict[str, str] | None, current: dict[str, str] | None, what: str) -> None:
    """Refuse to reuse ``what`` in ``folder`` when its fingerprint differs from ``current``, naming the
    parts that differ (stores of versions without a fingerprint are accepted)."""
    if saved is None or current is None:
        return
    differ = [k for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)]
    if differ:
        raise BreastlabInputError(
            f"{folder}: {what} here were made from other inputs or settings ({', '.join(differ)} "
            "differ); give the same ones to resume, or use another output folder"
        )


class StoreWriter:
    """Write a store shard by shard (resumable), then :meth:`finalize` it.

    Parameters
    ----------
    path : output folder.
    layout : "fixed" (every image ``shape``) or "ragged" (any 2-D size).
    dtype : NumPy dtype of the stored pixels (uint8 for slices, uint16 for mammograms).
    shape : (H, W) for the fixed layout.
    meta : extra provenance saved in store.json (modality, normalisation, source ...).
    checkpoint_s, checkpoint_bytes : keys given to :meth:`add` are written to disk (one batch)
        once this many seconds have passed since the last checkpoint or this many bytes of
        pixels are waiting (:meth:`write_shard` writes its key at once).
    inputs : the job's :func:`fingerprint`; a resumed job with another one is refused (naming the
        parts that differ) and it is saved in store.json as ``fingerprint``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        layout: Layout = "fixed",
        dtype: str | np.dtype = "uint8",
        shape: tuple[int, int] | None = None,
        meta: dict[str, Any] | None = None,
        checkpoint_s: float = 10.0,
        checkpoint_bytes: int = 64 << 20,
        inputs: dict[str, str] | None = None,
    ) -> None:
        if layout not in ("fixed", "ragged"):
            raise BreastlabInputError(f"layout={layout!r}: valid layouts are 'fixed' and 'ragged'")
        if layout == "fixed" and (shape is None or len(shape) != 2):
            raise BreastlabInputError(f"shape={shape!r}: a fixed-layout store needs an (H, W) shape")
        self.path = Path(path)
        check_output_folder(self.path)
        self.layout = layout
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(s) for s in shape) if shape is not None else None
        self.meta = dict(meta or {})
        if inputs is not None:
            self.meta["fingerprint"] = dict(inputs)
        self.shard_dir = self.path / ".shards"
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        self._check_or_save_settings()
        # temporary files of atomic writes that a killed job left (this writer owns the folder now)
        for folder in (self.path, self.shard_dir, self._batch_dir):
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
                tmp.unlink(missing_ok=True)
        self._init_state(checkpoint_s, int(checkpoint_bytes))

    @classmethod
    def open(cls, path: str | os.PathLike) -> StoreWriter:
        """The writer of a job in progress in ``path``, with its saved settings (worker processes
        use it to write their keys; nothing is written until they do)."""
        path = Path(path)
        settings_path = path / ".shards" / "settings.json"
        if not settings_path.exists():
            raise BreastlabInputError(f"{path}: no store is being written here (no {settings_path})")
        saved = json.loads(settings_path.read_text())
        self = cls.__new__(cls)
        self.path, self.layout, self.dtype = path, saved["layout"], np.dtype(saved["dtype"])
        self.shape = tuple(saved["shape"]) if saved["shape"] else None
        self.meta, self.shard_dir = saved.get("meta", {}), path / ".shards"
        self._init_state(np.inf, np.inf)
        return self

    def _init_state(self, checkpoint_s: float, checkpoint_bytes: float) -> None:
        # Tables of the shards this writer wrote, so finalize need not read them back.
        self._tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
        # Keys given to add() and not yet in a batch on disk: key -> (pixels, manifest, findings, extra).
        self._pending: dict[str, tuple[np.ndarray, pd.DataFrame, pd.DataFrame, Any]] = {}
        self._pending_bytes = 0
        self._checkpoint_s, self._checkpoint_bytes = float(checkpoint_s), checkpoint_bytes
        self._last_checkpoint = time.monotonic()
        self._slots = self._read_slots()

    # ------------------------------------------------------------------ pixels written once
    @property
    def _slot_file(self) -> Path:
        return self.shard_dir / "images.npy"

    def _header_bytes(self, n_images: int) -> bytes:
        import io

        buf = io.BytesIO()
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (n_images, *self.shape)}  # fmt: skip
        np.lib.format.write_array_header_1_0(buf, header)
        return buf.getvalue()

    def _read_slots(self) -> dict[str, tuple[int, int]] | None:
        """key -> (byte offset in the slot file, image count), from ``.shards/slots.json``."""
        path = self.shard_dir / "slots.json"
        if not path.exists() or not self._slot_file.exists():
            return None
        saved = json.loads(path.read_text())
        image_bytes = int(np.prod(self.shape)) * self.dtype.itemsize
        offset = len(self._header_bytes(sum(saved["counts"])))
        slots = {}
        for key, count in zip(saved["keys"], saved["counts"], strict=True):
            slots[key] = (offset, int(count))
            offset += int(count) * image_bytes
        return slots

    def reserve(self, keys: Sequence[str], counts: Sequence[int]) -> None:
        """Lay out the final image file for ``keys`` (in store order) with ``counts`` images each,
        so :meth:`write_shard` writes their pixels once (fixed layout; see the module notes).

        A resumed job reserves the same slots again and keeps what its keys wrote; a different
        plan starts a new slot file (keys already written to the old one are redone).
        """
        if self.layout != "fixed":
            raise BreastlabInputError(f"{self.path}: only a fixed-layout store has a size known up front")
        plan = {"keys": [str(k) for k in keys], "counts": [int(c) for c in counts]}
        path = self.shard_dir / "slots.json"
        if path.exists() and self._slot_file.exists() and json.loads(path.read_text()) == plan:
            self._slots = self._read_slots()
            return
        for stem in self._done_shards().values():  # written into slots that are given up now
            if not Path(f"{stem}.npy").exists():
                Path(f"{stem}.done").unlink()
        header = self._header_bytes(sum(plan["counts"]))
        total = len(header) + sum(plan["counts"]) * int(np.prod(self.shape)) * self.dtype.itemsize
        with atomic_path(self._slot_file) as tmp, open(tmp, "r+b") as fh:
            fh.write(header)
            fh.truncate(total)  # a sparse file: the slots take disk space as they are written
        write_json(plan, path)
        self._slots = self._read_slots()

    def _write_slot(self, key: str, pixels: np.ndarray) -> bool:
        """``pixels`` into ``key``'s slot if it has one of that size (False: it goes to a shard)."""
        slot = None if self._slots is None else self._slots.get(key)
        if slot is None or pixels.nbytes != slot[1] * int(np.prod(self.shape)) * self.dtype.itemsize:
            return False
        view = memoryview(np.ascontiguousarray(pixels)).cast("B")
        fd = os.open(self._slot_file, os.O_WRONLY)
        try:
            written = 0
            while written < len(view):
                written += os.pwrite(fd, view[written:], slot[0] + written)
        finally:
            os.close(fd)
        return True

    def _check_or_save_settings(self) -> None:
        """A resumed writer must use the settings of the interrupted one."""
        settings = {"layout": self.layout, "dtype": self.dtype.name, "shape": list(self.shape) if self.shape else None}
        path = self.shard_dir / "settings.json"
        if path.exists():
            saved = json.loads(path.read_text())
            for key, value in settings.items():
                if saved[key] != value:
                    raise BreastlabInputError(
                        f"{self.path}: resuming with {key}={value!r} but the interrupted job used "
                        f"{saved[key]!r}; use the same settings or delete {self.shard_dir}"
                    )
            check_fingerprint(self.path, saved.get("meta", {}).get("fingerprint"), self.meta.get("fingerprint"),
                              "the finished parts of an interrupted job")  # fmt: skip
            self.meta = {**saved.get("meta", {}), **self.meta}
        write_json({**settings, "meta": self.meta}, path)

    @staticmethod
    def _safe(key: str) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(key))

    @property
    def _batch_dir(self) -> Path:
        return self.shard_dir / "batches"

    def _batches(self) -> list[tuple[Path, dict[str, Any]]]:
        """``(pixel file, header)`` of the complete batches on disk, oldest first. The header
        (``<n>.keys.json``, written after the pixels, so it marks the batch complete) holds
        ``keys``, ``counts`` (images per key), ``sizes``, ``tables`` and ``extras``. Batch
        headers of older versions (``.keys.pkl``, pickles) are never opened."""
        if not self._batch_dir.is_dir():
            return []
        out = []
        for path in sorted(self._batch_dir.glob("*.keys.json")):
            header = json.loads(path.read_text())
            header["tables"] = {
                k: (decode_frame(m), None if f is None else decode_frame(f)) for k, (m, f) in header["tables"].items()
            }
            out.append((path.with_name(path.name.replace(".keys.json", ".npy")), header))
        return out

    def _done_shards(self) -> dict[str, Path]:
        """Complete shards on disk: key -> file stem. A ``.done`` marker counts only beside tables this
        version reads (JSON, or the parquet pair of older versions)."""
        out = {}
        for marker in self.shard_dir.glob("*.done"):
            stem = marker.with_suffix("")
            if Path(f"{stem}.tables.json").exists() or Path(f"{stem}.manifest.parquet").exists():
                out[marker.read_text()] = stem
        return out

    def done_keys(self) -> set[str]:
        """Keys whose shard is complete (a restarted job skips them), and keys added in memory."""
        done = set(self._done_shards())
        for _, header in self._batches():
            done.update(header["keys"])
        return done | set(self._pending)

    def _check_images(self, key: str, images: list[np.ndarray], manifest: pd.DataFrame) -> None:
        if len(images) != len(manifest):
            raise BreastlabInputError(f"shard {key!r}: {len(images)} images but {len(manifest)} manifest rows")
        missing = {"image_id", "patient_id"} - set(manifest.columns)
        if missing:
            raise BreastlabInputError(f"shard {key!r}: manifest lacks columns {sorted(missing)}")
        for i, img in enumerate(images):
            if img.ndim != 2:
                raise BreastlabInputError(f"shard {key!r}, image {i}: expected a 2-D image, got shape {img.shape}")
            if self.layout == "fixed" and img.shape != self.shape:
                raise BreastlabInputError(
                    f"shard {key!r}, image {i}: shape {img.shape} differs from the store's {self.shape}"
                )

    def _pack(
        self, key: str, images: np.ndarray | Sequence[np.ndarray], manifest: pd.DataFrame, sizes: bool
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """One key's images checked and flattened into one pixel vector in the store's dtype, and its
        manifest; ``sizes``: a copy with each image's ``height`` and ``width`` (what a ragged store needs)."""
        images = list(images)
        self._check_images(key, images, manifest)
        flat = [np.ascontiguousarray(i, dtype=self.dtype).ravel() for i in images]
        pixels = np.concatenate(flat) if flat else np.empty(0, self.dtype)
        if not sizes:
            return pixels, manifest
        man = manifest.reset_index(drop=True).copy()
        man["height"] = [int(i.shape[0]) for i in images]
        man["width"] = [int(i.shape[1]) for i in images]
        return pixels, man

    def write_shard(
        self,
        key: str,
        images: np.ndarray | Sequence[np.ndarray],
        manifest: pd.DataFrame,
        findings: pd.DataFrame | None = None,
    ) -> None:
        """Store the images of one key with their manifest (and findings) rows, on disk at once.

        ``manifest`` needs one row per image, with at least ``image_id`` and
        ``patient_id``; ``row`` is assigned at :meth:`finalize`.
        """
        arrays, man = self._pack(key, images, manifest, sizes=True)
        stem = self.shard_dir / self._safe(key)
        findings = findings.reset_index(drop=True) if findings is not None else empty_findings()
        # Shard files are opened "r+b" (atomic_path's temporary file exists, empty): opening with
        # truncation ("wb") makes ext4 flush the file at close (auto_da_alloc), and deleting the
        # shards after finalize then waits ~3 ms a file for that I/O.
        if self.layout == "fixed" and self._write_slot(str(key), arrays):
            Path(f"{stem}.npy").unlink(missing_ok=True)  # of an earlier try that did not fit the slot
        else:
            with atomic_path(f"{stem}.npy") as tmp, open(tmp, "r+b") as fh:
                np.save(fh, arrays)
        with atomic_path(f"{stem}.tables.json") as tmp, open(tmp, "r+") as fh:
            fh.write(dumps_frames({"manifest": encode_frame(man), "findings": encode_frame(findings)}))
        # The marker is written last: a shard without it is redone on resume.
        with atomic_path(f"{stem}.done") as tmp, open(tmp, "r+") as fh:  # text, as done_keys reads it
            fh.write(str(key))
        self._tables[str(key)] = (man, findings)
        self._pending.pop(str(key), None)

    def add(
        self,
        key: str,
        images: np.ndarray | Sequence[np.ndarray],
        manifest: pd.DataFrame,
        findings: pd.DataFrame | None = None,
        extra: Any = None,
    ) -> None:
        """:meth:`write_shard` kept in memory until the next checkpoint (see the class).

        ``extra`` (any JSON value, e.g. a list of notes about the key) is kept with the key and
        returned by :meth:`extras`, also after a resume.
        """
        pixels, man = self._pack(key, images, manifest, sizes=self.layout == "ragged")  # fixed: the store's size
        key = str(key)  # findings None: none (no frame is built for each key without findings)
        if key in self._pending:
            self._pending_bytes -= self._pending[key][0].nbytes
        self._pending[key] = (pixels, man, findings, extra)
        self._pending_bytes += pixels.nbytes
        if (
            self._pending_bytes >= self._checkpoint_bytes
            or time.monotonic() - self._last_checkpoint >= self._checkpoint_s
        ):
            self.checkpoint()

    def checkpoint(self) -> None:
        """Write the keys waiting in memory as one batch (pixels first, then the header that
        marks the batch complete)."""
        self._last_checkpoint = time.monotonic()
        if not self._pending:
            return
        keys = list(self._pending)
        items = [self._pending[k] for k in keys]
        header = {
            "keys": keys,
            "counts": [len(p[1]) for p in items],
            "sizes": [int(p[0].size) for p in items],
            "tables": {
                k: (encode_frame(p[1]), None if p[2] is None else encode_frame(p[2]))
                for k, p in zip(keys, items, strict=True)
            },
            "extras": {k: p[3] for k, p in zip(keys, items, strict=True) if p[3] is not None},
        }
        self._batch_dir.mkdir(parents=True, exist_ok=True)
        numbers = [int(p.name.split(".")[0]) for p in self._batch_dir.glob("*.keys.*")]
        stem = self._batch_dir / f"{max(numbers, default=0) + 1:06d}"
        pixels = np.concatenate([p[0].ravel() for p in items])
        with atomic_path(f"{stem}.npy") as tmp, open(tmp, "r+b") as fh:
            np.save(fh, pixels)
        with atomic_path(f"{stem}.keys.json") as tmp, open(tmp, "r+") as fh:
            fh.write(dumps_frames(header))
        self._pending.clear()
        self._pending_bytes = 0

    def extras(self) -> dict[str, Any]:
        """The ``extra`` objects of the keys given to :meth:`add` (in batches on disk or in memory)."""
        out: dict[str, Any] = {}
        for _, header in self._batches():
            out.update(header["extras"])
        out.update({k: p[3] for k, p in self._pending.items() if p[3] is not None})
        return out

    def _shard_tables(self, key: str, stem: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
        if key in self._tables:
            return self._tables[key]
        if Path(f"{stem}.tables.json").exists():
            saved = json.loads(Path(f"{stem}.tables.json").read_text())
            return decode_frame(saved["manifest"]), decode_frame(saved["findings"])
        return pd.read_parquet(f"{stem}.manifest.parquet"), pd.read_parquet(f"{stem}.findings.parquet")

    def _sources(self) -> dict[str, tuple]:
        """Where each complete key's data lies: ``("memory",)``, ``("shard", stem)``, ``("slot", stem,
        byte offset, image count)`` or ``("batch", pixel file, offset, size, tables)``; memory before
        shards before batches (later batches first) where a key was written twice."""
        sources: dict[str, tuple] = {}
        for pixels, header in self._batches():
            offset = 0
            for k, size in zip(header["keys"], header["sizes"], strict=True):
                sources[k] = ("batch", pixels, offset, size, header["tables"][k])
                offset += size
        for k, stem in self._done_shards().items():
            in_slot = self._slots is not None and k in self._slots and not Path(f"{stem}.npy").exists()
            sources[k] = ("slot", stem, *self._slots[k]) if in_slot else ("shard", stem)
        for k in self._pending:
            sources[k] = ("memory",)
        return sources

    def finalize(self, key_order: Sequence[str] | None = None, keep_shards: bool = False) -> ArrayStore:
        """Concatenate the shards, batches and keys in memory (in ``key_order`` or sorted) into the
        store files."""
        sources = self._sources()
        keys = sorted(sources) if key_order is None else [k for k in key_order if k in sources]
        mapped: dict[Path, np.ndarray] = {}

        def tables(k: str) -> tuple[pd.DataFrame, pd.DataFrame]:
            src = sources[k]
            if src[0] == "memory":
                return self._pending[k][1], self._pending[k][2]
            return src[4] if src[0] == "batch" else self._shard_tables(k, src[1])  # a shard's or slot's stem

        def pixels(k: str) -> np.ndarray:
            src = sources[k]
            if src[0] == "memory":
                return self._pending[k][0]
            if src[0] == "shard":
                return _load_pixels(Path(f"{src[1]}.npy"))
            if src[0] == "slot":
                if self._slot_file not in mapped:
                    mapped[self._slot_file] = np.memmap(self._slot_file, dtype=np.uint8, mode="r")
                nbytes = src[3] * int(np.prod(self.shape)) * self.dtype.itemsize
                return mapped[self._slot_file][src[2] : src[2] + nbytes]
            if src[1] not in mapped:
                mapped[src[1]] = _load_pixels(src[1], mmap_mode="r")
            return mapped[src[1]][src[2] : src[2] + src[3]]

        all_tables = [tables(k) for k in keys]
        manifests = [t[0] for t in all_tables]
        manifest = (
            pd.concat(manifests, ignore_index=True)
            if manifests
            else pd.DataFrame(columns=["image_id", "patient_id", "height", "width"])
        )
        if manifest["image_id"].duplicated().any():
            dup = manifest.loc[manifest["image_id"].duplicated(), "image_id"].iloc[0]
            raise BreastlabInputError(f"{self.path}: image_id {dup!r} occurs in more than one shard")
        manifest.insert(0, "row", np.arange(len(manifest), dtype=np.int64))
        if self.layout == "ragged":
            sizes = (manifest["height"].astype(np.int64) * manifest["width"].astype(np.int64)).to_numpy()
            manifest["offset"] = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(sizes) else np.empty(0, np.int64)
            target = self.path / "images.bin"
            with atomic_path(target) as tmp, open(tmp, "r+b") as fh:
                for k in keys:
                    fh.write(np.ascontiguousarray(pixels(k)).data)
        else:
            manifest = manifest.drop(columns=[c for c in ("height", "width") if c in manifest.columns])
            target = self.path / "images.npy"
            # Plain streamed writes (header, then each key's bytes): peak memory is one shard
            # (or the keys in memory), whatever the cohort size, and no output pages stay mapped.
            header = {
                "descr": np.lib.format.dtype_to_descr(self.dtype),
                "fortran_order": False,
                "shape": (len(manifest), *self.shape),
            }
            if self._slots is not None and keys == list(self._slots) and all(sources[k][0] == "slot" for k in keys):
                os.replace(self._slot_file, target)  # every key in its slot: the file is the store's
            else:
                with atomic_path(target) as tmp, open(tmp, "r+b") as fh:
                    np.lib.format.write_array_header_1_0(fh, header)
                    for k in keys:
                        fh.write(np.ascontiguousarray(pixels(k)).data)
        mapped.clear()
        findings = [t[1] for t in all_tables if t[1] is not None and len(t[1])]
        findings = pd.concat(findings, ignore_index=True) if findings else empty_findings()
        write_table(findings, self.path / "findings.parquet")
        write_table(manifest, self.path / "manifest.parquet")
        meta = {
            "version": STORE_VERSION,
            "layout": self.layout,
            "dtype": self.dtype.name,
            "shape": list(self.shape) if self.shape else None,
            "n_images": len(manifest),
            "checksum": manifest_checksum(manifest),
            **self.meta,
        }
        write_json(meta, self.path / "store.json")
        if not keep_shards:
            shutil.rmtree(self.shard_dir, ignore_errors=True)
        return ArrayStore(self.path)


def _load_pixels(path: Path, mmap_mode: Literal["r"] | None = None) -> np.ndarray:
    """A shard's or batch's pixel vector; an object array (a pickle) is refused, never loaded."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except ValueError as exc:
        raise BreastlabInputError(
            f"{path}: not a pixel file this version writes ({exc}); delete it so its key is redone"
        ) from None


def write_store(
    path: str | os.PathLike,
    images: np.ndarray | Sequence[np.ndarray],
    manifest: pd.DataFrame,
    findings: pd.DataFrame | None = None,
    layout: Layout = "fixed",
    meta: dict[str, Any] | None = None,
) -> ArrayStore:
    """Write a whole store in one call (small stores, tests, fixtures)."""
    first = images[0] if len(images) else None
    dtype = first.dtype if first is not None else np.uint8
    shape = tuple(first.shape) if (first is not None and layout == "fixed") else None
    writer = StoreWriter(path, layout=layout, dtype=dtype, shape=shape, meta=meta)
    writer.write_shard("all", images, manifest, findings)
    return writer.finalize()
