"""The folders breastlab writes and reads, defined once: file names, keys and schema versions.

Four layouts travel between the steps of a study (the array store has its own,
:mod:`breastlab.data.store`):

``SPLIT`` -- a split folder (``breastlab curate splits``)::

    manifest.parquet   one row per image: row, image_id, patient_id, split, label, group, attribute, transform
    summary.json       counts per split, class and group; "rho": the split's correlation strength
    config.json        "layout", the split's configuration and the data it came from (written last);
                       "store": the array store, relative to the split folder

``RUN`` -- a training-run folder (``breastlab train``, ``mammo classify``, ``anomaly train``,
``mammo detect train``; each study writes the files that apply to it)::

    config.json          everything that defines the run; "store" and "split": the folders it read,
                         relative to the run folder (:func:`breastlab._io.record_path`)
    config.yaml          the command's options (``breastlab COMMAND --config RUN/config.yaml`` repeats it)
    checkpoint.pt        last epoch (resume); best.pt / model.pt: the selected model
    metrics.csv          one row per epoch
    predictions.parquet  every image scored by the selected model
    summary.json         written last: the run is complete

``EVALUATION`` -- ``RUN/evaluation/`` (``breastlab evaluate``): metrics.json (with the settings
that made it), metrics.csv, groups.csv, shortcut.csv.

``SECTION`` -- a report-section folder (``anomaly evaluate``, ``mammo classify``, ``mammo detect
evaluate``, ``stats reader-study``): the section's own files and, written last, a marker JSON
(``ANOMALY_SECTION``, ``CLASSIFY_SECTION``, ``DETECTION_SECTION``, ``READER_STUDY_SECTION``) with
``kind``, ``version``, ``breastlab`` and ``files`` (the role -> file name of every file the section
is rebuilt from).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from breastlab.errors import BreastlabInputError


@dataclass(frozen=True)
class SplitLayout:
    manifest: str = "manifest.parquet"
    summary: str = "summary.json"
    config: str = "config.json"
    layout: str = "breastlab-split-1"  # config.json "layout"
    rho: str = "rho"  # summary.json key: the correlation strength the split was built at


@dataclass(frozen=True)
class RunLayout:
    config: str = "config.json"
    config_yaml: str = "config.yaml"  # the command's resolved options, read back by --config
    checkpoint: str = "checkpoint.pt"
    best: str = "best.pt"
    model: str = "model.pt"
    metrics: str = "metrics.csv"
    predictions: str = "predictions.parquet"
    summary: str = "summary.json"
    store: str = "store"  # config.json key: the array store the run read
    split: str = "split"  # config.json key: the split folder the run read


@dataclass(frozen=True)
class EvaluationLayout:
    folder: str = "evaluation"  # below the run folder
    metrics_json: str = "metrics.json"
    metrics: str = "metrics.csv"
    groups: str = "groups.csv"
    shortcut: str = "shortcut.csv"


@dataclass(frozen=True)
class SectionLayout:
    version: int = 1  # the marker's "version"; a reader refuses other versions with the command that rewrites them


SPLIT = SplitLayout()
RUN = RunLayout()
EVALUATION = EvaluationLayout()
SECTION = SectionLayout()

ANOMALY_SECTION = "anomaly_section.json"
CLASSIFY_SECTION = "classify_section.json"
DETECTION_SECTION = "detection_section.json"
READER_STUDY_SECTION = "reader_study_section.json"


def read_json(path: str | os.PathLike) -> dict:
    """A JSON object from ``path``; a missing or unreadable file reads as ``{}``."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def run_config(run_dir: str | os.PathLike) -> dict:
    """``RUN/config.json`` (``{}`` when the run has none)."""
    return read_json(Path(run_dir) / RUN.config)


def _recorded(value: str, folder: str | os.PathLike) -> Path:
    from breastlab._io import recorded_path  # NumPy and pandas only when a path is read

    return recorded_path(value, folder)


def run_split_dir(config: dict, run_dir: str | os.PathLike) -> Path | None:
    """The split folder the config of the run in ``run_dir`` names (``None`` when it names none).

    Runs record it relative to their own folder; runs of earlier versions recorded it absolute."""
    split = config.get(RUN.split)
    return _recorded(split, run_dir) if isinstance(split, str) and split else None


def run_store_dir(config: dict, run_dir: str | os.PathLike) -> Path | None:
    """The array store the run in ``run_dir`` read: its config's ``"store"``, else the store its split
    folder names (each path read from the folder of the file that records it)."""
    store = config.get(RUN.store)
    if isinstance(store, str) and store:
        return _recorded(store, run_dir)
    split = run_split_dir(config, run_dir)
    if split is None:
        return None
    return split_store_dir(split)


def split_store_dir(split_dir: str | os.PathLike) -> Path | None:
    """The array store a split folder's ``config.json`` names (``None`` when it names none)."""
    store = read_json(Path(split_dir) / SPLIT.config).get("store")
    return _recorded(store, split_dir) if isinstance(store, str) and store else None


def split_rho(split_dir: str | os.PathLike) -> float | None:
    """The correlation strength a split was built at: ``summary.json`` ``"rho"``.

    Split folders written before the summary carried it (and hand-made ones) keep it in
    ``config.json``, at the top level or under ``"config"``; those are still read.
    """
    split_dir = Path(split_dir)
    config = read_json(split_dir / SPLIT.config)
    legacy = (config.get(SPLIT.rho), (config.get("config") or {}).get(SPLIT.rho))
    for value in (read_json(split_dir / SPLIT.summary).get(SPLIT.rho), *legacy):
        if isinstance(value, int | float) and value == value:
            return float(value)
    return None


def read_section_marker(folder: str | os.PathLike, marker: str, *, remedy: str, version: int | None = None) -> dict:
    """The marker JSON of a section folder, checked: present, of ``version`` (when given), and every
    file named in its ``files`` mapping (``None`` entries are optional files not written) on disk.

    ``remedy`` says how to (re)write the folder, e.g. "run `breastlab anomaly evaluate ... --out DIR`"."""
    folder = Path(folder)
    path = folder / marker
    if not path.is_file():
        raise BreastlabInputError(f"{folder}: no {marker}; {remedy}")
    meta = json.loads(path.read_text())
    if version is not None and meta.get("version") != version:
        raise BreastlabInputError(
            f"{path}: section version {meta.get('version')!r}, this breastlab reads {version}; {remedy}"
        )
    missing = sorted(f for f in (meta.get("files") or {}).values() if f is not None and not (folder / f).is_file())
    if missing:
        raise BreastlabInputError(f"{folder}: files named by {marker} are missing: {missing}; {remedy}")
    return meta


def section_marker(kind: str, files: dict[str, str | None], **meta) -> dict:
    """The content of a section marker: ``kind``, the schema ``version``, the breastlab version, ``files``
    and the section's own keys in ``meta``."""
    from breastlab import __version__

    return {"kind": kind, "version": SECTION.version, "breastlab": __version__, **meta, "files": files}


__all__ = [
    "ANOMALY_SECTION",
    "CLASSIFY_SECTION",
    "DETECTION_SECTION",
    "READER_STUDY_SECTION",
    "EVALUATION",
    "RUN",
    "SECTION",
    "SPLIT",
    "read_json",
    "read_section_marker",
    "run_config",
    "run_split_dir",
    "run_store_dir",
    "section_marker",
    "split_rho",
    "split_store_dir",
]
