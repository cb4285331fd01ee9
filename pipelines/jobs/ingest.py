"""Ingestion as a job: the same options as ``meridian ingest``.

    python -m pipelines.jobs.ingest backfill --source binance --symbols BTCUSDT --timeframe 1h --since 2019-01-01
    ray job submit --working-dir . -- python -m pipelines.jobs.ingest live --config prod.yaml
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from pipelines.errors import MeridianError
from pipelines.ingest.commands import add_arguments, dispatch


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.jobs.ingest",
                                description="Collect market data into the store.")
    p.add_argument("-v", "--verbose", action="store_true")
    add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return dispatch(args)
    except MeridianError as exc:
        print(f"ingest: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
