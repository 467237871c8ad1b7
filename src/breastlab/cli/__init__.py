"""``breastlab`` command line: parses arguments and calls library functions.

Each capability registers its subcommands in its own module of this package
(``add(sub)``); handlers import their library lazily so ``breastlab --help``
stays fast. Keep handlers thin: no logic here that a library function should own.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from breastlab import __version__
from breastlab.cli import anomaly, curate, data, demo, mammo, stats, train
from breastlab.errors import BreastlabInputError, Interrupted


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breastlab", description="Breast-imaging AI research toolkit")
    parser.add_argument("--version", action="version", version=f"breastlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (
        data.add_duke,
        data.add_export,
        data.add_phantom,
        curate.add,
        train.add_train,
        train.add_evaluate,
        stats.add,
        anomaly.add,
        mammo.add,
        demo.add,
    ):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    previous = _raise_on_sigterm()
    try:
        return int(args.func(args) or 0)
    except BreastlabInputError as exc:
        print(f"breastlab: error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted) as exc:
        # what was finished is on disk (atomic writes, shards); workers are already stopped
        why = f"{exc.reason}; " if isinstance(exc, Interrupted) and exc.exit_code not in (130, 143) else ""
        print(f"breastlab: {why}interrupted; run the same command to resume", file=sys.stderr)
        return exc.exit_code if isinstance(exc, Interrupted) else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_on_sigterm() -> Any:
    """SIGTERM stops a command like Ctrl-C does (workers stopped, message, exit code 143); returns the
    handler it replaced (None where handlers cannot be set: not the main thread)."""

    def terminate(signum: int, frame: Any) -> None:
        raise Interrupted("terminated (SIGTERM)", exit_code=143)

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, terminate)


if __name__ == "__main__":
    sys.exit(main())
