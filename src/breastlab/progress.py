"""Progress reporting that suits where it goes.

On a terminal (standard error is a TTY, or a Jupyter kernel) :func:`progress` is a live
tqdm bar. Anywhere else (a log file, CI, a pipe) a bar's carriage-return updates would pile
up on one line, so it writes plain lines instead: one when a stage starts, one when it ends
(with counts, elapsed time and rate) and, for long stages, one every ``INTERVAL_S`` seconds.

``BREASTLAB_PROGRESS=bar|log|off`` overrides the choice (``off`` silences both).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

INTERVAL_S = 30.0
MODES = ("bar", "log", "off")


def progress_mode(stream: TextIO | None = None) -> str:
    """``bar``, ``log`` or ``off``: ``BREASTLAB_PROGRESS`` if set, else ``bar`` on a terminal, ``log`` elsewhere."""
    forced = os.environ.get("BREASTLAB_PROGRESS", "").strip().lower()
    if forced:
        if forced not in MODES:
            from breastlab.errors import BreastlabInputError

            raise BreastlabInputError(f"BREASTLAB_PROGRESS={forced!r}: expected one of {', '.join(MODES)}")
        return forced
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if (isatty is not None and isatty()) or _in_notebook():
        return "bar"
    return "log"


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (its stderr is no TTY, yet it draws tqdm's widget bars)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def progress(
    iterable: Iterable[Any] | None = None,
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    initial: int = 0,
    leave: bool = True,
    disable: bool = False,
) -> Any:
    """A progress bar over ``iterable`` (or updated by hand with ``update``); tqdm's interface.

    ``leave=False`` marks a transient sub-stage (an epoch's batches): on a terminal its bar
    disappears when done; in a log it writes only the interval lines, not start and end.
    The result supports iteration, ``update(n)``, ``set_postfix(**values)``, ``close()`` and ``with``.
    """
    mode = "off" if disable else progress_mode()
    if mode == "bar":
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, unit=unit, initial=initial, leave=leave)
    return LogProgress(
        iterable, desc=desc, total=total, unit=unit, initial=initial, transient=not leave, silent=mode == "off"
    )


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class LogProgress:
    """Progress written as whole lines (start, every ``interval`` seconds, end) to ``file`` (stderr)."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        desc: str,
        total: int | None = None,
        unit: str = "it",
        initial: int = 0,
        transient: bool = False,
        silent: bool = False,
        interval: float = INTERVAL_S,
        file: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.desc, self.total, self.unit = iterable, desc, total, unit
        self.n = self.initial = initial
        self.transient, self.silent, self.interval = transient, silent, interval
        self._file, self._clock = file, clock
        self._start = self._last = clock()
        self._postfix = ""
        self._closed = False
        if not transient:
            self._write(f"started, {self._count()}")

    # -- tqdm's interface
    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError(f"{self.desc}: progress made without an iterable cannot be iterated")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return 0 if self.total is None else self.total

    def __bool__(self) -> bool:  # an empty or unsized bar is still a bar (``if bar:``), as tqdm's
        return True

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self._clock()
        if now - self._last >= self.interval:
            self._last = now
            self._write(f"{self._count()} after {_duration(now - self._start)}")

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **values: Any) -> None:
        items = {**(ordered_dict or {}), **values}
        self._postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        elapsed = self._clock() - self._start
        if self.transient and elapsed < self.interval:
            return  # a short sub-stage: its parent's lines say enough
        finished = self.total is None or self.n >= self.total
        done = self.n - self.initial
        rate = f" ({done / elapsed:.3g} {self.unit}/s)" if finished and elapsed > 0 and done > 0 else ""
        word = "done," if finished else "stopped at"
        self._write(f"{word} {self._count()} in {_duration(elapsed)}{rate}")

    # -- lines
    def _count(self) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        return f"{self.n}{of} {self.unit}"

    def _write(self, message: str) -> None:
        if self.silent:
            return
        extra = f" [{self._postfix}]" if self._postfix else ""
        file = sys.stderr if self._file is None else self._file
        print(f"{self.desc}: {message}{extra}", file=file, flush=True)
