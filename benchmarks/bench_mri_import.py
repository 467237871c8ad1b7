"""Speed of ``breastlab import mri``: the header scan and the store build, each against a reference.

* ``--scan``: :func:`breastlab.data.cohort_import.scan_mri_tree` on the phantom's files renamed into
  one flat folder per patient (hard links, no ``.dcm``), against a loop of
  ``pydicom.dcmread(path, stop_before_pixels=True)`` over the same files (the usual way to read
  headers only; it groups nothing). Files per second of both and their ratio.
* the build: :func:`breastlab.data.cohort_import.import_mri` on the Duke adapter's table
  (``duke_cohort``) against ``breastlab export`` (:func:`breastlab.data.export.export_slices`) on the
  same cohort, same settings, one worker each: slices per second and the ratio (goal: import
  within 10 % of export).

Each timing is the best of ``--repeats`` runs (the page cache is warm after the first).

Usage::

    .venv/bin/python benchmarks/bench_mri_import.py [--patients 8] [--slices 64] [--matrix 256] [--work DIR]
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
from breastlab.data.cohort_import import duke_cohort, import_mri, scan_mri_tree
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

    table = work / "duke_cohort.csv"
    write_table(duke_cohort(cohort), table)
    kw = {"size": args.size, "workers": 1, "progress": False, "overwrite": True}
    t_export = best(lambda: export_slices(cohort, work / "export_store", **kw), args.repeats)
    t_import = best(lambda: import_mri(table, cohort, work / "import_store", **kw), args.repeats)
    slices = len(import_mri(table, cohort, work / "import_store", size=args.size, workers=1, progress=False))
    print(f"export_slices:                        {slices / t_export:10.0f} slices/s")
    print(f"import_mri (duke cohort table):       {slices / t_import:10.0f} slices/s")
    print(f"ratio (import / export throughput):   {t_export / t_import:10.2f}  (goal >= 0.90)")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
