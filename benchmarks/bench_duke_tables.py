"""Speed of the Duke table readers against reference implementations measured in the same run.

* ``read_clinical`` (openpyxl read + decoding of all 98 columns) vs ``pandas.read_excel(header=[0, 1, 2])``
  (reading only, no decoding). Target: ratio <= 2.
* ``label_slices`` on the real boxes/counts vs a plain-Python set-arithmetic reference. Target: ratio <= 1.

Usage: ``.venv/bin/python benchmarks/bench_duke_tables.py`` (needs the real pack, ``$BREASTLAB_DATA``).
"""

from __future__ import annotations

import time

import pandas as pd

from breastlab.data.duke.boxes import read_boxes, read_slice_counts
from breastlab.data.duke.clinical import read_clinical
from breastlab.data.duke.labels import label_slices, slice_count_map
from breastlab.paths import duke_dir


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _reference_labels(boxes: pd.DataFrame, counts: dict[str, int], buffer: int) -> list[tuple[str, int, int]]:
    rows = []
    for pid, s, e in zip(boxes["patient_id"], boxes["start_slice"], boxes["end_slice"], strict=True):
        if pid not in counts:
            continue
        pos = set(range(s - 1, e))
        near = set(range(max(0, s - 1 - buffer), min(counts[pid], e + buffer)))
        rows += [(pid, i, 1 if i in pos else 0) for i in range(counts[pid]) if i in pos or i not in near]
    return rows


def main() -> None:
    d = duke_dir()
    xlsx = d / "Clinical_and_Other_Features.xlsx"
    ours = _best(lambda: read_clinical(xlsx))
    ref = _best(lambda: pd.read_excel(xlsx, sheet_name="Data", header=[0, 1, 2]))
    print(f"read_clinical {ours:.3f} s vs pandas.read_excel (no decoding) {ref:.3f} s: ratio {ours / ref:.2f}")

    boxes = read_boxes(d / "Annotation_Boxes.csv")
    counts = slice_count_map(read_slice_counts(d / "slice_counts.csv"))
    ours = _best(lambda: label_slices(boxes, counts, buffer=5, problems=_Quiet()))
    ref = _best(lambda: _reference_labels(boxes, counts, 5))
    print(f"label_slices {ours:.3f} s vs set-arithmetic reference {ref:.3f} s: ratio {ours / ref:.2f}")


class _Quiet:
    """A problems sink for the benchmark (the two uncountable patients are expected)."""

    def add(self, *args) -> None:
        pass


if __name__ == "__main__":
    main()
