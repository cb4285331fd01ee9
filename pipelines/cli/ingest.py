"""``meridian ingest backfill|live|poll|checkpoints``: market data into the store."""

from __future__ import annotations

import argparse

from pipelines.ingest.commands import add_arguments, dispatch


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="collect market data: backfill history, live streams, polls")
    add_arguments(p)
    p.set_defaults(func=dispatch)
