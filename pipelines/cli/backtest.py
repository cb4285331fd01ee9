"""``meridian backtest --strategy ID`` or ``--run ID --models ... --horizon H``: backtest, write the report."""

from __future__ import annotations

import argparse

from pipelines.cli import emit
from pipelines.config import load_config
from pipelines.jobs.backtest import add_arguments, run_args, text_of


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backtest", help="backtest a strategy, or a run's models at one horizon; HTML report")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    out = run_args(cfg, args)
    emit(out, args.json, text_of(out))
    return 0
