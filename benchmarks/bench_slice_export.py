"""Speed and memory of the Duke slice export against the naive public-tutorial loop.

Target: >= 10x the slices per second of the reference on a 2-core
machine, with peak memory < 2 GB whatever the cohort size.

Both paths export the same labelled slices (pre-contrast series, buffer 5, all
negatives) of the same phantom cohort (``breastlab.data.phantom.make_mri_cohort``,
512-matrix scanner size, 160 slices per volume as real Duke series; ~3.3 GB of
DICOM written to a temporary folder) to 320x320 uint8 images:

* ours: ``breastlab.data.export.export_slices`` (worker processes, one store shard
  per patient, minimal-overhead DICOM pixel reads, PIL float resize, per-volume
  window), measured with 1 and with ``--workers`` processes; and once more with ``--workers``
  processes writing the pixels twice, to shards and then into the store (as versions before the
  pixels were written once into their place in the final file), for the before/after ratio;
* reference, as in the widely shared Duke preprocessing tutorial, one process: for
  each labelled slice file (``1-NNN.dcm``, NNN = slice number) ``pydicom.dcmread`` ->
  ``pixel_array`` -> min-max scaling -> ``skimage.transform.resize`` -> PNG written
  with ``skimage.io.imsave``.

Both wall-clock throughput (slices/s) and CPU time per slice are printed: on a
shared machine the wall-clock figures move with the other load, CPU time much less.

Peak memory: the largest total resident memory of this process and all its
descendants (sampled from /proc every 50 ms), the largest single worker, and
tracemalloc's peak of the reference loop. The export
holds one volume per worker, so its peak does not grow with the number of patients.

Usage::

    .venv/bin/python benchmarks/bench_slice_export.py [--patients 20] [--slices 160] [--workers 2] [--work DIR]

``--work DIR`` keeps the phantom cohort there (generated once, reused afterwards).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np


def reference_export(cohort: Path, out: Path, size: int = 320, buffer: int = 5) -> int:
    """The tutorial loop: per labelled slice file, dcmread -> min-max -> skimage resize -> PNG."""
    import pydicom
    import skimage.io
    import skimage.transform

    from breastlab.data.duke.boxes import read_boxes
    from breastlab.data.duke.dicom import index_dicom_tree
    from breastlab.data.duke.labels import label_slices

    boxes = read_boxes(cohort / "Annotation_Boxes.csv")
    index = index_dicom_tree(cohort)
    pre = index[index["sequence"] == "pre"].set_index("patient_id")
    n = 0
    for pid in boxes["patient_id"]:
        folder = Path(pre.loc[pid, "path"])
        labels = label_slices(boxes[boxes["patient_id"] == pid], {pid: int(pre.loc[pid, "n_files"])}, buffer=buffer)
        for slice_index, label in zip(labels["slice_index"], labels["label"], strict=True):
            img = pydicom.dcmread(folder / f"1-{slice_index + 1:03d}.dcm").pixel_array.astype(np.float64)
            img = (img - img.min()) / max(img.max() - img.min(), 1e-12) * 255
            img = skimage.transform.resize(img, (size, size), preserve_range=True).astype(np.uint8)
            target = out / ("pos" if label == 1 else "neg") / f"{slice_index}-{pid}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            skimage.io.imsave(target, img, check_contrast=False)
            n += 1
    return n


class ProcessTree(threading.Thread):
    """Samples /proc for this process and all its descendants (the export's workers are
    children of a fork server, so ``RUSAGE_CHILDREN`` does not see them): peak resident
    memory of each process (VmHWM), peak total resident memory, and CPU seconds."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.hwm_kb: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self.peak_total_kb = 0
        self._halt = threading.Event()
        self._tick = os.sysconf("SC_CLK_TCK")

    def _tree(self) -> list[int]:
        parent: dict[int, int] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as fh:
                        parent[int(d)] = int(fh.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        tree, frontier = [os.getpid()], [os.getpid()]
        while frontier:
            frontier = [p for p, pp in parent.items() if pp in frontier]
            tree += frontier
        return tree

    def sample(self) -> None:
        total = 0
        for pid in self._tree():
            try:
                with open(f"/proc/{pid}/status") as fh:
                    status = dict(line.split(":", 1) for line in fh if ":" in line)
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            rss = int(status.get("VmRSS", "0 kB").split()[0])
            total += rss
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), int(status.get("VmHWM", "0 kB").split()[0]))
            self.cpu[pid] = (int(fields[11]) + int(fields[12])) / self._tick
        self.peak_total_kb = max(self.peak_total_kb, total)

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            time.sleep(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()

    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())


def _measure(fn, *args, **kwargs):
    """(result, wall s, CPU s of the process tree, peak total MB, peak of the largest process MB)."""
    mon = ProcessTree()
    mon.sample()
    cpu0 = dict(mon.cpu)
    mon.hwm_kb.clear()
    mon.start()
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    wall = time.perf_counter() - t0
    mon.stop()
    cpu = sum(c - cpu0.get(pid, 0.0) for pid, c in mon.cpu.items())
    workers = [kb for pid, kb in mon.hwm_kb.items() if pid != os.getpid()]
    return result, wall, cpu, mon.peak_total_kb / 1024, max(workers, default=0) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=20)
    ap.add_argument("--matrix", type=int, default=512, help="in-plane matrix of 512-matrix scanners (phantom)")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--slices",
        type=int,
        default=160,
        help="slices per volume (default 160, the lower quartile of the real Duke pre-contrast "
        "series, median 174; 0: the phantom's own 48-64)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=None, help="keep the phantom cohort here (default: temporary)")
    args = ap.parse_args()

    from breastlab.data import export as export_mod
    from breastlab.data.export import export_slices
    from breastlab.data.phantom import make_mri_cohort

    with tempfile.TemporaryDirectory(prefix="bench_export_") as tmp:
        work = args.work or Path(tmp)
        cohort = work / f"cohort_{args.patients}_{args.matrix}_{args.slices}_{args.seed}"
        t0 = time.perf_counter()
        make_mri_cohort(cohort, args.patients, seed=args.seed, matrix=args.matrix, n_slices=args.slices or None,
                        n_post=1, workers=args.workers, progress=False)  # fmt: skip
        print(f"phantom cohort: {args.patients} patients, matrix {args.matrix} ({time.perf_counter() - t0:.1f} s)")

        from breastlab.data.runner import JobRunner
        from breastlab.problems import ProblemLog

        with JobRunner(args.workers, ProblemLog(), "warm-up", preload=export_mod.WORKER_MODULES):
            pass  # the worker fork server starts once per session: not part of either measurement
        runs, twice = {}, {}
        for workers in sorted({1, args.workers}):
            for write_once, results in ((True, runs), (False, twice)):
                export_mod.WRITE_ONCE = write_once  # False: shards first, then copied into the store
                out = Path(tmp) / f"store_w{workers}_{'once' if write_once else 'twice'}"
                store, wall, cpu, total_mb, worker_mb = _measure(
                    export_slices, cohort, out, size=args.size, workers=workers, progress=False, overwrite=True
                )
                results[workers] = (len(store), wall, cpu, total_mb, worker_mb)
                shape = store.images.shape
            export_mod.WRITE_ONCE = True
            same = (out / "images.npy").read_bytes() == (
                out.with_name(f"store_w{workers}_once") / "images.npy"
            ).read_bytes()
            if not same:
                raise SystemExit("pixels written once and twice gave different stores")
        parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB

        tracemalloc.start()
        n_ref, ref_time, ref_cpu, ref_total_mb, _ = _measure(
            reference_export, cohort, Path(tmp) / "reference_png", size=args.size
        )
        ref_traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()

    ref_rate = n_ref / ref_time
    print(f"\nslices exported: ours {runs[1][0]} ({shape[1]}x{shape[2]} uint8), reference {n_ref}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other users included)")
    head = f"{'path':<34}{'wall s':>8}{'slices/s':>10}{'ratio':>7}{'CPU ms/slice':>14}{'CPU ratio':>11}{'peak MB':>9}"
    print(head)
    ref_cpu_ms = 1e3 * ref_cpu / n_ref
    print(f"{'reference (tutorial loop, 1 proc)':<34}{ref_time:>8.2f}{ref_rate:>10.1f}{1.0:>7.1f}"
          f"{ref_cpu_ms:>14.2f}{1.0:>11.1f}{ref_total_mb:>9.0f}")  # fmt: skip
    for workers, (n, dt, cpu, total_mb, _) in runs.items():
        label = f"breastlab export, {workers} worker{'s' if workers > 1 else ''}"
        cpu_ms = 1e3 * cpu / n
        print(f"{label:<34}{dt:>8.2f}{n / dt:>10.1f}{(n / dt) / ref_rate:>7.1f}"
              f"{cpu_ms:>14.2f}{ref_cpu_ms / cpu_ms:>11.1f}{total_mb:>9.0f}")  # fmt: skip
    for workers, (n, dt, cpu, total_mb, _) in twice.items():
        label = f"  same, pixels written twice, {workers} w"
        print(f"{label:<34}{dt:>8.2f}{n / dt:>10.1f}{(n / dt) / ref_rate:>7.1f}"
              f"{1e3 * cpu / n:>14.2f}{ref_cpu_ms / (1e3 * cpu / n):>11.1f}{total_mb:>9.0f}")  # fmt: skip
    for workers, once in runs.items():
        wall_gain, cpu_gain = twice[workers][1] / once[1], twice[workers][2] / once[2]
        print(f"pixels written once vs twice, {workers} worker(s), same run: wall {wall_gain:.2f}x, "
              f"CPU {cpu_gain:.2f}x (stores byte-identical)")  # fmt: skip
    worker_peak = max(r[4] for r in runs.values())
    print(
        f"\npeak memory (MB): whole export process tree {max(r[3] for r in runs.values()):.0f} "
        f"(parent {parent_mb:.0f}, largest worker {worker_peak:.0f}); reference loop tracemalloc {ref_traced:.0f}"
    )
    best = max(n / dt for n, dt, *_ in runs.values()) / ref_rate
    best_cpu = max(ref_cpu_ms / (1e3 * cpu / n) for n, _, cpu, *_ in runs.values())
    peak = max(r[3] for r in runs.values())
    print(
        f"goal >= 10x: wall {'met' if best >= 10 else 'NOT met'} ({best:.1f}x), "
        f"CPU {'met' if best_cpu >= 10 else 'NOT met'} ({best_cpu:.1f}x); "
        f"goal peak < 2048 MB: {'met' if peak < 2048 else 'NOT met'} ({peak:.0f} MB)"
    )


if __name__ == "__main__":
    main()
