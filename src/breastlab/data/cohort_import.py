"""Your own MRI cohort, step two: build a slice store (and a breast-MIP store) from a cohort table.

:func:`import_mri` builds the same slice store as :func:`breastlab.data.export.export_slices` from a
table drafted by :mod:`breastlab.data.cohort_scan` (one patient per row), through the exporter's
per-patient code path.

The table (CSV): ``patient_id``; one column per DCE phase (``pre``, ``post1`` .. ``post4``) holding a
series folder, a ``;``-separated list of files, a NIfTI file or one multi-frame DICOM file, relative
to ``--root`` (compressed transfer syntaxes decode through pydicom's pylibjpeg plug-ins;
:mod:`breastlab.data.mri_volumes`); the label as Duke's 1-based inclusive box ``start_row, end_row,
start_column, end_column, start_slice, end_slice`` or a ``mask`` (NIfTI or DICOM SEG on the image's
grid; :mod:`breastlab.data.cohort_masks`); every other column is an attribute copied onto each slice
of the manifest. :func:`import_mri_mips` builds the breast-MIP store from the same table.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breastlab._lock import locks_folder
from breastlab.data.cohort_masks import MASK_COLUMN, box_from_mask, box_from_row
from breastlab.data.cohort_scan import BOX_COLUMNS, FILE_SEPARATOR, IMPORT_STAGE, PHASE_COLUMNS, phase_source
from breastlab.data.store import ArrayStore, StoreWriter, check_output_folder, fingerprint
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog, check_workers


# ============================================================================ import
@dataclasses.dataclass(frozen=True)
class _ImportJob:
    job: Any  # breastlab.data.export._Job
    row: str  # "<table> row <n>" (1-based data row)
    source: str  # the phase cell, as the table gives it (relative to --root)


@locks_folder("out")  # one writer per store folder
def import_mri(
    table: str | os.PathLike,
    root: str | os.PathLike,
    out: str | os.PathLike,
    sequence: str = "pre",
    size: int | tuple[int, int] = 320,
    buffer: int = 5,
    negatives: str | int = "all",
    workers: int = 2,
    png_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    errors: str = "log",
    overwrite: bool = False,
    progress: bool = True,
) -> ArrayStore:
    """Build the slice store of :func:`~breastlab.data.export.export_slices` from a cohort table.

    ``table``: CSV with ``patient_id``, the ``sequence`` column (a series folder or ``;``-separated
    files relative to ``root``) and Duke's 1-based inclusive box (``start_row`` .. ``end_slice``);
    every column but the phase paths is kept as a manifest attribute (so ``curate splits --store
    --feature field_strength_t`` needs no clinical table). Each patient is read, labelled, resized,
    windowed and stored by the exporter's per-patient function, so the store equals the one
    ``breastlab export`` writes from the same series and boxes. A row whose patient id is blank or
    repeated, whose file is missing, whose box is not positive integers or lies outside the series
    goes to ``OUT/problems.csv`` naming the row and file; the other patients go on
    (``errors="raise"`` stops at the first).
    """
    from breastlab.data import export

    settings = export._settings(sequence, size, buffer, negatives, seed)
    if errors not in ("log", "raise"):
        raise BreastlabInputError(f"errors={errors!r}: valid values are 'log' and 'raise'")
    check_workers(workers)
    table, root, out = Path(table), Path(root), Path(out)
    check_output_folder(out, "--out folder")
    if not root.is_dir():
        raise BreastlabInputError(f"--root {root}: folder not found (the table's paths are relative to it)")
    raw, typed = read_cohort_table(table, settings.sequence)
    inputs = fingerprint(**{"cohort table": table, "settings": settings.as_dict()})
    finished = export._finished_store(out, settings, overwrite, inputs)
    if finished is not None:
        return finished
    export._check_resume_settings(out, settings)
    problems = ProblemLog()
    jobs = _plan_import(raw, typed, table.name, root, settings, out, png_dir, problems, errors)
    if not jobs:  # a wrong --root would otherwise give a store of no slices
        first = problems.problems[0].message if len(problems) else "the table lists no patient"
        raise BreastlabInputError(
            f"{table.name}: no patient of it can be imported ({len(problems)} problem(s); first: {first}); "
            f"check --root {root} and the {settings.sequence} column"
        )
    writer = StoreWriter(
        out, layout="fixed", dtype="uint8", shape=settings.size,
        meta={"modality": "MRI", "source": f"cohort table {table.name}", "export": settings.as_dict(),
              "normalisation": export.normalisation_text(settings), "resize": export.RESIZE_TEXT},
        inputs=inputs,
    )  # fmt: skip
    if export.WRITE_ONCE and jobs and all(j.job.n_images is not None for j in jobs):
        writer.reserve([j.job.patient_id for j in jobs], [j.job.n_images for j in jobs])
    done = writer.done_keys()
    todo = [j for j in jobs if j.job.patient_id not in done]
    from breastlab.data.runner import JobRunner, check_some_stored

    with JobRunner(min(workers, max(1, len(todo))), problems, IMPORT_STAGE, errors=errors,
                   preload=[*export.WORKER_MODULES, "breastlab.data.cohort_import"], desc="import mri",
                   progress=progress) as runner:  # fmt: skip
        runner.run(_import_patient, todo, key=lambda j: j.job.patient_id, initial=len(jobs) - len(todo))
    problems.write(out / "problems.csv")
    check_some_stored(writer, problems, out)
    return writer.finalize(key_order=sorted(j.job.patient_id for j in jobs))


def _import_patient(item: _ImportJob) -> int:
    """The exporter's per-patient work; a failure names the table row and the series."""
    from breastlab.data.export import _export_patient

    try:
        return _export_patient(item.job)
    except BreastlabInputError as exc:
        raise BreastlabInputError(f"{item.row} ({_short(item.source)}): {exc}") from exc


def _short(cell: str) -> str:
    files = cell.split(FILE_SEPARATOR)
    return cell if len(files) == 1 else f"{files[0]} and {len(files) - 1} more file(s)"


def read_cohort_table(path: Path, sequence: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(text, typed) views of a cohort table: identifiers and paths as written, attributes with
    the types pandas infers. Raises :class:`BreastlabInputError` for a missing file or column."""
    from breastlab.data._csv import read_text_csv

    if path.suffix.lower() != ".csv":
        raise BreastlabInputError(f"{path}: the cohort table must be a .csv file")
    raw = read_text_csv(path, "cohort table")  # UTF-8 checked, every cell as written
    try:
        typed = pd.read_csv(path, encoding="utf-8-sig")  # attributes with the types pandas infers
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise BreastlabInputError(f"{path}: cannot read the cohort table as CSV ({exc})") from None
    raw.columns = typed.columns = [str(c).strip() for c in raw.columns]
    need = ["patient_id", sequence]
    if MASK_COLUMN not in raw.columns:  # rows and columns of the box are optional
        need += ["start_slice", "end_slice"]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise BreastlabInputError(
            f"{path}: missing column(s) {', '.join(missing)}; a cohort table needs patient_id, one column per "
            f"DCE phase ({', '.join(PHASE_COLUMNS)}) with a series folder or ';'-separated files, and the box "
            f"{', '.join(BOX_COLUMNS)} (1-based inclusive)"
        )
    from breastlab.data._csv import refuse_uids

    advice = {"patient_id": "give each patient a pseudonymous id (`import mri --scan` drafts one, patient-<hash>, "
                            "where the headers' PatientID is a UID)"}  # fmt: skip
    refuse_uids(raw, path, ["patient_id", *_attribute_columns(raw)], advice)
    in_plane = [c for c in BOX_COLUMNS[:4] if c in raw.columns]
    if 0 < len(in_plane) < 4:
        absent = [c for c in BOX_COLUMNS[:4] if c not in raw.columns]
        raise BreastlabInputError(
            f"{path}: missing box column(s) {', '.join(absent)}; give all of {', '.join(BOX_COLUMNS[:4])} "
            "(a 3-D box, 1-based inclusive as in Duke's Annotation_Boxes) or none (slice ranges only)"
        )
    return raw, typed


def _plan_import(
    raw: pd.DataFrame,
    typed: pd.DataFrame,
    name: str,
    root: Path,
    settings: Any,
    out: Path,
    png_dir: str | os.PathLike | None,
    problems: ProblemLog,
    errors: str,
) -> list[_ImportJob]:
    from breastlab.data.export import _expected_slices, _Job

    def fail(item: str, message: str) -> None:
        if errors == "raise":
            raise BreastlabInputError(message)
        problems.add(item, IMPORT_STAGE, message)

    seq = settings.sequence
    attributes = _attribute_columns(typed)
    jobs = []
    for i, pid, where, cell in _table_rows(raw, name, seq, fail):
        try:
            folder, names, n_slices = phase_source(root, cell, seq)
            mask = raw.at[i, MASK_COLUMN].strip() if MASK_COLUMN in raw.columns else ""
            box = box_from_mask(root, mask, folder, names, raw.iloc[i], pid) if mask else box_from_row(raw.iloc[i], pid)
        except BreastlabInputError as exc:
            fail(pid, f"{where} (patient {pid}): {exc}")
            continue
        job = _Job(
            patient_id=pid,
            series_path=str(folder),
            box=box,
            clinical=typed.loc[[i], attributes].reset_index(drop=True),
            settings=settings,
            out=str(out),
            png_dir=str(png_dir) if png_dir is not None else None,
            n_images=None if n_slices is None else _expected_slices(box, pid, n_slices, settings),
            files=tuple(names) if names is not None else None,
        )
        jobs.append(_ImportJob(job, where, cell))
    return jobs


def _attribute_columns(typed: pd.DataFrame) -> list[str]:
    """The table's columns copied onto every image of a patient: all but the paths and the labels."""
    paths_and_labels = {"patient_id", MASK_COLUMN, *PHASE_COLUMNS, *BOX_COLUMNS}
    return [c for c in typed.columns if c not in paths_and_labels and not re.fullmatch(r"post\d+", str(c))]


def _table_rows(raw: pd.DataFrame, name: str, column: str, fail: Any) -> Any:
    """``(index, patient_id, "<table> row <n>", cell of column)`` of each row with a patient id given once;
    blank and repeated ids go to ``fail(item, message)`` naming the rows."""
    ids = raw["patient_id"].str.strip()
    rows_of: dict[str, list[int]] = {}
    for i, pid in enumerate(ids):
        rows_of.setdefault(pid, []).append(i + 1)
    for i, pid in enumerate(ids):
        row = i + 1
        cell = raw.at[i, column].strip()
        where = f"{name} row {row}"
        if not pid:
            fail(f"row {row}", f"{where}: blank patient_id; every row needs one")
            continue
        if len(rows_of[pid]) > 1:
            fail(pid, f"{where} ({_short(cell)}): patient_id {pid} also on row(s) "
                      f"{', '.join(str(r) for r in rows_of[pid] if r != row)}; one row per patient "
                      "(keep one exam per patient, or give each exam its own patient_id)")  # fmt: skip
            continue
        yield i, pid, where, cell


def import_mri_mips(
    table: str | os.PathLike,
    root: str | os.PathLike,
    out: str | os.PathLike,
    settings: Any = None,
    workers: int = 1,
    *,
    progress: bool = True,
) -> tuple[ArrayStore, ProblemLog]:
    """The breast-MIP store (:func:`breastlab.data.mip.build_mip_store`) of a cohort table: per patient the
    subtraction MIP of ``settings.post`` (default ``post1``) minus ``pre``, split into breasts, labelled by
    the ``tumor_location`` column where the table has one (else the side of the box), with the in-plane
    box (box columns or ``mask``) projected as a finding. Phases may be any form :func:`import_mri`
    reads. Rows without both phases, with a bad label or id, and exams whose two phases differ in
    geometry go to ``OUT/problems.csv`` naming the row; the others go on."""
    from breastlab.data.export import has_in_plane_box
    from breastlab.data.mip import MipExam, MipSettings, build_mip_store_from_exams

    settings = settings if settings is not None else MipSettings()
    settings.validate()
    table, root, out = Path(table), Path(root), Path(out)
    check_output_folder(out, "--out folder")
    if not root.is_dir():
        raise BreastlabInputError(f"--root {root}: folder not found (the table's paths are relative to it)")
    raw, typed = read_cohort_table(table, "pre")
    if settings.post not in raw.columns:
        raise BreastlabInputError(f"{table}: no column {settings.post}; the MIP subtracts pre from {settings.post}")
    problems = ProblemLog()

    def fail(item: str, message: str) -> None:
        problems.add(item, "import_mip", message)

    attributes = _attribute_columns(typed)
    exams = []
    for i, pid, where, cell in _table_rows(raw, table.name, "pre", fail):
        try:
            pre, pre_files, _ = phase_source(root, cell, "pre")
            post, post_files, _ = phase_source(root, raw.at[i, settings.post].strip(), settings.post)
            mask = raw.at[i, MASK_COLUMN].strip() if MASK_COLUMN in raw.columns else ""
            box = (
                box_from_mask(root, mask, pre, pre_files, raw.iloc[i], pid) if mask else box_from_row(raw.iloc[i], pid)
            )
        except BreastlabInputError as exc:
            fail(pid, f"{where} (patient {pid}): {exc}")
            continue
        box_row = box.iloc[0]
        in_plane = {c: int(box_row[c]) for c in BOX_COLUMNS[:4]} if has_in_plane_box(box_row) else None
        clinical = {c: _plain_value(typed.at[i, c]) for c in attributes}
        exams.append(MipExam(pid, str(pre), str(post), in_plane, clinical,
                             tuple(pre_files) if pre_files else None, tuple(post_files) if post_files else None,
                             f"{where} ({_short(cell)})"))  # fmt: skip
    inputs = fingerprint(**{"cohort table": table, "settings": dataclasses.asdict(settings)})
    return build_mip_store_from_exams(exams, out, settings, inputs=inputs, source=f"cohort table {table.name}",
                                      workers=workers, problems=problems, progress=progress)  # fmt: skip


def _plain_value(value: Any) -> Any:
    """A table cell as a plain Python value (numpy scalars unwrapped, missing as None)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value
