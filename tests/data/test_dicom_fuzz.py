"""Property: a damaged DICOM slice is read exactly as pydicom reads it, or refused with BreastlabInputError.

The fast scanner (alone, and following a series layout learned from intact slices) must
agree with the pydicom path on every mutant: both refuse it, or both give the same pixels,
geometry, rescale, identity and pixel format; no other exception escapes. Bounded here
(a few hundred mutants); ``benchmarks/fuzz_dicom.py`` runs 10,000 and more.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breastlab.data.duke import dicom as dcm
from breastlab.data.phantom import make_mri_cohort
from breastlab.errors import BreastlabInputError


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """Three intact slices of one phantom series, and a folder to write mutants into."""
    cohort = make_mri_cohort(tmp_path_factory.mktemp("phantom") / "c", 1, seed=4, n_slices=8, matrix=32, n_post=1,
                             progress=False)  # fmt: skip
    folder = next(p for p in sorted(cohort.rglob("*")) if p.is_dir() and any(p.glob("*.dcm")))
    work = tmp_path_factory.mktemp("mutants")
    files = sorted(folder.glob("*.dcm"))[:3]
    for f in files:
        shutil.copy(f, work / f.name)
    return [work / f.name for f in files], work


def _verdict(read):
    try:
        return "ok", read()
    except BreastlabInputError as exc:
        return "refused", str(exc)


def _same(a: dcm.StoredSlice, b: dcm.StoredSlice) -> bool:
    return (
        np.array_equal(a.pixels, b.pixels)
        and np.array_equal(a.position, b.position)
        and np.array_equal(a.orientation, b.orientation)
        and (a.slope, a.intercept, a.identity, a.pixel_format) == (b.slope, b.intercept, b.identity, b.pixel_format)
    )


mutations = st.one_of(
    st.tuples(st.just("overwrite"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 16)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
)


def _apply(data: bytes, mutation: tuple) -> bytes:
    kind, at, arg = mutation
    at %= len(data)
    if kind == "overwrite":
        return data[:at] + arg + data[at + len(arg) :]
    if kind == "insert":
        return data[:at] + arg + data[at:]
    if kind == "delete":
        return data[:at] + data[at + arg :]
    return data[:at]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 2), mutation=mutations)
def test_mutated_slice_agrees_with_pydicom_or_is_refused(series, which: int, mutation: tuple) -> None:
    files, work = series
    path = work / "mutant.dcm"
    path.write_bytes(_apply(files[which].read_bytes(), mutation))
    layout = dcm.SeriesLayout()
    for f in files[:2]:
        dcm._read_slice(f, True, layout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = _verdict(lambda: dcm._read_slice(path, fast=False))
        for name, use in (("scanner", None), ("layout", layout)):
            got = _verdict(lambda use=use: dcm._read_slice(path, True, use))
            assert got[0] == reference[0], (name, mutation, got[1], reference[1])
            if got[0] == "ok":
                assert _same(got[1], reference[1]), (name, mutation)
        assert isinstance(dcm._index_header_fast(path), dict | None)


def test_pydicom_test_files_truncated_everywhere_are_refused_or_read_alike(tmp_path: Path) -> None:
    """Every cut of pydicom's MR_small.dcm (each 97th byte): the same verdict from both paths."""
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    path = tmp_path / "cut.dcm"
    outcomes = {"ok": 0, "refused": 0}
    for cut in range(0, len(data), 97):
        path.write_bytes(data[:cut])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference, fast = (
                _verdict(lambda: dcm._read_slice(path, fast=False)),
                _verdict(lambda: dcm._read_slice(path)),
            )
        assert fast[0] == reference[0], (cut, fast[1], reference[1])
        outcomes[fast[0]] += 1
    print(f"MR_small.dcm cut at {sum(outcomes.values())} points: {outcomes}")
    assert outcomes["refused"] > 0


def _at(data: bytes, tag: bytes) -> int:
    i = data.find(tag, 132)
    assert i > 0
    return i


# Damage the fuzz benchmark found the scanner accepting while pydicom refused (each a rule now)
FOUND = {
    "unknown VR": lambda d: (i := _at(d, b"\x28\x00\x53\x10")) and d[: i + 4] + b"XX" + d[i + 6 :],
    "SpecificCharacterSet as US": lambda d: (i := _at(d, b"\x08\x00\x05\x00")) and d[: i + 4] + b"US" + d[i + 6 :],
    "TransferSyntaxUID as US": lambda d: (i := d.find(b"\x02\x00\x10\x00")) and d[: i + 4] + b"US" + d[i + 6 :],
    "NUL inside SpecificCharacterSet": lambda d: d.replace(b"ISO_IR 100", b"ISO_IR\x00100", 1),
    "tag out of order": lambda d: (i := _at(d, b"\x08\x00\x60\x00")) and d[:i] + b"\x08\x00\x01\x00" + d[i + 4 :],
    "a cut element after the pixels": lambda d: (
        d + b"\xfc\xff\xfc\xff" + b"OB\x00\x00" + b"\x10\x00\x00\x00" + b"\x00" * 6
    ),
}


@pytest.mark.parametrize("damage", sorted(FOUND))
def test_damage_found_by_fuzzing_gets_pydicoms_verdict(series, damage: str) -> None:
    files, work = series
    path = work / "found.dcm"
    path.write_bytes(FOUND[damage](files[0].read_bytes()))
    layout = dcm.SeriesLayout()
    for f in files[:2]:
        dcm._read_slice(f, True, layout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = _verdict(lambda: dcm._read_slice(path, fast=False))
        for use in (None, layout):
            got = _verdict(lambda use=use: dcm._read_slice(path, True, use))
            assert got[0] == reference[0], (damage, got[1], reference[1])
            if got[0] == "ok":
                assert _same(got[1], reference[1])
