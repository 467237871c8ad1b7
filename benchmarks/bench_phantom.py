"""Speed of the phantom MRI cohort against reference implementations measured in the same run.

* DICOM writing: the template writer (one pydicom serialisation per series, five elements
  re-encoded per slice) vs ``Dataset.save_as`` for every slice. Target: ratio >= 5.
* Rician noise: 16-bit inverse-CDF table draws vs ``Generator.standard_normal``. Target: ratio >= 1.
* End to end: seconds per patient of ``make_mri_cohort`` at the demo size (matrix 128,
  32 slices, 3 phases, one process), for the demo's 5-minute budget. Target: < 0.5 s.

Usage: ``.venv/bin/python benchmarks/bench_phantom.py``
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from breastlab.data.phantom import make_mri_cohort, plan_mri_cohort, render_patient
from breastlab.data.phantom._dicom import series_dataset, set_instance, to_bytes, write_series
from breastlab.data.phantom._render import _rician


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _reference_write(patient, series, volume, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ds = series_dataset(patient, series, volume)
    for instance in range(1, patient.n_slices + 1):
        set_instance(ds, patient, series, volume, instance)
        (folder / f"1-{instance:03d}.dcm").write_bytes(to_bytes(ds))


def main() -> None:
    patient = plan_mri_cohort(1, 0, n_slices=48, matrix=256).patients[0]
    series = patient.series[0]
    volume = render_patient(patient, [series.phase])[series.phase]
    with tempfile.TemporaryDirectory() as tmp:
        fast = _best(lambda: write_series(patient, series, volume, Path(tmp) / "fast"))
        ref = _best(lambda: _reference_write(patient, series, volume, Path(tmp) / "ref"))
    print(
        f"DICOM write, {patient.n_slices} slices {volume.shape[1]}^2: template {fast * 1e3:.1f} ms, "
        f"pydicom save_as {ref * 1e3:.1f} ms, ratio {ref / fast:.1f}x (target >= 5)"
    )

    signal = np.full((16, 256, 256), 300, np.float32)
    rng = np.random.default_rng(0)
    fast = _best(lambda: _rician(rng, signal, 10.0))

    def reference() -> np.ndarray:
        re = signal + 10.0 * rng.standard_normal(signal.shape, dtype=np.float32)
        im = 10.0 * rng.standard_normal(signal.shape, dtype=np.float32)
        return np.clip(np.rint(np.sqrt(re * re + im * im)), 0, 4095).astype(np.uint16)

    ref = _best(reference)
    print(
        f"Rician noise, 1M voxels: table {fast * 1e3:.1f} ms, standard_normal {ref * 1e3:.1f} ms, "
        f"ratio {ref / fast:.2f}x (target >= 1)"
    )

    n = 8
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        make_mri_cohort(Path(tmp) / "c", n, seed=0, n_slices=32, matrix=128, progress=False)
        per = (time.perf_counter() - t) / n
    print(f"make_mri_cohort, matrix 128, 32 slices, 3 phases, 1 process: {per:.3f} s/patient (target < 0.5)")


if __name__ == "__main__":
    main()
