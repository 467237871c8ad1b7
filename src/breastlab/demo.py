"""`breastlab demo`: the main job on the built-in phantom cohort.

v1 (data layer): phantom Duke cohort -> slice store -> summary table. Each step is
one library call, so later steps (curation, training, evaluation) append to it.

    OUT/cohort/   phantom cohort in TCIA's layout (breastlab.data.phantom.make_mri_cohort)
    OUT/store_post1/ uint8 slice store of the first post-contrast series (breastlab.data.export.export_slices)
    OUT/summary.csv  patients and slices per label, by field strength
    OUT/splits/      baseline, field-strength and vertical-flip splits (breastlab.curate)
    OUT/runs/        small-CNN training runs (breastlab.train.showcase.train_demo), evaluated
    OUT/report.html  the shortcut report (Table 2 with CIs, groups, Grad-CAM gallery)

Every step resumes: running the demo again reuses what is already there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEMO_PATIENTS = 100  # enough patients for the baseline's test accuracy >= 0.80 (training step)
DEMO_MATRIX = 128  # in-plane matrix of the 512-matrix scanners (448/320 ones scale in proportion)
DEMO_SIZE = 128  # stored slice size


def run_demo(out: str = "demo_out", patients: int | None = None, seed: int = 0, workers: int = 2) -> dict[str, Any]:
    """Run the demo into ``out``; returns the paths and tables it made."""
    from breastlab._table import emit
    from breastlab.data.export import export_slices, export_summary, read_problems
    from breastlab.data.phantom import make_mri_cohort

    out_dir = Path(out)
    n = DEMO_PATIENTS if patients is None else patients
    cohort = make_mri_cohort(out_dir / "cohort", n, seed=seed, matrix=DEMO_MATRIX, n_post=1, workers=workers)
    # The tumour shows on post-contrast slices (pre-contrast ones carry little signal at the demo's
    # size), so the one store the demo exports, and its splits address, is the first post-contrast series.
    store = export_slices(cohort, out_dir / "store_post1", sequence="post1", size=DEMO_SIZE, workers=workers)
    summary = export_summary(store)
    title = f"Phantom Duke cohort: {n} patients -> slice store {store.path} ({DEMO_SIZE}x{DEMO_SIZE} uint8, post1)"
    emit(summary, title=title, csv_path=out_dir / "summary.csv")
    problems = read_problems(store.path)
    if len(problems):
        print(f"{len(problems)} patient(s) left out: see {store.path / 'problems.csv'}")
    result = {"cohort": cohort, "store": store.path, "summary": summary, "problems": problems}
    # Anomaly detection input (issue 8): one subtraction MIP per breast, and a contact sheet showing
    # the enhancing lesions (boxes in red) next to normal breasts: OUT/anomaly/mip_contact_sheet.png
    from breastlab.anomaly.mip import MipSettings, build_mip_store, contact_sheet

    mips, _ = build_mip_store(cohort, out_dir / "anomaly" / "mips", MipSettings(size=DEMO_SIZE), workers=workers)
    result["mip_contact_sheet"] = contact_sheet(mips, out_dir / "anomaly" / "mip_contact_sheet.png")
    from breastlab.train.showcase import train_demo

    result["training"] = train_demo(store.path, out_dir, seed=seed)
    return result
