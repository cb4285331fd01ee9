"""Build the feature store: one Ray task per symbol (bars -> features through the Parquet
feature store, reusing or appending), then the universe stage (cross-sectional ranks and
Alpha101) over every symbol's result.

    python -m pipelines.jobs.features [--config FILE] [--symbols A,B] [--timeframe 1h]
        [--set full] [--peers spy=SPY,btc=BTCUSDT,dxy=DXY] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import sys
import time
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from tqdm import tqdm

from cluster.runtime import init_ray
from pipelines.config import MeridianConfig, load_config
from pipelines.errors import DataError
from pipelines.features.catalog import columns_of, feature_set
from pipelines.features.spec import FeatureContext
from pipelines.sentiment.pipeline import scored_news
from pipelines.features.store import DEFAULT_STORE_DTYPE, FeatureStore, as_stored, bars_digest, materialize
from pipelines.features.universe import (MIN_SYMBOLS, RANKED_COLUMNS, cross_sectional_block, cross_sectional_blocks,
                                         cross_sectional_chunks)
from pipelines.store import open_store


@dataclass(frozen=True)
class SymbolInput:
    symbol: str
    timeframe: str
    asset_class: str
    bars: pd.DataFrame
    orderbook: pd.DataFrame | None = None   # snapshots for the order-flow features, when stored
    trades: pd.DataFrame | None = None


@dataclass
class BuildResult:
    feature_set: str
    timeframe: str
    symbols: dict[str, dict] = field(default_factory=dict)
    universe: dict | None = None
    seconds: float = 0.0
    nodes_left_out: dict[str, str] = field(default_factory=dict)   # "address (node id)" -> why it built nothing

    def as_dict(self) -> dict:
        return {"feature_set": self.feature_set, "timeframe": self.timeframe, "symbols": self.symbols,
                "universe": self.universe, "seconds": round(self.seconds, 3),
                "nodes_left_out": self.nodes_left_out}


def build_symbol(inp: SymbolInput, set_name: str, store_root: str, peers: dict[str, pd.DataFrame],
                 macro: pd.DataFrame | None, news: pd.DataFrame | None = None,
                 store_dtype: str = DEFAULT_STORE_DTYPE, marker: str | None = None) -> tuple[dict, pd.DataFrame]:
    """The per-symbol stage (plain function; the Ray task wraps it): features through the store.
    Returns a summary and the columns the universe stage ranks. ``marker``: a file the driver
    put in ``store_root`` (see :func:`check_shared_store`)."""
    t0 = time.perf_counter()
    check_shared_store(store_root, marker)
    own_peers = {role: p for role, p in peers.items() if p["symbol"].iloc[0] != inp.symbol} if peers else {}
    extra = {k: v for k, v in (("orderbook", inp.orderbook), ("trades", inp.trades)) if v is not None and len(v)}
    ctx = FeatureContext(symbol=inp.symbol, asset_class=inp.asset_class, timeframe=inp.timeframe,
                         peers=own_peers, macro=macro, news=news, extra=extra)
    specs = feature_set(set_name)
    declared = set(columns_of(specs))
    # only the ranked columns come back: a rerun or an append reads those, not the whole history
    m = materialize(FeatureStore(store_root, dtype=store_dtype), inp.bars, specs, ctx, symbol=inp.symbol,
                    timeframe=inp.timeframe, columns=[c for c in RANKED_COLUMNS if c in declared])
    ranked = m.features
    summary = {"action": m.action, "version": m.version, "rows": len(m.features),
               "columns": m.width, "bars_computed": m.rows_computed,
               "seconds": round(time.perf_counter() - t0, 3),
               # which node built it: a build spreads over every node of the cluster
               "node_id": ray.get_runtime_context().get_node_id() if ray.is_initialized() else None,
               # the worker's peak resident set so far (it may have built other symbols before)
               "worker_peak_rss_mib": peak_rss_mib()}
    return summary, ranked


def check_shared_store(store_root: str, marker: str | None) -> None:
    """Refuse to build on a node that does not see the driver's feature store: the driver puts
    ``marker`` in ``store_root`` before the tasks start, so a node where the path is another
    folder (a second machine without the shared mount) fails at once instead of writing features
    the driver and the other nodes never read."""
    if marker and not sees_store(store_root, marker):
        raise DataError(f"the feature store {store_root} is not shared with this node ({socket.gethostname()}): "
                        f"a build over several machines needs it on a folder every node mounts at the same path "
                        f"(MERIDIAN_HOME or features.store_path; see cluster/README.md)")


def sees_store(store_root: str, marker: str) -> bool:
    """Whether this node sees the driver's feature store (the probe :func:`store_nodes` runs)."""
    return (Path(store_root) / marker).exists()


def store_nodes(store_root: str, marker: str, timeout_s: float = 120.0) -> tuple[list[str], dict[str, str]]:
    """The alive nodes with CPUs that see ``store_root`` (node ids), and those that do not
    ("address (node id)" -> reason). One Ray node: no probe, it is the driver's."""
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
    if len(nodes) <= 1:
        return [n["NodeID"] for n in nodes], {}
    probe = ray.remote(sees_store)
    refs = {n["NodeID"]: probe.options(num_cpus=0, name="features store probe",
                                       scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
                                       ).remote(store_root, marker) for n in nodes}
    seeing, left_out = [], {}
    for n in nodes:
        try:
            ok = ray.get(refs[n["NodeID"]], timeout=timeout_s)
            reason = f"does not see the feature store {store_root} (not a shared folder there)"
        except Exception as e:   # a node that cannot run the probe does not build either
            ok, reason = False, f"did not answer the store probe: {type(e).__name__}"
        if ok:
            seeing.append(n["NodeID"])
        else:
            left_out[f"{n.get('NodeManagerAddress', '?')} (node {n['NodeID'][:12]})"] = reason
    return seeing, left_out


def placements(nodes: list[str], n_tasks: int, all_nodes: bool) -> list[dict]:
    """Ray options placing each of ``n_tasks``: spread over the cluster when every node sees the
    store, else in turn on the nodes that do."""
    if all_nodes:
        return [{"scheduling_strategy": "SPREAD"}] * n_tasks
    if not nodes:
        raise DataError("no node of the cluster sees the feature store: build where it is (on the head)")
    return [{"scheduling_strategy": NodeAffinitySchedulingStrategy(nodes[i % len(nodes)], soft=False)}
            for i in range(n_tasks)]


@contextmanager
def store_marker(store_root: str) -> Iterator[str]:
    """A marker file of this build in ``store_root`` while the per-symbol tasks run: what
    :func:`store_nodes` and :func:`check_shared_store` look for on each node."""
    root = Path(store_root)
    root.mkdir(parents=True, exist_ok=True)
    marker = f".build-{uuid.uuid4().hex}"
    (root / marker).touch()
    try:
        yield marker
    finally:
        (root / marker).unlink(missing_ok=True)


def peak_rss_mib() -> float:
    """This process's peak resident set so far, MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 1024), 1)


def build_universe(bars_by_symbol: dict[str, pd.DataFrame], ranked: dict[str, pd.DataFrame],
                   store_root: str, timeframe: str, version: str,
                   store_dtype: str = DEFAULT_STORE_DTYPE, parallel: bool = False) -> dict:
    """The universe stage, written next to the per-symbol features as ``<version>.universe``.
    Nothing is computed when no symbol has new bars; when every symbol's new bars come after the
    dates already ranked, only the new dates are computed and appended; otherwise (a first build,
    changed history, another universe, a symbol catching up on dates already ranked) every date is
    computed again. Either way dates are computed in chunks (:func:`cross_sectional_chunks`), so the
    stage's memory does not grow with the history; a record is trusted (has ``bars_digest``) only
    once its symbol's last chunk is written. ``parallel``: chunks are computed as Ray tasks on the
    running Ray (:func:`universe_chunks`) and written here in date order."""
    store = FeatureStore(store_root, dtype=store_dtype)
    key = f"{version}.universe"
    universe = sorted(bars_by_symbol)
    action, since = _universe_plan(store, key, bars_by_symbol, timeframe, universe)
    first = next(iter(bars_by_symbol))
    if action == "reused":
        columns = store.record(first, timeframe, key)["columns"]
        return {"version": key, "columns": columns, "symbols": universe, "action": "reused", "dates_computed": 0}
    dates: set = set()
    columns: list[str] = []
    started: set[str] = set()
    for xs in universe_chunks(bars_by_symbol, ranked, since, parallel):
        for sym, frame in xs.items():
            columns = list(frame.columns)
            if not len(frame):
                continue
            frame = as_stored(frame, store_dtype)
            dates.update(frame.index)
            # a record without bars_digest is never trusted: only the last chunk's says what it holds
            info = {"universe": universe, "columns": columns, "last_ts": str(frame.index[-1])}
            if frame.index[-1] == bars_by_symbol[sym]["ts"].iloc[-1]:
                b = bars_by_symbol[sym]
                info.update(bars=len(b), bars_digest=bars_digest(b))
            if action == "full" and sym not in started:
                store.write(sym, timeframe, key, frame, info)
            else:
                store.append(sym, timeframe, key, frame, info)
            started.add(sym)
    return {"version": key, "columns": columns, "symbols": universe, "action": action,
            "dates_computed": len(dates)}


def universe_chunks(bars_by_symbol: dict[str, pd.DataFrame], ranked: dict[str, pd.DataFrame],
                    since: pd.Timestamp | None, parallel: bool) -> Iterator[dict[str, pd.DataFrame]]:
    """The universe stage's chunks in date order: computed here, or (``parallel``) as Ray tasks
    spread over the cluster (they read and write nothing but their arguments), at most one more
    in flight than the cluster has CPUs, so memory stays bounded by a few chunks."""
    if not parallel:
        yield from cross_sectional_chunks(bars_by_symbol, ranked, since)
        return
    task = ray.remote(cross_sectional_block)
    window = int(ray.cluster_resources().get("CPU", 1)) + 1
    pending: deque = deque()
    for bars, feats, lo in cross_sectional_blocks(bars_by_symbol, ranked, since):
        pending.append(task.options(num_cpus=1, max_retries=1, scheduling_strategy="SPREAD",
                                    name=f"features universe from {lo}").remote(bars, feats, lo))
        if len(pending) >= window:
            yield ray.get(pending.popleft())
    while pending:
        yield ray.get(pending.popleft())


def _universe_plan(store: FeatureStore, key: str, bars_by_symbol: dict[str, pd.DataFrame], timeframe: str,
                   universe: list[str]) -> tuple[str, pd.Timestamp | None]:
    """("reused", None): the stored universe rows are current; ("incremental", first new date):
    every stored row is earlier and was computed from the same bars; else ("full", None)."""
    firsts, lasts = [], []
    for sym, b in bars_by_symbol.items():
        rec = store.record(sym, timeframe, key)
        if rec is None or rec.get("universe") != universe or "bars_digest" not in rec:
            return "full", None
        n = int(rec["bars"])
        if n > len(b) or rec["bars_digest"] != bars_digest(b, n):
            return "full", None
        lasts.append(pd.Timestamp(rec["last_ts"]))
        if n < len(b):
            firsts.append(pd.Timestamp(b["ts"].iloc[n]))
    if not firsts:
        return "reused", None
    since = min(firsts)
    return ("incremental", since) if since > max(lasts) else ("full", None)


def run_build(inputs: list[SymbolInput], set_name: str, store_root: str, *,
              peers: dict[str, pd.DataFrame] | None = None, macro: pd.DataFrame | None = None,
              news: pd.DataFrame | None = None, progress: bool = True,
              timeout_s: float = 3600.0, store_dtype: str = DEFAULT_STORE_DTYPE) -> BuildResult:
    """Per-symbol tasks on the running Ray (one CPU each, spread over its nodes), then the
    universe stage in date chunks, also as tasks. The per-symbol tasks run on the nodes that see
    ``store_root`` (every node on one machine or with a shared folder; a node without it is left
    out, with the reason in ``nodes_left_out``; :func:`check_shared_store` guards each task)."""
    if not inputs:
        raise DataError("no symbols to build features for")
    t0 = time.perf_counter()
    res = BuildResult(set_name, inputs[0].timeframe)
    ranked: dict[str, pd.DataFrame] = {}
    with store_marker(store_root) as marker:
        nodes, res.nodes_left_out = store_nodes(store_root, marker)
        if res.nodes_left_out:
            print(f"features: {len(res.nodes_left_out)} node(s) left out of the build: "
                  + "; ".join(f"{k} {v}" for k, v in res.nodes_left_out.items()), file=sys.stderr)
        where = placements(nodes, len(inputs), all_nodes=not res.nodes_left_out)
        task = ray.remote(build_symbol)
        peers_ref = ray.put(peers or {})
        macro_ref, news_ref = ray.put(macro), ray.put(news)
        # named per symbol: the Ray dashboard (and the state API) show which symbols are built or running
        refs = {task.options(num_cpus=1, max_retries=1, name=f"features {inp.symbol} {inp.timeframe}", **opts).remote(
            inp, set_name, store_root, peers_ref, macro_ref, news_ref, store_dtype, marker): inp
            for inp, opts in zip(inputs, where)}
        pending = list(refs)
        deadline = time.monotonic() + timeout_s
        with tqdm(total=len(pending), desc="features", unit="symbol", disable=not progress) as bar:
            while pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"feature build: {len(pending)} symbols unfinished after {timeout_s:.0f} s")
                done, pending = ray.wait(pending, num_returns=1, timeout=min(left, 60))
                for ref in done:
                    summary, rk = ray.get(ref, timeout=60)
                    sym = refs[ref].symbol
                    res.symbols[sym] = summary
                    ranked[sym] = rk
                    bar.update(1)
    if len(inputs) >= MIN_SYMBOLS:
        version = next(iter(res.symbols.values()))["version"]
        res.universe = build_universe({i.symbol: i.bars for i in inputs}, ranked, store_root,
                                      inputs[0].timeframe, version, store_dtype, parallel=True)
    res.seconds = time.perf_counter() - t0
    return res


def inputs_from_store(cfg: MeridianConfig, symbols: list[str] | None, timeframe: str) -> list[SymbolInput]:
    store = open_store(cfg.store)
    try:
        series = store.bar_series()
        series = series[series["timeframe"] == timeframe]
        if symbols:
            missing = sorted(set(symbols) - set(series["symbol"]))
            if missing:
                raise DataError(f"no {timeframe} bars in the store for {', '.join(missing)}: "
                                f"load them first (meridian import PATH --asset-class ...)")
            series = series[series["symbol"].isin(symbols)]
        if series.empty:
            raise DataError(f"the store holds no {timeframe} bars: load some with meridian import")
        return [SymbolInput(r.symbol, timeframe, r.asset_class, store.read_bars(r.symbol, timeframe),
                            store.read("orderbook", {"symbol": r.symbol}), store.read("trades", {"symbol": r.symbol}))
                for r in series.itertuples()]
    finally:
        store.close()


def context_from_store(cfg: MeridianConfig, peer_map: dict[str, str], timeframe: str):
    """Peers by role (e.g. spy -> SPY) at ``timeframe``, else the peer's only series; macro; and
    the stored news, scored (None when there is none)."""
    store = open_store(cfg.store)
    try:
        peers = {}
        for role, sym in peer_map.items():
            b = store.read_bars(sym, timeframe)
            if b.empty:
                series = store.bar_series()
                tfs = series[series["symbol"] == sym]["timeframe"].tolist()
                if not tfs:
                    raise DataError(f"peer {role}={sym}: no bars for {sym} in the store")
                b = store.read_bars(sym, tfs[0])
            peers[role] = b
        macro = store.read("macro")
        news, _ = scored_news(store, cfg.sentiment, models_dir=cfg.models_dir)
        return peers, (macro if len(macro) else None), (news if len(news) else None)
    finally:
        store.close()


def parse_peers(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        role, _, sym = part.partition("=")
        if not sym:
            raise DataError(f"--peers wants role=SYMBOL pairs (spy, btc, dxy, sector), got {part!r}")
        out[role.strip()] = sym.strip()
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.jobs.features", description=__doc__.splitlines()[0])
    p.add_argument("--config")
    p.add_argument("--symbols", help="comma-separated (default: every symbol at the timeframe)")
    p.add_argument("--timeframe", default="1h")
    p.add_argument("--set", dest="set_name", default=None, help="feature set (default: config)")
    p.add_argument("--peers", help="role=SYMBOL pairs, e.g. spy=SPY,btc=BTCUSDT,dxy=DXY")
    p.add_argument("--json", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    cfg = load_config(args.config)
    res = build_from_config(cfg, args.symbols, args.timeframe, args.set_name, args.peers, progress=not args.json)
    print(json.dumps(res.as_dict(), default=str, sort_keys=True) if args.json else json.dumps(res.as_dict(), indent=2, default=str))
    return 0


def build_from_config(cfg: MeridianConfig, symbols: str | None, timeframe: str, set_name: str | None,
                      peers: str | None, progress: bool = True) -> BuildResult:
    name = set_name or cfg.features.feature_set
    feature_set(name)  # an unknown set fails before any work
    inputs = inputs_from_store(cfg, [s for s in symbols.split(",") if s] if symbols else None, timeframe)
    peer_frames, macro, news = context_from_store(cfg, parse_peers(peers), timeframe)
    init_ray(cfg.ray)
    return run_build(inputs, name, cfg.features.store_path, peers=peer_frames, macro=macro, news=news,
                     progress=progress, store_dtype=cfg.features.store_dtype)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
