"""The folder layouts of breastlab.schemas: one key per value, older folders still read."""

from __future__ import annotations

import json

from breastlab import schemas
from breastlab.schemas import RUN, SPLIT, run_store_dir, split_rho


def _split(tmp_path, summary=None, config=None):
    d = tmp_path / "split"
    d.mkdir()
    if summary is not None:
        (d / SPLIT.summary).write_text(json.dumps(summary))
    if config is not None:
        (d / SPLIT.config).write_text(json.dumps(config))
    return d


def test_rho_is_the_summary_key(tmp_path):
    d = _split(tmp_path, summary={"rho": 0.75}, config={"config": {"rho": 0.5}})
    assert split_rho(d) == 0.75  # the summary wins over the older places


def test_older_split_folders_still_read(tmp_path):
    assert split_rho(_split(tmp_path, summary={"splits": {}}, config={"config": {"rho": 0.9}})) == 0.9
    d = tmp_path / "hand"
    d.mkdir()
    (d / SPLIT.config).write_text(json.dumps({"rho": 1.0, "store": "S"}))
    assert split_rho(d) == 1.0
    assert run_store_dir({RUN.split: str(d)}, tmp_path / "run") == d.resolve() / "S"  # read from the split folder


def test_missing_or_unreadable_is_none(tmp_path):
    assert split_rho(tmp_path) is None
    (tmp_path / SPLIT.summary).write_text("{not json")
    assert split_rho(tmp_path) is None
    assert split_rho(_split(tmp_path, summary={"rho": float("nan")})) is None
    assert run_store_dir({}, tmp_path) is None


def test_run_store_prefers_the_run_config(tmp_path):
    d = _split(tmp_path, config={"store": "from_split"})
    run = tmp_path / "run"
    assert run_store_dir({RUN.store: "from_run", RUN.split: "../split"}, run) == tmp_path.resolve() / "run" / "from_run"
    assert run_store_dir({RUN.split: "../split"}, run) == d.resolve() / "from_split"
    assert run_store_dir({RUN.split: str(d)}, run) == d.resolve() / "from_split"  # absolute: an earlier version's


def test_section_marker_carries_kind_version_and_files(tmp_path):
    from breastlab import __version__

    marker = schemas.section_marker("detection", {"froc": "froc.csv"}, settings={"a": 1})
    assert marker == {
        "kind": "detection",
        "version": schemas.SECTION.version,
        "breastlab": __version__,
        "settings": {"a": 1},
        "files": {"froc": "froc.csv"},
    }
    (tmp_path / "froc.csv").write_text("x\n")
    (tmp_path / schemas.DETECTION_SECTION).write_text(json.dumps(marker))
    meta = schemas.read_section_marker(
        tmp_path, schemas.DETECTION_SECTION, remedy="rerun", version=schemas.SECTION.version
    )
    assert meta == marker


def test_recorded_paths_are_relative_to_the_recording_folder(tmp_path):
    """A path recorded from a folder is relative to it (POSIX), reads back to the same place, and keeps
    reading after the folders are moved together; absolute values (earlier versions) are read as they are."""
    import os
    import shutil

    from breastlab._io import record_path, recorded_path

    project = tmp_path / "project"
    (project / "data" / "store").mkdir(parents=True)
    (project / "runs" / "r1").mkdir(parents=True)
    run = project / "runs" / "r1"
    value = record_path(project / "data" / "store", run)
    assert value == "../../data/store" and not os.path.isabs(value)
    assert record_path(run, run) == "." and recorded_path(".", run) == run.resolve()
    assert recorded_path(value, run) == (project / "data" / "store").resolve()
    shutil.move(project, tmp_path / "moved")
    assert recorded_path(value, tmp_path / "moved" / "runs" / "r1") == (tmp_path / "moved" / "data" / "store").resolve()
    assert recorded_path(str(tmp_path / "old"), run) == tmp_path / "old"
    # a run folder reached through a link: `..` is taken where the file system takes it
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "store").mkdir()
    (tmp_path / "moved" / "link").symlink_to(tmp_path / "elsewhere")
    linked = record_path(tmp_path / "moved" / "data" / "store", tmp_path / "moved" / "link")
    assert (tmp_path / "moved" / "link" / linked).resolve() == (tmp_path / "moved" / "data" / "store").resolve()
    # a store linked into the project stays addressed through its link
    (tmp_path / "moved" / "data" / "linked_store").symlink_to(tmp_path / "elsewhere" / "store")
    assert record_path(tmp_path / "moved" / "data" / "linked_store", tmp_path / "moved" / "runs" / "r1") == (
        "../../data/linked_store"
    )
