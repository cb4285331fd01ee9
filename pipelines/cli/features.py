"""``meridian features list|causality-check|build``: the feature registry, its prefix test on
your data, and the feature store build (Ray tasks per symbol, then the universe stage)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipelines.cli import emit
from pipelines.config import load_config
from pipelines.errors import DataError
from pipelines.features.causality import prefix_check
from pipelines.features.catalog import FEATURE_SETS, feature_set
from pipelines.features.spec import FeatureContext
from pipelines.sources.files import FORMATS, import_bars


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="feature registry, causality check, feature store build")
    fsub = p.add_subparsers(dest="features_command", metavar="SUBCOMMAND")

    ls = fsub.add_parser("list", help="list registered features")
    ls.add_argument("--set", dest="set_name", default="full", choices=sorted(FEATURE_SETS))
    ls.add_argument("--family", help="only this family")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)

    cc = fsub.add_parser("causality-check",
                         help="prefix test: features on bars[:t+1] equal row t on all bars, at random t")
    src = cc.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="PATH", help="CSV/JSON/Parquet bar file (as meridian import reads)")
    src.add_argument("--symbol", help="a symbol's bars from the store")
    cc.add_argument("--timeframe", help="bar length (with --symbol: which series; default 1h)")
    cc.add_argument("--asset-class", default="crypto", choices=["crypto", "stock", "forex", "index", "commodity"])
    cc.add_argument("--tz", help="time zone of naive timestamps in --data")
    cc.add_argument("--format", dest="fmt", default="auto", choices=FORMATS)
    cc.add_argument("--set", dest="set_name", default="full", choices=sorted(FEATURE_SETS))
    cc.add_argument("--spec", action="append", help="only these specs (repeatable)")
    cc.add_argument("--module", action="append", default=[],
                    help="also check the FEATURES of this importable module, e.g. your own features (repeatable)")
    cc.add_argument("--peers", help="role=SYMBOL (store) or role=PATH (file) pairs, e.g. spy=SPY,btc=btc.csv")
    cc.add_argument("--bars", type=int, default=600, help="check on the last N bars (default 600; 0 = all)")
    cc.add_argument("--points", type=int, default=10, help="random cut-offs per feature (default 10)")
    cc.add_argument("--seed", type=int, default=0)
    cc.add_argument("--json", action="store_true")
    cc.set_defaults(func=run_check)

    b = fsub.add_parser("build", help="compute features for stored bars into the feature store (Ray)")
    b.add_argument("--symbols", help="comma-separated (default: every symbol at the timeframe)")
    b.add_argument("--timeframe", default="1h")
    b.add_argument("--set", dest="set_name", default=None, choices=sorted(FEATURE_SETS))
    b.add_argument("--peers", help="role=SYMBOL pairs from the store, e.g. spy=SPY,btc=BTCUSDT,dxy=DXY")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=run_build)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_list(args: argparse.Namespace) -> int:
    specs = [s for s in feature_set(args.set_name) if not args.family or s.family == args.family]
    rows = [{"name": s.name, "family": s.family, "columns": list(s.columns), "lookback": s.lookback,
             "needs": list(s.needs), "description": s.description} for s in specs]
    ncols = sum(len(r["columns"]) for r in rows)
    lines = [f"{r['name']:<24} {r['family']:<15} lb={r['lookback']:<5} {len(r['columns']):>3} col  "
             f"{('needs ' + ','.join(r['needs'])) if r['needs'] else ''}" for r in rows]
    lines.append(f"{len(rows)} specs, {ncols} feature columns (set {args.set_name})")
    emit({"set": args.set_name, "specs": rows, "n_specs": len(rows), "n_columns": ncols}, args.json, "\n".join(lines))
    return 0


def _load_bars(args: argparse.Namespace) -> tuple[pd.DataFrame, str, str]:
    if args.data:
        res = import_bars(args.data, asset_class=args.asset_class, timeframe=args.timeframe, tz=args.tz, fmt=args.fmt)
        return res.bars, res.symbol, res.timeframe
    from pipelines.store import open_store
    store = open_store(load_config(args.config).store)
    try:
        tf = args.timeframe or "1h"
        bars = store.read_bars(args.symbol, tf)
    finally:
        store.close()
    if bars.empty:
        raise DataError(f"no {tf} bars for {args.symbol} in the store: load them with meridian import")
    return bars, args.symbol, tf


def _load_context(args: argparse.Namespace, timeframe: str):
    """Peers (files, or symbols in the store), the store's macro observations and scored news."""
    from pipelines.jobs.features import context_from_store, parse_peers
    pairs = parse_peers(args.peers)
    files = {r: v for r, v in pairs.items() if Path(v).suffix or "/" in v}
    peers = {r: import_bars(v, asset_class=args.asset_class, tz=args.tz).bars for r, v in files.items()}
    stored = {r: v for r, v in pairs.items() if r not in files}
    from_store, macro, news = context_from_store(load_config(args.config), stored, timeframe)
    peers.update(from_store)
    return peers, macro, news


def _module_features(modules: list[str]) -> tuple:
    """The ``FEATURES`` tuples of user modules (the registry's family modules declare theirs the same way)."""
    import importlib
    out: tuple = ()
    for name in modules:
        try:
            mod = importlib.import_module(name)
        except ImportError as exc:
            raise DataError(f"--module {name}: cannot import it ({exc})") from None
        if not isinstance(getattr(mod, "FEATURES", None), tuple):
            raise DataError(f"--module {name}: it declares no FEATURES tuple of feature specs")
        out += mod.FEATURES
    return out


def run_check(args: argparse.Namespace) -> int:
    bars, symbol, tf = _load_bars(args)
    if args.bars:
        bars = bars.tail(args.bars).reset_index(drop=True)
    specs = feature_set(args.set_name) + _module_features(args.module)
    if args.spec:
        unknown = sorted(set(args.spec) - {s.name for s in specs})
        if unknown:
            raise DataError(f"unknown feature specs {unknown}: see meridian features list")
        specs = tuple(s for s in specs if s.name in args.spec)
    asset_class = str(bars["asset_class"].iloc[0]) if "asset_class" in bars else args.asset_class
    peers, macro, news = _load_context(args, tf)
    ctx = FeatureContext(symbol=symbol, asset_class=asset_class, timeframe=tf, peers=peers, macro=macro,
                         news=news)
    with tqdm(total=len(specs), desc="causality", unit="spec", disable=args.json) as bar:
        rep = prefix_check(bars, specs, ctx, k=args.points, seed=args.seed, progress=bar.update)
    out = {"symbol": symbol, "timeframe": tf, "set": args.set_name, **rep.as_dict()}
    lines = [f"{symbol} {tf}: {len(rep.specs_checked)} specs / {rep.columns_checked} columns checked on "
             f"{rep.bars} bars at {args.points} cut-offs each; {len(rep.skipped)} skipped (inputs absent)"]
    lines += [f"VIOLATION {v}" for v in rep.violations]
    lines.append("OK: no look-ahead found" if rep.ok else f"FAILED: {len(rep.violations)} violations")
    emit(out, args.json, "\n".join(lines))
    return 0 if rep.ok else 1


def run_build(args: argparse.Namespace) -> int:
    from pipelines.jobs.features import build_from_config
    cfg = load_config(args.config)
    res = build_from_config(cfg, args.symbols, args.timeframe, args.set_name, args.peers, progress=not args.json)
    d = res.as_dict()
    lines = [f"{s}: {v['action']} {v['rows']} rows x {v['columns']} features ({v['seconds']} s)"
             for s, v in sorted(d["symbols"].items())]
    if d["universe"]:
        u = d["universe"]
        lines.append(f"universe stage: {u['action']}, {u['dates_computed']} dates computed, {len(u['columns'])} columns "
                     f"over {len(u['symbols'])} symbols")
    lines.append(f"feature store: {cfg.features.store_path} ({d['seconds']} s)")
    emit(d, args.json, "\n".join(lines))
    return 0
