"""Paper trading on the store's bars with the promoted models: polls for newly closed bars,
fills the last decisions at the next open, and books everything in the paper account.

    python -m pipelines.jobs.paper --symbols BTCUSDT,EURUSD --timeframe 1h [--models xgboost]
        [--since 2024-01-01] [--interval 60] [--max-cycles N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd
from tqdm import tqdm

from pipelines.config import MeridianConfig, load_config
from pipelines.errors import DataError
from pipelines.store import open_store
from pipelines.trading.actions import suggest_action
from pipelines.costs import Costs
from pipelines.trading.paper import PaperTrader, payoff_from_predictions
from pipelines.trading.portfolio import PortfolioTracker, price_from_bars
from pipelines.trading.predictors import RegistryPredictor


def _classes(store, symbols: list[str], timeframe: str) -> dict[str, str]:
    series = store.bar_series()
    series = series[series["timeframe"] == timeframe]
    known = dict(zip(series["symbol"].astype(str), series["asset_class"].astype(str)))
    missing = [s for s in symbols if s not in known]
    if missing:
        raise DataError(f"no {timeframe} bars of {', '.join(missing)} in the store: import or ingest them first")
    return {s: known[s] for s in symbols}


def run(cfg: MeridianConfig, symbols: list[str], timeframe: str, models: list[str] | None = None,
        since: str | None = None, interval: float = 60.0, max_cycles: int | None = 1,
        progress: bool = True, source: str = "store") -> dict:
    """Poll ``max_cycles`` times (None: until interrupted), ``interval`` seconds apart, for new
    closed bars in the store (``source="store"``) or on the ingestion bar bus (``"bus"``, a Ray
    actor the live ingestion publishes to)."""
    bus = None
    if source == "bus":
        from cluster.runtime import init_ray
        from pipelines.ingest.pubsub import bar_bus
        init_ray(cfg.ray)
        bus = bar_bus()
        import ray
        ray.get(bus.subscribe.remote(f"paper:{cfg.portfolio.account}"), timeout=60)
    elif source != "store":
        raise ValueError(f"source must be 'store' or 'bus', got {source!r}")
    store = open_store(cfg.store)
    try:
        tr = cfg.trading
        predictor = RegistryPredictor(store, symbols, timeframe, models)
        start = None
        if since is not None:
            start = pd.Timestamp(since)
            start = start.tz_localize("UTC") if start.tzinfo is None else start
        ids = [m for s in symbols for m in predictor.model_ids(s)]
        prior = payoff_from_predictions(store, ids, start or pd.Timestamp.now(tz="UTC"))
        trader = PaperTrader(store, _classes(store, symbols, timeframe), timeframe, predictor, cfg.portfolio,
                             Costs(tr.fee_bps, tr.spread_bps, tr.slippage_bps,
                                   cfg.portfolio.costs.slippage_vol_mult), prior_payoff=prior)
        if start is not None:
            trader.start_at(start)
        elif not trader.state["last_ts"]:
            trader.start_at(pd.Timestamp.now(tz="UTC"))
        processed, cycles = 0, 0
        bar = tqdm(desc="paper bars", unit="bar", disable=not progress)
        try:
            while max_cycles is None or cycles < max_cycles:
                n = trader.poll() if bus is None else trader.poll_bus(bus, f"paper:{cfg.portfolio.account}")
                processed += n
                bar.update(n)
                cycles += 1
                if max_cycles is None or cycles < max_cycles:
                    time.sleep(interval)
        except KeyboardInterrupt:
            pass
        finally:
            bar.close()
        out = status(store, cfg, symbols, timeframe)
        out.update(processed_bars=processed, cycles=cycles,
                   models={s: predictor.model_ids(s) for s in symbols})
        return out
    finally:
        store.close()


def status(store, cfg: MeridianConfig, symbols: list[str] | None, timeframe: str) -> dict:
    """The account now: equity, cash, P&L today/week/total, positions with suggested actions."""
    book = PortfolioTracker(store, cfg.portfolio.account, cfg.portfolio.initial_cash)
    price_at = price_from_bars(store, timeframe)
    now = pd.Timestamp.now(tz="UTC")
    out = book.pnl(price_at, now)
    actions = {}
    for sym, pos in book.positions.items():
        if not pos.qty or (symbols and sym not in symbols):
            continue
        bars = store.read_bars(sym, timeframe).tail(300)
        actions[sym] = suggest_action(bars, pos.qty, pos.avg_price, cfg.portfolio.risk).as_dict()
    out["actions"] = actions
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--symbols", required=True, help="comma-separated symbols")
    p.add_argument("--timeframe", default="1h", help="bar timeframe the models were trained on")
    p.add_argument("--models", help="comma-separated model names (default: every promoted forecaster)")
    p.add_argument("--since", help="new account: trade bars after this time (default: from now on)")
    p.add_argument("--source", choices=("store", "bus"), default="store",
                   help="where new closed bars come from: the store, or the live ingestion's bar bus (Ray)")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between polls")
    p.add_argument("--max-cycles", type=int, default=1, help="polls before stopping (0: run until interrupted)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipelines.jobs.paper", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="YAML configuration")
    add_arguments(p)
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    out = run(cfg, args.symbols.split(","), args.timeframe, args.models.split(",") if args.models else None,
              args.since, args.interval, args.max_cycles or None, progress=not args.json, source=args.source)
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
