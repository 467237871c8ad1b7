"""Export labelled Duke MRI slices into a breastlab store (fixed layout, uint8).

Pipeline, per patient (one worker process each, one store shard each)::

    DICOM series of the chosen DCE phase  --read_series-->  float32 volume
    boxes + n_slices                      --label_slices--> slice_index, label (buffer slices dropped)
    each labelled slice: resize to (H, W), window, quantise to uint8  --> shard

Resizing (documented, deterministic): bilinear interpolation with antialiasing
when shrinking (the triangle filter is widened by the scale factor, as in PIL's
and torchvision's ``antialias=True`` resize), done on the float values before
quantisation; non-square matrices are stretched to (H, W) and box coordinates
are scaled per axis.

Intensity normalisation (documented): a per-volume percentile window. With
``lo`` and ``hi`` the 0.5th and 99.5th percentiles of the whole series volume
(sampled every 8th row and column of every slice), a value ``v`` becomes
``round(255 * clip((v - lo) / (hi - lo), 0, 1))``. One window per volume keeps the
relative brightness of slices of one patient; the percentiles make it robust to
a few hot voxels (the min-max scaling of the common tutorial is not).

Boxes: the manifest keeps the patient's box as TCIA gives it (``start_row`` ..
``end_slice``, 1-based inclusive in DICOM pixels) and its scaled version in the
stored array (``box_x0, box_y0, box_x1, box_y1``: 0-based, half-open, floor of the
start and ceiling of the end so the scaled box covers the original). Tumour
slices (label 1) also get that box as a finding (class ``"tumour"``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breastlab._io import atomic_path, read_table
from breastlab._lock import locks_folder
from breastlab.data.runner import JobRunner, check_some_stored
from breastlab.data.store import ArrayStore, StoreWriter, check_fingerprint, check_output_folder, fingerprint
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog, check_workers, shareable_name
from breastlab.transforms import percentile_window, window_to_uint8

CLINICAL_FILE = "Clinical_and_Other_Features.xlsx"
PERCENTILES = (0.5, 99.5)
STAGE = "export"
# Manifest columns written by the exporter, in order (clinical columns follow).
SLICE_COLUMNS = [
    "image_id",
    "patient_id",
    "slice_index",
    "label",
    "sequence",
    "series",
    "series_description",
    "n_slices",
    "dicom_rows",
    "dicom_columns",
    "pixel_spacing_row_mm",
    "pixel_spacing_col_mm",
    "slice_spacing_mm",
    "window_low",
    "window_high",
    "start_row",
    "end_row",
    "start_column",
    "end_column",
    "start_slice",
    "end_slice",
    "box_x0",
    "box_y0",
    "box_x1",
    "box_y1",
]


@dataclasses.dataclass(frozen=True)
class ExportSettings:
    """Everything that decides the content of an exported store (saved in store.json)."""

    sequence: str = "pre"
    size: tuple[int, int] = (320, 320)
    buffer: int = 5
    negatives: str | int = "all"
    seed: int = 0
    percentiles: tuple[float, float] = PERCENTILES

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["size"] = list(self.size)
        d["percentiles"] = list(self.percentiles)
        return d


@dataclasses.dataclass(frozen=True)
class _Job:
    patient_id: str
    series_path: str
    box: pd.DataFrame  # one row, read_boxes columns
    clinical: pd.DataFrame  # one row, read_clinical columns (dtypes kept)
    settings: ExportSettings
    out: str
    png_dir: str | None
    n_images: int | None = None  # labelled slices expected from the index's file count (None: unknown)
    files: tuple[str, ...] | None = None  # the series' file names in series_path (None: the whole folder)


# ============================================================================ public API
@locks_folder("out")  # one writer per store folder
def export_slices(
    source: str | os.PathLike | tuple[str | os.PathLike, str | os.PathLike, str | os.PathLike],
    out: str | os.PathLike,
    sequence: str = "pre",
    size: int | tuple[int, int] = 320,
    buffer: int = 5,
    negatives: str | int = "all",
    workers: int = 2,
    png_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    patients: Sequence[str] | None = None,
    errors: str = "log",
    overwrite: bool = False,
    progress: bool = True,
) -> ArrayStore:
    """Export the labelled slices of a Duke cohort into a fixed-layout uint8 store.

    Parameters
    ----------
    source : a cohort folder (holding ``Duke-Breast-Cancer-MRI/``,
        ``Clinical_and_Other_Features.xlsx`` and ``Annotation_Boxes.csv``/``.xlsx``), or a
        tuple ``(dicom_root, clinical_xlsx, boxes_file)``.
    out : store folder. Also receives ``problems.csv`` (one row per patient left out).
    sequence : DCE phase to read ("pre", "post1" .. "post4"; see
        :func:`breastlab.data.duke.dicom.identify_sequence`).
    size : stored image size, an int (square) or (H, W).
    buffer, negatives, seed : slice labelling, see :func:`breastlab.data.duke.labels.label_slices`.
    workers : processes working on patients in parallel (1: in this process).
    png_dir : also write each slice as ``PNG_DIR/<label>/<sequence>-<slice_index>-<patient_id>.png``
        (the SpurBreast release naming ``<anything>-<slice>-<patient>.png``).
    patients : export only these patients (default: every patient with a box).
    errors : "log" (a failing patient goes to problems.csv, the export continues) or
        "raise" (the first :class:`BreastlabInputError` stops the export).
    overwrite : rebuild a finished store in ``out`` instead of returning it.

    Each patient becomes one store shard as soon as it is done, so an interrupted
    export restarted with the same arguments skips the patients already written;
    a finished store with the same settings is returned as is. Peak memory is one
    volume per worker, never the cohort.
    """
    settings = _settings(sequence, size, buffer, negatives, seed)
    if errors not in ("log", "raise"):
        raise BreastlabInputError(f"errors={errors!r}: valid values are 'log' and 'raise'")
    check_workers(workers)
    out = Path(out)
    check_output_folder(out, "--out folder")
    from breastlab.data.duke.boxes import read_boxes
    from breastlab.data.duke.clinical import read_clinical
    from breastlab.data.duke.dicom import index_dicom_tree

    dicom_root, clinical_path, boxes_path = resolve_source(source)
    problems = ProblemLog()
    index = index_dicom_tree(dicom_root, problems=problems if errors == "log" else None)
    inputs = source_fingerprint(index, boxes_path, clinical_path, settings.as_dict(), patients)
    finished = _finished_store(out, settings, overwrite, inputs)
    if finished is not None:
        return finished
    _check_resume_settings(out, settings)
    boxes = read_boxes(boxes_path)
    clinical = read_clinical(clinical_path)
    jobs = _plan(index, boxes, clinical, settings, out, png_dir, patients, problems, errors,
                 dicom_root, boxes_path, clinical_path)  # fmt: skip

    writer = StoreWriter(
        out, layout="fixed", dtype="uint8", shape=settings.size,
        meta={"modality": "MRI", "source": "Duke-Breast-Cancer-MRI", "export": settings.as_dict(),
              "normalisation": normalisation_text(settings), "resize": RESIZE_TEXT},
        inputs=inputs,
    )  # fmt: skip
    if WRITE_ONCE and jobs and all(j.n_images is not None for j in jobs):
        writer.reserve([j.patient_id for j in jobs], [j.n_images for j in jobs])  # pixels written once
    done = writer.done_keys()
    todo = [j for j in jobs if j.patient_id not in done]
    with JobRunner(min(workers, max(1, len(todo))), problems, STAGE, errors=errors, preload=WORKER_MODULES,
                   desc="export", progress=progress) as runner:  # fmt: skip
        runner.run(_export_patient, todo, key=lambda job: job.patient_id, initial=len(jobs) - len(todo))
    problems.write(out / "problems.csv")
    check_some_stored(writer, problems, out)
    store = writer.finalize(key_order=sorted(j.patient_id for j in jobs))
    return store


# Pixels go straight into the final images.npy (StoreWriter.reserve); False writes shards and then
# copies them into the store, as earlier versions did (benchmarks/bench_slice_export.py compares both).
WRITE_ONCE = True

RESIZE_TEXT = "bilinear, antialiased when shrinking (PIL Image.resize BILINEAR on float32), before quantisation"


def normalisation_text(settings: ExportSettings) -> str:
    lo, hi = settings.percentiles
    return (
        f"per-volume window [p{lo:g}, p{hi:g}] of the series (every {WINDOW_STRIDE}th row/column of every slice); "
        "uint8 = round(255 * clip((v - lo) / (hi - lo), 0, 1))"
    )


def resolve_source(
    source: str | os.PathLike | tuple[str | os.PathLike, str | os.PathLike, str | os.PathLike],
) -> tuple[Path, Path, Path]:
    """``(dicom_root, clinical_xlsx, boxes_file)`` from a cohort folder or a 3-tuple."""
    from breastlab.data.duke.boxes import find_boxes_file

    if isinstance(source, tuple | list):
        if len(source) != 3:
            raise BreastlabInputError(
                f"source={source!r}: give a cohort folder or (dicom_root, clinical_xlsx, boxes_file)"
            )
        dicom_root, clinical, boxes = (Path(p) for p in source)
    else:
        cohort = Path(source)
        if not cohort.is_dir():
            raise BreastlabInputError(f"{cohort}: cohort folder not found")
        dicom_root, clinical, boxes = cohort, cohort / CLINICAL_FILE, find_boxes_file(cohort)
    for path, what in ((clinical, "clinical table"), (boxes, "boxes file"), (dicom_root, "DICOM root")):
        if not path.exists():
            raise BreastlabInputError(f"{path}: {what} not found")
    return dicom_root, clinical, boxes


def export_summary(store: ArrayStore | str | os.PathLike, by: str = "field_strength_t") -> pd.DataFrame:
    """Patients and slices per label of an exported store, per value of ``by`` plus a total row."""
    store = store if isinstance(store, ArrayStore) else ArrayStore(store)
    man = store.manifest
    key = by if by in man.columns else None
    groups = [("all", man)]
    if key:
        groups = [(str(v), g) for v, g in man.groupby(man[key].astype("string").fillna("NA"), sort=True)] + groups
    rows = [
        {
            (key or "group"): name,
            "patients": int(g["patient_id"].nunique()),
            "slices": len(g),
            "tumour (1)": int((g["label"] == 1).sum()),
            "non-tumour (0)": int((g["label"] == 0).sum()),
        }
        for name, g in groups
    ]
    return pd.DataFrame(rows)


def parse_negatives(text: str | int) -> str | int:
    """CLI value of ``--negatives``: "all", "match" or an integer cap."""
    if isinstance(text, int) or str(text) in ("all", "match"):
        return text if isinstance(text, int) else str(text)
    if str(text).isdigit():
        return int(text)
    raise BreastlabInputError(f"--negatives {text!r}: valid values are 'all', 'match' or an integer >= 0")


# ============================================================================ planning
def _settings(
    sequence: str, size: int | tuple[int, int], buffer: int, negatives: str | int, seed: int
) -> ExportSettings:
    from breastlab.data.duke.dicom import SEQUENCES

    valid = [s for s in SEQUENCES if s != "other"]
    if sequence not in valid:
        raise BreastlabInputError(f"sequence={sequence!r}: valid sequences are {', '.join(valid)}")
    shape = (size, size) if isinstance(size, int | np.integer) else tuple(size)
    if len(shape) != 2 or any(isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1 for s in shape):
        raise BreastlabInputError(f"size={size!r}: expected a positive int or (height, width)")
    if isinstance(buffer, bool) or not isinstance(buffer, int | np.integer) or buffer < 0:
        raise BreastlabInputError(f"buffer={buffer!r}: expected an integer >= 0 (slices excluded each side)")
    if not (
        negatives in ("all", "match")
        or (isinstance(negatives, int | np.integer) and not isinstance(negatives, bool) and negatives >= 0)
    ):
        raise BreastlabInputError(f"negatives={negatives!r}: valid values are 'all', 'match' or an integer >= 0")
    return ExportSettings(sequence, (int(shape[0]), int(shape[1])), int(buffer), negatives, int(seed))


def source_fingerprint(
    index: pd.DataFrame, boxes_path: Path, clinical_path: Path, settings: dict[str, Any], patients: Any
) -> dict[str, str]:
    """The :func:`~breastlab.data.store.fingerprint` of a Duke-layout source and the settings: the DICOM
    tree's series (everything the index holds but local paths), the box file, the clinical table,
    the settings and the chosen patients."""
    series = index.drop(columns=[c for c in ("path",) if c in index.columns])
    chosen = None if patients is None else sorted(map(str, patients))
    return fingerprint(**{"DICOM series": series, "box file": boxes_path, "clinical table": clinical_path,
                          "settings": settings, "patients": chosen})  # fmt: skip


def _finished_store(
    out: Path, settings: ExportSettings, overwrite: bool, inputs: dict[str, str] | None = None
) -> ArrayStore | None:
    """A finished store with the same settings and inputs is returned; others are an error."""
    if not (out / "store.json").exists():
        return None
    if overwrite:
        for name in ("store.json", "manifest.parquet", "images.npy", "findings.parquet", "problems.csv"):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / ".shards", ignore_errors=True)
        return None
    store = ArrayStore(out)
    if store.meta.get("export") != settings.as_dict():
        raise BreastlabInputError(
            f"{out}: holds a store exported with {store.meta.get('export')}, not {settings.as_dict()}; "
            "choose another --out or pass overwrite=True"
        )
    check_fingerprint(out, store.meta.get("fingerprint"), inputs, "the finished store")
    return store


def _check_resume_settings(out: Path, settings: ExportSettings) -> None:
    """An interrupted export must be resumed with the settings it started with."""
    path = out / ".shards" / "settings.json"
    if not path.exists():
        return
    import json

    saved = json.loads(path.read_text()).get("meta", {}).get("export")
    if saved is not None and saved != settings.as_dict():
        raise BreastlabInputError(
            f"{out}: an interrupted export with settings {saved} is in progress here; resume it with the same "
            f"settings (now {settings.as_dict()}) or delete {out / '.shards'}"
        )


def _plan(
    index: pd.DataFrame,
    boxes: pd.DataFrame,
    clinical: pd.DataFrame,
    settings: ExportSettings,
    out: Path,
    png_dir: str | os.PathLike | None,
    patients: Sequence[str] | None,
    problems: ProblemLog,
    errors: str,
    dicom_root: Path,
    boxes_path: Path,
    clinical_path: Path,
) -> list[_Job]:
    """One job per patient with a box, a series of the chosen phase and a clinical row."""

    def fail(pid: str, message: str) -> None:
        if errors == "raise":
            raise BreastlabInputError(message)
        problems.add(pid, STAGE, message)

    in_tree = set(index["patient_id"])
    in_boxes = set(boxes["patient_id"])
    in_clinical = set(clinical["patient_id"])
    wanted = sorted(in_boxes) if patients is None else sorted(set(map(str, patients)))
    if patients is None:
        for pid in sorted(in_tree - in_boxes):
            fail(pid, f"patient {pid} is in the DICOM tree but not in the box file {boxes_path.name}; "
                      "not exported (every exported slice needs the patient's box)")  # fmt: skip
    jobs = []
    clinical_by_id = clinical.set_index("patient_id", drop=False)
    series_by_id = {pid: grp for pid, grp in index.groupby("patient_id", sort=False)}
    boxes_by_id = {pid: grp.reset_index(drop=True) for pid, grp in boxes.groupby("patient_id", sort=False)}
    for pid in wanted:
        if pid not in in_boxes:
            fail(pid, f"patient {pid} is not in the box file {boxes_path.name}")
            continue
        if pid not in in_tree:
            fail(pid, f"patient {pid} is in the box file {boxes_path.name} but not in the DICOM tree "
                      f"(expected a folder {pid}/<study>/<series>/*.dcm)")  # fmt: skip
            continue
        if pid not in in_clinical:
            fail(pid, f"patient {pid} is in the box file {boxes_path.name} but not in the clinical table "
                      f"{clinical_path.name}")  # fmt: skip
            continue
        series = series_by_id[pid]
        chosen = series[series["sequence"] == settings.sequence]
        if len(chosen) != 1:
            listed = "; ".join(f"{s} -> {q}" for s, q in zip(series["series"], series["sequence"], strict=True))
            what = "no series" if chosen.empty else f"{len(chosen)} series"
            fail(pid, f"patient {pid}: {what} identified as {settings.sequence!r} among: {listed}")
            continue
        jobs.append(
            _Job(
                patient_id=pid,
                series_path=str(chosen["path"].iloc[0]),
                box=boxes_by_id[pid],
                clinical=clinical_by_id.loc[[pid]].reset_index(drop=True),
                settings=settings,
                out=str(out),
                png_dir=str(png_dir) if png_dir is not None else None,
                n_images=_expected_slices(boxes_by_id[pid], pid, int(chosen["n_files"].iloc[0]), settings),
            )
        )
    return jobs


def _expected_slices(box: pd.DataFrame, pid: str, n_files: int, settings: ExportSettings) -> int | None:
    """Labelled slices of a series of ``n_files`` slices (what the worker will find if every file is a
    slice); None where labelling fails (the worker reports why)."""
    from breastlab.data.duke.labels import label_slices

    try:
        labels = label_slices(box, {pid: n_files}, buffer=settings.buffer, negatives=settings.negatives,
                              seed=settings.seed)  # fmt: skip
    except BreastlabInputError:
        return None
    return len(labels)


# ============================================================================ running
WORKER_MODULES = ["breastlab.data.export", "breastlab.data.duke.dicom", "breastlab.data.duke.labels", "PIL.Image"]


def _export_patient(job: _Job) -> int:
    """Read, label, resize and store one patient (runs in a worker). Returns the slice count."""
    from breastlab.data.duke.labels import label_slices

    s = job.settings
    # Stored pixels only: float32 conversion happens for the kept slices, one at a time.
    slices, vol = _read_job_series(job)
    n = len(slices)
    rows, cols = slices[0].pixels.shape
    box = job.box.iloc[0]
    if has_in_plane_box(box) and (int(box["end_row"]) > rows or int(box["end_column"]) > cols):
        raise BreastlabInputError(
            f"patient {job.patient_id}: box rows {box['start_row']}..{box['end_row']}, columns "
            f"{box['start_column']}..{box['end_column']} exceed the {rows}x{cols} matrix of "
            f"{Path(job.series_path).name}"
        )
    labels = label_slices(job.box, {job.patient_id: n}, buffer=s.buffer, negatives=s.negatives, seed=s.seed)
    labels = labels.sort_values("slice_index").reset_index(drop=True)
    lo, hi = _slices_window(slices, s.percentiles)
    images = np.empty((len(labels), *s.size), dtype=np.uint8)
    for k, i in enumerate(labels["slice_index"]):
        # slice by slice: the float image stays in cache from rescale to uint8
        window_to_uint8(resize_slice(slices[int(i)].rescaled(), s.size), lo, hi, out=images[k])
    del slices
    man, findings = _manifest(job, labels, vol, (rows, cols), n, lo, hi)
    if job.png_dir:
        _write_pngs(Path(job.png_dir), images, man, s.sequence)
    StoreWriter.open(job.out).write_shard(job.patient_id, images, man, findings)
    return len(man)


def _read_job_series(job: _Job) -> tuple[list[Any], Any]:
    """The job's series as stored slices: a DICOM series folder (or some of its files), or a single file
    (NIfTI, multi-frame DICOM) read by :func:`breastlab.data.mri_volumes.read_phase_slices`."""
    if not os.path.isdir(job.series_path):
        from breastlab.data.mri_volumes import read_phase_slices

        return read_phase_slices(job.series_path)
    from breastlab.data.duke.dicom import read_series_slices

    return read_series_slices(job.series_path, names=job.files)


def _slices_window(slices: list[Any], percentiles: tuple[float, float]) -> tuple[float, float]:
    """:func:`volume_window` computed from stored slices (same sample, same result)."""
    st = WINDOW_STRIDE
    sample = np.stack([sl.pixels[::st, ::st] for sl in slices]).astype(np.float32)
    for k, sl in enumerate(slices):
        if sl.slope != 1 or sl.intercept:
            sample[k] = sample[k] * np.float32(sl.slope) + np.float32(sl.intercept)
    return percentile_window(sample.ravel(), percentiles)


# ============================================================================ pixels
WINDOW_STRIDE = 8


def volume_window(array: np.ndarray, percentiles: tuple[float, float] = PERCENTILES) -> tuple[float, float]:
    """(lo, hi): percentiles of the volume, sampled every 8th row and column of every slice.

    The regular 1/64 sample still holds ~4k voxels per 512x512 slice (~700k for a
    Duke volume): the percentiles of an MR intensity histogram move by far less than
    one uint8 step, at 1/64 of the cost of sorting the whole volume.
    """
    st = WINDOW_STRIDE
    return percentile_window(np.asarray(array[:, ::st, ::st], dtype=np.float32).ravel(), percentiles)


def resize_slices(array: np.ndarray, indices: Sequence[int] | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Slices ``array[indices]`` resized to ``size`` (H, W) as float32 (see :func:`resize_slice`)."""
    out = np.empty((len(indices), *size), dtype=np.float32)
    for k, i in enumerate(indices):
        out[k] = resize_slice(array[int(i)], size)
    return out


def resize_slice(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One 2-D image resized to ``size`` (H, W) as float32.

    Bilinear interpolation with pixel centres aligned (``align_corners=False``) and,
    when shrinking, the triangle filter widened by the scale factor so every input
    pixel contributes (antialiasing): PIL's ``Image.resize(BILINEAR)`` on 32-bit floats,
    the same filter as ``torch.nn.functional.interpolate(..., antialias=True)``.
    """
    from PIL import Image

    img = np.ascontiguousarray(image, dtype=np.float32)
    if img.shape == tuple(size):
        return img.copy()
    return np.asarray(Image.fromarray(img, mode="F").resize((size[1], size[0]), Image.BILINEAR))


IN_PLANE = ("start_row", "end_row", "start_column", "end_column")


def has_in_plane_box(box: pd.Series) -> bool:
    """Whether a box gives rows and columns (a label may give only its slice range)."""
    return all(c in box.index and not pd.isna(box[c]) for c in IN_PLANE)


def scale_box(box: pd.Series, shape: tuple[int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """TCIA box (1-based inclusive rows/columns of ``shape``) -> (x0, y0, x1, y1) in ``size`` pixels.

    0-based half-open; the start is floored and the end ceiled, so the scaled box
    covers the original: ``x0 = floor((start_column - 1) * W / cols)``,
    ``x1 = ceil(end_column * W / cols)``, likewise for y with rows and H.
    """
    (rows, cols), (h, w) = shape, size
    sy, sx = h / rows, w / cols
    eps = 1e-9  # guards exact multiples against float rounding
    x0 = max(0, math.floor((int(box["start_column"]) - 1) * sx + eps))
    y0 = max(0, math.floor((int(box["start_row"]) - 1) * sy + eps))
    x1 = min(w, math.ceil(int(box["end_column"]) * sx - eps))
    y1 = min(h, math.ceil(int(box["end_row"]) * sy - eps))
    return x0, y0, x1, y1


# ============================================================================ tables and files
def _manifest(
    job: _Job, labels: pd.DataFrame, vol: Any, shape: tuple[int, int], n: int, lo: float, hi: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    s = job.settings
    box = job.box.iloc[0]
    # A slice-range label (no rows and columns): box columns missing (<NA>), no findings.
    in_plane = has_in_plane_box(box)
    x0, y0, x1, y1 = scale_box(box, shape, s.size) if in_plane else (0, 0, 0, 0)
    k = len(labels)
    pid = job.patient_id
    image_id = [f"{pid}:{i}" for i in labels["slice_index"]]
    man = pd.DataFrame(
        {
            "image_id": image_id,
            "patient_id": pid,
            "slice_index": labels["slice_index"].astype(np.int64).to_numpy(),
            "label": labels["label"].astype(np.int64).to_numpy(),
            "sequence": s.sequence,
            "series": shareable_name(Path(job.series_path).name, "series-"),
            "series_description": str(vol.meta.get("SeriesDescription", "")),
            "n_slices": np.int64(n),
            "dicom_rows": np.int64(shape[0]),
            "dicom_columns": np.int64(shape[1]),
            "pixel_spacing_row_mm": float(vol.spacing[1]),
            "pixel_spacing_col_mm": float(vol.spacing[2]),
            "slice_spacing_mm": float(vol.spacing[0]),
            "window_low": lo,
            "window_high": hi,
            **{
                c: np.int64(box[c]) if in_plane or c not in IN_PLANE else 0
                for c in ("start_row", "end_row", "start_column", "end_column", "start_slice", "end_slice")
            },  # fmt: skip
            "box_x0": np.int64(x0),
            "box_y0": np.int64(y0),
            "box_x1": np.int64(x1),
            "box_y1": np.int64(y1),
        },
        index=range(k),
    )
    if not in_plane:
        for c in (*IN_PLANE, "box_x0", "box_y0", "box_x1", "box_y1"):
            man[c] = pd.array([pd.NA] * k, dtype="Int64")
    pos_ids = [i for i, lab in zip(image_id, man["label"], strict=True) if lab == 1 and in_plane]
    findings = pd.DataFrame(
        {
            "image_id": pos_ids,
            "finding_id": [f"{i}:tumour" for i in pos_ids],
            "finding_class": "tumour",
            "x0": np.full(len(pos_ids), x0, np.int64),
            "y0": np.full(len(pos_ids), y0, np.int64),
            "x1": np.full(len(pos_ids), x1, np.int64),
            "y1": np.full(len(pos_ids), y1, np.int64),
        }
    )
    # Clinical columns repeated per slice; the row of the cohort table keeps its dtypes.
    clin = job.clinical[[c for c in job.clinical.columns if c not in man.columns]]
    clin = clin.iloc[np.zeros(k, dtype=np.intp)].reset_index(drop=True)
    return pd.concat([man, clin], axis=1), findings


def png_name(sequence: str, slice_index: int, patient_id: str) -> str:
    """SpurBreast-style name ``<sequence>-<slice_index>-<patient_id>.png`` (split on '-' gives the parts)."""
    return f"{sequence}-{int(slice_index)}-{patient_id}.png"


def _write_pngs(png_dir: Path, images: np.ndarray, man: pd.DataFrame, sequence: str) -> None:
    from PIL import Image

    for img, (_, rec) in zip(images, man.iterrows(), strict=True):
        path = png_dir / str(int(rec["label"])) / png_name(sequence, rec["slice_index"], rec["patient_id"])
        with atomic_path(path) as tmp:
            Image.fromarray(img).save(tmp, format="PNG")


def read_problems(out: str | os.PathLike) -> pd.DataFrame:
    """The problems.csv of an export (empty frame if none)."""
    path = Path(out) / "problems.csv"
    if not path.exists():
        return ProblemLog().to_frame()
    return read_table(path)
