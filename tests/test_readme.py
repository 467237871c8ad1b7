"""The README's runnable command blocks run as written, on the phantom (the presets it states: test_cli_help.py).

A block is runnable when the line before its opening fence is ``<!-- runnable -->``. Its ``breastlab``
lines (a trailing ``\\`` continues a line; ``# comments`` and optional ``[...]`` parts are dropped) run
one after another in a fresh working folder. What a block names as its input (``COHORT_DIR``,
``preds.csv``, ...) is made here by the block's :class:`Setup` from a small phantom; options appended
to a command make it small (argparse keeps the last value of an option given twice). Every runnable
block needs a setup and every setup a runnable block, so neither can go stale.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from breastlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKER = "<!-- runnable -->"


@dataclass(frozen=True)
class Block:
    section: str
    commands: tuple[str, ...]


def _commands(body: list[str]) -> tuple[str, ...]:
    joined = re.sub(r"\\\n\s*", " ", "\n".join(body))
    lines = (re.sub(r"\s#.*$", "", line) for line in joined.splitlines())
    return tuple(_plain(line) for line in lines if line.startswith("breastlab "))


def _plain(line: str) -> str:
    """A command without its optional ``[...]`` parts, one space between words."""
    return re.sub(r"\s+", " ", re.sub(r"\[[^\]]*\]", "", line)).strip()


def runnable_blocks(text: str) -> list[Block]:
    """The README's runnable blocks, in order, named by their section (``#2``, ``#3``: more in one section)."""
    lines, section, blocks = text.splitlines(), "", []
    for i, line in enumerate(lines):
        if line.startswith("## "):
            section = line[3:].strip()
        if line.strip() != MARKER:
            continue
        assert lines[i + 1].startswith("```bash"), (
            f"README line {i + 1}: {MARKER} must stand right above a ```bash block"
        )
        end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
        earlier = sum(b.section.split(" #")[0] == section for b in blocks)
        name = f"{section} #{earlier + 1}" if earlier else section
        blocks.append(Block(name, _commands(lines[i + 2 : end])))
    return blocks


BLOCKS = {b.section: b for b in runnable_blocks(README.read_text())}


def _nothing(*args) -> list:
    return []


@dataclass
class Setup:
    """How one block runs small: its inputs, extra options per command, a step between commands, a check."""

    prepare: Callable[[Path, Path], dict[str, Path]]  # (working folder, phantom cohort) -> names in the block
    extra: Callable[[list[str]], list[str]] = _nothing  # options appended to a command (its argv)
    after: Callable[[list[str], dict[str, Path]], object] = _nothing  # run after each command
    check: Callable[[Path, dict[str, Path]], object] = _nothing  # run after the block


# ------------------------------------------------------------------------------------------ setups
def _duke_tables(work: Path, phantom: Path) -> dict[str, Path]:
    from breastlab.data.duke.dicom import index_dicom_tree

    index = index_dicom_tree(phantom)
    counts = index.groupby(["patient_id", "sequence"])["n_files"].first().reset_index()
    counts.columns = ["patient_id", "phase", "n_slices"]
    counts.assign(series=counts["phase"]).to_csv(work / "slice_counts.csv", index=False)
    return {
        "Clinical_and_Other_Features.xlsx": phantom / "Clinical_and_Other_Features.xlsx",
        "Annotation_Boxes.csv": phantom / "Annotation_Boxes.csv",
    }


def _check_duke_tables(work: Path, names: dict[str, Path]) -> None:
    from breastlab.data.duke.boxes import read_boxes

    assert len(pd.read_csv(work / "clinical.csv")) == N_PATIENTS
    labels, boxes = pd.read_csv(work / "labels.csv"), read_boxes(names["Annotation_Boxes.csv"])
    tumour = labels[labels["label"] == 1].groupby("patient_id").size()
    extent = boxes.set_index("patient_id").eval("end_slice - start_slice + 1")
    pd.testing.assert_series_equal(tumour.sort_index(), extent.sort_index(), check_names=False)
    # --negatives match: as many non-tumour slices as tumour ones where the slices outside the
    # tumour and its 5-slice buffer suffice
    box = boxes.set_index("patient_id")
    outside = N_SLICES - ((box["end_slice"] + 5).clip(upper=N_SLICES) - (box["start_slice"] - 5).clip(lower=1) + 1)
    negatives = labels[labels["label"] == 0].groupby("patient_id").size().reindex(tumour.index, fill_value=0)
    assert (negatives == np.minimum(tumour, outside.reindex(tumour.index))).all()


def _check_export(work: Path, names: dict[str, Path]) -> None:
    from breastlab.data.store import ArrayStore

    store = ArrayStore(work / "STORE")
    assert store.manifest["patient_id"].nunique() == N_PATIENTS and set(store.manifest["label"]) == {0, 1}


def _check_phantom(work: Path, names: dict[str, Path]) -> None:
    assert {"Clinical_and_Other_Features.xlsx", "Annotation_Boxes.csv", "Duke-Breast-Cancer-MRI"} <= {
        p.name for p in (work / "OUT").iterdir()
    }


def _own_data(work: Path, phantom: Path) -> dict[str, Path]:
    """Every DICOM file of the phantom in one flat folder, without extensions (a PACS export)."""
    from breastlab.data.duke.dicom import COLLECTION

    flat = work / "pacs"
    flat.mkdir()
    for k, patient in enumerate(sorted((phantom / COLLECTION).iterdir())):
        for j, f in enumerate(sorted(patient.rglob("*.dcm"))):
            shutil.copyfile(f, flat / f"{k}_{j}")
    names = {"DICOM_DIR": flat, "cohort.csv": work / "cohort.csv", "STORE": work / "STORE", "SPLITS": work / "SPLITS"}
    return {**names, "truth": phantom / "Annotation_Boxes.csv"}


def _own_data_extra(argv: list[str]) -> list[str]:
    if "--root" in argv:
        return ["--size", "32", "--workers", "1", "--buffer", "1"]
    if argv[0] == "curate":
        return ["--train", "4", "--val", "2", "--test", "0"]
    return []


def _fill_in_labels(argv: list[str], names: dict[str, Path]) -> None:
    """The review step of the block: the user fills in the tumour boxes."""
    from breastlab.data.cohort_scan import BOX_COLUMNS
    from breastlab.data.duke.boxes import read_boxes

    if "--scan" in argv:
        table = pd.read_csv(names["cohort.csv"])
        boxes = read_boxes(names["truth"]).set_index("patient_id")
        for column in BOX_COLUMNS:
            table[column] = table["patient_id"].map(boxes[column])
        table.to_csv(names["cohort.csv"], index=False)


def _check_own_data(work: Path, names: dict[str, Path]) -> None:
    from breastlab.data.duke.boxes import read_boxes
    from breastlab.data.store import ArrayStore

    store = ArrayStore(names["STORE"])
    truth = read_boxes(names["truth"]).set_index("patient_id")
    one_based = store.manifest["slice_index"] + 1
    in_box = (one_based >= store.manifest["patient_id"].map(truth["start_slice"])) & (
        one_based <= store.manifest["patient_id"].map(truth["end_slice"])
    )
    assert (store.manifest["label"] == in_box.astype(int)).all()
    assert store.manifest["patient_id"].nunique() == N_PATIENTS
    split = pd.read_parquet(names["SPLITS"] / "field_strength_t" / "rep00" / "manifest.parquet")
    # rho = 1: every tumour slice from 1.5 T patients, every non-tumour slice from 3 T ones
    assert set(zip(split["label"], split["attribute"].astype(float), strict=True)) == {(1, 1.5), (0, 3.0)}


def _scores(work: Path, phantom: Path) -> dict[str, Path]:
    """Scores of 60 patients x 2 images: a model, an AI and a reader, with the README's column names."""
    rng = np.random.default_rng(0)
    patient = np.repeat(np.arange(60), 2)
    label = (patient % 2).astype(int)
    frame = pd.DataFrame(
        {
            "patient_id": patient,
            "label": label,
            "score": 1 / (1 + np.exp(-(label * 1.5 + rng.normal(size=120)))),
            "ai": label + rng.normal(size=120),
            "reader": label + 1.5 * rng.normal(size=120),
        }  # fmt: skip
    )
    frame.to_csv(work / "preds.csv", index=False)
    frame.to_csv(work / "pilot.csv", index=False)
    frame.rename(columns={"label": "y_true", "score": "prob", "patient_id": "case"}).to_csv(
        work / "evaluate_preds.csv", index=False
    )
    return {"preds.csv": work / "preds.csv"}


def _evaluate_names(work: Path, phantom: Path) -> dict[str, Path]:
    _scores(work, phantom)
    return {"preds.csv": work / "evaluate_preds.csv"}


def _check_statistics(work: Path, names: dict[str, Path]) -> None:
    preds, auc = pd.read_csv(work / "preds.csv"), pd.read_csv(work / "auc_out" / "auc.csv")
    assert auc["auc"].iloc[0] == pytest.approx(roc_auc_score(preds["label"], preds["score"]), abs=1e-12)
    assert (work / "study_reader_study").is_dir()


def _anomaly_extra(argv: list[str]) -> list[str]:
    return (
        {
            "mip": ["--size", "32", "--workers", "1"],
            "train": ["--epochs", "1", "--folds", "2", "--seeds", "0", "--batch-size", "8"],
            "evaluate": ["--repeats", "5"],
        }.get(argv[1], [])
        if argv[0] == "anomaly"
        else []
    )


def _check_anomaly(work: Path, names: dict[str, Path]) -> None:
    assert (work / "mips" / "sheet.png").is_file()
    assert "Anomaly" in (work / "anomaly_evaluation_report.html").read_text()


def _mammo(work: Path, phantom: Path) -> dict[str, Path]:
    from breastlab.presets import CPU_PRESET

    _run("phantom", "mammo", work / "mammo", "--patients", 40, "--matrix", 128, "--proportions", 0.2, 0.4, 0.4)
    store = CPU_PRESET["store"]
    _run("mammo", "preprocess", "--cbis", work / "mammo", "--dicom", work / "mammo" / "CBIS-DDSM", "--out",
         work / "STORE", "--layout", "fixed", "--spacing", store["spacing"], "--size", *store["size"])  # fmt: skip
    return {"phantom_truth.csv": work / "mammo" / "phantom_truth.csv"}


def _mammo_extra(argv: list[str]) -> list[str]:
    return ["--preset", "cpu", "--iterations", "4", "--scenario", "malignant_vs_rest",
            "--train-patients", "6", "--test-fraction", "0.3", "--n-boot", "20", "--no-progress"]  # fmt: skip


def _check_mammo(work: Path, names: dict[str, Path]) -> None:
    results = pd.read_csv(work / "OUT" / "results.csv")
    assert set(results["strategy"]) == {"imagenet", "incremental"}


def _own_mammograms(work: Path, phantom: Path) -> dict[str, Path]:
    """A phantom mammography export (CBIS-DDSM's DICOM tree)."""
    _run("phantom", "mammo", work / "mammo", "--patients", 40, "--matrix", 128, "--proportions", 0.2, 0.4, 0.4)
    return {"DICOM_DIR": work / "mammo" / "CBIS-DDSM"}


def _fill_in_mammogram_labels(argv: list[str], names: dict[str, Path]) -> None:
    """The review step: the label of each mammogram (the phantom's truth); CBIS-DDSM's ROI crops and masks,
    which the scan lists too, are left out."""
    if "--scan" not in argv:
        return
    table = pd.read_csv(names["images.csv"])
    truth = pd.read_csv(names["DICOM_DIR"].parent / "phantom_truth.csv")
    label = dict(zip(truth["path"].str.removeprefix("CBIS-DDSM/"), truth["label"], strict=True))
    table["label"] = table["path"].map(label)
    table.dropna(subset=["label"]).to_csv(names["images.csv"], index=False)


def _check_own_mammograms(work: Path, names: dict[str, Path]) -> None:
    truth = pd.read_csv(names["DICOM_DIR"].parent / "phantom_truth.csv")
    store = pd.read_parquet(work / "STORE" / "manifest.parquet")
    assert len(store) == len(truth)
    assert (work / "RUNS" / "results.csv").is_file()


def _run(*argv) -> None:
    assert main([str(a) for a in argv]) == 0, argv


SETUPS = {
    "Duke tables": Setup(_duke_tables, check=_check_duke_tables),
    "DICOM reader and slice export": Setup(
        lambda work, phantom: {"COHORT_DIR": phantom},
        extra=lambda argv: ["--size", "32", "--workers", "1"],
        check=_check_export,
    ),
    "Phantom cohort": Setup(
        lambda work, phantom: {},
        extra=lambda argv: ["--patients", "2", "--matrix", "32", "--slices", "8"],
        check=_check_phantom,
    ),  # fmt: skip
    "Your own data": Setup(_own_data, extra=_own_data_extra, after=_fill_in_labels, check=_check_own_data),
    "Evaluation and the shortcut report": Setup(_evaluate_names, extra=lambda argv: ["--n-boot", "200"]),
    "Statistics": Setup(
        _scores,
        extra=lambda argv: {"roc-test": ["--n-boot", "100"], "bootstrap": ["--n-boot", "100"]}.get(argv[1], []),
        check=_check_statistics,
    ),
    "Anomaly detection on breast MRI MIPs": Setup(
        lambda work, phantom: {"COHORT": phantom}, extra=_anomaly_extra, check=_check_anomaly
    ),
    "Mammogram classification": Setup(_mammo, extra=_mammo_extra, check=_check_mammo),
    "Your own data #2": Setup(
        lambda work, phantom: {**_own_mammograms(work, phantom), "images.csv": work / "images.csv"},
        extra=lambda argv: _mammo_extra(argv) if argv[:2] == ["mammo", "classify"] else [],
        after=_fill_in_mammogram_labels,
        check=_check_own_mammograms,
    ),
}
N_PATIENTS, N_SLICES = 10, 24


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    """A 10-patient MRI phantom (32-pixel matrix, 24 slices, one post-contrast phase)."""
    from breastlab.data.phantom import make_mri_cohort

    cohort = tmp_path_factory.mktemp("readme") / "phantom"
    make_mri_cohort(cohort, N_PATIENTS, seed=1, n_slices=N_SLICES, matrix=32, n_post=1, progress=False)
    return cohort


def test_the_readme_marks_blocks_and_each_has_a_setup():
    assert MARKER in README.read_text() and "`<!-- runnable -->`" in README.read_text()  # documented too
    assert set(BLOCKS) == set(SETUPS)
    for block in BLOCKS.values():
        assert block.commands, f"{block.section}: a runnable block without breastlab commands"


def test_block_parsing_joins_lines_and_drops_comments_and_optional_parts():
    text = (
        "## A\n```bash\nbreastlab x  # not marked\n```\n"
        f"{MARKER}\n```bash\nbreastlab y IN \\\n    --k 1 [--opt V] # a comment\n# review\necho no\n"
        "breastlab z [--a | --b]\n```\n## B\n"
        f"{MARKER}\n```bash\nbreastlab w\n```\n{MARKER}\n```bash\nbreastlab v\n```\n"
    )
    assert runnable_blocks(text) == [
        Block("A", ("breastlab y IN --k 1", "breastlab z")),
        Block("B", ("breastlab w",)),
        Block("B #2", ("breastlab v",)),
    ]


@pytest.mark.parametrize("section", sorted(SETUPS))
def test_readme_block_runs(section, phantom, tmp_path, monkeypatch, capsys):
    setup, block = SETUPS[section], BLOCKS[section]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BREASTLAB_PROGRESS", "off")
    names = setup.prepare(tmp_path, phantom)
    for command in block.commands:
        argv = [str(names.get(a, a)) for a in shlex.split(command)[1:]]
        argv += setup.extra(argv)
        assert main(argv) == 0, f"README, {section}: {command}"
        setup.after(argv, names)
    setup.check(tmp_path, names)
