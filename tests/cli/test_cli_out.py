"""One output grammar: every command that writes takes --out; nothing is written beside the input unless asked."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from breastlab.cli import build_parser, main

# commands whose output place is not an --out: what they write and where
WRITES_ELSEWHERE: dict[str, str] = {}


def _leaves(parser, path=()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(path), parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_every_command_that_writes_accepts_out():
    without = {name for name, p in _leaves(build_parser()) if not any("--out" in a.option_strings for a in p._actions)}
    assert without == set(WRITES_ELSEWHERE)


@pytest.fixture
def scores(tmp_path):
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 25)
    src = tmp_path / "in"
    src.mkdir()
    pd.DataFrame({"y": y, "a": y + rng.normal(size=50), "b": y + rng.normal(size=50)}).to_csv(
        src / "s.csv", index=False
    )
    work = tmp_path / "work"
    work.mkdir()
    return src / "s.csv", work


@pytest.mark.parametrize(
    "command",
    [["auc", "--score", "a"], ["delong", "--score", "a", "--score", "b"], ["youden", "--score", "a"]],
)
def test_stats_write_nothing_unless_asked_and_only_under_out(scores, monkeypatch, capsys, command):
    csv, work = scores
    monkeypatch.chdir(work)
    name, *rest = command
    assert main(["stats", name, str(csv), "--truth", "y", *rest]) == 0
    assert _files(csv.parent) == ["s.csv"] and _files(work) == []  # printed only
    assert main(["stats", name, str(csv), "--truth", "y", *rest, "--out", str(work / "o")]) == 0
    assert _files(csv.parent) == ["s.csv"] and _files(work) == [f"o/{name}.csv", f"o/{name}.json"]
    payload = json.loads((work / "o" / f"{name}.json").read_text())
    assert payload["input"] == "s.csv"
    table = pd.read_csv(work / "o" / f"{name}.csv")
    for row, (_, line) in zip(payload["rows"], table.iterrows(), strict=True):  # CSV and JSON: the same exact rows
        for key, value in row.items():
            if isinstance(value, float):
                assert line[key] == pytest.approx(value, rel=1e-12, nan_ok=True)


def test_reader_study_default_folder_is_not_beside_the_input(tmp_path, monkeypatch, capsys):
    src, work = tmp_path / "in", tmp_path / "work"
    src.mkdir(), work.mkdir()
    monkeypatch.chdir(work)
    assert main(["stats", "simulate-readers", "--out", str(src / "study.csv"), "--cases", "40"]) == 0
    assert main(["stats", "reader-study", str(src / "study.csv")]) == 0
    assert _files(src) == ["study.csv"]
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
