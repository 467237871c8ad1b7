"""The one job runner of the store builders: per-key jobs in worker processes, one error policy.

Slice export, MIP building and mammography preprocessing each turn one patient into one
store key. :class:`JobRunner` runs such jobs

* in ``workers`` processes started by :func:`worker_context` (or in this process with one
  worker), with a progress bar;
* with one error policy: a job that raises goes to the :class:`~breastlab.problems.ProblemLog`
  under its key (a :class:`~breastlab.errors.BreastlabInputError` with its message, anything
  else as ``Type: message``) and the other jobs go on; with ``errors="raise"`` the first
  failure stops the run;
* so that nothing keeps running when the run stops: on Ctrl-C, SIGTERM (turned into
  :class:`~breastlab.errors.Interrupted` by the command line) or any other exception the
  workers are killed at once; workers ignore Ctrl-C themselves (the terminal sends it to
  the whole process group; the parent decides), and each worker watches a pipe from the
  parent and exits when the parent is gone, even after a SIGKILL that gave the parent no
  chance to clean up (the fork server exits by itself then).

Results come back to the parent through ``on_result(job, result)``, which writes them
(a :class:`~breastlab.data.store.StoreWriter` key) or raises to report the job.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from breastlab.errors import BreastlabInputError, Interrupted
from breastlab.problems import ProblemLog, check_workers

if TYPE_CHECKING:
    from breastlab.data.store import StoreWriter

J = TypeVar("J")
R = TypeVar("R")

# Modules every worker needs; forked from the server that imported them once.
BASE_MODULES = ["numpy", "pandas", "breastlab.data.store", "breastlab.data.runner"]


def worker_context(preload: Sequence[str] = ()) -> multiprocessing.context.BaseContext:
    """How worker processes start, for every parallel job of the package.

    "forkserver" (POSIX): workers fork from a clean server process that imported
    ``preload`` once, so no threads of the parent (pyarrow, tqdm, torch) are inherited
    and, unlike "spawn", the imports are paid once per session, not per worker.
    Elsewhere "spawn".
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([*BASE_MODULES, *preload])
        return ctx
    return multiprocessing.get_context("spawn")


def failure_message(exc: BaseException) -> str:
    """The problems.csv message of a failed job."""
    return str(exc) if isinstance(exc, BreastlabInputError) else f"{type(exc).__name__}: {exc}"


def _worker_init(parent_alive: Any) -> None:
    """In each worker: leave Ctrl-C to the parent, and exit when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            parent_alive.recv_bytes()  # nothing is ever sent: returns only at EOF, when the parent is gone
        os._exit(1)

    threading.Thread(target=watch, name="breastlab-parent-watch", daemon=True).start()


def _worker_died() -> Interrupted:
    """A worker was killed (out of memory, a signal): the run stops, a resume redoes the lost keys."""
    return Interrupted("a worker process died (killed by a signal or out of memory)", exit_code=1)


class JobRunner:
    """Worker processes for per-key jobs (see the module notes); use as a context manager.

    Parameters
    ----------
    workers : processes (1: jobs run in this process, no pool).
    problems : where failed jobs are listed.
    stage : the ``stage`` of their problems.csv rows.
    errors : "log" (a failing job is listed, the others go on) or "raise".
    preload : modules the workers import once (see :func:`worker_context`).
    desc, progress : progress bar label, and whether to show it.

    The worker processes start when the runner is entered, so they are ready while the
    parent still reads its tables.
    """

    def __init__(
        self,
        workers: int,
        problems: ProblemLog,
        stage: str,
        *,
        errors: str = "log",
        preload: Sequence[str] = (),
        desc: str = "",
        progress: bool = True,
    ) -> None:
        check_workers(workers)
        if errors not in ("log", "raise"):
            raise BreastlabInputError(f"errors={errors!r}: valid values are 'log' and 'raise'")
        self.workers, self.problems, self.stage, self.errors = workers, problems, stage, errors
        self.preload, self.desc, self.progress = list(preload), desc, progress
        self._pool: ProcessPoolExecutor | None = None
        self._alive: tuple[Any, Any] = (None, None)  # (reading end, writing end) of the parent's pipe

    def __enter__(self) -> JobRunner:
        if self.workers > 1:
            ctx = worker_context(self.preload)
            # Only this process holds the writing end (the workers get the reading end): it closes when
            # this process ends, however it ends, and the workers see end-of-file.
            self._alive = ctx.Pipe(duplex=False)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=ctx, initializer=_worker_init, initargs=(self._alive[0],)
            )
            for _ in range(self.workers):
                self._pool.submit(int)  # processes start on demand: one no-op task each starts them all
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._pool is None:
            return
        if exc_type is not None:
            self._kill()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for end in self._alive:
            end.close()
        self._pool = None

    def _kill(self) -> None:
        """Stop every worker now (a running job is lost; its key is redone on resume)."""
        for proc in list(getattr(self._pool, "_processes", {}).values()):
            if proc.is_alive():
                proc.kill()

    def worker_pids(self) -> list[int]:
        """Process ids of the workers (for tests and monitoring)."""
        return [p.pid for p in getattr(self._pool, "_processes", {}).values()] if self._pool else []

    def run(
        self,
        work: Callable[[J], R],
        jobs: Iterable[J],
        key: Callable[[J], str],
        on_result: Callable[[J, R], None] | None = None,
        before_results: Callable[[], Collection[str]] | None = None,
        initial: int = 0,
    ) -> None:
        """``work(job)`` for every job (in the workers), ``on_result(job, result)`` here.

        ``before_results()`` runs once the jobs are handed to the workers (before the first
        result is taken; with one worker, before the first job) and returns keys whose jobs
        are no longer wanted: they are cancelled or their results dropped. ``initial``: jobs
        already done before this run (for the progress bar).
        """
        from breastlab.progress import progress

        jobs = list(jobs)
        self._failures: dict[str, str] = {}
        with progress(total=initial + len(jobs), initial=initial, desc=self.desc, unit="patient",
                  disable=not self.progress) as bar:  # fmt: skip
            if self._pool is None or len(jobs) <= 1:
                dropped = set(before_results()) if before_results else set()
                for job in jobs:
                    if key(job) not in dropped:
                        self._finish(job, key, work, on_result, None)
                    bar.update(1)
            else:
                try:
                    self._run_pool(work, jobs, key, on_result, before_results, bar)
                except BrokenProcessPool:
                    raise _worker_died() from None
        for job in jobs:  # in job order, whatever order the workers finished in
            if key(job) in self._failures:
                self.problems.add(key(job), self.stage, self._failures[key(job)])

    def _run_pool(self, work, jobs, key, on_result, before_results, bar) -> None:
        futures = {self._pool.submit(work, job): job for job in jobs}
        dropped = set(before_results()) if before_results else set()
        pending = set()
        for fut, job in futures.items():
            if key(job) in dropped:
                fut.cancel()
                bar.update(1)
            else:
                pending.add(fut)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda f: key(futures[f])):
                self._finish(futures[fut], key, None, on_result, fut)
                bar.update(1)

    def _finish(self, job: J, key: Callable[[J], str], work: Callable[[J], R] | None,
                on_result: Callable[[J, R], None] | None, fut: Future | None) -> None:  # fmt: skip
        """One job's result through ``on_result``; a failure (of the job or of ``on_result``) is reported."""
        try:
            result = work(job) if fut is None else fut.result()
            if on_result is not None:
                on_result(job, result)
        except BrokenProcessPool:
            raise _worker_died() from None
        except Exception as exc:  # noqa: BLE001 - one failing job is reported, the others go on
            if self.errors == "raise":
                raise
            self._failures[key(job)] = failure_message(exc)


def check_some_stored(writer: StoreWriter, problems: ProblemLog, out: Path, also_remove: Sequence[str] = ()) -> None:
    """Refuse to finalise a store when every patient went to ``problems.csv``: a store of no images (and
    a summary of nothing) would otherwise end the command as if it had worked (slice export, MRI and
    mammography import and preprocessing call it before ``finalize``). The message names the
    first problem; ``problems.csv`` lists them all and is all the folder keeps (``also_remove``: other
    files of ``out`` written before the run)."""
    if writer.done_keys():
        return
    shutil.rmtree(writer.shard_dir, ignore_errors=True)  # nothing to resume: the folder keeps problems.csv only
    for name in also_remove:  # side files written before the run (e.g. the local source list)
        (Path(out) / name).unlink(missing_ok=True)
    first = problems.problems[0].message if len(problems) else "nothing to do"
    raise BreastlabInputError(
        f"{out}: no patient was stored ({len(problems)} problem(s), listed in {out / 'problems.csv'}; first: {first})"
    )
