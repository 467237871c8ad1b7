"""The report's section kinds: folders found on disk, rendered in the order of the kinds."""

from __future__ import annotations

from pathlib import Path

import pytest

from breastlab import schemas
from breastlab.errors import BreastlabInputError
from breastlab.report import write_report
from breastlab.report.sections import SECTION_KINDS, SectionKind, find_sections


@pytest.fixture
def fake_kind() -> SectionKind:
    """A study whose section echoes the folder's note.txt."""
    return SectionKind.marked(
        "fake", "fake_section.json", lambda folder: f"<h2>Fake section</h2><p>{(folder / 'note.txt').read_text()}</p>"
    )


def _section_dir(root: Path, name: str, note: str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "fake_section.json").write_text("{}")
    (d / "note.txt").write_text(note)
    return d


def test_kinds_are_the_four_studies_shortcut_first_then_the_reader_study(tmp_path):
    assert [k.name for k in SECTION_KINDS] == [
        "SpurBreast shortcut runs",
        "anomaly detection",
        "mammogram classification",
        "finding detection",
        "reader study",
    ]
    markers = (
        schemas.ANOMALY_SECTION,
        schemas.CLASSIFY_SECTION,
        schemas.DETECTION_SECTION,
        schemas.READER_STUDY_SECTION,
    )
    for kind, marker in zip(SECTION_KINDS[1:], markers, strict=True):
        (tmp_path / marker).write_text("{}")
        assert kind.find(tmp_path) == [tmp_path]
        (tmp_path / marker).unlink()
        assert kind.find(tmp_path) == []


def test_find_sections_itself_and_below(tmp_path, fake_kind):
    a = _section_dir(tmp_path, "b_second", "two")
    b = _section_dir(tmp_path, "a_first", "one")
    assert find_sections([a], (fake_kind,)) == [(fake_kind, [a])]
    assert find_sections([tmp_path], (fake_kind,)) == [(fake_kind, [b, a])]
    assert find_sections([tmp_path / "a_first" / ".."], ()) == []


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
        [fake_sweep / "rho0.5", sec],
        tmp_path / "both.html",
        n_boot=20,
        gallery=False,
        section_kinds=(SECTION_KINDS[0], fake_kind),
    )
    text = out.read_text()
    assert "Table 2" in text and "the section" in text
    assert text.index("Table 2") < text.index("the section")


def test_a_kinds_folders_inside_another_kinds_folder_belong_to_that_kind(tmp_path, fake_kind):
    outer = tmp_path / "outer"
    _section_dir(outer, "inner", "inner note")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "fake_section.json").write_text("{}")
    outer_kind = SectionKind("outer", lambda path: [outer], lambda folders, **_: "")
    assert find_sections([tmp_path], (fake_kind, outer_kind)) == [
        (fake_kind, [tmp_path / "elsewhere"]),
        (outer_kind, [outer]),
    ]


def test_nothing_found_names_the_kinds_looked_for(tmp_path, fake_kind):
    with pytest.raises(BreastlabInputError, match=r"no report section found \(looked for: fake\)"):
        write_report(tmp_path, tmp_path / "r.html", section_kinds=(fake_kind,))


def test_a_misspelt_option_is_refused(tmp_path, fake_sweep):
    with pytest.raises(BreastlabInputError, match=r"unknown option\(s\) \['nboot'\]; the sections take .*'n_boot'"):
        write_report(fake_sweep, tmp_path / "r.html", nboot=20)
