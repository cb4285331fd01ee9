"""The ingest commands, shared by ``meridian ingest`` and ``python -m pipelines.jobs.ingest``.

    backfill --source binance --symbols BTCUSDT,ETHUSDT --timeframe 1h --since 2019-01-01 [--json]
    trades --symbols BTCUSDT --since 2024-01-01 [--until ...] [--json]
    live [--symbols ...] [--timeframe 1m] [--duration S] [--json]
    poll [--job NAME ...] [--json]
    checkpoints [--source binance] [--json]

Backfill and live run in Ray actors on the head node unless ``--local`` asks for this process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from pipelines.config import MeridianConfig, load_config
from pipelines.errors import ConfigError, MeridianError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="ingest_command", metavar="ACTION")
    b = sub.add_parser("backfill", help="collect history in pages, resumable from checkpoints")
    b.add_argument("--source", default="binance", help="binance, yahoo, finnhub, alphavantage, twelvedata, sample")
    b.add_argument("--symbols", required=True, help="comma-separated symbols")
    b.add_argument("--timeframe", default="1h")
    b.add_argument("--since", required=True, help="first bar to collect (UTC), e.g. 2019-01-01")
    b.add_argument("--until", help="stop before this time (default: now)")
    _common(b)
    b.set_defaults(ingest_func=run_backfill)
    tr = sub.add_parser("trades", help="collect Binance aggregate trades, resumable by trade id")
    tr.add_argument("--symbols", required=True, help="comma-separated symbols")
    tr.add_argument("--since", required=True, help="first trade time (UTC)")
    tr.add_argument("--until", help="stop before this time (default: now)")
    _common(tr)
    tr.set_defaults(ingest_func=run_trades)
    lv = sub.add_parser("live", help="keep bars and order books current from the streams")
    lv.add_argument("--symbols", help="comma-separated (default: ingest.live.symbols)")
    lv.add_argument("--timeframe", help="default: ingest.live.timeframe")
    lv.add_argument("--duration", type=float, help="stop after this many seconds (default: run until killed)")
    lv.add_argument("--with-schedule", action="store_true", help="also run the scheduled polls")
    _common(lv)
    lv.set_defaults(ingest_func=run_live)
    po = sub.add_parser("poll", help="run the scheduled polls once (news, macro, markets, on-chain)")
    po.add_argument("--job", action="append", help="job name (repeatable; default: all)")
    _common(po, local=False)
    po.set_defaults(ingest_func=run_poll)
    cp = sub.add_parser("checkpoints", help="list the ingestion checkpoints in the store")
    cp.add_argument("--source")
    _common(cp, local=False)
    cp.set_defaults(ingest_func=run_checkpoints)


def _common(p: argparse.ArgumentParser, local: bool = True) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    if local:  # polls and checkpoints always run in this process
        p.add_argument("--local", action="store_true", help="run in this process instead of Ray actors")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    if not any(a.dest == "config" for a in p._actions):
        p.add_argument("--config", dest="ingest_config", help="YAML configuration file")


def _cfg(args: argparse.Namespace) -> MeridianConfig:
    return load_config(getattr(args, "ingest_config", None) or getattr(args, "config", None))


def _emit(payload, as_json: bool, text: str) -> None:
    print(json.dumps(payload, default=str, sort_keys=True) if as_json else text)


def run_backfill(args: argparse.Namespace) -> int:
    cfg = _cfg(args)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    if not symbols:
        raise ConfigError("--symbols names no symbol")
    if args.local:
        from pipelines.ingest.backfill import backfill_symbols
        from pipelines.sources.bar_sources import bar_source
        from pipelines.store import open_store
        source, store = bar_source(args.source, cfg.ingest.sources), open_store(cfg.store)
        try:
            results = backfill_symbols(source, store, symbols, args.timeframe, args.since, args.until,
                                       progress=not args.no_progress)
        finally:
            source.close()
            store.close()
    else:
        import ray
        from cluster.runtime import init_ray, result
        from pipelines.ingest.actors import start_ingestor
        init_ray(cfg.ray)
        actor = start_ingestor(args.source, cfg.ingest, cfg.store, name=f"meridian-ingest-{args.source}")
        try:
            results = result(actor.backfill.remote(symbols, args.timeframe, args.since, args.until,
                                                   not args.no_progress), timeout=7 * 86400)
        finally:
            ray.kill(actor, no_restart=True)
    lines = [f"{r['source']} {r['symbol']} {r['timeframe']}: failed: {r['error']}" if "error" in r else
             f"{r['source']} {r['symbol']} {r['timeframe']}: {r['rows']} bars in {r['pages']} pages, "
             f"last {r['last_ts']}" + (f" (resumed after {r['resumed_from']})" if r["resumed_from"] else "")
             + (f"; rejected {r['rejected']}" if r["rejected"] else "") for r in results]
    _emit(results, args.json, "\n".join(lines))
    return 1 if any("error" in r for r in results) else 0


def run_trades(args: argparse.Namespace) -> int:
    cfg = _cfg(args)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    if args.local:
        from pipelines.ingest.trades import backfill_trades
        from pipelines.sources.binance import BinanceSource
        from pipelines.store import open_store
        source, store = BinanceSource(cfg.ingest.sources.binance), open_store(cfg.store)
        try:
            results = [backfill_trades(source, store, s, args.since, args.until,
                                       progress=not args.no_progress) for s in symbols]
        finally:
            source.close()
            store.close()
    else:
        import ray
        from cluster.runtime import init_ray, result
        from pipelines.ingest.actors import start_ingestor
        init_ray(cfg.ray)
        actor = start_ingestor("binance", cfg.ingest, cfg.store, name="meridian-ingest-binance")
        try:
            results = result(actor.trades.remote(symbols, args.since, args.until), timeout=7 * 86400)
        finally:
            ray.kill(actor, no_restart=True)
    _emit(results, args.json, "\n".join(f"binance {r['symbol']} trades: {r['rows']} in {r['pages']} pages, "
                                        f"last {r['last_ts']}" for r in results))
    return 0


def run_live(args: argparse.Namespace) -> int:
    from pipelines.ingest.service import run_live_service
    cfg = _cfg(args)
    live = cfg.ingest.live
    upd = {}
    if args.symbols:
        upd["symbols"] = tuple(s.strip() for s in args.symbols.split(",") if s.strip())
    if args.timeframe:
        upd["timeframe"] = args.timeframe
    live = live.model_copy(update=upd)
    stats = run_live_service(cfg, live, duration=args.duration, local=args.local,
                             with_schedule=args.with_schedule)
    _emit(stats, args.json, json.dumps(stats, default=str, indent=2, sort_keys=True))
    error = stats["live"].get("error")
    if error:
        print(f"meridian: error: live ingestion stopped: {error}", file=sys.stderr)
        return 1
    return 0


def run_poll(args: argparse.Namespace) -> int:
    from pipelines.ingest.polls import run_poll_job
    from pipelines.store import open_store
    cfg = _cfg(args)
    jobs = [j for j in cfg.ingest.schedule if not args.job or j.name in args.job]
    if args.job and len(jobs) != len(set(args.job)):
        known = ", ".join(j.name for j in cfg.ingest.schedule)
        raise ConfigError(f"unknown poll job in {args.job}: configured jobs are {known}")
    store = open_store(cfg.store)
    results = []
    try:
        for job in jobs:  # one failing poll (a missing key, a provider down) does not stop the others
            t0 = time.perf_counter()
            out = {"job": job.name, "source": job.source, "kind": job.kind}
            try:
                out["rows"] = run_poll_job(job, cfg.ingest.sources, store)
            except MeridianError as exc:
                out["error"] = str(exc)
            out["seconds"] = round(time.perf_counter() - t0, 3)
            results.append(out)
    finally:
        store.close()
    _emit(results, args.json, "\n".join(
        f"{r['job']} ({r['source']} {r['kind']}): " + (f"failed: {r['error']}" if "error" in r else f"{r['rows']} rows")
        for r in results))
    return 1 if any("error" in r for r in results) else 0


def run_checkpoints(args: argparse.Namespace) -> int:
    from pipelines.ingest.checkpoints import Checkpoints
    from pipelines.store import open_store
    cfg = _cfg(args)
    store = open_store(cfg.store)
    try:
        df = Checkpoints(store).all(args.source)
    finally:
        store.close()
    rows = [{"source": r.source, "stream": r.stream, "ts": r.ts.isoformat(),
             "updated_at": r.updated_at.isoformat()} for r in df.itertuples()]
    _emit(rows, args.json, "\n".join(f"{r['source']} {r['stream']}: last complete {r['ts']}" for r in rows)
          or "no checkpoints")
    return 0


def dispatch(args: argparse.Namespace) -> int:
    func = getattr(args, "ingest_func", None)
    if func is None:
        raise ConfigError("say what to ingest: backfill, live, poll or checkpoints")
    return func(args)
