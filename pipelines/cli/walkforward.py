"""``meridian walkforward``: the purged walk-forward of any models on bars in the store, with the
ensembles and baselines, reported out of sample, recorded as a run (:mod:`pipelines.jobs.walkforward`)."""

from __future__ import annotations

import argparse

from pipelines.cli import run_job
from pipelines.jobs.walkforward import add_arguments


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("walkforward", help="walk-forward evaluation of models on bars in the store (a recorded run)")
    add_arguments(p)
    p.set_defaults(func=lambda args: run_job("walkforward", args))
