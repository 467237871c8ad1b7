"""Bad input to any command: exit code 2, one message naming what was wrong, no traceback, nothing half-written.

The cases are built from the parser: every leaf command's file or folder arguments (positionals and options
whose name, metavar or help says file, CSV, table, folder, DIR, store, run, workbook, JSON, YAML ...) get a
family of bad inputs that a command must refuse before any long computation: a path that does not exist, an
empty file, a CSV with the wrong columns, a CSV that is not UTF-8, a folder where a file is expected and the
reverse, a JSON or YAML that does not parse. Counts and levels get out-of-range values (negative workers or
iterations, a confidence level outside (0, 1), zero bootstrap resamples). A new command or argument is
covered without editing this file; ``KIND`` corrects what the name-based guess gets wrong, ``NOT_A_PATH``
lists path-sounding arguments that are not paths, ``REQUIRES``/``VALID`` give the other inputs a case needs
(valid ones, so that the message must name the input under test), and ``NOT_COVERED`` lists what cannot be
reached cheaply.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breastlab.cli import EXIT_BAD_INPUT, build_parser, main
from breastlab.cli._args import leaf_commands

# --- which arguments are inputs, and of what kind -----------------------------------------------------------

# file kinds: each has its own family of bad inputs (see BAD_INPUTS)
DIR, TABLE, XLSX, JSON, YAML, FILE, DIR_OR_FILE = "dir", "table", "xlsx", "json", "yaml", "file", "dir_or_file"
CONFIG = "config"  # --config FILE.yaml of options (an empty one is valid: no options)

# where the guess from names and help is wrong or too coarse: (command, dest) -> kind
KIND = {
    ("evaluate", "run"): DIR_OR_FILE,  # a run folder, a sweep folder or a predictions file
    ("report", "run"): DIR,
    ("mammo detect predict", "run"): DIR_OR_FILE,  # a run folder or a checkpoint
    ("mammo detect predict", "pair_model"): JSON,
    ("mammo detect fit-pairs", "detections"): TABLE,
    ("mammo detect evaluate", "detections"): TABLE,
    ("stats froc", "study"): DIR_OR_FILE,  # a JAFROC workbook, a folder of CSVs or a marks table
    ("stats mrmc-power", "pilot"): TABLE,
    ("stats power", "pilot"): TABLE,
    ("stats froc", "lesions"): TABLE,
    ("sweep", "grid"): YAML,
    ("duke clinical", "xlsx"): XLSX,
    ("curate import-release", "clinical"): XLSX,
    ("duke labels", "boxes"): TABLE,
    ("duke labels", "counts"): TABLE,
    ("mammo classify", "sites"): TABLE,
    ("mammo preprocess", "cbis"): DIR,
    ("mammo preprocess", "dicom"): DIR,
    ("anomaly evaluate", "scores"): TABLE,
    ("import mri", "table"): TABLE,
    ("import mammo", "table"): TABLE,
    ("import mammo", "coco"): JSON,
    ("mammo table", "dicom"): DIR,
    ("mammo classify", "store"): DIR,
    ("curate check", "dir"): DIR,
    # --weights: a keyword (none, imagenet, coco) or a state dict file; the file cases
    **{(command, "weights"): FILE for command in ("train", "anomaly train", "mammo classify", "mammo detect train")},
}
# arguments whose name or help sounds like a path but that are not one
NOT_A_PATH = {
    "sequence",  # a DCE phase ("--store: sequence to use ...")
    "split",  # a split name or column, except where KIND says it is a folder (train, export-split)
    "address",  # a Ray cluster address
    "weights",  # a keyword (none, imagenet, coco) or a path: KIND names the commands whose file cases run
}
SPLIT_FOLDERS = {("train", "split"), ("curate export-split", "split")}
# arguments that are outputs (written, not read)
OUTPUT_DESTS = {"out", "out_option", "json", "out_csv", "html", "png", "sheet"}

# inputs given together: each is given (valid where VALID has it, else absent) when the other is under test
TOGETHER = {
    "mammo detect evaluate": [("store", "detections"), ("coco_gt", "coco_results")],
}

# inputs that must come with the one under test: (command, dest) -> the other inputs
REQUIRES = {
    ("anomaly evaluate", "heatmaps"): ["scores", "masks"],
    ("anomaly evaluate", "masks"): ["scores", "heatmaps"],
    ("anomaly evaluate", "store"): ["scores", "heatmaps"],
    ("mammo preprocess", "dicom"): ["cbis"],
    ("mammo detect predict", "pair_model"): ["run", "store"],
    ("import mri", "table"): ["root"],
    ("import mri", "root"): ["table"],
    ("import mammo", "table"): ["root"],
    ("import mammo", "root"): ["table"],
    ("import mammo", "findings"): ["table", "root"],
    ("import mammo", "coco"): ["table", "root"],
    ("mammo table", "cbis"): ["dicom"],
    ("mammo table", "dicom"): ["cbis"],
}
# options (not inputs) that must come with the input under test ("*": with every one of the command)
EXTRA_ARGS = {
    ("mammo classify", "*"): ["--weights", "none"],  # ImageNet weights are not needed to read the inputs
    ("mammo classify", "pretrain_store"): ["--strategy", "incremental"],
    ("anomaly train", "weights"): ["--backbone", "vgg11"],  # the backbone that takes weights
    ("stats power", "pilot"): ["--truth", "label", "--score", "score"],
    ("anomaly evaluate", "heatmaps"): ["--id", "image_id"],
    ("anomaly evaluate", "store"): ["--id", "image_id"],
    ("anomaly evaluate", "masks"): ["--id", "image_id"],
}
# where --out must name a file for the input under test
OUT_NAME = {("import mri", "scan"): "cohort.csv", ("import mammo", "scan"): "images.csv"}
# the --out of commands that write one file, by what its help says it is
OUT_FILE = [("html", "report.html"), ("model file", "pairs.json"), ("csv", "out.csv")]

# what the cases cannot reach cheaply: (command, dest) -> why (a long computation or a trained model first)
NOT_COVERED = {}

_PATH_WORDS = re.compile(
    r"\b(csv|tsv|table|file|folder|directory|dir|root|store|runs?|workbook|xlsx|json|yaml|checkpoint|pilot|"
    r"study|lesions|detections|scores|heatmaps|masks|boxes|counts|clinical|source|cohort|config|sites)\b",
    re.I,
)
_OUTPUT_HELP = re.compile(
    r"^(also )?(write|build)|^output|^run (folder|directory) to write|^model file to write|^new or empty"
)


LEAVES = leaf_commands(build_parser())


def _is_output(action: argparse.Action) -> bool:
    return action.dest in OUTPUT_DESTS or bool(_OUTPUT_HELP.search((action.help or "").strip().lower()))


def _guess_kind(command: str, action: argparse.Action) -> str | None:
    """The kind of file or folder an argument reads, or None when it is not an input path."""
    if action.dest == "config_file":
        return CONFIG
    if (command, action.dest) in KIND:
        return KIND[(command, action.dest)]
    if (command, action.dest) in SPLIT_FOLDERS:
        return DIR
    if action.nargs == 0 or action.choices or action.type is not None or action.dest in NOT_A_PATH:
        return None
    if isinstance(action, argparse._HelpAction | argparse._VersionAction) or _is_output(action):
        return None
    names = " ".join([action.dest, str(action.metavar or ""), *action.option_strings])
    if not _PATH_WORDS.search(names.replace("_", " ").replace("-", " ")):
        return None
    text = f"{names} {action.help or ''}".lower()
    if "yaml" in text:
        return YAML
    if ".json" in names.lower():
        return JSON
    if re.search(r"folder|directory|\bdir\b|store|root|cohort", text):
        return DIR
    if ".json" in text:
        return JSON
    if ".xlsx" in text or "workbook" in text:
        return XLSX
    if re.search(r"\bcsv\b|table|tsv|parquet", text):
        return TABLE
    return FILE


def _inputs(command: str) -> dict[str, tuple[argparse.Action, str]]:
    parser = LEAVES[command]
    found = {}
    for action in parser._actions:
        kind = _guess_kind(command, action)
        if kind is not None:
            found[action.dest] = (action, kind)
    return found


# --- bad inputs -----------------------------------------------------------------------------------------------


def _missing(tmp: Path, suffix: str) -> Path:
    return tmp / f"does_not_exist{suffix}"


def _empty_file(tmp: Path, suffix: str) -> Path:
    path = tmp / f"empty{suffix}"
    path.write_bytes(b"")
    return path


def _wrong_columns(tmp: Path, suffix: str) -> Path:
    path = tmp / "wrong_columns.csv"
    path.write_text("colour,weight\nred,1\nblue,2\ngreen,3\n")
    return path


def _not_utf8(tmp: Path, suffix: str) -> Path:
    path = tmp / "latin1.csv"
    path.write_bytes("patient_id,label,score,caf\xe9\nP\xe9,1,0.5,1\nQ\xf1,0,0.2,0\n".encode("latin-1"))
    return path


def _folder_not_file(tmp: Path, suffix: str) -> Path:
    path = tmp / f"a_folder{suffix}"
    path.mkdir()
    return path


def _file_not_folder(tmp: Path, suffix: str) -> Path:
    path = tmp / "a_file.txt"
    path.write_text("not a folder\n")
    return path


def _empty_folder(tmp: Path, suffix: str) -> Path:
    path = tmp / "empty_folder"
    path.mkdir()
    return path


def _bad_json(tmp: Path, suffix: str) -> Path:
    path = tmp / "broken.json"
    path.write_text('{"images": [1, 2,\n')
    return path


def _bad_yaml(tmp: Path, suffix: str) -> Path:
    path = tmp / "broken.yaml"
    path.write_text("out: [unclosed\n  key: : value\n")
    return path


def _unknown_option(tmp: Path, suffix: str) -> Path:
    path = tmp / "unknown_option.yaml"
    path.write_text("no_such_option: 3\n")
    return path


def _not_utf8_yaml(tmp: Path, suffix: str) -> Path:
    path = tmp / "latin1.yaml"
    path.write_bytes("seed: 1\n# caf\xe9\n".encode("latin-1"))
    return path


def _not_xlsx(tmp: Path, suffix: str) -> Path:
    path = tmp / "text.xlsx"
    path.write_text("this is a text file, not a workbook\n")
    return path


BAD_INPUTS = {
    DIR: {"missing": _missing, "file_not_folder": _file_not_folder, "empty_folder": _empty_folder},
    TABLE: {
        "missing": _missing,
        "empty_file": _empty_file,
        "wrong_columns": _wrong_columns,
        "not_utf8": _not_utf8,
        "folder_not_file": _folder_not_file,
    },
    XLSX: {"missing": _missing, "empty_file": _empty_file, "not_xlsx": _not_xlsx, "folder_not_file": _folder_not_file},
    JSON: {"missing": _missing, "empty_file": _empty_file, "bad_json": _bad_json, "folder_not_file": _folder_not_file},
    YAML: {"missing": _missing, "empty_file": _empty_file, "bad_yaml": _bad_yaml, "folder_not_file": _folder_not_file},
    FILE: {"missing": _missing, "empty_file": _empty_file, "folder_not_file": _folder_not_file},
    CONFIG: {
        "missing": _missing,
        "bad_yaml": _bad_yaml,
        "not_utf8": _not_utf8_yaml,
        "unknown_option": _unknown_option,
        "folder_not_file": _folder_not_file,
    },
    DIR_OR_FILE: {"missing": _missing, "empty_folder": _empty_folder, "empty_file": _empty_file},
}
SUFFIX = {
    CONFIG: ".yaml",
    DIR: "",
    TABLE: ".csv",
    XLSX: ".xlsx",
    JSON: ".json",
    YAML: ".yaml",
    FILE: ".bin",
    DIR_OR_FILE: ".csv",
}

# numbers that are out of range wherever an option of this name exists: dest -> bad values
BAD_NUMBERS = {
    "workers": ["-1"],
    "iterations": ["-1"],
    "epochs": ["-1"],
    "n_boot": ["0", "-5"],
    "pretrain_iterations": ["0"],
    "boot_n": ["0"],
    "bootstrap": ["-1"],
    "repeats": ["0"],
    "patients": ["-1"],
    "folds": ["-1"],
    "batch_size": ["0"],
    "conf_level": ["1.5", "0"],
    "level": ["1.5", "-0.5"],
    "alpha": ["1.5", "0"],
    "sig_level": ["-0.1"],
    "power": ["1.2"],
    "prevalence": ["1.5"],
    "tolerance": ["-1"],
    "cases": ["-1"],
    "controls": ["0"],
    "readers_per_group": ["0"],
}


# where a value is valid for one command: (command, dest) -> bad values (0 resamples = no CIs there)
BAD_NUMBERS_OF = {("evaluate", "n_boot"): ["-1"], ("report", "n_boot"): ["-1"]}


# --- building a command line ------------------------------------------------------------------------------------


def _filler(action: argparse.Action) -> list[str]:
    """A placeholder value for a required argument that is not the one under test."""
    if action.choices:
        value = str(next(iter(action.choices)))
    elif action.type is int:
        value = "1"
    elif action.type is float:
        value = "0.5"
    else:
        value = "x"
    if action.nargs == "*":
        return []
    count = action.nargs if isinstance(action.nargs, int) else 1
    return [value] * count


@dataclass
class Case:
    command: str
    target: str  # the dest under test
    bad: str  # the name of the bad input
    argv: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # what the message may name
    own: list[str] = field(default_factory=list)  # of those, the names of the input under test
    out: Path | None = None

    @property
    def id(self) -> str:
        return f"{self.command}:{self.target}:{self.bad}"


def _valid_scores(tmp: Path) -> Path:
    path = tmp / "valid_scores.csv"
    rows = [f"p{i},b{i},{i % 2},{0.1 + 0.8 * (i % 2)}" for i in range(8)]
    path.write_text("patient_id,image_id,label,score\n" + "\n".join(rows) + "\n")
    return path


def _valid_maps(tmp: Path, name: str) -> Path:
    folder = tmp / name
    folder.mkdir()
    for i in range(8):
        np.save(folder / f"b{i}.npy", np.eye(8) * (i % 2))
    return folder


def _valid_mammo_store(tmp: Path) -> Path:
    """Four 32x24 images of two patients with one mass: enough for a command to get past reading it."""
    from breastlab.data.store import write_store

    images = [np.full((32, 24), 100 + 10 * i, dtype=np.uint16) for i in range(4)]
    manifest = pd.DataFrame(
        {
            "image_id": [f"img{i}" for i in range(4)],
            "patient_id": ["p0", "p0", "p1", "p1"],
            "laterality": "L",
            "view": ["CC", "MLO", "CC", "MLO"],
            "spacing_mm": 1.0,
            "label": [1, 1, 0, 0],
            "split": "train",
        }
    )
    findings = pd.DataFrame(
        [{"image_id": "img0", "finding_id": "f0", "finding_class": "mass", "x0": 4, "y0": 4, "x1": 12, "y1": 12}]
    )
    write_store(tmp / "valid_store", images, manifest, findings, layout="ragged")
    return tmp / "valid_store"


def _valid_classify_store(tmp: Path) -> Path:
    """Six 16x16 uint8 images of three classes, fixed size, as `mammo classify` reads."""
    from breastlab.data.store import write_store
    from breastlab.mammo.scenarios import CLASSES

    images = np.stack([np.full((16, 16), 20 * i, dtype=np.uint8) for i in range(6)])
    manifest = pd.DataFrame(
        {"image_id": [f"img{i}" for i in range(6)], "patient_id": [f"p{i}" for i in range(6)], "label": CLASSES * 2}
    )
    write_store(tmp / "valid_classify_store", images, manifest, layout="fixed")
    return tmp / "valid_classify_store"


def _valid_mip_store(tmp: Path) -> Path:
    """Twelve 16x16 uint8 breasts of six patients, fixed size, labels 0/1, as `anomaly train` reads."""
    from breastlab.data.store import write_store

    images = np.stack([np.full((16, 16), 20 * i, dtype=np.uint8) for i in range(12)])
    manifest = pd.DataFrame(
        {"image_id": [f"b{i}" for i in range(12)], "patient_id": [f"p{i // 2}" for i in range(12)], "label": [0, 1] * 6}
    )
    write_store(tmp / "valid_mip_store", images, manifest, layout="fixed")
    return tmp / "valid_mip_store"


def _valid_split(tmp: Path) -> Path:
    """A split of the six images of :func:`_valid_classify_store` (built beside it if not there yet)."""
    store = tmp / "valid_classify_store"
    if not store.exists():
        _valid_classify_store(tmp)
    folder = tmp / "valid_split"
    folder.mkdir()
    pd.DataFrame(
        {
            "row": range(6),
            "image_id": [f"img{i}" for i in range(6)],
            "patient_id": [f"p{i}" for i in range(6)],
            "label": [0, 1] * 3,
            "split": ["train", "train", "val", "val", "test", "test"],
            "attribute": "none",
            "group": [f"{label}|none" for label in [0, 1] * 3],
            "transform": "",
        }
    ).to_parquet(folder / "manifest.parquet", index=False)
    (folder / "config.json").write_text("{}")
    return folder


def _valid_boxes(tmp: Path) -> Path:
    path = tmp / "valid_boxes.csv"
    path.write_text(
        "Patient ID,Start Row,End Row,Start Column,End Column,Start Slice,End Slice\nBreast_MRI_001,10,20,30,40,5,8\n"
    )
    return path


def _valid_marks(tmp: Path) -> Path:
    path = tmp / "valid_marks.csv"
    path.write_text("reader,condition,case_id,lesion_id,score\nR1,A,c1,1,0.9\nR1,A,c2,0,0.2\n")
    return path


def _valid_coco_gt(tmp: Path) -> Path:
    path = tmp / "valid_gt.json"
    path.write_text(
        '{"images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 32}], '
        '"annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 8, 8]}], '
        '"categories": [{"id": 1, "name": "mass"}]}'
    )
    return path


def _valid_image_table(tmp: Path) -> Path:
    path = tmp / "valid_images.csv"
    path.write_text("path,patient_id,laterality,view,label\nimg0.dcm,p0,L,CC,malignant\nimg1.dcm,p1,R,MLO,negative\n")
    return path


def _valid_cohort_table(tmp: Path) -> Path:
    path = tmp / "valid_cohort.csv"
    path.write_text("patient_id,pre,start_slice,end_slice\nP1,P1/pre,3,5\nP2,P2/pre,2,4\n")
    return path


def _valid_cbis_csvs(tmp: Path) -> Path:
    """The case-description CSVs of a two-patient phantom (its DICOM tree elsewhere)."""
    from breastlab.data.phantom.mammo import make_mammo_cohort

    cohort = make_mammo_cohort(tmp / "phantom", 2, matrix=64, progress=False)
    folder = tmp / "valid_cbis"
    folder.mkdir()
    for csv in Path(cohort).glob("*_case_description_*.csv"):
        (folder / csv.name).write_bytes(csv.read_bytes())
    return folder


def _valid_release(tmp: Path) -> Path:
    """A SpurBreast release of one 8x8 PNG per part and class."""
    from PIL import Image

    root = tmp / "valid_release"
    for part in ("training", "validation", "test"):
        for label in ("0", "1"):
            folder = root / "field_strength" / part / label
            folder.mkdir(parents=True)
            name = f"pre-{10 + int(label)}-Breast_MRI_00{1 + ('training', 'validation', 'test').index(part)}.png"
            Image.fromarray(np.full((8, 8), 40 * int(label) + 10, dtype=np.uint8)).save(folder / name)
    return root


def _untrained_detector_run(tmp: Path) -> Path:
    """A run folder holding the cpu-small detector as initialised (no training: only read, never used)."""
    from breastlab.detect.model import PRESETS, build_model
    from breastlab.runtime import save_torch

    cfg = PRESETS["cpu-small"]
    run = tmp / "valid_run"
    run.mkdir()
    model = build_model(cfg)
    save_torch({"model": model.state_dict(), "config": cfg.to_dict(), "classes": list(cfg.classes)}, run / "model.pt")
    return run


def _existing_folder(tmp: Path) -> Path:
    folder = tmp / "valid_root"
    folder.mkdir()
    return folder


# inputs that are not under test but must be right for the one under test to be reached
VALID = {
    ("anomaly evaluate", "scores"): _valid_scores,
    ("anomaly evaluate", "heatmaps"): lambda tmp: _valid_maps(tmp, "valid_heatmaps"),
    ("anomaly evaluate", "masks"): lambda tmp: _valid_maps(tmp, "valid_masks"),
    ("duke labels", "boxes"): _valid_boxes,
    ("stats froc", "study"): _valid_marks,
    ("import mri", "root"): _existing_folder,
    ("import mammo", "root"): _existing_folder,
    ("import mri", "table"): _valid_cohort_table,
    ("import mammo", "table"): _valid_image_table,
    ("mammo table", "dicom"): _existing_folder,
    ("mammo classify", "store"): _valid_classify_store,
    ("mammo detect evaluate", "coco_gt"): _valid_coco_gt,
    ("mammo detect predict", "run"): _untrained_detector_run,
    ("mammo preprocess", "cbis"): _valid_cbis_csvs,
    ("mammo table", "cbis"): _valid_cbis_csvs,
    ("curate import-release", "root"): _valid_release,
    ("train", "store"): _valid_classify_store,
    ("train", "split"): _valid_split,
    ("curate check", "dir"): _valid_split,
    ("anomaly train", "store"): _valid_mip_store,
    ("curate export-split", "store"): _valid_classify_store,
    **{
        (command, "store"): _valid_mammo_store
        for command in ("mammo detect train", "mammo detect predict", "mammo detect fit-pairs", "mammo detect evaluate")
    },
}


def _companion(tmp: Path, command: str, dest: str, kind: str) -> tuple[Path, bool]:
    """A path for an input that is not under test: a valid one where VALID has it (then the message must
    name the input under test), else one that does not exist (then it may be the one the message names)."""
    if (command, dest) in VALID:
        return VALID[(command, dest)](tmp), True
    return tmp / f"absent_{dest}{SUFFIX[kind]}", False


def _out_path(out: Path, action: argparse.Action) -> Path:
    """--out: a folder, or a file inside ``out`` where the command writes one file of a named kind."""
    text = (action.help or "").lower()
    if "folder" in text or "directory" in text or "dir" in str(action.metavar or "").lower():
        return out
    for word, name in OUT_FILE:
        if word in text:
            return out / name
    return out


def _needed(command: str, action: argparse.Action, target: str) -> bool:
    """Whether an input that is not under test must be given for the command line to parse and run."""
    if any(target in group and action.dest in group for group in TOGETHER.get(command, [])):
        return True
    if any(action.dest in group for group in TOGETHER.get(command, [])):
        return False
    if action.dest in REQUIRES.get((command, target), []):
        return True
    return _required(action)


def _required(action: argparse.Action) -> bool:
    if action.option_strings:
        return action.required
    return action.nargs not in ("?", "*")


def _build(command: str, target: str, bad: str, tmp: Path, value: str | None = None) -> Case:
    """The command line with the bad value in ``target`` and placeholders everywhere else."""
    parser = LEAVES[command]
    inputs = _inputs(command)
    case = Case(command, target, bad, argv=command.split())
    positionals, options = [], []
    out_dest = None
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        is_target = action.dest == target
        if action.dest in inputs:
            _, kind = inputs[action.dest]
            if is_target:
                path = BAD_INPUTS[kind][bad](tmp, SUFFIX[kind]) if value is None else None
                text = str(path) if path is not None else value
                case.own += [Path(text).name] if path is not None else []
                case.own += ["colour"] if bad == "wrong_columns" else []  # the columns it has
                case.names += case.own
            elif _needed(command, action, target):
                path, valid = _companion(tmp, command, action.dest, kind)
                text = str(path)
                case.names += [] if valid else [path.name]
            else:
                continue
            values = [text]
        elif is_target:
            values = [value]
            case.names = case.own = [*action.option_strings]  # a number is checked before any input is read
        elif action.dest in ("out", "out_option"):
            if out_dest is not None or action.dest == "out" and not action.option_strings and action.nargs == "?":
                continue  # OUT positional of out_argument: --out is used
            out_dest = action.dest
            case.out = tmp / "out"
            named = OUT_NAME.get((command, target))
            values = [str(case.out / named if named else _out_path(case.out, action))]
        elif _required(action):
            values = _filler(action)
        else:
            continue
        if isinstance(action, argparse._AppendAction) and not is_target:  # repeatable: --score x --score z
            options += [action.option_strings[0], values[0], action.option_strings[0], "z"]
        elif action.option_strings:
            options += [action.option_strings[0], *values]
        else:
            positionals += values
    for group in parser._mutually_exclusive_groups:
        given = any(a.option_strings and a.option_strings[0] in options for a in group._group_actions)
        given = given or any(a.dest == target for a in group._group_actions)
        if group.required and not given:
            flags = [a for a in group._group_actions if a.nargs == 0]
            first = (flags or group._group_actions)[0]
            options += [first.option_strings[0], *([] if first.nargs == 0 else _filler(first))]
    every = EXTRA_ARGS.get((command, "*"), [])
    pairs = [every[i : i + 2] for i in range(0, len(every), 2)]
    flags = {a.dest: a.option_strings[0] for a in parser._actions if a.option_strings}
    options += [x for pair in pairs if pair[0] != flags.get(target) for x in pair]  # the one under test wins
    options += EXTRA_ARGS.get((command, target), [])
    # options before positionals would let a nargs='+' option swallow them; keep positionals first
    case.argv += [*positionals, *options]
    return case


def _cases() -> list[tuple[str, str, str, str | None]]:
    """(command, target dest, bad-input name, bad value for numbers) for every leaf command."""
    table = []
    for command in sorted(LEAVES):
        for dest, (_, kind) in _inputs(command).items():
            if (command, dest) in NOT_COVERED:
                continue
            for bad in BAD_INPUTS[kind]:
                table.append((command, dest, bad, None))
        for action in LEAVES[command]._actions:
            bad = BAD_NUMBERS_OF.get((command, action.dest), BAD_NUMBERS.get(action.dest, []))
            for value in bad if action.type is not None else []:
                table.append((command, action.dest, f"number {value}", value))
    return table


CASES = _cases()


def _run(argv: list[str]) -> tuple[int, str]:
    """Exit code and printed text of ``breastlab argv``; any other exception than exit fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    return code, out.getvalue() + err.getvalue()


def _written(out: Path | None) -> list[str]:
    if out is None or not out.exists():
        return []
    if out.is_file():
        return [out.name]
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != "problems.csv")


@pytest.mark.parametrize(("command", "target", "bad", "value"), CASES, ids=[":".join(c[:3]) for c in CASES])
def test_bad_input_is_refused_with_a_message_naming_it(command, target, bad, value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default output folder lands here, never in the repository
    case = _build(command, target, bad, tmp_path, value)
    code, text = _run(case.argv)
    shown = " ".join(case.argv)
    assert "Traceback" not in text, f"breastlab {shown}\n{text}"
    assert code == EXIT_BAD_INPUT, f"breastlab {shown}: exit {code}\n{text}"
    assert text.count("error:") == 1, f"breastlab {shown}: not one error message\n{text}"
    assert any(name in text for name in case.names), f"breastlab {shown}: message names none of {case.names}\n{text}"
    assert _written(case.out) == [], f"breastlab {shown}: half-written output {_written(case.out)}"


def test_every_command_gets_bad_input_cases():
    """A command without a case reads no file and has no count or level this test knows: say so here."""
    without = sorted(set(LEAVES) - {case[0] for case in CASES})
    assert without == [], f"commands without bad-input cases (add to KIND or BAD_NUMBERS): {without}"


def test_the_tables_name_real_commands_and_arguments():
    """KIND, REQUIRES, VALID and NOT_COVERED go stale when a command or argument is renamed."""
    for command, dest in [*KIND, *REQUIRES, *VALID, *NOT_COVERED]:
        assert command in LEAVES, command
        assert dest in {a.dest for a in LEAVES[command]._actions}, (command, dest)
    for (command, target), needed in REQUIRES.items():
        assert {target, *needed} <= set(_inputs(command)), (command, target)


# --- inputs the generic cases reach but whose fault is in how they combine ---------------------------------------


def test_anomaly_weights_for_a_backbone_that_takes_none_are_refused(tmp_path):
    store, out = _valid_mip_store(tmp_path), tmp_path / "out"
    code, text = _run(["anomaly", "train", "--store", str(store), "--out", str(out), "--weights", "imagenet"])
    assert code == EXIT_BAD_INPUT and "Traceback" not in text, text
    assert "only the vgg11 backbone takes weights" in text and "'small'" in text
    assert _written(out) == []


def test_a_pretrain_store_no_strategy_uses_is_refused(tmp_path):
    store, out = _valid_classify_store(tmp_path), tmp_path / "out"
    argv = ["mammo", "classify", str(store), "--out", str(out), "--weights", "none", "--pretrain-store", str(store)]
    code, text = _run(argv)
    assert code == EXIT_BAD_INPUT and "Traceback" not in text, text
    assert "incremental and mixed strategies only" in text
    assert _written(out) == []


def test_a_count_is_refused_while_parsing_before_any_input_is_read(tmp_path):
    """--workers -1 with a cohort folder that does not exist: the count is named, not the folder."""
    code, text = _run(["export", str(tmp_path / "absent"), "--out", str(tmp_path / "out"), "--workers", "-1"])
    assert code == EXIT_BAD_INPUT
    assert "argument --workers: '-1' is out of range: give a whole number >= 1" in text
    assert "absent" not in text


def test_a_config_file_count_out_of_range_is_refused_naming_the_key(tmp_path):
    """--config values go through the same checked types as the command line."""
    config = tmp_path / "demo.yaml"
    config.write_text("patients: -3\n")
    code, text = _run(["demo", "--config", str(config), "--out", str(tmp_path / "out")])
    assert code == EXIT_BAD_INPUT and "Traceback" not in text, text
    assert "demo.yaml" in text and "patients" in text and "a whole number >= 1" in text
    assert _written(tmp_path / "out") == []


def test_an_import_whose_every_patient_fails_keeps_problems_csv_only(tmp_path):
    """The series exists but is no DICOM: the patient goes to problems.csv and no empty store is written."""
    series = tmp_path / "root" / "P1" / "pre"
    series.mkdir(parents=True)
    (series / "a.dcm").write_text("not a DICOM file\n")
    table = tmp_path / "cohort.csv"
    table.write_text(
        "patient_id,pre,start_row,end_row,start_column,end_column,start_slice,end_slice\nP1,P1/pre,1,2,1,2,1,1\n"
    )
    out = tmp_path / "out"
    code, text = _run(
        ["import", "mri", str(table), "--root", str(tmp_path / "root"), "--out", str(out), "--workers", "1"]
    )
    assert code == EXIT_BAD_INPUT and "Traceback" not in text, text
    assert "no patient was stored" in text and "cohort.csv row 1" in text and "not a readable DICOM file" in text
    assert sorted(p.name for p in out.rglob("*")) == ["problems.csv"]
