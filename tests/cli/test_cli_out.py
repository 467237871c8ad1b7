"""One output grammar: every command that writes takes --out, and writes nothing outside it.

The commands that write come from the parser (every leaf command but the printers named in
``PRINTS_ONLY``), so a new command is checked as soon as it exists: it must take ``--out`` and
appear in ``RUNS`` (run here on tiny phantom inputs), in ``SLOW`` (run with ``pytest -m slow``)
or in ``NOT_RUN`` with the reason.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from breastlab.cli import build_parser, main
from breastlab.cli._args import leaf_commands

DATA = Path(__file__).resolve().parents[1] / "evaluate" / "data"


LEAVES = leaf_commands(build_parser())
# commands that only print, with the reason (none today: every command can write what it prints)
PRINTS_ONLY: dict[str, str] = {}
WRITERS = sorted(set(LEAVES) - set(PRINTS_ONLY))
NOT_RUN = {
    "demo": "runs the four studies and a reader study: minutes (tests/test_demo.py runs it)",
}


@dataclass
class Run:
    """``breastlab ARGV --out OUT/out_name`` on the inputs of :func:`inputs`."""

    command: str
    argv: Callable[[Path], list]
    out_name: str = "out"
    exit_code: int = 0

    def args(self, inputs: Path) -> list[str]:
        return [*self.command.split(), *map(str, self.argv(inputs))]


def _stats(name: str, *rest: str) -> Run:
    return Run(f"stats {name}", lambda i: [i / "scores.csv", *rest])


RUNS = [
    Run("duke clinical", lambda i: [i / "mri" / "Clinical_and_Other_Features.xlsx"], "clinical.csv"),
    Run(
        "duke labels",
        lambda i: ["--boxes", i / "mri" / "Annotation_Boxes.csv", "--counts", i / "counts.csv"],
        "labels.csv",
    ),  # fmt: skip
    Run("duke cohort", lambda i: [i / "mri"], "cohort.csv"),
    Run("export", lambda i: [i / "mri", "--size", 32, "--workers", 1]),
    Run("phantom mri", lambda i: ["--patients", 2, "--matrix", 32, "--slices", 8, "--post", 1]),
    Run("phantom mammo", lambda i: ["--patients", 2, "--matrix", 128]),
    Run("import mri", lambda i: ["--scan", i / "mri"], "cohort.csv"),
    Run("import mri", lambda i: [i / "duke.csv", "--root", i / "mri", "--size", 32, "--workers", 1]),
    Run("curate splits", lambda i: ["--store", i / "store", "--baseline", "--train", 6, "--val", 2, "--test", 2]),
    Run(
        "curate scan",
        lambda i: ["--store", i / "store", "--sizes", "4/2", "--test", 2, "--columns", "field_strength_t"],
    ),  # fmt: skip
    Run("curate check", lambda i: [i / "splits"]),
    Run("curate export-split", lambda i: [i / "splits" / "baseline" / "rep00", "--store", i / "store"]),
    Run("curate import-release", lambda i: [i / "release"]),
    Run(
        "train",
        lambda i: [
            "--store",
            i / "toy" / "store",
            "--split",
            i / "toy" / "split",
            "--model",
            "small_cnn",
            "--epochs",
            1,
            "--batch-size",
            16,
            "--image-size",
            24,
            "--no-progress",
        ],
    ),  # fmt: skip
    Run("sweep", lambda i: [i / "grid.yaml"]),
    Run("evaluate", lambda i: [i / "run", "--n-boot", 20]),
    Run("evaluate", lambda i: [i / "preds.csv", "--truth", "label", "--n-boot", 20]),
    Run("report", lambda i: [i / "run", "--no-gallery", "--n-boot", 20], "report.html"),
    Run("check-figures", lambda i: ["--accuracy", 0.8, "--ppv", 0.8, "--npv", 0.8, "--n-pos", 50, "--n-neg", 50]),
    _stats("auc", "--truth", "y", "--score", "a"),
    _stats("roc-test", "--truth", "y", "--score", "a", "--score", "b"),
    Run("stats power", lambda i: ["--auc", 0.8, "--power", 0.9, "--controls-per-case", 2]),
    _stats("delong", "--truth", "y", "--score", "a", "--score", "b"),
    _stats("bootstrap", "--truth", "y", "--score", "a", "--metric", "auc", "--n-boot", 20),
    _stats("youden", "--truth", "y", "--score", "a"),
    _stats("kappa", "--rater1", "r1", "--rater2", "r2"),
    _stats("wilcoxon", "--x", "a", "--y", "b"),
    Run("stats reader-study", lambda i: [i / "study.csv"]),
    Run("stats simulate-readers", lambda i: ["--cases", 20], "study.csv"),
    Run("stats mrmc", lambda i: [i / "study.csv"]),
    Run("stats froc", lambda i: [i / "froc.xlsx", "--n-boot", 20]),
    Run("stats mrmc-power", lambda i: [i / "study.csv", "--effect", 0.05, "--readers", 4, "--cases", 100]),
    Run("anomaly mip", lambda i: [i / "mri", "--size", 32]),
    Run("anomaly train", lambda i: ["--store", i / "mips", "--epochs", 1, "--folds", 2, "--batch-size", 8]),
    Run("anomaly evaluate", lambda i: [i / "arun", "--repeats", 5]),
    Run("mammo preprocess", lambda i: ["--cbis", i / "mammo", "--dicom", i / "mammo" / "CBIS-DDSM", "--spacing", 1]),
    Run(
        "mammo classify",
        lambda i: [
            i / "mstore",
            "--preset",
            "cpu",
            "--iterations",
            2,
            "--weights",
            "none",
            "--scenario",
            "malignant_vs_rest",
            "--n-boot",
            10,
            "--no-progress",
        ],
    ),  # fmt: skip
    Run("mammo table", lambda i: ["--cbis", i / "mammo", "--dicom", i / "mammo" / "CBIS-DDSM"], "images.csv"),
    Run("import mammo", lambda i: ["--scan", i / "mammo" / "CBIS-DDSM"], "images.csv"),
    Run(
        "import mammo",
        lambda i: [
            i / "mtable" / "images.csv",
            "--root",
            i / "mammo" / "CBIS-DDSM",
            "--findings",
            i / "mtable" / "findings.csv",
            "--spacing",
            1,
        ],
    ),  # fmt: skip
    Run("mammo detect fit-pairs", lambda i: [i / "dstore", i / "detections.csv"], "pairs.json"),
    Run("mammo detect evaluate", lambda i: [i / "dstore", i / "detections.csv"]),
    Run("demo", lambda i: [], exit_code=-1),  # listed in NOT_RUN
]
# Faster R-CNN on the CPU: ~15 s per command even at one iteration (tests/detect/test_cli_detect.py runs them)
SLOW = [
    Run("mammo detect train", lambda i: [i / "dstore", "--split", "all", "--iterations", 1, "--batch-size", 2]),
    Run("mammo detect predict", lambda i: [i / "drun", i / "dstore", "--min-score", 0, "--no-png"]),
]
RUNS = [r for r in RUNS if r.command not in NOT_RUN]


def _run(*argv) -> None:
    assert main([str(a) for a in argv]) == 0, argv


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Tiny phantom inputs of every command, and the outputs of one command that the next reads."""
    from breastlab.train._synthetic import make_toy_split

    i = tmp_path_factory.mktemp("inputs")
    _run("phantom", "mri", i / "mri", "--patients", 16, "--matrix", 32, "--slices", 16, "--post", 1)
    _run("export", i / "mri", "--out", i / "store", "--size", 32, "--workers", 1)
    _run("duke", "cohort", i / "mri", "--out", i / "duke.csv")
    boxes = pd.read_csv(i / "mri" / "Annotation_Boxes.csv")
    pd.DataFrame({"patient_id": boxes.iloc[:, 0], "series": "pre", "n_slices": 16, "phase": "pre"}).to_csv(
        i / "counts.csv", index=False
    )
    _run("curate", "splits", "--store", i / "store", "--baseline", "--train", 6, "--val", 2, "--test", 2,
         "--out", i / "splits")  # fmt: skip
    _run("curate", "export-split", i / "splits" / "baseline" / "rep00", "--store", i / "store",
         "--out", i / "release" / "baseline_low")  # fmt: skip
    make_toy_split(i / "toy", n_patients=12, per_patient=4, size=24)
    _run("train", "--store", i / "toy" / "store", "--split", i / "toy" / "split", "--out", i / "run",
         "--model", "small_cnn", "--epochs", 1, "--batch-size", 16, "--image-size", 24, "--no-progress")  # fmt: skip
    grid = {"store": str(i / "toy" / "store"), "split": str(i / "toy" / "split"), "model": "small_cnn",
            "optimizers": ["adam"], "lrs": [0.01], "wds": [0.0], "epochs": 1, "out": str(i / "sweep_of_the_yaml"),
            "train": {"batch_size": 16, "image_size": 24, "progress": False}}  # fmt: skip
    (i / "grid.yaml").write_text(yaml.safe_dump(grid))
    pd.read_parquet(i / "run" / "predictions.parquet").to_csv(i / "preds.csv", index=False)
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 25)
    pd.DataFrame(
        {
            "y": y,
            "a": y + rng.normal(size=50),
            "b": y + rng.normal(size=50),
            "r1": rng.integers(1, 4, 50),
            "r2": rng.integers(1, 4, 50),
        }  # fmt: skip
    ).to_csv(i / "scores.csv", index=False)
    _run("stats", "simulate-readers", "--out", i / "study.csv", "--cases", 40)
    shutil.copyfile(DATA / "rjafroc_frocCr.xlsx", i / "froc.xlsx")
    _run("anomaly", "mip", i / "mri", "--out", i / "mips", "--size", 32)
    _run("anomaly", "train", "--store", i / "mips", "--out", i / "arun", "--epochs", 1, "--folds", 2,
         "--batch-size", 8)  # fmt: skip
    _run("phantom", "mammo", i / "mammo", "--patients", 8, "--matrix", 128)
    cbis = ["--cbis", i / "mammo", "--dicom", i / "mammo" / "CBIS-DDSM"]
    _run("mammo", "preprocess", *cbis, "--out", i / "mstore", "--layout", "fixed", "--spacing", 1.6,
         "--size", 128, 96)  # fmt: skip
    _run("mammo", "preprocess", *cbis, "--out", i / "dstore", "--spacing", 1)
    _run("mammo", "table", *cbis, "--out", i / "mtable" / "images.csv")
    # a detector that finds every finding, and marks a false one beside each
    hits = pd.read_parquet(i / "dstore" / "findings.parquet")[["image_id", "finding_class", "x0", "y0", "x1", "y1"]]
    false = hits.assign(x0=hits["x0"] + 30, x1=hits["x1"] + 30, score=0.3)
    pd.concat([hits.assign(score=0.9), false]).to_csv(i / "detections.csv", index=False)
    return i


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every file and folder below ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
            for p in root.rglob("*")}  # fmt: skip


def test_every_command_that_writes_accepts_out():
    without = [name for name in WRITERS if not any("--out" in a.option_strings for a in LEAVES[name]._actions)]
    assert without == []


def test_every_command_that_writes_is_run_here_or_listed_with_a_reason():
    checked = {r.command for r in RUNS} | {r.command for r in SLOW} | set(NOT_RUN)
    assert checked == set(WRITERS)
    assert set(LEAVES) == set(WRITERS) | set(PRINTS_ONLY)


def _check_only_out_is_written(run: Run, inputs: Path, tmp_path: Path, monkeypatch) -> None:
    cwd, out = tmp_path / "cwd", tmp_path / "out"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("BREASTLAB_PROGRESS", "off")
    before = _snapshot(inputs)
    assert main([*run.args(inputs), "--out", str(out / run.out_name)]) == run.exit_code
    after = _snapshot(inputs)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert changed == [], f"breastlab {run.command} wrote beside its input: {changed}"
    assert list(cwd.iterdir()) == [], f"breastlab {run.command} wrote into the working folder"
    assert any(p.is_file() for p in out.rglob("*")), f"breastlab {run.command} wrote nothing under --out"


@pytest.mark.parametrize("run", RUNS, ids=[f"{r.command}-{k}" for k, r in enumerate(RUNS)])
def test_nothing_is_written_outside_out(run, inputs, tmp_path, monkeypatch, capsys):
    _check_only_out_is_written(run, inputs, tmp_path, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("run", SLOW, ids=[r.command for r in SLOW])
def test_nothing_is_written_outside_out_slow(run, inputs, tmp_path, monkeypatch, capsys):
    if not (inputs / "drun").exists():
        _run("mammo", "detect", "train", inputs / "dstore", "--out", inputs / "drun", "--split", "all",
             "--iterations", 1, "--batch-size", 2)  # fmt: skip
    _check_only_out_is_written(run, inputs, tmp_path, monkeypatch)


def test_stats_tables_are_the_same_in_csv_and_json(inputs, tmp_path, capsys):
    for name, rest in (("auc", ["--score", "a"]), ("delong", ["--score", "a", "--score", "b"])):
        assert main(["stats", name, str(inputs / "scores.csv"), "--truth", "y", *rest, "--out", str(tmp_path)]) == 0
        payload = json.loads((tmp_path / f"{name}.json").read_text())
        assert payload["input"] == "scores.csv"
        table = pd.read_csv(tmp_path / f"{name}.csv")
        for row, (_, line) in zip(payload["rows"], table.iterrows(), strict=True):
            for key, value in row.items():
                if isinstance(value, float):
                    assert line[key] == pytest.approx(value, rel=1e-12, nan_ok=True)


def test_stats_print_only_without_out(inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = _snapshot(inputs)
    assert main(["stats", "youden", str(inputs / "scores.csv"), "--truth", "y", "--score", "a"]) == 0
    assert _snapshot(inputs) == before and list(tmp_path.iterdir()) == []


def test_reader_study_default_folder_is_not_beside_the_input(tmp_path, monkeypatch, capsys):
    src, work = tmp_path / "in", tmp_path / "work"
    src.mkdir(), work.mkdir()
    monkeypatch.chdir(work)
    assert main(["stats", "simulate-readers", "--out", str(src / "study.csv"), "--cases", "40"]) == 0
    assert main(["stats", "reader-study", str(src / "study.csv")]) == 0
    assert sorted(p.name for p in src.iterdir()) == ["study.csv"]
    assert (work / "study_reader_study").is_dir()


def test_positional_and_out_forms_of_the_output(tmp_path, capsys):
    assert main(["stats", "simulate-readers", str(tmp_path / "a.csv"), "--cases", "20"]) == 0
    assert main(["stats", "simulate-readers", "--out", str(tmp_path / "b.csv"), "--cases", "20"]) == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    capsys.readouterr()
    assert main(["stats", "simulate-readers", "--cases", "20"]) == 2
    assert "no output given: add --out OUT" in capsys.readouterr().err
    assert main(["stats", "simulate-readers", str(tmp_path / "c.csv"), "--out", str(tmp_path / "d.csv")]) == 2
    assert not (tmp_path / "c.csv").exists() and not (tmp_path / "d.csv").exists()


def test_sweep_and_evaluate_write_under_out(inputs, tmp_path, capsys):
    """`sweep --out` overrides the YAML's out; `evaluate RUN --out` writes there, not into RUN/evaluation/."""
    assert main(["sweep", str(inputs / "grid.yaml"), "--out", str(tmp_path / "sw")]) == 0
    assert (tmp_path / "sw" / "summary.csv").is_file() and not (inputs / "sweep_of_the_yaml").exists()
    trials = sorted(p.parent for p in (tmp_path / "sw").rglob("predictions.parquet"))
    assert len(trials) == 1
    assert main(["evaluate", str(tmp_path / "sw"), "--n-boot", "20", "--out", str(tmp_path / "ev")]) == 0
    below = trials[0].relative_to(tmp_path / "sw")
    assert (tmp_path / "ev" / below / "metrics.json").is_file()
    assert not (trials[0] / "evaluation").exists()
    assert f"written: {tmp_path / 'ev' / below}/metrics.json" in capsys.readouterr().out


def test_default_outputs_go_to_the_working_folder_not_beside_the_input(inputs, tmp_path, monkeypatch, capsys):
    """Without --out, `report` and `anomaly evaluate` write in the working folder, named after their first input."""
    monkeypatch.chdir(tmp_path)
    before = _snapshot(inputs)
    assert main(["report", str(inputs / "run"), "--no-gallery", "--n-boot", "20"]) == 0
    assert main(["anomaly", "evaluate", str(inputs / "arun"), "--repeats", "5"]) == 0
    assert _snapshot(inputs) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arun_anomaly_evaluation", "run_report.html"]
    assert (tmp_path / "arun_anomaly_evaluation" / "anomaly_section.json").is_file()
