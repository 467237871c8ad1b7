"""Atomic file writes: nothing half-written ever stays on disk.

Every writer creates a temporary file in the destination folder and renames it
over the target (``os.replace`` is atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions of a plain open().
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------- paths recorded in files
def record_path(target: str | os.PathLike, folder: str | os.PathLike) -> str:
    """``target`` as a file in ``folder`` records it: relative to ``folder``, with POSIX separators.

    A folder that records its inputs this way (a run its store and split, a split its store)
    holds no absolute local path and keeps working when the folders are moved or copied
    together. Both paths are taken with their symbolic links resolved (the last component of
    ``target`` kept, so a store linked into a project stays addressed through the link), so
    ``..`` steps lead where the file system leads them. Only across drives (Windows), where
    no relative path exists, is the absolute path recorded.
    """
    full = os.path.abspath(target)
    target_real = os.path.join(os.path.realpath(os.path.dirname(full)), os.path.basename(full))
    try:
        rel = os.path.relpath(target_real, os.path.realpath(folder))
    except ValueError:
        return Path(target_real).as_posix()
    return Path(rel).as_posix()


def recorded_path(value: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """The path a file in ``folder`` recorded with :func:`record_path`: a relative ``value`` is read from
    ``folder``; an absolute one (folders written by earlier versions) is used as it is."""
    path = Path(value)
    if path.is_absolute():
        return path
    return Path(os.path.normpath(os.path.join(os.path.realpath(folder), path)))


def option_path(value: Any) -> Any:
    """A command's option as its saved ``config.yaml`` records it: an absolute path relative to the
    working folder (where ``--config`` reads relative paths from, as the command line does); any other
    value (relative paths, numbers, lists of them) as it is."""
    if isinstance(value, list | tuple):
        return [option_path(v) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        try:
            return Path(os.path.relpath(value)).as_posix()
        except ValueError:  # another drive (Windows)
            return value
    return value


def write_json(obj: Any, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (NumPy scalars converted)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default, **kwargs) + "\n")
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table atomically; the suffix picks the format (.parquet or .csv)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            raise ValueError(f"{path}: table suffix must be .parquet or .csv")
    return path


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise ValueError(f"{path}: table suffix must be .parquet or .csv")


def read_user_table(path: str | os.PathLike, what: str) -> pd.DataFrame:
    """A table a user hands in (``.csv`` or ``.parquet``): any failure is a BreastlabInputError naming
    the file and ``what`` it should be (``"predictions"``, ``"detections"``), never a pandas traceback."""
    from breastlab.errors import BreastlabInputError

    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise BreastlabInputError(f"{path}: a {what} file must be .csv or .parquet")
    if not path.is_file():
        raise BreastlabInputError(f"{path}: {'not a file' if path.exists() else f'no such {what} file'}")
    try:
        return pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BreastlabInputError(f"{path}: not a readable {what} table ({exc})") from None


def save_npy(array: np.ndarray, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)
    return Path(path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj != obj:
        return None
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


# ---------------------------------------------------------------------------- tables as JSON (no pickle)
def encode_frame(df: pd.DataFrame) -> dict[str, Any]:
    """A DataFrame as plain JSON values that :func:`decode_frame` turns back into an equal frame.

    Scratch tables that a job writes and later reads back (store shards) use this instead of
    pickle, so that nothing read from a data folder can run code, and instead of Parquet,
    whose per-column type inference changes object columns (an int column with a missing
    value comes back as float). Each column keeps its dtype; cells of object columns keep
    their Python or NumPy type (tagged where JSON has no such type). The index is not kept.
    """
    return {
        "columns": [_plain_name(c) for c in df.columns],
        "dtypes": [str(d) for d in df.dtypes],
        "values": [_encode_column(col, str(name)) for name, col in df.items()],
        "length": len(df),
    }


def decode_frame(obj: dict[str, Any]) -> pd.DataFrame:
    """The frame :func:`encode_frame` encoded (with a fresh RangeIndex)."""
    columns = {i: _decode_column(d, v) for i, (d, v) in enumerate(zip(obj["dtypes"], obj["values"], strict=True))}
    out = pd.DataFrame(columns, index=pd.RangeIndex(obj["length"]))  # copied into blocks: concat stays cheap
    if columns:
        out.columns = pd.Index(obj["columns"])
    return out


def _plain_name(name: Any) -> Any:
    if isinstance(name, np.generic):
        return name.item()
    if isinstance(name, str | int | float | bool) or name is None:
        return name
    raise TypeError(f"column name {name!r}: only str, int, float or bool names can be stored")


def _encode_column(col: pd.Series, name: str) -> Any:
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = pd.Series(dtype.categories)
        return {"categories": _encode_column(cats, name), "cat_dtype": str(cats.dtype),
                "codes": col.cat.codes.tolist(), "ordered": bool(dtype.ordered)}  # fmt: skip
    if isinstance(dtype, np.dtype):
        if dtype.kind in "iufb":
            return col.to_numpy().tolist()
        if dtype.kind in "mM":
            return col.to_numpy().view(np.int64).tolist()
        if dtype.kind == "O":
            values = col.to_numpy()
            if pd.api.types.infer_dtype(values, skipna=False) == "string":
                return values.tolist()
            return [_encode_cell(v, name) for v in values]
        raise TypeError(f"column {name!r}: dtype {dtype} cannot be stored")
    # extension arrays (Int64, boolean, Float64, string): missing values as null
    plain = (str, int, float, bool)
    return [
        v if type(v) in plain and v == v else None if v is pd.NA or v is None or v != v else _encode_cell(v, name)
        for v in col.tolist()
    ]


def _decode_column(dtype: str, values: Any) -> Any:
    if isinstance(values, dict):  # categorical
        cats = _decode_column(values["cat_dtype"], values["categories"])
        return pd.Categorical.from_codes(values["codes"], categories=cats, ordered=values["ordered"])
    np_dtype = pd.api.types.pandas_dtype(dtype)
    if not isinstance(np_dtype, np.dtype):
        if isinstance(np_dtype, pd.Int64Dtype | pd.Float64Dtype | pd.BooleanDtype) or (
            np_dtype.name[:1] in ("I", "U", "F") and hasattr(np_dtype, "numpy_dtype")
        ):  # masked arrays (Int64, Float32, boolean ...): data and mask, faster than pd.array of a list
            mask = np.array([v is None for v in values], dtype=bool)
            data = np.array([0 if v is None else v for v in values], dtype=np_dtype.numpy_dtype)
            return np_dtype.construct_array_type()(data, mask)
        return pd.array([_decode_cell(v) for v in values], dtype=np_dtype)
    if np_dtype.kind in "mM":
        return np.array(values, dtype=np.int64).view(np_dtype)
    if np_dtype.kind == "O":
        out = np.empty(len(values), dtype=object)
        out[:] = [_decode_cell(v) for v in values]
        return pd.Series(out, dtype=object, copy=False)  # a bare object array of strings would become "str"
    return np.array(values, dtype=np_dtype)


def _encode_cell(v: Any, name: str) -> Any:
    """One value of an object column as JSON; types JSON lacks are tagged ``{"$": type, "v": value}``."""
    if v is None or isinstance(v, str | bool):
        return v
    if isinstance(v, int | float) and type(v) in (int, float):
        return v
    if isinstance(v, np.generic):
        return {"$": "np", "t": v.dtype.str, "v": _encode_cell(v.item(), name)}
    if v is pd.NA:
        return {"$": "NA"}
    if v is pd.NaT:
        return {"$": "NaT"}
    if isinstance(v, pd.Timestamp):
        return {"$": "Timestamp", "v": v.isoformat()}
    if isinstance(v, list | tuple):
        return {"$": type(v).__name__, "v": [_encode_cell(x, name) for x in v]}
    if isinstance(v, dict):
        return {"$": "dict", "v": [[_encode_cell(k, name), _encode_cell(x, name)] for k, x in v.items()]}
    if isinstance(v, bytes):
        return {"$": "bytes", "v": v.hex()}
    raise TypeError(f"column {name!r}: a {type(v).__name__} value cannot be stored")


def _decode_cell(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    tag = v["$"]
    if tag == "np":
        return np.dtype(v["t"]).type(_decode_cell(v["v"]))
    if tag == "NA":
        return pd.NA
    if tag == "NaT":
        return pd.NaT
    if tag == "Timestamp":
        return pd.Timestamp(v["v"])
    if tag in ("list", "tuple"):
        items = [_decode_cell(x) for x in v["v"]]
        return items if tag == "list" else tuple(items)
    if tag == "dict":
        return {_decode_cell(k): _decode_cell(x) for k, x in v["v"]}
    if tag == "bytes":
        return bytes.fromhex(v["v"])
    raise ValueError(f"unknown tag {tag!r} in a stored table")


def dumps_frames(obj: Any) -> str:
    """JSON text of ``obj`` (frames inside already encoded); NaN and infinities as JSON extensions."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=True)
