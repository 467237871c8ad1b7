"""``--config FILE.yaml``: options from a file, the command line overriding it, bad keys and values refused,
and a run folder's ``config.yaml`` repeating the run."""

from __future__ import annotations

import argparse
import json
import os

import pytest
import yaml

from breastlab.cli import build_parser, main
from breastlab.cli._args import CONFIG_DEST, apply_config_file, config_options, leaf_commands, save_config
from breastlab.schemas import RUN

CONFIG_COMMANDS = {"train", "sweep", "anomaly train", "mammo classify", "mammo detect train", "demo"}


def _with_config():
    return {
        name: p for name, p in leaf_commands(build_parser()).items() if any(a.dest == CONFIG_DEST for a in p._actions)
    }


def _parse(argv):
    """The namespace `breastlab ARGV` runs with (the file applied as main() applies it)."""
    parser = build_parser()
    apply_config_file(parser, argv)
    return parser.parse_args(argv)


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_the_commands_that_take_a_config_file():
    assert set(_with_config()) == CONFIG_COMMANDS


def _unusual_value(action):
    """A value other than the default, as command-line strings (so the file must carry it back)."""
    if action.nargs == 0:
        return []
    if action.choices is not None:
        one = [c for c in action.choices if c != action.default][-1]
    else:
        base = getattr(action.type, "base", action.type)  # a checked count or level: its plain type
        one = {int: 7, float: 0.25}.get(base, "some/path")
    many = action.nargs in ("+", "*") or isinstance(action, argparse._AppendAction)
    return [str(one), str(one)] if many else [str(one)]


@pytest.mark.parametrize("command", sorted(CONFIG_COMMANDS))
def test_saved_options_read_back_to_the_same_namespace(command, tmp_path):
    """Every option set to a value other than its default, saved, and read back through --config alone."""
    parser = _with_config()[command]
    argv = command.split()
    for dest, action in config_options(parser).items():
        if dest in ("resume", "stop_after"):
            continue
        value = _unusual_value(action)
        if action.option_strings:
            argv += [action.option_strings[-1], *value]
        else:
            argv += value
    args = _parse(argv)
    save_config(args, tmp_path)
    saved = yaml.safe_load((tmp_path / RUN.config_yaml).read_text())
    assert set(saved) == set(config_options(parser)) - {"resume", "stop_after"}
    again = _parse([*command.split(), "--config", str(tmp_path / RUN.config_yaml)])
    for dest in saved:
        assert getattr(again, dest) == getattr(args, dest), dest
        assert getattr(args, dest) != parser.get_default(dest), dest


def test_command_line_overrides_the_file_and_both_spellings_are_keys(tmp_path):
    cfg = _write(
        tmp_path / "c.yaml",
        "store: S\nsplit: D\nout: R\nepochs: 3\nbatch-size: 8\nlr: 1e-2\noptimizer: adam\nno_progress: true\n",
    )
    args = _parse(["train", "--config", cfg, "--epochs", "1", "--out", "R2"])
    assert (args.store, args.split, args.out, args.epochs, args.batch_size) == ("S", "D", "R2", 1, 8)
    assert args.lr == 0.01 and isinstance(args.lr, float)  # YAML reads 1e-2 as text: converted as --lr would be
    assert args.optimizer == "adam" and args.no_progress is True
    # options the file leaves out keep the parser's defaults
    assert args.wd == 1e-4 and args.model == "resnet50"


def test_a_positional_comes_from_the_file_or_from_the_command_line(tmp_path):
    cfg = _write(tmp_path / "c.yaml", "store: from_file\nout: O\npreset: cpu\n")
    assert _parse(["mammo", "classify", "--config", cfg]).store == "from_file"
    assert _parse(["mammo", "classify", "given", "--config", cfg]).store == "given"
    sweep = _write(tmp_path / "s.yaml", "grid: grid.yaml\nworkers: 2\n")
    args = _parse(["sweep", "--config", sweep])
    assert (args.grid, args.workers, args.out) == ("grid.yaml", 2, None)


def test_a_config_key_may_be_an_old_spelling_of_the_option(tmp_path, capsys):
    """A sweep folder's config.yaml written before `--parallel` became `--workers` still repeats it."""
    old = _write(tmp_path / "old.yaml", "grid: grid.yaml\nparallel: 3\n")
    assert _parse(["sweep", "--config", old]).workers == 3
    both = _write(tmp_path / "both.yaml", "grid: grid.yaml\nparallel: 3\nworkers: 3\n")
    assert main(["sweep", "--config", both]) == 2
    assert "workers given twice" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "epoch: 3\n",
            "unknown key 'epoch' for `breastlab train`; valid keys: batch_size, device, dfr_repeats, epochs",
        ),
        ("epochs: many\n", "epochs: 'many' is not valid; expected a whole number"),
        ("epochs: 2.5\n", "epochs: 2.5 is not valid; expected a whole number"),
        ("lr: [0.1, 0.2]\n", "lr: [0.1, 0.2] is not valid; expected a number"),
        ("optimizer: rmsprop\n", "optimizer: 'rmsprop' is not valid; expected one of sgd, adam, adamw"),
        ("in_channels: 2\n", "in_channels: 2 is not valid; expected one of 1, 3"),
        ("no_progress: 1\n", "no_progress: 1 is not valid; expected true or false"),
        ("weights: no\n", "weights: False is not valid; expected text (YAML reads yes, no, on, off"),
        ("epochs: null\n", "epochs: no value; expected a whole number >= 1 (default 50)"),
        ("batch_size: 8\nbatch-size: 8\n", "batch_size given twice"),
        ("- epochs\n", "a config file is a mapping of option names to values"),
        ("epochs: [1\n", "not valid YAML at line 2"),
    ],
)
def test_bad_files_are_refused_naming_the_file_and_the_key(tmp_path, capsys, text, message):
    cfg = _write(tmp_path / "c.yaml", text)
    assert main(["train", "--config", cfg, "--store", "S", "--split", "D", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"breastlab: error: {cfg}: ") and message in err, err
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()


def test_a_missing_file_is_refused_and_the_option_has_argparse_spellings(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml: no such config file" in capsys.readouterr().err
    cfg = _write(tmp_path / "c.yaml", "store: S\nsplit: D\nout: O\n")
    for spelling in (["--conf", cfg], [f"--config={cfg}"], [f"--co={cfg}"]):
        assert _parse(["train", *spelling]).store == "S"


def test_the_file_cannot_smuggle_options_of_another_command(tmp_path, capsys):
    cfg = _write(tmp_path / "c.yaml", "store: S\nout: O\nscenario: all\n")
    assert main(["anomaly", "train", "--config", cfg]) == 2
    assert "unknown key 'scenario' for `breastlab anomaly train`" in capsys.readouterr().err


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from breastlab.train._synthetic import make_toy_split

    return make_toy_split(tmp_path_factory.mktemp("toy"), n_patients=12, per_patient=4, size=24)


def test_train_config_yaml_repeats_the_run(toy, tmp_path, capsys):
    store, split = toy
    first, second = tmp_path / "run", tmp_path / "again"
    argv = ["train", "--store", str(store), "--split", str(split), "--out", str(first), "--model", "small_cnn",
            "--epochs", "1", "--batch-size", "16", "--image-size", "24", "--lr", "0.01", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    saved = yaml.safe_load((first / RUN.config_yaml).read_text())
    assert saved["model"] == "small_cnn" and saved["epochs"] == 1 and saved["lr"] == 0.01
    assert main(["train", "--config", str(first / RUN.config_yaml), "--out", str(second)]) == 0
    a, b = (json.loads((d / RUN.config).read_text()) for d in (first, second))
    assert a["fingerprint"] == b["fingerprint"]
    assert {k: v for k, v in a.items() if k != "out"} == {k: v for k, v in b.items() if k != "out"}
    given = {d: os.path.relpath(d) for d in (first, second)}  # absolute paths saved from the working folder
    assert (second / RUN.config_yaml).read_text() == (first / RUN.config_yaml).read_text().replace(
        f"out: {given[first]}", f"out: {given[second]}"
    )
    assert saved["out"] == given[first] and not os.path.isabs(saved["store"])
    capsys.readouterr()
