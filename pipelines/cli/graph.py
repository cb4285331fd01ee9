"""``meridian graph train``: the correlation-graph forecaster over a universe of symbols, judged out
of sample next to a per-symbol ridge baseline and recorded in the registry."""

from __future__ import annotations

import argparse
from functools import partial

from pipelines.cli import run_job


def register(sub: argparse._SubParsersAction) -> None:
    from pipelines.jobs.graph import add_arguments
    p = sub.add_parser("graph", help="the correlation-graph network over a universe of symbols")
    g_sub = p.add_subparsers(dest="graph_command", required=True)
    t = g_sub.add_parser("train", help="train the graph forecaster, evaluate it out of sample, register it")
    add_arguments(t)
    t.set_defaults(func=partial(run_job, "graph"))

