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
    assert str(run_store_dir({RUN.split: str(d)})) == "S"


def test_missing_or_unreadable_is_none(tmp_path):
    assert split_rho(tmp_path) is None
    (tmp_path / SPLIT.summary).write_text("{not json")
    assert split_rho(tmp_path) is None
    assert split_rho(_split(tmp_path, summary={"rho": float("nan")})) is None
    assert run_store_dir({}) is None


def test_run_store_prefers_the_run_config(tmp_path):
    d = _split(tmp_path, config={"store": "from_split"})
    assert str(run_store_dir({RUN.store: "from_run", RUN.split: str(d)})) == "from_run"
    assert str(run_store_dir({RUN.split: str(d)})) == "from_split"


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
