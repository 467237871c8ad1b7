"""Fuzz the DICOM slice reader: mutated files must be read exactly as pydicom reads them, or refused.

Seeds: slices of a small phantom cohort (``make_mri_cohort``, explicit VR little endian, as
TCIA's Duke files) and the MR files pydicom ships as test data (implicit VR, padded, big
endian, deflated ... written by other software). Real Duke DICOMs are not in the data pack.

Each mutant is one seed file with one random mutation: bytes flipped or overwritten, a cut
(truncation), bytes inserted or deleted, an element's tag, VR or length field overwritten
(headers found by walking the seed), a number in a position/orientation/rescale/size field
replaced (``nan``, ``inf``, ``-0``, huge, empty, several values, letters), or a chunk duplicated.

Every mutant is read three ways:

* ``_read_slice(path, fast=True)``: the fast scanner alone (no series layout);
* ``_read_slice(path, fast=True, layout)`` with the layout learned from two intact slices of
  the seed's series: the plan-following path most files of a real series take;
* ``_read_slice(path, fast=False)``: pydicom (the reference, whose verdict stands).

Counted, each must be 0: exceptions other than ``BreastlabInputError`` (from any of the three),
reads over 1 s (a hang; a watchdog stops one at 10 s), and disagreements: the fast path
accepted a file the reference refused (or the other way round), or both accepted it with
different pixels, position, orientation, rescale, identity or pixel format.
Also counted: ``_index_header_fast`` (the index's header scanner) raising, or giving a value
other than pydicom's for a file pydicom reads.

Usage::

    .venv/bin/python benchmarks/fuzz_dicom.py [--mutations 10000] [--seed 0] [--work DIR]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pydicom

from breastlab.data.duke import dicom as dcm
from breastlab.errors import BreastlabInputError

HANG_S = 1.0
# every MR file pydicom ships with its package (no download)
PYDICOM_SEEDS = ["MR_small.dcm", "MR_small_implicit.dcm", "MR_small_padded.dcm", "MR_small_bigendian.dcm",
                 "MR_small_expb.dcm", "MR_small_RLE.dcm", "MR_truncated.dcm", "MR_small_jp2klossless.dcm",
                 "MR_small_jpeg_ls_lossless.dcm"]  # fmt: skip
NUMBER_TAGS = [b"\x20\x00\x32\x00", b"\x20\x00\x37\x00", b"\x28\x00\x53\x10", b"\x28\x00\x52\x10",
               b"\x28\x00\x30\x00", b"\x18\x00\x50\x00", b"\x28\x00\x10\x00", b"\x28\x00\x11\x00",
               b"\x28\x00\x00\x01", b"\x28\x00\x01\x01", b"\x28\x00\x03\x01"]  # fmt: skip
NUMBER_TEXT = [b"nan", b"inf", b"-inf", b"-0", b"1e309", b"", b"1\\2", b"abc", b"0", b"1e-320", b" 7 ", b"+3.5",
               b"\x00", b"99999999999999999"]  # fmt: skip


class Hang(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise Hang


def seeds(work: Path) -> list[tuple[Path, list[Path]]]:
    """(seed file, two other intact slices of its series or []) for each seed."""
    from pydicom.data import get_testdata_file

    from breastlab.data.phantom import make_mri_cohort

    cohort = work / "cohort"
    if not cohort.exists():
        make_mri_cohort(cohort, 2, seed=11, n_slices=8, matrix=32, n_post=1, progress=False)
    out = []
    for series in sorted(p for p in cohort.rglob("*") if p.is_dir() and any(p.glob("*.dcm"))):
        files = sorted(series.glob("*.dcm"))
        out += [(files[k], [f for f in files[:3] if f != files[k]][:2]) for k in (0, 4)]
    for name in PYDICOM_SEEDS:
        path = get_testdata_file(name)
        if path is not None:
            out.append((Path(path), []))
    return out


def element_offsets(data: bytes) -> list[int]:
    """Offsets of the top-level element headers the scanner walks (empty if it cannot)."""
    walk = dcm._walk(data)
    return [e[2] for e in walk[0]] + [walk[2]] if walk else []


def mutate(data: bytes, rng: np.random.Generator, heads: list[int]) -> tuple[str, bytes]:
    b = bytearray(data)
    kind = rng.choice(["flip", "overwrite", "truncate", "insert", "delete", "header", "number", "duplicate"])
    n = len(b)
    if kind == "flip":
        for _ in range(int(rng.integers(1, 8))):
            i = int(rng.integers(0, n))
            b[i] ^= 1 << int(rng.integers(0, 8))
    elif kind == "overwrite":
        i = int(rng.integers(0, n))
        b[i : i + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
    elif kind == "truncate":
        del b[int(rng.integers(0, n)) :]
    elif kind == "insert":
        i = int(rng.integers(0, n))
        b[i:i] = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
    elif kind == "delete":
        i = int(rng.integers(0, n))
        del b[i : i + int(rng.integers(1, 16))]
    elif kind == "header" and heads:
        h = heads[int(rng.integers(0, len(heads)))]
        field = int(rng.integers(0, 3))
        if field == 0:  # tag
            b[h : h + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        elif field == 1:  # VR (explicit) or the first length bytes (implicit)
            b[h + 4 : h + 6] = rng.choice([b"OB", b"SQ", b"UN", b"US", b"DS", b"UT", b"XX", b"\xff\xff"])
        else:  # length: small changes, odd values, undefined, huge
            word = int.from_bytes(b[h + 6 : h + 8], "little")
            new = int(rng.choice([word + 1, word - 1, word + 2, 0, 0xFFFF, word * 2, word // 2]))
            b[h + 6 : h + 8] = (new & 0xFFFF).to_bytes(2, "little")
    elif kind == "number":
        tag = NUMBER_TAGS[int(rng.integers(0, len(NUMBER_TAGS)))]
        i = bytes(b).find(tag, 132)
        if i >= 0:
            text = NUMBER_TEXT[int(rng.integers(0, len(NUMBER_TEXT)))]
            vlen = int.from_bytes(b[i + 6 : i + 8], "little")
            if tag[:2] == b"\x28\x00" and tag[2:] in (b"\x10\x00", b"\x11\x00", b"\x00\x01", b"\x01\x01", b"\x03\x01"):
                b[i + 8 : i + 10] = int(rng.integers(0, 65536)).to_bytes(2, "little")  # a US value
            else:
                text = text + b" " * (len(text) % 2)
                b[i + 6 : i + 8 + vlen] = len(text).to_bytes(2, "little") + text
    elif kind == "duplicate":
        i = int(rng.integers(0, n))
        b[i:i] = b[i : i + int(rng.integers(8, 64))]
    return str(kind), bytes(b)


def verdict(fn, *args) -> tuple[str, object, float]:
    """``fn(*args)`` as ("ok", result) / ("refused", message) / ("exception", traceback) / ("hang", None),
    and the seconds it took."""
    t0 = time.perf_counter()
    signal.alarm(10)
    try:
        out: tuple[str, object] = ("ok", fn(*args))
    except BreastlabInputError as exc:
        out = ("refused", str(exc))
    except Hang:
        out = ("hang", None)
    except Exception:  # noqa: BLE001 - counted: only BreastlabInputError may escape
        out = ("exception", traceback.format_exc(limit=3))
    finally:
        signal.alarm(0)
    return out[0], out[1], time.perf_counter() - t0


def same(a, b) -> bool:
    return (
        a.pixels.shape == b.pixels.shape
        and np.array_equal(a.pixels, b.pixels)
        and np.array_equal(a.position, b.position)
        and np.array_equal(a.orientation, b.orientation)
        and a.slope == b.slope
        and a.intercept == b.intercept
        # (getattr: the script also runs against older versions of the reader, for a before/after count)
        and getattr(a, "identity", None) == getattr(b, "identity", None)
        and getattr(a, "pixel_format", None) == getattr(b, "pixel_format", None)
    )


def index_reference(path: Path) -> dict | None:
    """What _index_series takes from pydicom's header (None where pydicom cannot read it)."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=dcm._INDEX_TAGS)
        return {name: ds.get(name) for name, _ in dcm._INDEX_FAST.values()}
    except Exception:  # noqa: BLE001 - pydicom cannot: nothing to compare
        return None


def index_agrees(fast: dict, ref: dict) -> bool:
    for key, value in fast.items():
        want = ref.get(key)
        if key in ("SeriesNumber", "MagneticFieldStrength"):
            want = float(want) if want not in (None, "") else None
        elif key in ("Rows", "Columns"):
            want = int(want) if want is not None else None
        else:
            want = str(want) if want is not None else None
        if value != want:
            return False
    return True


def run(n: int, seed: int, work: Path, keep: Path | None = None) -> dict[str, int]:
    signal.signal(signal.SIGALRM, _alarm)
    rng = np.random.default_rng(seed)
    sources = seeds(work)
    counts: collections.Counter = collections.Counter()
    examples: dict[str, str] = {}
    slowest = 0.0
    folder = work / "mutants"
    folder.mkdir(exist_ok=True)
    for k in range(n):
        src, peers = sources[k % len(sources)]
        data = src.read_bytes()
        heads = element_offsets(data)
        for _ in range(16):  # a mutation that left the file as it was (no such tag, ...) is drawn again
            kind, mutant = mutate(data, rng, heads)
            if mutant != data:
                break
        counts["unchanged (not counted as a mutant)"] += mutant == data
        series = folder / f"s{k % 4}"
        shutil.rmtree(series, ignore_errors=True)
        series.mkdir()
        for p in peers:
            shutil.copy(p, series / p.name)
        path = series / "mutant.dcm"
        path.write_bytes(mutant)
        counts[f"mutation {kind}"] += 1
        layout = None
        if peers:
            layout = dcm.SeriesLayout()
            for p in peers:
                dcm._read_slice(series / p.name, True, layout)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = verdict(dcm._read_slice, path, False)
            ways = {"scanner": verdict(dcm._read_slice, path, True)}
            if layout is not None:
                ways["layout"] = verdict(dcm._read_slice, path, True, layout)
            index = verdict(dcm._index_header_fast, path)
            index_ref = index_reference(path) if index[0] == "ok" and index[1] is not None else None
        for name, (state, value, seconds) in [("pydicom", ref), *ways.items(), ("index", index)]:
            slowest = max(slowest, seconds)
            if state in ("exception", "hang") or seconds > HANG_S:
                what = "hangs" if state == "hang" or seconds > HANG_S else "exceptions"
                counts[what] += 1
                examples.setdefault(f"{what} {name}", f"{src.name} {kind}: {value}")
        counts[f"pydicom {ref[0]}"] += 1
        for name, (state, value, _) in ways.items():
            if state in ("exception", "hang") or ref[0] in ("exception", "hang"):
                continue
            agree = state == ref[0] and (state == "refused" or same(value, ref[1]))
            if not agree:
                counts["disagreements"] += 1
                if keep:
                    shutil.copy(path, keep / f"{k}-{name}-{src.stem}-{kind}.dcm")
                examples.setdefault(f"disagreement {name}", f"{src.name} {kind}: fast {state}, pydicom {ref[0]}")
        if index_ref is not None and not index_agrees(index[1], index_ref):
            counts["disagreements"] += 1
            if keep:
                shutil.copy(path, keep / f"{k}-index-{src.stem}-{kind}.dcm")
            examples.setdefault("disagreement index", f"{src.name} {kind}: {index[1]} vs {index_ref}")
    counts["slowest_ms"] = round(slowest * 1000)
    for key in ("exceptions", "hangs", "disagreements"):
        counts.setdefault(key, 0)
    print(f"{n} mutants of {len(sources)} seed files ({sum(1 for _, p in sources if p)} phantom slices read "
          "with and without a learned series layout)")  # fmt: skip
    for key in sorted(counts):
        print(f"  {key:28s} {counts[key]}")
    for key, text in examples.items():
        print(f"example {key}: {text}")
    return dict(counts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutations", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=None, help="folder for the seed cohort and the mutants (default: temporary)")
    ap.add_argument("--keep", default=None, help="copy every mutant with a disagreement into this folder")
    args = ap.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="fuzz_dicom_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        keep = Path(args.keep) if args.keep else None
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
        counts = run(args.mutations, args.seed, work, keep)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    bad = counts["exceptions"] + counts["hangs"] + counts["disagreements"]
    print("PASS" if bad == 0 else "FAIL", f"(exceptions {counts['exceptions']}, hangs {counts['hangs']}, "
          f"disagreements {counts['disagreements']}; each must be 0)")  # fmt: skip
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    raise SystemExit(main())
