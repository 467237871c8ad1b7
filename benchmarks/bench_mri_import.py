"""Speed of ``breastlab import mri``: the header scan and the store build, each against a reference.

* ``--scan``: :func:`breastlab.data.cohort_scan.scan_mri_tree` on the phantom's files renamed into
  one flat folder per patient (hard links, no ``.dcm``), against a loop of
  ``pydicom.dcmread(path, stop_before_pixels=True)`` over the same files (the usual way to read
  headers only; it groups nothing). Files per second of both and their ratio.
* ``--scan`` of a large tree: ``--tree-files`` (default 10,000) small DICOM files written from one
  phantom slice with rewritten headers (PatientID, series and instance UIDs, position; one flat
  folder per patient, two series each, no ``.dcm``), scanned by ``scan_mri_tree`` and by the
  ``dcmread(stop_before_pixels=True)`` loop: files per second of both and their ratio.
* the build: :func:`breastlab.data.cohort_import.import_mri` on the Duke adapter's table
  (``duke_cohort``) and on the table ``--scan`` drafts from the flat copy (files listed, boxes added),
  against ``breastlab export`` (:func:`breastlab.data.export.export_slices`) on the same cohort, same
  settings, one worker each: slices per second and the ratios (goal: import within 10 % of export).

Each timing is the best of ``--repeats`` runs (the page cache is warm after the first).

Usage::

    .venv/bin/python benchmarks/bench_mri_import.py [--patients 8] [--slices 64] [--matrix 256] [--work DIR]
        [--tree-files 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import pydicom

from breastlab._io import write_table
from breastlab.data.cohort_import import import_mri
from breastlab.data.cohort_scan import BOX_COLUMNS, duke_cohort, scan_mri_tree
from breastlab.data.duke.boxes import read_boxes
from breastlab.data.duke.dicom import COLLECTION
from breastlab.data.export import export_slices
from breastlab.data.phantom import make_mri_cohort


def flat_copy(cohort: Path, out: Path) -> list[Path]:
    """The cohort's files hard-linked (copied where links fail) into one flat folder per patient."""
    files = []
    for k, patient in enumerate(sorted((cohort / COLLECTION).iterdir())):
        folder = out / f"subject{k:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        for j, f in enumerate(sorted(patient.rglob("*.dcm"))):
            target = folder / f"IM{j:06d}"
            if not target.exists():
                try:
                    os.link(f, target)
                except OSError:
                    shutil.copyfile(f, target)
            files.append(target)
    return files


def synthetic_tree(template: Path, out: Path, n_files: int, per_series: int = 50) -> list[Path]:
    """``n_files`` small DICOM files from one phantom slice, its headers rewritten: two series of
    ``per_series`` slices per patient in one flat folder per patient, names without ``.dcm``."""
    ds = pydicom.dcmread(template)
    ds.PixelData = ds.pixel_array[:32, :32].copy().tobytes()  # small pixels: the scan reads headers
    ds.Rows = ds.Columns = 32
    files = []
    for k in range(n_files):
        patient, series, slice_ = k // (2 * per_series), (k // per_series) % 2, k % per_series
        folder = out / f"patient{patient:05d}"
        if slice_ == 0 and series == 0:
            folder.mkdir(parents=True, exist_ok=True)
        ds.PatientID = f"SYN{patient:05d}"
        ds.StudyInstanceUID = f"2.25.{patient + 1}"
        ds.SeriesInstanceUID = f"2.25.{patient + 1}.{series + 1}"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"2.25.{patient + 1}.{series + 1}.{slice_ + 1}"
        ds.SeriesDescription = ("ax dyn pre", "ax dyn 1st pass")[series]
        ds.SeriesNumber, ds.InstanceNumber = series + 1, slice_ + 1
        ds.ImagePositionPatient = [0, 0, 2.0 * slice_]
        path = folder / f"IM{k:06d}"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def best(fn, repeats: int) -> float:  # noqa: ANN001 - a callable
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=8)
    ap.add_argument("--slices", type=int, default=64)
    ap.add_argument("--matrix", type=int, default=256)
    ap.add_argument("--size", type=int, default=128, help="stored image size of the build comparison")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None, help="keep the phantom here (generated once)")
    ap.add_argument("--tree-files", type=int, default=10_000, help="files of the synthetic scan tree (0: none)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_mri_import_"))
    cohort = work / "cohort"
    make_mri_cohort(cohort, args.patients, seed=0, n_slices=args.slices, matrix=args.matrix, n_post=2, progress=False)
    files = flat_copy(cohort, work / "flat")
    print(f"phantom: {args.patients} patients, {len(files)} files, matrix {args.matrix}, {args.slices} slices")

    def reference_scan() -> None:
        for f in files:
            pydicom.dcmread(f, stop_before_pixels=True)

    t_scan = best(lambda: scan_mri_tree(work / "flat"), args.repeats)
    t_ref = best(reference_scan, args.repeats)
    n = len(files)
    print(f"scan_mri_tree:                        {n / t_scan:10.0f} files/s")
    print(f"pydicom dcmread(stop_before_pixels):  {n / t_ref:10.0f} files/s")
    print(f"ratio (scan / pydicom loop):          {t_ref / t_scan:10.2f}x")

    if args.tree_files:
        tree = work / f"tree{args.tree_files}"
        if not tree.exists():
            t = time.perf_counter()
            synthetic_tree(files[0], tree, args.tree_files)
            print(f"wrote a {args.tree_files}-file tree in {time.perf_counter() - t:.1f} s")
        tree_files = sorted(p for p in tree.rglob("*") if p.is_file())

        def reference_tree() -> None:
            for f in tree_files:
                pydicom.dcmread(f, stop_before_pixels=True)

        t_tree = best(lambda: scan_mri_tree(tree), args.repeats)
        t_tree_ref = best(reference_tree, args.repeats)
        n = len(tree_files)
        print(f"scan_mri_tree, {n} files:             {n / t_tree:10.0f} files/s")
        print(f"pydicom dcmread(stop_before_pixels):  {n / t_tree_ref:10.0f} files/s")
        print(f"ratio (scan / pydicom loop):          {t_tree_ref / t_tree:10.2f}x")

    table = work / "duke_cohort.csv"
    write_table(duke_cohort(cohort), table)
    flat_table = work / "flat_cohort.csv"
    boxes = read_boxes(cohort / "Annotation_Boxes.csv").set_index("patient_id")
    drafted = scan_mri_tree(work / "flat")
    for c in BOX_COLUMNS:
        drafted[c] = drafted["patient_id"].map(boxes[c])
    write_table(drafted, flat_table)
    kw = {"size": args.size, "workers": 1, "progress": False, "overwrite": True}
    t_export = best(lambda: export_slices(cohort, work / "export_store", **kw), args.repeats)
    t_import = best(lambda: import_mri(table, cohort, work / "import_store", **kw), args.repeats)
    t_flat = best(lambda: import_mri(flat_table, work / "flat", work / "flat_store", **kw), args.repeats)
    slices = len(import_mri(table, cohort, work / "import_store", size=args.size, workers=1, progress=False))
    print(f"export_slices:                        {slices / t_export:10.0f} slices/s")
    print(f"import_mri (duke cohort table):       {slices / t_import:10.0f} slices/s")
    print(f"import_mri (scanned flat folders):    {slices / t_flat:10.0f} slices/s")
    print(f"ratio (import / export throughput):   {t_export / t_import:10.2f}  (goal >= 0.90)")
    print(f"ratio (flat import / export):         {t_export / t_flat:10.2f}  (goal >= 0.90)")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
