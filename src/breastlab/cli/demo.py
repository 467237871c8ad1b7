"""``breastlab`` commands: the demo on the built-in phantom cohorts."""

from __future__ import annotations

import argparse

from breastlab.cli._args import config_argument, positive_int, save_config


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job on the built-in phantom cohort")
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--patients", type=positive_int, default=None, help="phantom patients (default: the demo's own)")
    p.add_argument("--seed", type=int, default=0, help="seed of the phantom cohorts and of every training")
    config_argument(p)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from breastlab.demo import run_demo

    run_demo(out=args.out, patients=args.patients, seed=args.seed)
    save_config(args, args.out)
    return 0
