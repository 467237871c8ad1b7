"""``breastlab`` commands: the demo on the built-in phantom cohorts."""

from __future__ import annotations

import argparse

from breastlab.cli._args import config_argument, positive_int, save_config


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole product on the built-in phantom cohorts: SpurBreast shortcut finding, anomaly detection, "
        "three-class mammogram classification, finding detection and an AI-assisted reader study, in one report",
    )
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--patients", type=positive_int, default=None, help="phantom MRI patients (default: the demo's own)")
    p.add_argument("--seed", type=int, default=0, help="seed of the phantom cohorts and of every training")
    p.add_argument(
        "--full",
        action="store_true",
        help="the acceptance runs' sizes instead of the CPU demo's (500 mammography patients, FCDD's 5-fold "
        "protocol at 128 px, 600 classifier and detector iterations; a GPU is used when present): "
        "hours on a CPU; give it its own --out",
    )
    config_argument(p)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from breastlab.cli import EXIT_CHECK_FAILED, EXIT_OK
    from breastlab.demo import run_demo

    result = run_demo(out=args.out, patients=args.patients, seed=args.seed, full=args.full)
    save_config(args, args.out)
    return EXIT_OK if result["passed"] else EXIT_CHECK_FAILED
