"""Argument helpers shared by the command modules (one grammar for every command).

``--config FILE.yaml`` (:func:`config_argument`) reads a command's options from a YAML mapping
whose keys are the options' names (``batch_size`` or ``batch-size``, as ``--batch-size``). The
file's values become the parser's defaults before the command line is parsed, so every option
given on the command line overrides the file, and the file's values are checked against the
parser's own types and choices. :func:`save_config` writes the options a command ran with as
``config.yaml`` in its output folder, the same format: ``--config OUT/config.yaml`` repeats it.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from breastlab.errors import BreastlabInputError

CONFIG_DEST = "config_file"
# options that say how one call runs (continue a run, stop early), not what the run is: not saved
_NOT_SAVED = frozenset({"resume", "stop_after"})
# not options of the command: the file itself, the second spelling of a positional OUT
_NOT_KEYS = frozenset({CONFIG_DEST, "out_option"})
# option names of before the grammar was made one, still accepted after the new name (same
# destination) so that existing scripts and config files keep working; --help shows the new name only
OLD_SPELLINGS = {"--bootstrap": "--n-boot", "--boot-n": "--n-boot", "--cluster": "--patient", "--parallel": "--workers"}


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[str, argparse.ArgumentParser]:
    """Every leaf command below ``parser`` by its name as typed (``"mammo detect train"``): the grammar's
    tests and any generated documentation walk the one tree the command line runs."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {" ".join(path): parser}
    leaves: dict[str, argparse.ArgumentParser] = {}
    for action in subs:
        for name, child in action.choices.items():
            leaves.update(leaf_commands(child, (*path, name)))
    return leaves


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


def config_argument(p: argparse.ArgumentParser) -> None:
    """Add ``--config FILE.yaml`` to the command ``p`` (see the module docstring)."""
    p.add_argument(
        "--config",
        dest=CONFIG_DEST,
        metavar="FILE.yaml",
        default=None,
        help="read options from this YAML file (keys: the options' names, e.g. batch_size: 16); "
        "options on the command line override it; the output folder's config.yaml repeats the command",
    )
    p.set_defaults(config_parser=p)


# ----------------------------------------------------------------------------- reading
def apply_config_file(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """Make the values of ``--config FILE`` in ``argv`` the defaults of the command's parser.

    Returns the file applied (None: no ``--config``). The file is checked here, against the
    command's parser: an unknown key, a value of the wrong type or outside the option's
    choices raises :class:`BreastlabInputError` naming the file, the key and what is valid.
    Options the file gives are no longer required on the command line.
    """
    leaf, rest = _command_parser(parser, list(argv))
    if not any(a.dest == CONFIG_DEST for a in leaf._actions):
        return None
    path = _config_path(leaf, rest)
    if path is None:
        return None
    options = config_options(leaf)
    spellings = {_key(o): dest for dest, a in options.items() for o in a.option_strings}
    defaults: dict[str, Any] = {}
    for key, value in _read_mapping(path).items():
        name = spellings.get(_key(str(key)), _key(str(key)))
        action = options.get(name)
        if action is None:
            raise BreastlabInputError(
                f"{path}: unknown key {key!r} for `{leaf.prog}`; valid keys: {', '.join(sorted(options))}"
            )
        if name in defaults:
            raise BreastlabInputError(f"{path}: {name} given twice (as {key} and an earlier spelling)")
        defaults[name] = _convert(f"{path}: {key}", action, value)
        _not_required(action)
    leaf.set_defaults(**defaults)
    return path


def config_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The keys a config file of ``parser``'s command may hold: its options' destination names."""
    return {
        a.dest: a
        for a in parser._actions
        if a.dest not in _NOT_KEYS
        and a.dest != argparse.SUPPRESS
        and not isinstance(a, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction)
    }


def _key(option: str) -> str:
    """A config file's key for an option string: ``--batch-size`` and ``batch-size`` are ``batch_size``."""
    return option.lstrip("-").replace("-", "_")


def _command_parser(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The (sub)command parser that ``argv`` names, and the arguments after its name."""
    for i, token in enumerate(argv):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or token not in subs[0].choices:
            return parser, argv[i:]
        parser = subs[0].choices[token]
    return parser, []


def _config_path(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """The value of ``--config`` in ``argv``, spelt as argparse accepts it (``--config=F``, ``--conf F``)."""
    options = [o for a in parser._actions for o in a.option_strings]
    for i, token in enumerate(argv):
        if token == "--":
            return None
        name, eq, value = token.partition("=")
        if len(name) < 3 or not "--config".startswith(name):
            continue
        if name != "--config" and [o for o in options if o.startswith(name)] != ["--config"]:
            continue  # ambiguous or another option's prefix: argparse decides
        if eq:
            return value
        return argv[i + 1] if i + 1 < len(argv) else None
    return None


def _read_mapping(path: str) -> dict[Any, Any]:
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BreastlabInputError(f"{path}: no such config file (--config)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BreastlabInputError(f"{path}: cannot read the config file ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BreastlabInputError(f"{path}: not valid YAML{where}; write one `option: value` per line") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BreastlabInputError(
            f"{path}: a config file is a mapping of option names to values (`option: value` lines), "
            f"not a {type(data).__name__}"
        )
    return data


def _not_required(action: argparse.Action) -> None:
    """The file gives this option: the command line need not."""
    action.required = False
    if not action.option_strings:  # a positional: make it optional, its default (the file's) fills in
        if action.nargs is None:
            action.nargs = argparse.OPTIONAL
        elif action.nargs == argparse.ONE_OR_MORE:
            action.nargs = argparse.ZERO_OR_MORE


def _expected(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "true or false"
    if action.choices is not None:
        one = "one of " + ", ".join(map(str, action.choices))
    else:
        one = getattr(action.type, "expected", None) or {int: "a whole number", float: "a number"}.get(
            action.type,  # type: ignore[arg-type]
            "text",
        )
    many = action.nargs in (argparse.ONE_OR_MORE, argparse.ZERO_OR_MORE) or isinstance(action.nargs, int)
    if many or isinstance(action, argparse._AppendAction):
        return f"a list, each {one}"
    return one


def _convert(where: str, action: argparse.Action, value: Any) -> Any:
    """The file's value as the command line's parse would give it, or an error naming the key."""
    if value is None:
        if action.default is None:
            return None  # the option's own "not given"
        raise BreastlabInputError(f"{where}: no value; expected {_expected(action)} (default {action.default!r})")
    if action.nargs == 0:  # a switch: the value its destination takes
        if not isinstance(value, bool):
            raise BreastlabInputError(f"{where}: {value!r} is not valid; expected true or false")
        return value
    many = action.nargs in (argparse.ONE_OR_MORE, argparse.ZERO_OR_MORE) or isinstance(action.nargs, int)
    if many or isinstance(action, argparse._AppendAction):
        items = value if isinstance(value, list) else [value]
        if not items and action.nargs == argparse.ONE_OR_MORE:
            raise BreastlabInputError(f"{where}: empty list; expected {_expected(action)}")
        return [_convert_one(where, action, v) for v in items]
    return _convert_one(where, action, value)


def _convert_one(where: str, action: argparse.Action, value: Any) -> Any:
    bad = f"{where}: {value!r} is not valid; expected {_expected(action)}"
    if isinstance(value, bool):  # YAML reads yes/no/on/off as booleans
        raise BreastlabInputError(f"{bad} (YAML reads yes, no, on, off as true/false: quote the text)")
    if isinstance(value, datetime.date):
        raise BreastlabInputError(f"{bad} (YAML reads it as a date: quote the text)")
    if not isinstance(value, str | int | float):
        raise BreastlabInputError(bad)
    kind = action.type
    try:
        if kind is None:
            converted: Any = value if isinstance(value, str) else str(value)
        elif getattr(kind, "base", kind) is int and isinstance(value, float):  # int or a checked count
            if not value.is_integer():
                raise ValueError(value)
            converted = kind(str(int(value)))  # type: ignore[misc, operator]
        elif kind in (int, float) and not isinstance(value, str):
            converted = kind(value)
        else:
            converted = kind(str(value))  # type: ignore[misc, operator]
    except (ValueError, TypeError, argparse.ArgumentTypeError):
        raise BreastlabInputError(bad) from None
    if action.choices is not None and converted not in action.choices:
        raise BreastlabInputError(bad)
    return converted


# ----------------------------------------------------------------------------- writing
def save_config(args: argparse.Namespace, folder: str | Path) -> Path:
    """Write the options the command ran with to ``folder/config.yaml`` (``--config`` repeats it).

    Every option of the command is written, those left at their default too, except the ones
    that say how one call runs (``resume``, ``stop_after``). Relative paths stay relative: they
    are read from the folder the command is run in, as on the command line; absolute paths are
    written relative to that folder too (no local path in a folder a user shares).
    """
    import yaml

    from breastlab._io import option_path, write_text
    from breastlab.schemas import RUN

    parser: argparse.ArgumentParser = args.config_parser
    values = {
        dest: option_path(_plain(getattr(args, dest, action.default)))
        for dest, action in config_options(parser).items()
        if dest not in _NOT_SAVED
    }
    header = f"# `{parser.prog}` options; repeat with: {parser.prog} --config THIS_FILE\n"
    body = yaml.safe_dump(values, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return write_text(header + body, Path(folder) / RUN.config_yaml)


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# ----------------------------------------------------------------------------- checked numbers
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
    parse.base = int  # type: ignore[attr-defined]  # the plain type it checks
    parse.expected = f"a whole number >= {minimum}"  # type: ignore[attr-defined]  # what --config says
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
    parse.base = float  # type: ignore[attr-defined]
    parse.expected = what  # type: ignore[attr-defined]
    return parse


# confidence and significance levels, prevalences, powers: strictly between 0 and 1
open_fraction = _float_in(0.0, 1.0, closed=False, what="a number strictly between 0 and 1")
# a fixed sensitivity or specificity: 0 and 1 included
unit_fraction = _float_in(0.0, 1.0, closed=True, what="a number from 0 to 1")
non_negative_float = _float_in(0.0, float("inf"), closed=True, what="a number >= 0")
positive_float = _float_in(0.0, float("inf"), closed=False, what="a number > 0")
