"""``breastlab`` command line: parses arguments and calls library functions.

Each capability registers its subcommands in its own module of this package
(``add(sub)``); handlers import their library lazily so ``breastlab --help``
stays fast. Keep handlers thin: no logic here that a library function should own.

Commands that train take ``--config FILE.yaml`` (:func:`~breastlab.cli._args.config_argument`):
the file's values become the command parser's defaults before the command line is parsed.

Exit codes: 0 done; 1 a check failed (the output says which); 2 bad input (a usage
error, or a :class:`~breastlab.errors.BreastlabInputError`: one line naming what was
wrong); 130 interrupted by Ctrl-C and 143 by SIGTERM (what was finished is kept).
A reader that closes the pipe early (``breastlab ... | head``) ends the command
quietly, with 141 as the shell reports a program stopped by SIGPIPE.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from breastlab import __version__
from breastlab.cli import anomaly, curate, data, demo, importer, mammo, stats, train
from breastlab.cli._args import CONFIG_DEST, OLD_SPELLINGS, apply_config_file, resolve_out
from breastlab.errors import BreastlabInputError, Interrupted

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE, EXIT_TERMINATED = 130, 141, 143


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default unless it has none (None, off) or its help text already says it,
    and each option by its current names only (the old spellings of ``OLD_SPELLINGS`` still work)."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        current = [o for o in action.option_strings if o not in OLD_SPELLINGS]
        if current == action.option_strings or not current:
            return super()._format_action_invocation(action)
        shown = copy.copy(action)
        shown.option_strings = current
        return super()._format_action_invocation(shown)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if default is None or default is False or default == argparse.SUPPRESS or action.nargs == 0:
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else str(default)
        if "default" in text.lower() or text.endswith(f"({shown})"):
            return text
        if not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text  # a required positional has no default
        return f"{text} (default: %(default)s)"


def _finish_help(parser: argparse.ArgumentParser) -> None:
    """Every (sub)command shows defaults, and a command's help line doubles as its --help description."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                if child.description is None:
                    child.description = helps.get(name)
                _finish_help(child)


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
        importer.add,
    ):
        add(sub)
    _finish_help(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (see the module docstring)."""
    try:
        try:
            code = _run(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    return code


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        applied = apply_config_file(parser, argv)  # --config FILE: the file's values become the defaults
    except BreastlabInputError as exc:
        print(f"breastlab: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    previous = _raise_on_sigterm()
    try:
        if getattr(args, CONFIG_DEST, None) not in (None, applied):  # e.g. an abbreviated --conf
            raise BreastlabInputError(f"--config {getattr(args, CONFIG_DEST)}: write the option in full, --config")
        resolve_out(args)
        return int(args.func(args) or EXIT_OK)
    except BreastlabInputError as exc:
        print(f"breastlab: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, Interrupted) as exc:
        # what was finished is on disk (atomic writes, shards); workers are already stopped
        code = exc.exit_code if isinstance(exc, Interrupted) else EXIT_INTERRUPTED
        signalled = code in (EXIT_INTERRUPTED, EXIT_TERMINATED)
        why = f"{exc.reason}; " if isinstance(exc, Interrupted) and not signalled else ""
        print(f"breastlab: {why}interrupted; run the same command to resume", file=sys.stderr)
        return code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so the interpreter's last flush does not fail on the closed pipe again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _raise_on_sigterm() -> Any:
    """SIGTERM stops a command like Ctrl-C does (workers stopped, message, exit code 143); returns the
    handler it replaced (None where handlers cannot be set: not the main thread)."""

    def terminate(signum: int, frame: Any) -> None:
        raise Interrupted("terminated (SIGTERM)", exit_code=EXIT_TERMINATED)

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, terminate)


if __name__ == "__main__":
    sys.exit(main())
