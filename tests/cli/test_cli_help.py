"""Every option of every command has a help text; defaults are shown; help and README state the code's presets."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from breastlab.cli import HelpFormatter, build_parser
from breastlab.cli._args import leaf_commands
from breastlab.presets import CPU_PRESET, PAPER_PRESET

ROOT = Path(__file__).resolve().parents[2]


LEAVES = leaf_commands(build_parser())


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_the_walk_finds_every_command_group():
    groups = {name.split()[0] for name in LEAVES}
    assert {"duke", "export", "phantom", "curate", "train", "evaluate", "stats", "anomaly", "mammo", "demo"} <= groups
    assert len(LEAVES) >= 33


@pytest.mark.parametrize("command", sorted(LEAVES))
def test_every_option_has_help_and_the_command_a_description(command):
    parser = LEAVES[command]
    missing = [
        a.option_strings[0] if a.option_strings else a.dest
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction) and not (a.help and a.help.strip())
    ]
    assert missing == [], f"breastlab {command}: options without help text: {missing}"
    assert parser.description, f"breastlab {command}: no description in --help"
    assert parser.formatter_class is HelpFormatter
    parser.format_help()  # a stray '%' in a help text would raise here


@pytest.mark.parametrize(
    ("command", "option", "default"),
    [("train", "--lr", "0.001"), ("curate splits", "--seed", "0"), ("stats auc", "--conf-level", "0.95")],
)
def test_defaults_are_shown(command, option, default):
    text = _flat(LEAVES[command].format_help())
    assert re.search(rf"{re.escape(option)} \S+ .*?\(default: {re.escape(default)}\)", text), text


def _shown_defaults(default) -> list[str]:
    """How a default may read in a help text: as %(default)s prints it, or its items joined by spaces."""
    shown = [str(default)]
    if isinstance(default, list | tuple):
        shown.append(" ".join(map(str, default)))
    return [s.lower() for s in shown]


@pytest.mark.parametrize("command", sorted(LEAVES))
def test_every_default_is_shown_in_its_help_line(command):
    """An option with a default (not None, not an off switch) states it in its own help line."""
    parser = LEAVES[command]
    formatter = parser._get_formatter()
    hidden = []
    for action in parser._actions:
        default = action.default
        if default is None or default is False or default == argparse.SUPPRESS or action.nargs == 0:
            continue
        text = _flat(formatter._expand_help(action)).lower()
        if not any(shown in text for shown in _shown_defaults(default)):
            hidden.append(f"{action.option_strings[0] if action.option_strings else action.dest}={default!r}")
    assert hidden == [], f"breastlab {command}: defaults not shown in --help: {hidden}"


def _is_column(action: argparse.Action) -> bool:
    return action.type is None and action.nargs is None and action.choices is None


def _whole_number(action: argparse.Action) -> bool:
    """int, or a checked count of cli._args (int_at_least: its plain type is int)."""
    return getattr(action.type, "base", action.type) is int


# the option names the README's "Command line" section gives one meaning, as the parser must define them
SHARED_OPTIONS = {
    "--truth": _is_column,
    "--patient": _is_column,
    "--score": _is_column,  # a column, given once or repeated (append)
    "--out": lambda a: a.nargs is None and a.type is None and a.choices is None,
    "--n-boot": lambda a: _whole_number(a) and a.nargs is None,
    "--seed": lambda a: a.type is int and a.nargs is None,
    "--workers": lambda a: _whole_number(a) and a.nargs is None,
    "--config": lambda a: a.dest == "config_file" and a.metavar == "FILE.yaml",
}


def test_shared_option_names_mean_one_thing_everywhere():
    found = {option: 0 for option in SHARED_OPTIONS}
    wrong = []
    for command, parser in LEAVES.items():
        for action in parser._actions:
            for option in set(action.option_strings) & set(SHARED_OPTIONS):
                found[option] += 1
                if not SHARED_OPTIONS[option](action):
                    wrong.append(f"breastlab {command} {option}")
    assert wrong == []
    assert all(found.values()), found  # each name is used somewhere: the list is not stale


# other names for the same things: never an option's own name (at most a second spelling of the shared one)
OTHER_NAMES = {
    "--n-boot": ("--bootstrap", "--boot-n", "--boot", "--nboot", "--n-bootstrap", "--replicates", "--n-replicates"),
    "--patient": ("--cluster", "--patient-id", "--patient-col"),
    "--seed": ("--random-state", "--random-seed", "--rng"),
    "--workers": ("--jobs", "--n-jobs", "-j", "--processes", "--parallel", "--procs", "--num-workers"),
    "--truth": ("--label", "--labels-col", "--target", "--y-true", "--gt"),
    "--score": ("--scores-col", "--prob", "--probability", "--y-score"),
}


def test_no_command_names_a_shared_option_otherwise():
    """An option spelt as another name of a shared one is a second spelling of that option, not its own name."""
    wrong = []
    for command, parser in LEAVES.items():
        for action in parser._actions:
            for shared, others in OTHER_NAMES.items():
                if set(action.option_strings) & set(others) and action.option_strings[0] != shared:
                    wrong.append(f"breastlab {command} {'/'.join(action.option_strings)} (name it {shared})")
    assert wrong == []


@pytest.mark.parametrize(
    ("command", "old", "new", "value"),
    [
        ("evaluate", "--bootstrap", "--n-boot", "7"),
        ("report", "--bootstrap", "--n-boot", "7"),
        ("stats roc-test", "--boot-n", "--n-boot", "7"),
        ("stats auc", "--cluster", "--patient", "pid"),
        ("stats bootstrap", "--cluster", "--patient", "pid"),
        ("sweep", "--parallel", "--workers", "3"),
    ],
)
def test_old_spellings_still_work_but_help_shows_the_new_name(command, old, new, value):
    parser = LEAVES[command]
    action = next(a for a in parser._actions if new in a.option_strings)
    required = [a for a in parser._actions if a.required or (not a.option_strings and a.nargs is None)]
    argv = ["X" if not a.option_strings else f"{a.option_strings[0]}=X" for a in required]
    expected = action.type(value) if action.type else value
    assert getattr(parser.parse_args([*argv, old, value]), action.dest) == expected
    assert vars(parser.parse_args([*argv, old, value])) == vars(parser.parse_args([*argv, new, value]))
    text = parser.format_help()
    assert re.search(rf"{re.escape(new)}\b", text) and not re.search(rf"{re.escape(old)}\b(?!-)", text), text


def test_options_without_a_default_do_not_claim_one():
    text = _flat(LEAVES["stats auc"].format_help())
    assert "(default: None)" not in text and "(default: False)" not in text


def test_classify_help_states_the_presets_the_code_uses():
    text = _flat(LEAVES["mammo classify"].format_help())
    for preset in (CPU_PRESET, PAPER_PRESET):
        assert f"batch {preset['batch_size']}," in text
        assert f"lr {preset['lr']:g} " in text
        assert f"{preset['iterations']:,} iterations" in text
    cpu = text[text.index("cpu: small_cnn") :]
    assert cpu.startswith(f"cpu: {CPU_PRESET['model']} (width {CPU_PRESET['model_kwargs']['width']}, ")
    assert f"--spacing {CPU_PRESET['store']['spacing']:g} --size 128 96" in text


def test_readme_states_the_presets_the_code_uses_and_no_stale_sentence():
    readme = _flat((ROOT / "README.md").read_text())
    assert "is not built yet" not in readme
    section = readme[readme.index("## Mammogram classification") : readme.index("## Mammography detection")]
    paper, size = PAPER_PRESET, PAPER_PRESET["image_size"]
    assert (
        f"`--preset paper` ({paper['model']}, batch {paper['batch_size']}, lr {paper['lr']:g}, {size}×{size}" in section
    )
    assert (
        f"batch {paper['batch_size']}, SGD momentum {paper['momentum']:g}, wd {paper['wd']:g}, "
        f"lr {paper['lr']:g} ×{paper['lr_gamma']:g} every {paper['lr_step']:,} iterations"
    ) in section
    assert f"`{CPU_PRESET['model']}` (width {CPU_PRESET['model_kwargs']['width']}, global max pool" in section
    assert f"batch {CPU_PRESET['batch_size']}, lr {CPU_PRESET['lr']:g}" in section
    assert f"(×{CPU_PRESET['lr_gamma']:g} after {CPU_PRESET['lr_step']})" in section
    assert f"{CPU_PRESET['iterations']} iterations" in section
    store = CPU_PRESET["store"]
    assert f"--spacing {store['spacing']:g} --size {' '.join(map(str, store['size']))}" in section


def test_building_the_parser_loads_no_heavy_library():
    code = "import sys; from breastlab.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.stdout.strip() == "False", res.stderr
