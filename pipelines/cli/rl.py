"""``meridian rl train``: train a reinforcement-learning agent on a symbol, evaluate it out of
sample next to buy-and-hold and record it in the registry."""

from __future__ import annotations

import argparse
from functools import partial

from pipelines.cli import run_job


def register(sub: argparse._SubParsersAction) -> None:
    from pipelines.jobs.rl import add_arguments
    p = sub.add_parser("rl", help="reinforcement-learning agents (PPO, DQN, SAC, TD3)")
    rl_sub = p.add_subparsers(dest="rl_command", required=True)
    t = rl_sub.add_parser("train", help="train an agent, evaluate it out of sample, register it")
    add_arguments(t)
    t.set_defaults(func=partial(run_job, "rl"))

