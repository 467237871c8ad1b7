"""Command-line basics: exit codes, a reader that closes the pipe early, Ctrl-C and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breastlab import cli

SRC = str(Path(__file__).resolve().parents[2] / "src")
# what the ``breastlab`` console script runs
ENTRY = "import sys; from breastlab.cli import main; sys.exit(main())"


@pytest.fixture
def scores_csv(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    df = pd.DataFrame({"y": y, "a": y + rng.normal(size=60), "b": y + rng.normal(size=60) * 2})
    path = tmp_path / "scores.csv"
    df.to_csv(path, index=False)
    return path


def _delong(csv: Path) -> list[str]:
    return [
        "stats",
        "delong",
        str(csv),
        "--truth",
        "y",
        "--score",
        "a",
        "--score",
        "b",
        "--json",
        str(csv.parent / "d.json"),
    ]


def test_a_pipe_closed_before_the_output_ends_the_command_quietly(scores_csv):
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, *_delong(scores_csv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    proc.stdout.close()  # the reader is gone before anything is written (``| head`` that already exited)
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err, err
    assert rc == cli.EXIT_BROKEN_PIPE == 141


def test_a_reader_of_the_first_lines_gets_them_and_no_traceback(scores_csv):
    env = {**os.environ, "PYTHONPATH": SRC}
    cmd = " ".join([f"'{sys.executable}'", "-c", f"'{ENTRY}'", *_delong(scores_csv)])
    res = subprocess.run(["bash", "-c", f"{cmd} | head -n 1"], capture_output=True, text=True, env=env, timeout=120)
    assert res.stdout.splitlines() == ["DeLong test"]
    assert res.stderr == ""


def test_exit_codes_ok_and_bad_input(scores_csv, capsys):
    assert cli.main(_delong(scores_csv)) == cli.EXIT_OK
    assert cli.main(_delong(scores_csv.with_name("missing.csv"))) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.strip() == f"breastlab: error: {scores_csv.with_name('missing.csv')}: no such CSV file"
    with pytest.raises(SystemExit) as exc:  # usage errors: argparse's exit code 2
        cli.main(["stats", "delong", str(scores_csv)])
    assert exc.value.code == cli.EXIT_BAD_INPUT


def test_ctrl_c_exits_130_with_one_line(scores_csv, capsys, monkeypatch):
    from breastlab.evaluate.stats import tables

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(tables, "delong_table", interrupted)
    assert cli.main(_delong(scores_csv)) == cli.EXIT_INTERRUPTED == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("breastlab: interrupted")


def test_sigterm_exits_143_with_one_line_and_the_handler_is_restored(scores_csv, capsys, monkeypatch):
    from breastlab.evaluate.stats import tables

    def terminated(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM should have stopped the command")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(tables, "delong_table", terminated)
    assert cli.main(_delong(scores_csv)) == cli.EXIT_TERMINATED == 143
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("breastlab: interrupted; run the same command to resume")
    assert signal.getsignal(signal.SIGTERM) == before
