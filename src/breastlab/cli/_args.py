"""Argument helpers shared by the command modules (one grammar for every command)."""

from __future__ import annotations

import argparse

from breastlab.errors import BreastlabInputError


def out_argument(p: argparse.ArgumentParser, help: str) -> None:
    """OUT as a positional (the older form) or as ``--out OUT``, as every other command writes."""
    p.add_argument("out", nargs="?", default=None, help=f"{help} (or give it as --out)")
    p.add_argument("--out", dest="out_option", metavar="OUT", default=None, help=help)


def resolve_out(args: argparse.Namespace) -> None:
    """Fold ``--out`` of :func:`out_argument` into ``args.out``; exactly one of the two forms is needed."""
    if not hasattr(args, "out_option"):
        return
    given = [v for v in (args.out, args.out_option) if v is not None]
    if not given:
        raise BreastlabInputError("no output given: add --out OUT")
    if len(given) == 2 and given[0] != given[1]:
        raise BreastlabInputError(f"two outputs given ({given[0]} and --out {given[1]}); give one")
    args.out = given[0]
