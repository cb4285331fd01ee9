"""Paper trading of a stored strategy on the store's bars: polls for newly closed bars and feeds
them, one bar at a time, through the strategy's paper account (the one decision, the engine with
the strategy's costs and limits: the account the backtest computes, bar by bar).

    python -m pipelines.jobs.paper --strategy ID [--symbols BTCUSDT,EURUSD] [--account NAME]
        [--since 2024-01-01] [--interval 60] [--max-cycles N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from pipelines.config import MeridianConfig, load_config
from pipelines.store import open_store
from pipelines.store.base import Store
from pipelines.trading import strategy as strategies
from pipelines.trading.replay import StrategyAccount, account_status, paper_switch


def run(cfg: MeridianConfig, strategy_id: str, symbols: list[str] | None = None, account: str | None = None,
        since: str | None = None, interval: float = 60.0, max_cycles: int | None = 1,
        flush_every: int = 500) -> dict:
    """Poll the store ``max_cycles`` times (None: until interrupted), ``interval`` seconds apart;
    each poll feeds every bar closed since the last one the account processed, unless the
    account is switched off (``POST /paper/stop``)."""
    store = open_store(cfg.store)
    try:
        acct = StrategyAccount(store, strategies.get(store, strategy_id), symbols, account, flush_every)
        processed, cycles = 0, 0
        try:
            while max_cycles is None or cycles < max_cycles:
                if paper_switch(store, acct.account)["running"]:   # stopped: POST /paper/stop
                    processed += acct.replay(since)
                cycles += 1
                if max_cycles is None or cycles < max_cycles:
                    time.sleep(interval)
        except KeyboardInterrupt:
            acct.flush()
        out = account_status(store, acct.st, acct.account, cfg.portfolio.initial_cash)
        out.update(processed_bars=processed, cycles=cycles)
        return out
    finally:
        store.close()


def status(store: Store, cfg: MeridianConfig, strategy_id: str, account: str | None = None) -> dict:
    """The strategy account now (:func:`pipelines.trading.replay.account_status`)."""
    return account_status(store, strategies.get(store, strategy_id), account, cfg.portfolio.initial_cash)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", required=True, help="stored strategy id (`meridian strategy list`)")
    p.add_argument("--symbols", help="comma-separated symbols (default: what the account trades, else the strategy's; a new set is "
                   "traded from the next bar, the account keeps its past)")
    p.add_argument("--account", help="account name (default: paper:<strategy id>)")
    p.add_argument("--since", help="first bar of a new account (default: the first the run predicted)")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between polls")
    p.add_argument("--max-cycles", type=int, default=1, help="polls before stopping (0: run until interrupted)")
    p.add_argument("--flush-every", type=int, default=500, help="bars between writes of the decisions to the store")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipelines.jobs.paper", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="YAML configuration")
    add_arguments(p)
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    out = run(cfg, args.strategy, args.symbols.split(",") if args.symbols else None, args.account, args.since,
              args.interval, args.max_cycles or None, args.flush_every)
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
