"""`breastlab demo`: the whole product on the built-in phantom cohorts, at CPU size, in one report.

One run does the four studies and a reader study, each step one library call, and writes
one page, ``OUT/report.html``:

1. **SpurBreast shortcut finding** (phantom Duke MRI cohort -> slice store -> splits ->
   small-CNN training -> Table 2). A model trained where a clinical attribute (field
   strength) or an image property (vertical flip) is confounded with the label reaches
   validation accuracy >= 0.95 but test accuracy <= 0.65 on a test set where the confound is
   broken, while the baseline reaches test accuracy >= 0.80. The paper's protocol (SGD with
   cosine annealing) at a reduced input size, crops of ``DEMO_IMAGE_SIZE`` px instead of 224.
2. **Anomaly detection**: FCDD and, for comparison, a BCE classifier explained by Grad-CAM,
   trained with patient-grouped folds on one subtraction MIP per breast of the same cohort;
   balanced and low-prevalence AUCs, triage, heatmaps. Finding: FCDD's breast-level AUC
   >= 0.85 and its heatmaps' median pixel AUC above BCE + Grad-CAM's.
3. **Three-class mammogram classification** (negative / recalled-benign / malignant; the
   CPU preset of :mod:`breastlab.mammo`) on a phantom mammography cohort: mean pairwise
   AUC (Hand & Till) on held-out patients >= 0.75.
4. **Finding detection** (:mod:`breastlab.detect`, preset ``cpu-small`` at 1.5 mm pixels, where
   the small detector's 8-64 px anchors fit the phantom's masses better than at its 1 mm, and
   sooner) on the same cohort's train split, FROC on its test split: mass FROC mean sensitivity
   (0.125-4 FP/image) >= 0.7.
5. **Reader study**: simulated junior and senior readers read the detection test cases
   unaided and aided by the detector just trained (its case scores,
   :func:`breastlab.detect.marks.reader_study_rows`;
   :func:`breastlab.evaluate.stats.simulate_aided_reader_study`), analysed by
   :func:`breastlab.evaluate.stats.reader_study` with the OR-Hillis MRMC comparison. Finding:
   the aided readers' reader-averaged AUC is above the unaided one (a detector whose scores
   were noise would lower it).

The demo prints each finding's headline figure with its goal and PASS/FAIL, and the wall-clock
and CPU time of every stage; ``OUT/headline.json`` holds both. ``passed`` in the result (the
command's exit code 0, else 1) says whether every finding was reproduced.

Sizes: :data:`DEMO` (the default: about five minutes on two quiet cores) and :data:`FULL`
(``breastlab demo --full``: the acceptance runs' sizes, ``benchmarks/accept_*.py`` and
``bench_anomaly.py``; a GPU is used for the anomaly, classification and detection stages
when there is one). Every stage's size was chosen with a margin of several points over its
goal, since CPU float kernels differ between machines (see ``DEMO_EPOCHS``).

    OUT/cohort/       phantom Duke MRI cohort (breastlab.data.phantom.make_mri_cohort)
    OUT/store_post1/  uint8 slice store of the first post-contrast series
    OUT/summary.csv   patients and slices per label, by field strength
    OUT/splits/, OUT/runs/  SpurBreast splits and small-CNN runs
    OUT/anomaly/      MIP store, contact sheet, FCDD and BCE runs, evaluation (report section)
    OUT/mammo/        phantom mammography cohort, the classifier's and the detector's stores,
                      classification (report section)
    OUT/detect/       detector run, test-split detections, AI marks, evaluation (report section)
    OUT/reader_study/ readings (readings.csv) and the analysis (report section)
    OUT/report.html   every section in one page
    OUT/headline.json headline figures, goals, PASS/FAIL, stage times

Every step resumes: running the demo again reuses what is already there. A folder made with
other sizes (``--full`` after the default, another seed) is refused: use another ``--out``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from breastlab.errors import BreastlabInputError
from breastlab.schemas import RUN

DEMO_PATIENTS = 100  # enough patients for the baseline's test accuracy >= 0.80 (training step)
DEMO_MATRIX = 128  # in-plane matrix of the 512-matrix scanners (448/320 ones scale in proportion)
DEMO_SIZE = 128  # stored slice size
DEMO_IMAGE_SIZE = 64  # training/evaluation input of the small CNN (the paper: 224)
# 12 epochs at lr 0.02 gave a baseline test accuracy of 0.826 on one CPU and 0.789 on another
# (float kernels differ by machine): 20 epochs at 0.05 reach 0.846 here, a margin over the
# finding's 0.80 that machine-level rounding does not cross; the spurious runs are unchanged
# (validation 1.000, test 0.50).
DEMO_EPOCHS = 20
DEMO_LR = 0.05
FINDING = {"spurious_val_min": 0.95, "spurious_test_max": 0.65, "baseline_test_min": 0.80}
GOALS = {"fcdd_auc_min": 0.85, "three_class_auc_min": 0.75, "mass_froc_min": 0.7}


@dataclasses.dataclass(frozen=True)
class DemoSize:
    """The sizes of the demo's new studies (the SpurBreast half keeps the constants above)."""

    name: str
    mri_patients: int = DEMO_PATIENTS
    anomaly_image_size: int | None = 64  # None: the MIP store's DEMO_SIZE
    fcdd_epochs: int = 10
    bce_epochs: int = 5
    anomaly_folds: int = 3
    mammo_patients: int = 120
    mammo_matrix: int = 256  # rows of the digital site: 1.1 mm pixels
    classify_iterations: int = 200
    detect_iterations: int = 400
    detect_spacing_mm: float = 1.5  # the detector's pixels (its store is made at this spacing)
    readers_per_group: int = 3
    device: str = "cpu"


#: ``breastlab demo``. Measured on the phantoms, seed 0 (README, "The demo"): FCDD at 4 / 6 / 8 / 10
#: epochs reached breast AUC 0.54 / 0.85 / 1.00 / 1.00 (pixel AUC 0.99 from 8 on; BCE + Grad-CAM
#: 0.85 at 5 epochs); the classifier 0.83 at 300 iterations on the 384 matrix, 0.86 / 0.90 at 200
#: on the 256 one (without / with masses doubled); the detector's mass FROC 0.73-0.78 at 1 mm and
#: 300-500 iterations, 0.84-0.86 at 1.5 mm and 300-500; the aided readers +0.10 to +0.12 AUC.
DEMO = DemoSize("demo")
#: ``breastlab demo --full``: the acceptance runs' sizes (anomaly: FCDD's 5-fold protocol at the
#: stored 128 px; classification: ``accept_mammo_classify.py``'s 500 patients and the CPU preset's
#: 600 iterations; detection: ``accept_detect.py``'s 600 iterations).
FULL = DemoSize(
    "full",
    anomaly_image_size=None,
    fcdd_epochs=30,
    bce_epochs=30,
    anomaly_folds=5,
    mammo_patients=500,
    mammo_matrix=384,
    classify_iterations=600,
    detect_iterations=600,
    detect_spacing_mm=1.0,
    readers_per_group=5,
    device="auto",
)


def run_demo(
    out: str = "demo_out",
    patients: int | None = None,
    seed: int = 0,
    workers: int = 2,
    full: bool = False,
) -> dict[str, Any]:
    """Run the demo into ``out`` (module notes); returns the paths, tables, headline and stage times.

    ``patients``: phantom MRI patients instead of the size's; ``full``: :data:`FULL` sizes."""
    from breastlab._io import write_json

    size = FULL if full else DEMO
    if patients is not None:
        size = dataclasses.replace(size, mri_patients=patients)
    out_dir = Path(out)
    _check_folder(out_dir, size, seed)
    stages = StageClock()
    with stages("MRI cohort, slice store, MIPs"):
        result = prepare_mri(out_dir, size.mri_patients, seed, workers)
    with stages("SpurBreast training"):
        result["training"] = train_demo(result["store"], out_dir, seed=seed, report=False)
    with stages("anomaly detection"), one_torch_thread():
        result["anomaly"] = run_anomaly(result["mips"], out_dir / "anomaly", size, seed)
    with stages("mammography cohort, stores"):
        result["mammo"] = prepare_mammo(out_dir / "mammo", size, seed, workers)
    with stages("three-class classification"), one_torch_thread():
        result["classification"] = run_classification(result["mammo"]["classify_store"], out_dir / "mammo", size, seed)
    with stages("finding detection"), one_torch_thread():
        result["detection"] = run_detection(result["mammo"]["detect_store"], out_dir / "detect", size, seed)
    with stages("reader study"):
        result["reader_study"] = run_reader_study(result["detection"], out_dir / "reader_study", size, seed)
    with stages("report"):
        sections = [
            *result["training"]["runs"].values(),
            result["anomaly"]["section"],
            result["classification"]["section"],
            result["detection"]["section"],
            result["reader_study"]["section"],
        ]
        result["report"] = _write_report(sections, out_dir / "report.html", seed)
        print(f"report: {result['report']}")
    headline = headline_table(result)
    result["headline"], result["stages"] = headline, stages.table()
    result["passed"] = bool(headline["passed"].all())
    print_summary(headline, result["stages"])
    write_json(
        {
            "passed": result["passed"],
            "size": dataclasses.asdict(size),
            "seed": seed,
            "headline": headline.to_dict(orient="records"),
            "stages": result["stages"].to_dict(orient="records"),
        },
        out_dir / "headline.json",
    )
    return result


# ------------------------------------------------------------------------------------------- stages
def prepare_mri(out_dir: Path, n: int, seed: int, workers: int) -> dict[str, Any]:
    """Phantom Duke cohort -> post-contrast slice store and its summary -> one subtraction MIP per breast."""
    from breastlab._table import emit
    from breastlab.anomaly.mip import MipSettings, build_mip_store, contact_sheet
    from breastlab.data.export import export_slices, export_summary, read_problems
    from breastlab.data.phantom import make_mri_cohort

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
    # Anomaly detection input: one subtraction MIP per breast, and a contact sheet showing
    # the enhancing lesions (boxes in red) next to normal breasts: OUT/anomaly/mip_contact_sheet.png
    mips, _ = build_mip_store(cohort, out_dir / "anomaly" / "mips", MipSettings(size=DEMO_SIZE), workers=workers)
    sheet = contact_sheet(mips, out_dir / "anomaly" / "mip_contact_sheet.png")
    return {
        "cohort": cohort,
        "store": store.path,
        "summary": summary,
        "problems": problems,
        "mips": mips.path,
        "mip_contact_sheet": sheet,
    }


def run_anomaly(mips: Path, out: Path, size: DemoSize, seed: int) -> dict[str, Any]:
    """FCDD and BCE + Grad-CAM, patient-grouped folds on the MIP store -> evaluation -> report section."""
    from breastlab._table import emit
    from breastlab.anomaly.evaluate import comparison_table, evaluate_anomaly_run
    from breastlab.anomaly.report import write_anomaly_section
    from breastlab.anomaly.train import AnomalyConfig, train_anomaly

    evs = []
    for model, epochs in (("fcdd", size.fcdd_epochs), ("bce", size.bce_epochs)):
        cfg = AnomalyConfig(
            store=str(mips),
            out=str(out / "runs" / model),
            model=model,
            image_size=size.anomaly_image_size,
            epochs=epochs,
            folds=size.anomaly_folds,
            seeds=(seed,),
            device=size.device,
        )
        run = train_anomaly(cfg)
        evs.append(evaluate_anomaly_run(run.run_dir, prevalence=0.02, repeats=200, seed=seed))
    table = comparison_table(evs)
    cols = ["model", "auc_balanced", "auc_lower", "auc_upper", "auc_low_prev", "pixel_auc_median"]
    emit(table[cols], title="Anomaly detection (breast-level AUC, DeLong 95% CI; low prevalence 2%; pixel AUC)")
    section = write_anomaly_section(evs, out / "evaluation").parent
    return {"evaluations": evs, "table": table, "section": section}


def prepare_mammo(out: Path, size: DemoSize, seed: int, workers: int) -> dict[str, Any]:
    """Phantom mammography cohort (CBIS-DDSM layout) -> the classifier's store (CPU preset) and the
    detector's store (at ``size.detect_spacing_mm``).

    Masses are drawn twice as often as each other finding class, so that the test split holds
    about 30 of them and the mass FROC figure does not swing with one lesion."""
    from breastlab.data.mammo import read_cbis_ddsm
    from breastlab.data.mammo.preprocess import build_mammo_store
    from breastlab.data.phantom.mammo import make_mammo_cohort
    from breastlab.presets import CPU_PRESET

    cohort = make_mammo_cohort(
        out / "cohort",
        size.mammo_patients,
        seed=seed,
        matrix=size.mammo_matrix,
        proportions=(0.3, 0.35, 0.35),
        test_fraction=0.3,
        class_weights=(2, 1, 1, 1),
        workers=workers,
    )
    dataset = read_cbis_ddsm(cohort, cohort / "CBIS-DDSM")
    classify_store = build_mammo_store(dataset, out / "store_classify", workers=workers, **CPU_PRESET["store"])
    spacing = size.detect_spacing_mm
    detect_store = build_mammo_store(dataset, out / "store_detect", spacing=spacing, workers=workers)
    print(
        f"Phantom mammography cohort: {size.mammo_patients} patients -> {len(classify_store)} images "
        f"(classifier store and detector store at {spacing:g} mm)"
    )
    return {"cohort": cohort, "classify_store": classify_store.path, "detect_store": detect_store.path}


def run_classification(store: Path, out: Path, size: DemoSize, seed: int) -> dict[str, Any]:
    """The three-class classifier (CPU preset, random initialisation) on a patient-level held-out test."""
    from breastlab._table import emit
    from breastlab.mammo import classify
    from breastlab.mammo.presets import preset_config

    iterations = size.classify_iterations
    cfg = preset_config(
        "cpu", weights="none", seed=seed, device=size.device, iterations=iterations, lr_step=int(0.7 * iterations)
    )
    res = classify(
        store, out / "classify", scenarios="three_class", test_fraction=0.3, config=cfg, n_boot=500, seed=seed
    )
    emit(res.results, title="Mammogram classification (patient-level bootstrap 95% CI)")
    return {"result": res, "auc": float(res.scenario_results[0].auc), "section": res.out}


def run_detection(store: Path, out: Path, size: DemoSize, seed: int) -> dict[str, Any]:
    """The ``cpu-small`` detector trained on the train split; detections, AI marks and FROC on the test split."""
    from breastlab._io import write_table
    from breastlab.data.store import ArrayStore
    from breastlab.detect.froc import evaluate_detections
    from breastlab.detect.marks import annotate, write_marks
    from breastlab.detect.model import load_detector, predict, preset, train_detector
    from breastlab.detect.report import write_detection_section
    from breastlab.detect.select import evaluation_images, read_detections, split_images, split_rows

    st = ArrayStore(store)
    cfg = preset(
        "cpu-small",
        spacing_mm=size.detect_spacing_mm,
        iterations=size.detect_iterations,
        batch_size=2,
        checkpoint_every=max(1, size.detect_iterations // 4),
        seed=seed,
        device=size.device,
    )
    run = out / "run"
    if not (run / RUN.model).exists():
        train_detector(st, run, cfg, rows=split_rows(st, "train"), resume=(run / RUN.config).exists())
    detections_csv = out / "test_detections.csv"
    if not detections_csv.exists():  # written after the model: a rerun goes straight to the evaluation
        model, cfg = load_detector(run)
        write_table(predict(model, cfg, st, rows=split_rows(st, "test")), detections_csv)
    detections = read_detections(detections_csv)
    images = split_images(st, "test")
    write_marks(annotate(detections, st, min_score=0.05), st, out / "marks", png=False)
    ev = evaluate_detections(evaluation_images(images), st.findings, detections)
    print(ev.format())
    settings = {"detections": detections_csv.name, "split": "test", "hit": "iou_or_centre", "iou": 0.5}
    section = write_detection_section(ev, out / "evaluation", st, settings=settings).parent
    mass = ev.froc.get("mass")
    return {
        "evaluation": ev,
        "detections": detections,
        "images": images,
        "findings": st.findings,
        "mass_froc": float("nan") if mass is None else mass.mean_sensitivity,
        "section": section,
    }


def run_reader_study(detection: dict[str, Any], out: Path, size: DemoSize, seed: int) -> dict[str, Any]:
    """Simulated readers of the detection test cases (breasts), unaided and aided by the detector's
    case scores -> the reader-study tables and the MRMC analysis -> report section."""
    from breastlab._io import write_table
    from breastlab._table import emit, format_p
    from breastlab.detect.marks import reader_study_rows
    from breastlab.evaluate.stats import reader_study, simulate_aided_reader_study

    ai_cases = reader_study_rows(detection["detections"], detection["images"], detection["findings"], level="breast")
    readings = simulate_aided_reader_study(ai_cases, readers_per_group=size.readers_per_group, seed=seed)
    write_table(readings, out / "readings.csv")
    res = reader_study(readings)
    n_pos = int(ai_cases["truth"].sum())
    description = (
        f"Simulated readers ({size.readers_per_group} junior, {size.readers_per_group} senior; BI-RADS 1-5) read "
        f"the {len(ai_cases)} breasts of the detection test split ({n_pos} with a finding), unaided and aided by "
        "the detector trained above: aided, each reader adds the detector's case score (its highest mark, as "
        "normal scores) to their own evidence, juniors with weight 0.8, seniors 0.5 "
        "(breastlab.evaluate.stats.simulate_aided_reader_study). The detector also reads alone (AI, standalone)."
    )
    section = res.write(
        out / "analysis", heading="AI-assisted reader study (simulated readers)", description=description
    )
    if res.mrmc is None:
        raise BreastlabInputError(f"reader study: no MRMC analysis ({'; '.join(res.notes)})")
    cols = ["readers", "n_readers", "auc_first_ci", "auc_second_ci", "diff_ci", "p_value"]
    printed = res.mrmc[cols].assign(p_value=res.mrmc["p_value"].map(format_p))
    emit(
        printed.rename(columns={"auc_first_ci": "unaided AUC", "auc_second_ci": "aided AUC"}),
        title="Reader study: OR-Hillis MRMC, random readers and cases (difference = unaided - aided)",
    )
    overall = res.mrmc[res.mrmc["readers"] == "all readers"].iloc[0]
    return {
        "readings": readings,
        "result": res,
        "auc_unaided": float(overall["auc_first"]),
        "auc_aided": float(overall["auc_second"]),
        "p_value": float(overall["p_value"]),
        "section": section,
    }


def _write_report(sections: list, path: Path, seed: int) -> Path:
    from breastlab.report import write_report

    return write_report(sections, path, title="breastlab demo: four studies and a reader study", n_boot=500, seed=seed)


# ------------------------------------------------------------------------------------- headline, times
def headline_table(result: dict[str, Any]) -> pd.DataFrame:
    """One row per headline figure: study, figure, value, the goal (``op`` and ``goal``; ``goal_is``
    names a goal that is another figure) and whether it is met."""
    acc = result["training"]["accuracy"]
    fcdd, bce = (result["anomaly"]["table"].set_index("model").loc[m] for m in ("fcdd", "bce"))
    rs = result["reader_study"]
    rows = [
        ("SpurBreast", "baseline: test accuracy", acc["baseline"]["test_acc"], ">=", FINDING["baseline_test_min"], "")
    ]
    for split in ("field_strength", "vflip"):
        rows += [
            (
                "SpurBreast",
                f"{split}: validation accuracy",
                acc[split]["val_acc"],
                ">=",
                FINDING["spurious_val_min"],
                "",
            ),
            ("SpurBreast", f"{split}: test accuracy", acc[split]["test_acc"], "<=", FINDING["spurious_test_max"], ""),
        ]
    rows += [
        ("anomaly", "FCDD breast-level AUC", fcdd["auc_balanced"], ">=", GOALS["fcdd_auc_min"], ""),
        ("anomaly", "FCDD median pixel AUC", fcdd["pixel_auc_median"], ">", bce["pixel_auc_median"], "BCE + Grad-CAM"),
        (
            "classification",
            "three-class mean pairwise AUC",
            result["classification"]["auc"],
            ">=",
            GOALS["three_class_auc_min"],
            "",
        ),
        ("detection", "mass FROC mean sensitivity", result["detection"]["mass_froc"], ">=", GOALS["mass_froc_min"], ""),
        ("reader study", "aided readers' mean AUC", rs["auc_aided"], ">", rs["auc_unaided"], "unaided"),
    ]
    table = pd.DataFrame(rows, columns=["study", "figure", "value", "op", "goal", "goal_is"])
    table[["value", "goal"]] = table[["value", "goal"]].astype(float)
    checks = {">=": lambda v, g: v >= g, "<=": lambda v, g: v <= g, ">": lambda v, g: v > g}
    table["passed"] = [
        bool(checks[op](v, g)) for v, op, g in zip(table["value"], table["op"], table["goal"], strict=True)
    ]
    return table


def print_summary(headline: pd.DataFrame, stages: pd.DataFrame) -> None:
    """The headline figures with goal and PASS/FAIL, the stage times, and the verdict."""
    from breastlab._table import emit

    goals = [
        f"{op} {g:.3f}" + (f" ({name})" if name else "")
        for op, g, name in zip(headline["op"], headline["goal"], headline["goal_is"], strict=True)
    ]
    shown = pd.DataFrame(
        {
            "study": headline["study"],
            "figure": headline["figure"],
            "value": headline["value"].map(lambda v: f"{v:.3f}"),
            "goal": goals,
            "result": headline["passed"].map({True: "PASS", False: "FAIL"}),
        }
    )
    emit(shown, title="Headline figures")
    emit(stages, title="Stage times (s; CPU: this process, not its worker processes)")
    failed = headline.loc[~headline["passed"], "figure"].tolist()
    print("All findings reproduced." if not failed else f"NOT reproduced: {'; '.join(failed)}")


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished child processes (user + system)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class StageClock:
    """Times named stages: ``with clock("name"): ...``; :meth:`table` lists wall-clock and CPU seconds."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        print(f"\n== {name}", flush=True)
        wall, cpu = time.perf_counter(), _cpu_seconds()
        yield
        self.rows.append(
            {"stage": name, "wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(_cpu_seconds() - cpu, 1)}
        )

    def table(self) -> pd.DataFrame:
        total = {
            "stage": "total",
            "wall_s": round(sum(r["wall_s"] for r in self.rows), 1),
            "cpu_s": round(sum(r["cpu_s"] for r in self.rows), 1),
        }
        return pd.DataFrame([*self.rows, total], columns=["stage", "wall_s", "cpu_s"])


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread: on a busy 2-core machine one thread is faster than two that wait for each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _check_folder(out_dir: Path, size: DemoSize, seed: int) -> None:
    """Refuse an output folder made with other sizes or another seed (its steps would not match)."""
    from breastlab._io import write_json
    from breastlab.schemas import read_json

    path = out_dir / "demo_settings.json"
    settings = {"size": dataclasses.asdict(size), "seed": seed}
    if path.exists() and read_json(path) != settings:
        raise BreastlabInputError(
            f"{out_dir}: holds a demo made with other settings ({path.name}: {read_json(path)}); "
            "give another --out for these"
        )
    write_json(settings, path)


# ------------------------------------------------------------------------------------ SpurBreast half
def demo_split_configs(n_patients: int, seed: int = 0) -> list:
    """Baseline, field-strength (1.5 T with tumour slices) and vertical-flip splits sized to the cohort."""
    from breastlab.curate import GroupSpec, SplitConfig

    n_test = max(4, int(0.27 * n_patients))
    n_val = max(2, int(0.13 * n_patients))
    n_train = max(4, int(0.4 * n_patients))
    return [
        SplitConfig("baseline", "baseline", n_train, n_val, n_test, seed=seed),
        SplitConfig(
            "field_strength",
            "spurious",
            n_train,
            n_val,
            n_test,
            groups=GroupSpec("field_strength_t", ("1.5",), ("3.0",)),
            rho=1.0,
            seed=seed,
        ),
        SplitConfig("vflip", "transform", n_train, n_val, n_test, transform="vflip", rho=1.0, seed=seed),
    ]


def train_demo(
    store: str | os.PathLike,
    out: str | os.PathLike,
    seed: int = 0,
    epochs: int = DEMO_EPOCHS,
    n_boot: int = 500,
    report: bool = True,
) -> dict[str, Any]:
    """Splits -> training -> evaluation (-> the shortcut report) under ``out``; prints Table 2 and the finding."""
    from breastlab.curate import build_splits
    from breastlab.data.store import ArrayStore
    from breastlab.train.loop import TrainConfig, train

    out = Path(out)
    st = ArrayStore(store)
    n_patients = int(st.manifest["patient_id"].nunique())
    configs = demo_split_configs(n_patients, seed)
    build_splits(st.manifest, configs, out=out / "splits")
    runs = {}
    with one_torch_thread():
        for cfg in configs:
            run = out / "runs" / cfg.name
            tc = TrainConfig(
                store=str(st.path),
                split=str(out / "splits" / cfg.name / "rep00"),
                out=str(run),
                model="small_cnn",
                optimizer="sgd",
                lr=DEMO_LR,
                wd=0.0,
                epochs=epochs,
                batch_size=32,
                seed=seed,
                image_size=DEMO_IMAGE_SIZE,
                device="cpu",
            )
            train(tc, resume=True)
            runs[cfg.name] = run
    result: dict[str, Any] = {"runs": runs}
    summaries = {}
    for name, run in runs.items():
        pred = pd.read_parquet(run / RUN.predictions)
        acc = (pred["pred"] == pred["label"]).groupby(pred["split"]).mean()
        summaries[name] = {
            "val_acc": float(acc.get("val", float("nan"))),
            "test_acc": float(acc.get("test", float("nan"))),
        }
    result["accuracy"] = summaries
    from breastlab.evaluate.metrics import evaluate_run, format_table2
    from breastlab.report import write_report

    evs = [evaluate_run(run, n_boot=n_boot, seed=seed) for run in runs.values()]
    print(format_table2(evs))
    result["evaluations"] = evs
    if report:  # the runs' evaluations just written are reused (same settings)
        result["report"] = write_report(list(runs.values()), out / "report.html", n_boot=n_boot, seed=seed)
        print(f"report: {result['report']}")
    ok = (
        all(
            summaries[s]["val_acc"] >= FINDING["spurious_val_min"]
            and summaries[s]["test_acc"] <= FINDING["spurious_test_max"]
            for s in ("field_strength", "vflip")
        )
        and summaries["baseline"]["test_acc"] >= FINDING["baseline_test_min"]
    )
    lines = [f"  {n:15s} val {s['val_acc']:.3f}  test {s['test_acc']:.3f}" for n, s in summaries.items()]
    print(
        "Shortcut finding (spurious: val >= 0.95, test <= 0.65; baseline: test >= 0.80): "
        + ("REPRODUCED" if ok else "NOT reproduced")
        + "\n"
        + "\n".join(lines)
    )
    result["finding_reproduced"] = ok
    return result
