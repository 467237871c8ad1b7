"""``breastlab`` command line: parses arguments and calls library functions.

Each capability registers its subcommands in its own module of this package
(``add(sub)``); handlers import their library lazily so ``breastlab --help``
stays fast. Keep handlers thin: no logic here that a library function should own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from breastlab import __version__
from breastlab.cli import anomaly, curate, data, demo, importer, mammo, stats, train
from breastlab.errors import BreastlabInputError


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BreastlabInputError as exc:
        print(f"breastlab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
