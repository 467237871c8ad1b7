"""Output folders have one owner: the folder lock (refused with the holder named, stale locks taken over)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from breastlab._lock import LOCK_NAME, StaleLockWarning, folder_lock, read_holder
from breastlab.errors import BreastlabInputError

HOLD = """
import sys, time
from breastlab._lock import folder_lock
with folder_lock(sys.argv[1], command="holder for a test"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _holder(folder: Path) -> subprocess.Popen:
    """A process that holds the lock of ``folder`` until its stdin closes."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_held_folder_is_refused_naming_the_holder(tmp_path: Path) -> None:
    proc = _holder(tmp_path / "out")
    try:
        refused = rf"in use by process {proc.pid} on host .*holder for a test"
        with pytest.raises(BreastlabInputError, match=refused), folder_lock(tmp_path / "out"):
            pass
    finally:
        proc.stdin.close()
        proc.wait(10)
    assert not (tmp_path / "out" / LOCK_NAME).exists()  # removed by its holder at the end
    with folder_lock(tmp_path / "out"):  # free again
        assert read_holder(tmp_path / "out")["pid"] == os.getpid()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    proc = _holder(tmp_path / "out")
    os.kill(proc.pid, signal.SIGKILL)  # no chance to remove its lock file
    proc.wait(10)
    assert json.loads((tmp_path / "out" / LOCK_NAME).read_text())["pid"] == proc.pid
    taken = f"process {proc.pid} .*no longer runs"
    with pytest.warns(StaleLockWarning, match=taken), folder_lock(tmp_path / "out", command="the new owner"):
        assert read_holder(tmp_path / "out")["command"] == "the new owner"
    assert not (tmp_path / "out" / LOCK_NAME).exists()


def test_the_lock_is_reentrant_in_one_process_and_refuses_a_file(tmp_path: Path) -> None:
    with folder_lock(tmp_path / "out"):
        with folder_lock(tmp_path / "out" / ".." / "out"):  # the same folder, another spelling
            pass
        assert (tmp_path / "out" / LOCK_NAME).exists()
    assert not (tmp_path / "out" / LOCK_NAME).exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(BreastlabInputError, match="exists and is not a folder"), folder_lock(tmp_path / "file"):
        pass


def test_store_builders_and_cli_commands_lock_their_folder(tmp_path: Path, capsys) -> None:
    """An export into a folder another process holds is refused (exit code 2, holder named)."""
    from breastlab.cli import main

    proc = _holder(tmp_path / "store")
    try:
        t0 = time.perf_counter()
        code = main(["export", str(tmp_path / "no-cohort"), "--out", str(tmp_path / "store")])
        assert code == 2 and time.perf_counter() - t0 < 30
        err = capsys.readouterr().err
        assert f"in use by process {proc.pid}" in err and "Traceback" not in err
        code = main(["evaluate", str(tmp_path / "store")])  # an evaluation writes into its run folder
        assert code == 2 and f"in use by process {proc.pid}" in capsys.readouterr().err
    finally:
        proc.stdin.close()
        proc.wait(10)


def test_a_failed_command_leaves_no_empty_folder_it_created(tmp_path: Path) -> None:
    """The folders the lock created go when the command fails with them empty; what it wrote stays,
    and so does a folder the user made."""
    made_by_user = tmp_path / "mine"
    made_by_user.mkdir()
    for folder in (tmp_path / "a" / "b" / "out", made_by_user):
        with pytest.raises(BreastlabInputError, match="bad table"), folder_lock(folder):
            raise BreastlabInputError("bad table")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"] and not any(made_by_user.iterdir())
    with pytest.raises(KeyboardInterrupt), folder_lock(tmp_path / "job"):
        (tmp_path / "job" / "problems.csv").write_text("item,message\n")
        raise KeyboardInterrupt  # an interrupted job keeps what it wrote, to resume from
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["problems.csv"]
    with folder_lock(tmp_path / "done"):
        pass  # a command that succeeds keeps its folder, even empty
    assert (tmp_path / "done").is_dir()


def test_a_refused_table_leaves_no_output_folder(tmp_path: Path, capsys) -> None:
    """``import mri`` with a table it refuses before reading any image: nothing is left at --out."""
    from breastlab.cli import main

    (tmp_path / "cohort.csv").write_text("patient_id,pre\n,series/a\n")
    assert main(["import", "mri", str(tmp_path / "cohort.csv"), "--root", str(tmp_path), "--out",
                 str(tmp_path / "new" / "store")]) != 0  # fmt: skip
    assert "patient_id" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
