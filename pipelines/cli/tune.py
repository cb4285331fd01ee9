"""``meridian tune``: a Ray Tune search over a model's main hyperparameters; the best trial is
registered (``tune-best``) and can be promoted."""

from __future__ import annotations

import argparse
from functools import partial

from pipelines.cli import run_job


def register(sub: argparse._SubParsersAction) -> None:
    from pipelines.jobs.tune import add_arguments
    p = sub.add_parser("tune", help="hyperparameter search with Ray Tune (tabular and deep models)")
    add_arguments(p)
    p.set_defaults(func=partial(run_job, "tune"))
