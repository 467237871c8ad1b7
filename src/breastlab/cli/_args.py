"""Argument helpers shared by the command modules (one grammar for every command)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

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


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``minimum`` (counts of workers, epochs, resamples ...).

    A bad count is refused while the command line is parsed, before any input is read, with a
    message naming the option; a negative count would otherwise run zero epochs or resamples silently.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: give a whole number >= {minimum}")
        return value

    parse.__name__ = f"int_at_least_{minimum}"
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def _float_in(low: float, high: float, closed: bool, what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        inside = low <= value <= high if closed else low < value < high
        if not inside:
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: give {what}")
        return value

    parse.__name__ = "float"
    return parse


# confidence and significance levels, prevalences, powers: strictly between 0 and 1
open_fraction = _float_in(0.0, 1.0, closed=False, what="a number strictly between 0 and 1")
# a fixed sensitivity or specificity: 0 and 1 included
unit_fraction = _float_in(0.0, 1.0, closed=True, what="a number from 0 to 1")
non_negative_float = _float_in(0.0, float("inf"), closed=True, what="a number >= 0")
