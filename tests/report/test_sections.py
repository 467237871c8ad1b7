"""The report's section registry: marker folders found on disk, rendered after the shortcut runs."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from breastlab.errors import BreastlabInputError
from breastlab.report import write_report
from breastlab.report.sections import SECTION_KINDS, SectionKind, find_sections


@pytest.fixture
def fake_kind(monkeypatch) -> SectionKind:
    """A capability whose section_from_dir echoes the folder's note.txt."""
    mod = types.ModuleType("breastlab_fake_section")
    mod.section_from_dir = lambda folder: f"<h2>Fake section</h2><p>{(folder / 'note.txt').read_text()}</p>"
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    return SectionKind("fake", "fake_section.json", mod.__name__)


def _section_dir(root: Path, name: str, note: str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "fake_section.json").write_text("{}")
    (d / "note.txt").write_text(note)
    return d


def test_registry_names_the_three_capabilities():
    assert {k.marker for k in SECTION_KINDS} == {
        "anomaly_section.json",
        "classify_section.json",
        "detection_section.json",
    }
    assert len({k.module for k in SECTION_KINDS}) == 3


def test_find_sections_itself_and_below(tmp_path, fake_kind):
    a = _section_dir(tmp_path, "b_second", "two")
    b = _section_dir(tmp_path, "a_first", "one")
    assert find_sections(a, (fake_kind,)) == [(fake_kind, a)]
    assert [f for _, f in find_sections(tmp_path, (fake_kind,))] == [b, a]
    assert find_sections(tmp_path / "a_first" / "..", ()) == []


def test_sections_only_report(tmp_path, fake_kind):
    _section_dir(tmp_path, "x", "first note")
    _section_dir(tmp_path, "y", "second note")
    out = write_report(tmp_path, tmp_path / "r.html", section_kinds=(fake_kind,))
    text = out.read_text()
    assert text.count("<h2>Fake section</h2>") == 2
    assert text.index("first note") < text.index("second note")
    assert "Table 2" not in text  # no shortcut runs, no shortcut part


def test_runs_and_sections_on_one_page(tmp_path, fake_sweep, fake_kind):
    sec = _section_dir(tmp_path, "s", "the section")
    # predictions.parquet inside a section folder is that capability's, not a shortcut run
    (sec / "predictions.parquet").write_bytes(b"not a run")
    out = write_report(
        [fake_sweep / "rho0.5", sec], tmp_path / "both.html", n_boot=20, gallery=False, section_kinds=(fake_kind,)
    )
    text = out.read_text()
    assert "Table 2" in text and "the section" in text
    assert text.index("Table 2") < text.index("the section")


def test_missing_renderer_is_a_clear_error(tmp_path, monkeypatch):
    mod = types.ModuleType("breastlab_no_renderer")
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    kind = SectionKind("empty", "fake_section.json", mod.__name__)
    _section_dir(tmp_path, "z", "x")
    with pytest.raises(BreastlabInputError, match="section_from_dir"):
        write_report(tmp_path, tmp_path / "r.html", section_kinds=(kind,))


def test_nothing_to_report(tmp_path):
    with pytest.raises(BreastlabInputError, match="neither a run"):
        write_report(tmp_path, tmp_path / "r.html")


def test_other_capabilities_runs_are_not_shortcut_runs(tmp_path, fake_sweep):
    """A folder holding an anomaly-style run (predictions.parquet with other columns) beside a shortcut run."""
    import shutil

    import pandas as pd

    from breastlab.report import find_runs

    shutil.copytree(fake_sweep / "rho0.5", tmp_path / "shortcut")
    (tmp_path / "fcdd").mkdir()
    anomaly_like = pd.DataFrame({"image_id": ["a"], "side": ["L"], "score": [0.3]})
    anomaly_like.to_parquet(tmp_path / "fcdd" / "predictions.parquet")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "predictions.parquet").write_bytes(b"not parquet")
    assert find_runs(tmp_path) == [tmp_path / "shortcut"]


def test_read_section_marker_checks_presence_version_and_files(tmp_path):
    import json

    from breastlab.report.sections import read_section_marker

    remedy = "run `breastlab x --out DIR`"
    with pytest.raises(BreastlabInputError, match=r"no m\.json; run `breastlab x"):
        read_section_marker(tmp_path, "m.json", remedy=remedy)
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "m.json").write_text(json.dumps({"version": 2, "files": {"a": "a.csv", "b": "b.csv", "c": None}}))
    with pytest.raises(BreastlabInputError, match=r"section version 2, this breastlab reads 1"):
        read_section_marker(tmp_path, "m.json", remedy=remedy, version=1)
    # b.csv is named but absent; c is an optional file that was not written (None)
    with pytest.raises(BreastlabInputError, match=r"missing: \['b.csv'\]; run"):
        read_section_marker(tmp_path, "m.json", remedy=remedy, version=2)
    (tmp_path / "b.csv").write_text("y\n2\n")
    meta = read_section_marker(tmp_path, "m.json", remedy=remedy, version=2)
    assert meta["files"] == {"a": "a.csv", "b": "b.csv", "c": None}
