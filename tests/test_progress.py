"""Progress: live tqdm bars on a terminal, whole lines (start, interval, end) in a log."""

from __future__ import annotations

import io

import pytest

from breastlab.errors import BreastlabInputError
from breastlab.progress import LogProgress, progress, progress_mode


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def _log(**kw):
    out, clock = io.StringIO(), FakeClock()
    return out, clock, LogProgress(file=out, clock=clock, interval=30.0, **kw)


def test_log_mode_writes_start_and_end_lines_with_counts_time_and_rate():
    out, clock, bar = _log(iterable=range(4), desc="phantom MRI", unit="patient")
    for _ in bar:
        clock.now += 2.5
    lines = out.getvalue().splitlines()
    assert lines == ["phantom MRI: started, 0/4 patient", "phantom MRI: done, 4/4 patient in 10.0 s (0.4 patient/s)"]
    assert "\r" not in out.getvalue()


def test_log_mode_adds_a_line_per_interval_for_long_stages_only():
    out, clock, bar = _log(total=100, desc="train", unit="it")
    for _ in range(100):
        clock.now += 1.0  # 100 s in all: lines after 30, 60 and 90 s
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[1:4] == [
        "train: 30/100 it after 30.0 s",
        "train: 60/100 it after 1 min 00 s",
        "train: 90/100 it after 1 min 30 s",
    ]
    assert lines[4] == "train: done, 100/100 it in 1 min 40 s (1 it/s)"
    assert len(lines) == 5


def test_log_mode_reports_a_stage_stopped_early_and_resumed_counts():
    out, clock, bar = _log(iterable=range(3, 10), total=10, initial=3, desc="splits", unit="split")
    for i in bar:
        clock.now += 1.0
        if i == 5:
            break
    text = out.getvalue().splitlines()
    assert text[0] == "splits: started, 3/10 split"
    assert text[-1] == "splits: stopped at 5/10 split in 3.0 s"


def test_transient_substage_is_silent_unless_long():
    out, clock, bar = _log(iterable=range(3), desc="epoch 1", unit="batch", transient=True)
    for _ in bar:
        clock.now += 1.0
    assert out.getvalue() == ""
    out, clock, bar = _log(iterable=range(3), desc="epoch 2", unit="batch", transient=True)
    for _ in bar:
        clock.now += 20.0
    assert out.getvalue().splitlines() == [
        "epoch 2: 2/3 batch after 40.0 s",
        "epoch 2: done, 3/3 batch in 1 min 00 s (0.05 batch/s)",
    ]


def test_postfix_goes_on_the_line():
    out, clock, bar = _log(total=2, desc="train", unit="epoch")
    bar.update(2)
    bar.set_postfix(best="0.812@2")
    clock.now += 4
    bar.close()
    assert out.getvalue().splitlines()[-1] == "train: done, 2/2 epoch in 4.0 s (0.5 epoch/s) [best=0.812@2]"


def test_mode_follows_the_stream_and_the_environment(monkeypatch):
    monkeypatch.delenv("BREASTLAB_PROGRESS", raising=False)
    assert progress_mode(io.StringIO()) == "log"
    assert progress_mode(TTY()) == "bar"
    monkeypatch.setenv("BREASTLAB_PROGRESS", "off")
    assert progress_mode(TTY()) == "off"
    monkeypatch.setenv("BREASTLAB_PROGRESS", "fancy")
    with pytest.raises(BreastlabInputError, match="BREASTLAB_PROGRESS='fancy'.*bar, log, off"):
        progress_mode(TTY())


def test_terminal_gets_a_live_tqdm_bar(monkeypatch):
    monkeypatch.delenv("BREASTLAB_PROGRESS", raising=False)
    tty = TTY()
    monkeypatch.setattr("sys.stderr", tty)
    assert list(progress(range(5), desc="splits", unit="split")) == [0, 1, 2, 3, 4]
    text = tty.getvalue()
    assert "\r" in text and "splits" in text and "5/5" in text


def test_log_gets_lines_and_off_or_disable_gets_nothing(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.delenv("BREASTLAB_PROGRESS", raising=False)
    assert list(progress(range(3), desc="a", unit="x")) == [0, 1, 2]
    assert err.getvalue().splitlines()[0] == "a: started, 0/3 x"
    assert err.getvalue().splitlines()[1].startswith("a: done, 3/3 x in ")
    err.seek(0), err.truncate()
    assert list(progress(range(3), desc="b", disable=True)) == [0, 1, 2]
    monkeypatch.setenv("BREASTLAB_PROGRESS", "off")
    with progress(total=3, desc="c") as bar:
        bar.update(3)
    assert err.getvalue() == ""


def test_a_library_stage_logs_lines_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    from breastlab.evaluate.mrmc.simulate import simulate_rejection

    monkeypatch.delenv("BREASTLAB_PROGRESS", raising=False)
    simulate_rejection(4, 10, 10, "HL", n_studies=6, chunk=2, seed=1, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert lines[0] == "Roe-Metz studies: started, 0/3 chunk"
    assert lines[-1].startswith("Roe-Metz studies: done, 3/3 chunk in ")


def test_an_unsized_log_bar_is_still_truthy_and_counts_without_a_total():
    out, clock, bar = _log(desc="scan", unit="file")
    assert bar and len(bar) == 0
    bar.update(7)
    clock.now += 2
    bar.close()
    assert out.getvalue().splitlines() == ["scan: started, 0 file", "scan: done, 7 file in 2.0 s (3.5 file/s)"]
