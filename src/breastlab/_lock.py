"""One owner per output folder: a lock file that names its holder, taken over when the holder is dead.

Every command that writes a folder (a store, a run, an evaluation, a sweep) holds
``FOLDER/.breastlab.lock`` while it works. The file holds the holder's process id, host,
command and start time, and the holder keeps an exclusive ``flock`` on it, which the
operating system drops when the process ends in any way (even SIGKILL). So:

* a second command on the same folder is refused with a message naming the holder;
* a lock file left by a process that died is *stale* (its ``flock`` is gone): the next
  command takes it over, with a warning naming the dead holder;
* the lock file is removed when its holder finishes; a folder the lock created is removed too
  when the command fails and leaves it empty (a refused input leaves nothing behind).

Locks are re-entrant within one process (a command that locks its run folder may call a
library function that locks it again). Where ``fcntl`` is missing (Windows) the lock file
is created exclusively and a holder on this host whose process is gone counts as dead.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import inspect
import json
import os
import socket
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from breastlab.errors import BreastlabInputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

F = TypeVar("F", bound=Callable[..., Any])
LOCK_NAME = ".breastlab.lock"
_HELD: dict[str, list[Any]] = {}  # real folder path -> [fd, depth] of the locks this process holds


class StaleLockWarning(UserWarning):
    """A lock left by a process that no longer runs was taken over."""


def _command_line() -> str:
    return " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]])


def describe_holder(info: dict[str, Any]) -> str:
    """``process 123 on host h (breastlab export ..., since 2026-01-01T10:00:00Z)``."""
    if not info:
        return "another process (it is still writing its details)"
    return (
        f"process {info.get('pid')} on host {info.get('host')} "
        f"({info.get('command', '?')}, since {info.get('started', '?')})"
    )


def read_holder(folder: str | os.PathLike) -> dict[str, Any]:
    """What the lock file of ``folder`` says about its holder ({} when there is none)."""
    try:
        text = (Path(folder) / LOCK_NAME).read_text()
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, command: str | None = None) -> Iterator[Path]:
    """Hold the lock of ``folder`` (created if missing) for the ``with`` block.

    Raises :class:`BreastlabInputError` naming the holder when another live process holds it,
    or when ``folder`` exists and is not a folder.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BreastlabInputError(f"{folder}: exists and is not a folder; give a folder to write into")
    created = _missing_folders(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(folder)
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield folder
        finally:
            _HELD[key][1] -= 1
        return
    try:
        fd = _acquire(folder, command or _command_line())
    except BaseException:
        _remove_empty(created)
        raise
    _HELD[key] = [fd, 1]
    try:
        yield folder
    except BaseException:
        del _HELD[key]
        _release(folder, fd)
        _remove_empty(created)  # a refused or failed command leaves no empty folder behind
        raise
    del _HELD[key]
    _release(folder, fd)


def _missing_folders(folder: Path) -> list[Path]:
    """The folders ``mkdir(parents=True)`` would create for ``folder``, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders (deepest first) this lock created, as long as they are empty: what a failed
    command wrote (a resumable job's shards, its problems.csv) stays."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _acquire(folder: Path, command: str) -> int:
    path = folder / LOCK_NAME
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "started": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for _ in range(100):  # a holder may remove the file between our open and our lock: try again
        if fcntl is None:  # pragma: no cover - Windows
            return _acquire_exclusive(folder, path, me)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BreastlabInputError(
                f"{folder}: in use by {describe_holder(read_holder(folder))}; wait until it ends or stop it "
                "(one command at a time writes a folder)"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # locked a file its holder had just removed
            os.close(fd)
            continue
        previous = os.pread(fd, 1 << 16, 0)
        if previous.strip():
            _warn_stale(folder, previous)
        data = json.dumps(me).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        return fd
    raise BreastlabInputError(f"{folder}: could not take the lock {path}; try again")


def _warn_stale(folder: Path, previous: bytes) -> None:
    try:
        info = json.loads(previous)
    except ValueError:
        info = {}
    warnings.warn(
        f"{folder}: took over the lock of {describe_holder(info)}, which no longer runs; "
        "what it left is checked before it is reused",
        StaleLockWarning,
        stacklevel=4,
    )


def _release(folder: Path, fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        (folder / LOCK_NAME).unlink()  # while still locked: a waiting process then finds no file or a new one
    if fd >= 0:
        os.close(fd)


def _acquire_exclusive(folder: Path, path: Path, me: dict[str, Any]) -> int:  # pragma: no cover - Windows
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        info = read_holder(folder)
        alive = info.get("host") != socket.gethostname() or _pid_alive(int(info.get("pid", -1)))
        if alive:
            raise BreastlabInputError(f"{folder}: in use by {describe_holder(info)}; wait until it ends") from None
        _warn_stale(folder, json.dumps(info).encode())
        path.unlink()
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, json.dumps(me).encode())
    return fd


def _pid_alive(pid: int) -> bool:  # pragma: no cover - Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return pid > 0


def locks_folder(param: str = "out", command: str | None = None) -> Callable[[F], F]:
    """Decorator: the function holds the lock of the folder given as its argument ``param``."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def locked(*args: Any, **kwargs: Any) -> Any:
            folder = signature.bind(*args, **kwargs).arguments[param]
            with folder_lock(folder, command=command or f"{_command_line()} [{fn.__name__}]"):
                return fn(*args, **kwargs)

        return locked  # type: ignore[return-value]

    return decorate
