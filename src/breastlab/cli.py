"""``breastlab`` command line: parses arguments and calls library functions.

Each capability registers its subcommands in its own ``_add_<group>`` function
below; handlers import their library lazily so ``breastlab --help`` stays fast.
Keep handlers thin: no logic here that a library function should own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from breastlab import __version__
from breastlab.problems import BreastlabInputError


# ------------------------------------------------------------------ data: Duke tables (issue 2)
def _add_duke(sub: argparse._SubParsersAction) -> None:
    pass


# --------------------------------------------------------------------------- data: DICOM + export (issue 2)
def _add_export(sub: argparse._SubParsersAction) -> None:
    pass


# --------------------------------------------------------------------------- data: phantoms (issue 2)
def _add_phantom(sub: argparse._SubParsersAction) -> None:
    pass


# --------------------------------------------------------------------------- curate (issue 3)
def _add_curate(sub: argparse._SubParsersAction) -> None:
    pass


# --------------------------------------------------------------------------- train/sweep (issue 4)
def _add_train(sub: argparse._SubParsersAction) -> None:
    pass


# --------------------------------------------------------------------------- evaluate/report (issue 4)
def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    pass


# --------------------------------------------------------------------------- stats (issue 5)
def _add_stats(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="ROC/AUC, DeLong, bootstrap, agreement, reader studies, MRMC")
    stats_sub = p.add_subparsers(dest="stats_command", metavar="STAT")
    _add_stats_roc(stats_sub)
    _add_stats_mrmc(stats_sub)


def _add_stats_roc(stats_sub: argparse._SubParsersAction) -> None:
    pass


# --------------------------------------------------------------------------- stats mrmc (issue 6)
def _add_stats_mrmc(stats_sub: argparse._SubParsersAction) -> None:
    pass


# --------------------------------------------------------------------------- demo
def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job on the built-in phantom cohort")
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--patients", type=int, default=None, help="phantom patients (default: the demo's own)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from breastlab.demo import run_demo

    run_demo(out=args.out, patients=args.patients, seed=args.seed)
    return 0


# --------------------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breastlab", description="Breast-imaging AI research toolkit")
    parser.add_argument("--version", action="version", version=f"breastlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_duke, _add_export, _add_phantom, _add_curate, _add_train, _add_evaluate, _add_stats, _add_demo):
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
