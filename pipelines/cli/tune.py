"""``meridian tune``: a Ray Tune search over a model's main hyperparameters; the best trial is
registered (``tune-best``) and can be promoted."""

from __future__ import annotations

import argparse

from pipelines.cli import emit


def register(sub: argparse._SubParsersAction) -> None:
    from pipelines.jobs.tune import add_arguments
    p = sub.add_parser("tune", help="hyperparameter search with Ray Tune (tabular and deep models)")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.jobs.tune import execute, summary
    out = execute(args)
    emit(out, args.json, summary(out))
    return 0
