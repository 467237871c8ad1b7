"""Slice-level tumour labels from Duke's boxes.

For a patient with box slices ``Start Slice..End Slice`` (1-based inclusive) and a
volume of ``n`` slices, slice ``i`` (0-based, ``i = slice - 1``) is

* tumour (label 1) if ``start - 1 <= i <= end - 1``;
* excluded (absent from the output) if it lies within ``buffer`` slices of a tumour
  slice, ``start - 1 - buffer <= i < start - 1`` or ``end - 1 < i <= end - 1 + buffer``:
  the box's slice range is approximate, so slices next to it may show tumour;
* a candidate negative (label 0) otherwise; negatives are kept all, matched in number
  to the positives, or capped per patient, by seeded sampling without replacement.

This is the 2D slice-classification set-up used with the Duke data (Saha A. et al.,
Br J Cancer 2018;119:508-516; Konz N. et al., SpurBreast).
"""

from __future__ import annotations

import os
import warnings
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog

__all__ = ["label_slices", "slice_count_map", "real_slice_table", "check_same_patients", "label_summary"]

STAGE = "label_slices"


def slice_count_map(n_slices: Mapping[str, int] | pd.Series | pd.DataFrame, phase: str = "pre") -> dict[str, int]:
    """Normalise ``n_slices`` to ``{patient_id: count}``.

    Accepts a mapping, a Series indexed by patient, or a slice-count table
    (:func:`breastlab.data.duke.boxes.read_slice_counts`; rows of ``phase`` are used when
    a ``phase`` column exists).
    """
    if isinstance(n_slices, pd.DataFrame):
        df = n_slices
        missing = [c for c in ("patient_id", "n_slices") if c not in df.columns]
        if missing:
            raise BreastlabInputError(f"n_slices: table lacks column(s) {', '.join(missing)}")
        if "phase" in df.columns:
            df = df[df["phase"] == phase]
        dup = sorted(df.loc[df["patient_id"].duplicated(), "patient_id"].unique())
        if dup:
            raise BreastlabInputError(f"n_slices: patient(s) {', '.join(dup[:10])} have more than one count")
        pairs = zip(df["patient_id"], df["n_slices"], strict=True)
    else:
        pairs = n_slices.items()
    out = {}
    for pid, n in pairs:
        if pd.isna(n) or int(n) != n or int(n) < 1:
            raise BreastlabInputError(f"n_slices: patient {pid}: count {n!r} is not a positive integer")
        out[str(pid)] = int(n)
    return out


def _check_arguments(buffer: int, negatives: str | int) -> None:
    if isinstance(buffer, bool) or not isinstance(buffer, int | np.integer) or buffer < 0:
        raise BreastlabInputError(f"buffer must be an integer >= 0 (slices each side), got {buffer!r}")
    ok = negatives in ("all", "match") or (
        isinstance(negatives, int | np.integer) and not isinstance(negatives, bool) and negatives >= 0
    )
    if not ok:
        raise BreastlabInputError(f"negatives must be 'all', 'match' or an integer cap >= 0, got {negatives!r}")


def label_slices(
    boxes: pd.DataFrame,
    n_slices: Mapping[str, int] | pd.Series | pd.DataFrame,
    buffer: int = 5,
    negatives: str | int = "all",
    seed: int = 0,
    problems: ProblemLog | None = None,
) -> pd.DataFrame:
    """Label the slices of every boxed patient: 1 tumour, 0 non-tumour, buffer slices absent.

    Parameters
    ----------
    boxes : frame with ``patient_id, start_slice, end_slice`` (1-based inclusive, as
        :func:`~breastlab.data.duke.boxes.read_boxes`); several rows for one patient are
        united.
    n_slices : patient_id -> number of slices (mapping, Series, or slice-count table).
    buffer : slices excluded on each side of the tumour range.
    negatives : ``"all"``, ``"match"`` (``min(#tumour, #candidates)`` negatives per
        patient) or an int cap per patient.
    seed : sampling seed; each patient draws from its own generator seeded by
        ``(seed, crc32(patient_id))``, so a patient's negatives do not depend on the others.
    problems : patients without a slice count are added here as "not countable" (never
        guessed); without a log, a warning lists them.

    Returns ``patient_id, slice_index (0-based), label`` sorted by patient and slice.
    A box ending beyond the patient's slice count raises :class:`BreastlabInputError`.
    """
    _check_arguments(buffer, negatives)
    missing = [c for c in ("patient_id", "start_slice", "end_slice") if c not in boxes.columns]
    if missing:
        raise BreastlabInputError(f"boxes: missing column(s) {', '.join(missing)}")
    counts = slice_count_map(n_slices)
    ranges: dict[str, list[tuple[int, int]]] = {}
    for pid, s, e in zip(boxes["patient_id"], boxes["start_slice"], boxes["end_slice"], strict=True):
        ranges.setdefault(str(pid), []).append((int(s), int(e)))
    not_countable, pids, parts = [], [], []
    for pid in sorted(ranges):
        if pid not in counts:
            not_countable.append(pid)
            continue
        pids.append(pid)
        parts.append(_label_patient(pid, ranges[pid], counts[pid], buffer, negatives, seed))
    if not_countable:
        msg = "not countable: no slice count for this patient, slices cannot be labelled"
        if problems is not None:
            for pid in not_countable:
                problems.add(pid, STAGE, msg)
        else:
            warnings.warn(f"label_slices: {len(not_countable)} patient(s) {msg}: {', '.join(not_countable[:20])}",
                          stacklevel=2)  # fmt: skip
    sizes = [len(idx) for idx, _ in parts]
    return pd.DataFrame(
        {
            "patient_id": pd.Series(np.repeat(np.array(pids, dtype=object), sizes), dtype=str),
            "slice_index": np.concatenate([idx for idx, _ in parts]) if parts else np.array([], np.int64),
            "label": np.concatenate([lab for _, lab in parts]) if parts else np.array([], np.int64),
        }
    )


def _label_patient(
    pid: str, ranges: list[tuple[int, int]], n: int, buffer: int, negatives: str | int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted slice indices and labels of one patient."""
    pos = np.zeros(n, dtype=bool)
    near = np.zeros(n, dtype=bool)
    for start, end in ranges:
        if start < 1 or start > end:
            raise BreastlabInputError(f"patient {pid}: slice range {start}..{end} is not a 1-based range start <= end")
        if end > n:
            raise BreastlabInputError(
                f"patient {pid}: box 'End Slice' {end} is beyond the volume's {n} slices (valid: 1..{n})"
            )
        pos[start - 1 : end] = True
        near[max(0, start - 1 - buffer) : min(n, end + buffer)] = True
    pos_idx = np.flatnonzero(pos)
    neg_idx = np.flatnonzero(~near)
    cap = len(neg_idx) if negatives == "all" else len(pos_idx) if negatives == "match" else int(negatives)
    k = min(len(neg_idx), cap)
    if k < len(neg_idx):
        rng = np.random.default_rng([int(seed), zlib.crc32(pid.encode())])
        neg_idx = np.sort(rng.choice(neg_idx, size=k, replace=False))
    idx = np.concatenate([pos_idx, neg_idx])
    lab = np.concatenate([np.ones(len(pos_idx), np.int64), np.zeros(len(neg_idx), np.int64)])
    order = np.argsort(idx, kind="stable")
    return idx[order].astype(np.int64), lab[order]


def real_slice_table(
    duke_dir: str | os.PathLike,
    buffer: int = 5,
    negatives: str | int = "all",
    seed: int = 0,
) -> tuple[pd.DataFrame, ProblemLog]:
    """Labelled slices of the real Duke metadata, joined with boxes, counts and decoded clinical columns.

    Reads ``Clinical_and_Other_Features.xlsx``, ``Annotation_Boxes.csv`` (or ``.xlsx``) and
    ``slice_counts.csv`` (``phase=pre``) from ``duke_dir``; no images are needed. Returns
    ``(slices, problems)``: one row per labelled slice with ``patient_id, slice_index,
    label``, the box columns, ``n_slices``, ``series`` and every decoded clinical column;
    ``problems`` lists patients that could not be labelled (no slice count, e.g.
    ``Breast_MRI_258``/``_282``; or a count without a box). A patient in the boxes but not
    in the clinical table, or the reverse, raises :class:`BreastlabInputError`.
    """
    from breastlab.data.duke.boxes import find_boxes_file, read_boxes, read_slice_counts
    from breastlab.data.duke.clinical import read_clinical

    duke_dir = Path(duke_dir)
    clinical_path = duke_dir / "Clinical_and_Other_Features.xlsx"
    boxes_path = find_boxes_file(duke_dir)
    counts_path = duke_dir / "slice_counts.csv"
    clinical = read_clinical(clinical_path)
    boxes = read_boxes(boxes_path)
    counts = read_slice_counts(counts_path)
    check_same_patients(boxes["patient_id"], clinical["patient_id"], boxes_path, clinical_path)

    log = ProblemLog()
    pre = counts[counts["phase"] == "pre"][["patient_id", "n_slices", "series"]]
    for pid in sorted(set(pre["patient_id"]) - set(boxes["patient_id"])):
        log.add(pid, STAGE, f"{counts_path}: slice count but no box in {boxes_path.name}; not labelled")
    slices = label_slices(boxes, pre, buffer=buffer, negatives=negatives, seed=seed, problems=log)
    out = slices.merge(boxes, on="patient_id", how="left", validate="many_to_one")
    out = out.merge(pre, on="patient_id", how="left", validate="many_to_one")
    out = out.merge(clinical, on="patient_id", how="left", validate="many_to_one")
    return out, log


def check_same_patients(a: pd.Series, b: pd.Series, a_file: str | os.PathLike, b_file: str | os.PathLike) -> None:
    """Raise :class:`BreastlabInputError` unless the two files list the same patients."""
    sa, sb = set(map(str, a)), set(map(str, b))
    only_a, only_b = sorted(sa - sb), sorted(sb - sa)
    msgs = []
    if only_a:
        msgs.append(f"patient(s) {', '.join(only_a[:10])}{' ...' if len(only_a) > 10 else ''} are in {a_file} "
                    f"but not in {b_file}")  # fmt: skip
    if only_b:
        msgs.append(f"patient(s) {', '.join(only_b[:10])}{' ...' if len(only_b) > 10 else ''} are in {b_file} "
                    f"but not in {a_file}")  # fmt: skip
    if msgs:
        raise BreastlabInputError("; ".join(msgs) + " (column 'Patient ID'; both must list the same patients)")


def label_summary(slices: pd.DataFrame, problems: ProblemLog | None = None) -> pd.DataFrame:
    """One-row summary: patients labelled, tumour/non-tumour slices, patients not labelled."""
    return pd.DataFrame(
        {
            "patients": [int(slices["patient_id"].nunique())],
            "slices": [len(slices)],
            "tumour": [int((slices["label"] == 1).sum())],
            "non_tumour": [int((slices["label"] == 0).sum())],
            "not_labelled": [len({p.item for p in problems.problems}) if problems is not None else 0],
        }
    )
