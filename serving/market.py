"""Bars and live features as the replicas see them: read from the store, kept for a short
while, and featurised with exactly the code the training used.

Closed bars pushed by the live feed (:meth:`MarketData.push`) extend the kept series without a
store read, and their feature rows come from the streaming engine
(:mod:`pipelines.features.streaming`, equal to the batch rows by test) instead of recomputing
the series."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from pipelines.features.engine import compute_features
from pipelines.features.catalog import feature_set
from pipelines.features.spec import FeatureContext
from pipelines.features.store import DEFAULT_STORE_DTYPE, as_stored
from pipelines.features.streaming import StreamingFeatures, window_of
from pipelines.store.base import Store
from pipelines.times import timeframe_offset
from serving.errors import NotFound


STREAM_MAX_NEW = 64        # new bars taken by the streaming engine at once; more: recompute the series
FEATURE_ROWS_KEPT = 5000   # feature rows kept per series once it streams


class _Rows:
    """A streaming series' feature rows in one array that grows in place: a bar's row is written
    after the others and the frame handed out is a view of the last :data:`FEATURE_ROWS_KEPT` rows,
    so a bar costs its own row, not a copy of the series' history (5,000 rows x 388 columns is
    15 MB per series). When the array is full, the rows kept move to a new one (frames handed out
    before keep the old); rows already handed out are never written again."""

    SLACK = max(64, FEATURE_ROWS_KEPT // 8)   # rows of room: the kept rows move once per SLACK bars

    def __init__(self, frame: pd.DataFrame) -> None:
        self.columns, self.name = frame.columns, frame.index.name
        self.unit = pd.DatetimeIndex(frame.index).unit   # the index keeps the batch frame's resolution
        self.n = 0
        self.ns = np.empty(0, dtype="int64")
        self.vals = np.empty((0, len(self.columns)))
        self.extend(frame)

    def extend(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The rows after the kept ones appended; the frame of the kept rows."""
        k = len(rows)
        if self.n + k > len(self.ns):
            keep = min(self.n, max(FEATURE_ROWS_KEPT - k, 0))
            cap = keep + k + self.SLACK
            ns, vals = np.empty(cap, dtype="int64"), np.empty((cap, len(self.columns)))
            ns[:keep], vals[:keep] = self.ns[self.n - keep:self.n], self.vals[self.n - keep:self.n]
            self.ns, self.vals, self.n = ns, vals, keep
        self.ns[self.n:self.n + k] = pd.DatetimeIndex(rows.index).as_unit(self.unit).asi8
        self.vals[self.n:self.n + k] = rows.to_numpy(dtype="float64")
        self.n += k
        lo = max(0, self.n - FEATURE_ROWS_KEPT)
        index = pd.DatetimeIndex(self.ns[lo:self.n].view(f"M8[{self.unit}]"), name=self.name).tz_localize("UTC")
        self.out = pd.DataFrame(self.vals[lo:self.n], index=index, columns=self.columns, copy=False)
        return self.out   # the frame these rows were last handed out as


def _context(bars: pd.DataFrame) -> FeatureContext:
    return FeatureContext(symbol=str(bars["symbol"].iloc[0]), asset_class=str(bars["asset_class"].iloc[0]),
                          timeframe=str(bars["timeframe"].iloc[0]))


def live_features(bars: pd.DataFrame, feature_set_name: str, store_dtype: str = DEFAULT_STORE_DTYPE) -> pd.DataFrame:
    """Features of one symbol's bars, as :func:`models.training.dataset.make_dataset` computes
    them for training (same specs, same context, rounded to the store's precision by
    :func:`as_stored`), without dropping the rows whose label is still unknown: the last row is
    the one a live prediction is made from."""
    return as_stored(compute_features(bars, feature_set(feature_set_name), _context(bars)), store_dtype)


def _conform(bars: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """``bars`` with the columns and dtypes of ``like`` (a kept series), to be appended to it."""
    out = bars.reindex(columns=like.columns)
    for col in like.columns:
        if out[col].dtype != like[col].dtype:
            out[col] = out[col].astype(like[col].dtype)
    return out


def _continues(new: np.ndarray, last: int, step: pd.Timedelta | pd.DateOffset) -> bool:
    """Whether bar times ``new`` (int64 ns, ascending) follow ``last`` bar by bar."""
    if isinstance(step, pd.Timedelta):
        return bool(new[0] == last + step.value and (np.diff(new) == step.value).all())
    t = pd.DatetimeIndex(np.concatenate(([last], new)).view("M8[ns]"))   # calendar steps (1M, 1y)
    return bool((t[1:] == t[:-1] + step).all())


@dataclass
class _Cached:
    at: float
    value: pd.DataFrame


class MarketData:
    """Series listing, bars per (symbol, timeframe) and their features, each cached for
    ``refresh_s`` seconds; features are recomputed only when the latest bar changes."""

    def __init__(self, store: Store, feature_set_name: str, refresh_s: float = 1.0,
                 history_bars: int | None = None, store_dtype: str = DEFAULT_STORE_DTYPE) -> None:
        self.store = store
        self.feature_set_name = feature_set_name
        self.store_dtype = store_dtype   # features rounded as the training saw them (as_stored)
        self.refresh_s = refresh_s
        self.history_bars = history_bars
        self._keep: dict[str, int | None] = {}
        self._series: _Cached | None = None
        self._by_symbol: dict[str, tuple[list[str], str]] = {}
        self._last: dict[tuple[str, str], pd.Timestamp] = {}
        self._universe: dict[tuple, tuple[tuple, dict[str, pd.DataFrame]]] = {}
        self._bars: dict[tuple[str, str], _Cached] = {}
        self._features: dict[tuple[str, str], tuple[pd.Timestamp, int, pd.DataFrame]] = {}
        self._streams: dict[tuple[str, str], StreamingFeatures] = {}
        self._rows: dict[tuple[str, str], _Rows] = {}   # a streaming series' feature rows
        self.streamed_rows = 0     # feature rows made by the streaming engine
        self.batch_computes = 0    # series featurised whole
        self._held: list[float] = []   # start times of the open held() blocks

    def _fresh(self, c: _Cached | None) -> bool:
        now = self._held[0] if self._held else time.monotonic()
        return c is not None and now - c.at < self.refresh_s

    @contextmanager
    def held(self) -> Iterator[None]:
        """Within the block, freshness is judged at the block's start: what was fresh then (or
        pushed since) is not read again. One batch of live bars sees one state of the store instead
        of re-reading every series (and the listing) that ages past ``refresh_s`` half-way through
        a batch of many symbols."""
        self._held.append(time.monotonic())
        try:
            yield
        finally:
            self._held.pop()

    def series(self) -> pd.DataFrame:
        """symbol, timeframe, asset_class of every series with bars."""
        cached = self._series
        if cached is None or not self._fresh(cached):
            df = self.store.distinct("bars", ("symbol", "timeframe", "asset_class"))
            df = df.sort_values(["symbol", "timeframe"]).reset_index(drop=True)
            cached = self._series = _Cached(time.monotonic(), df)
            by_symbol: dict[str, tuple[list[str], str]] = {}
            for sym, grp in df.groupby("symbol", sort=True):
                by_symbol[str(sym)] = (sorted(grp["timeframe"].unique()), str(grp["asset_class"].iloc[0]))
            self._by_symbol = by_symbol
        return cached.value

    def symbols(self) -> list[str]:
        return sorted(self.series()["symbol"].unique())

    def _entry(self, symbol: str) -> tuple[list[str], str]:
        self.series()
        hit = self._by_symbol.get(symbol)
        if hit is None:
            known = ", ".join(self._by_symbol) or "none"
            raise NotFound(f"unknown symbol {symbol!r}: no bars in the store (symbols: {known})")
        return hit

    def timeframes(self, symbol: str) -> list[str]:
        return list(self._entry(symbol)[0])

    def asset_class(self, symbol: str) -> str:
        hit = self._by_symbol.get(symbol)   # a known symbol's asset class does not change
        return hit[1] if hit is not None else self._entry(symbol)[1]

    def latest(self, symbol: str) -> dict[str, pd.Timestamp]:
        """timeframe -> the newest bar's time, for every timeframe of the symbol."""
        return {tf: self.last_ts(symbol, tf) for tf in self._entry(symbol)[0]}

    def last_ts(self, symbol: str, timeframe: str) -> pd.Timestamp:
        self.bars(symbol, timeframe)
        return self._last[(symbol, timeframe)]

    def bars(self, symbol: str, timeframe: str | None = None, min_ts: pd.Timestamp | None = None) -> pd.DataFrame:
        """The series' bars; read again when older than ``refresh_s`` or when they end before
        ``min_ts`` (a bar someone has already seen)."""
        tf = timeframe or self.timeframes(symbol)[0]
        key = (symbol, tf)
        c = self._bars.get(key)
        stale = c is not None and min_ts is not None and c.value["ts"].iloc[-1] < min_ts
        if c is None or stale or not self._fresh(c):
            df = self.store.read("bars", {"symbol": symbol, "timeframe": tf})
            if df.empty:
                self.timeframes(symbol)
                raise NotFound(f"no {tf} bars for {symbol}: it has {', '.join(self.timeframes(symbol))}")
            keep = self.keep(tf)
            if keep:
                df = df.iloc[-keep:].reset_index(drop=True)
            c = _Cached(time.monotonic(), df)
            self._bars[key] = c
            self._last[key] = df["ts"].iloc[-1]
        return c.value

    def keep(self, timeframe: str) -> int | None:
        """Bars kept per series of ``timeframe`` (None: all stored): ``history_bars``, but never
        fewer than the longest look-back window of the feature set's specs at that timeframe
        (:func:`pipelines.features.streaming.window_of`), so every feature of the newest bar
        equals the one computed on the whole history."""
        if not self.history_bars:
            return None
        if timeframe not in self._keep:
            wins = [window_of(spec, timeframe) for spec in feature_set(self.feature_set_name)]
            self._keep[timeframe] = None if any(w is None for w in wins) else max([self.history_bars, *wins])
        return self._keep[timeframe]

    def features(self, symbol: str, timeframe: str) -> pd.DataFrame:
        """Live features of the series (warm-up rows dropped); recomputed on a new bar only."""
        bars = self.bars(symbol, timeframe)
        key = (symbol, timeframe)
        last, n = bars["ts"].iloc[-1], len(bars)
        hit = self._features.get(key)
        if hit is not None and hit[0] == last and hit[1] == n:
            return hit[2]
        feats = self._stream(key, bars, hit)
        if feats is None:
            feats = live_features(bars, self.feature_set_name, self.store_dtype)
            self.batch_computes += 1
            if len(feats):
                self._streams[key] = StreamingFeatures(feature_set(self.feature_set_name), _context(bars)).warm(bars)
        self._features[key] = (last, n, feats)
        return feats

    def _stream(self, key: tuple[str, str], bars: pd.DataFrame, hit) -> pd.DataFrame | None:
        """The cached features extended by the streaming rows of the bars after them, when the
        series only grew by a few bars since; None when it must be featurised whole."""
        eng = self._streams.get(key)
        if hit is None or eng is None or hit[2].empty or eng.last_ts != hit[0]:
            return None
        ts = bars["ts"]
        pos = int(ts.searchsorted(hit[0]))
        if pos >= len(ts) or ts.iloc[pos] != hit[0] or not 0 < len(ts) - 1 - pos <= STREAM_MAX_NEW:
            return None
        rows = as_stored(eng.update(bars.iloc[pos + 1:]), self.store_dtype)
        if list(rows.columns) != list(hit[2].columns) or len(rows) != len(ts) - 1 - pos:
            return None
        self.streamed_rows += len(rows)
        kept = self._rows.get(key)
        if kept is None or kept.out is not hit[2]:   # the series was featurised whole since
            kept = self._rows[key] = _Rows(hit[2].iloc[-FEATURE_ROWS_KEPT:])
        return kept.extend(rows)

    def push(self, bars: pd.DataFrame) -> int:
        """New closed bars (canonical rows, any symbols) appended to the kept series they extend,
        without asking the store; returns how many were taken. A series not kept yet, or one the
        bars do not continue bar by bar, is left to the next read of the store."""
        taken = 0
        if bars is None or bars.empty:
            return 0
        bars = bars.sort_values("ts", kind="stable")
        ts = bars["ts"].to_numpy(dtype="datetime64[ns]").view("int64")
        converted: dict[tuple, pd.DataFrame] = {}   # the batch in a kept frame's columns and dtypes, once
        for (sym, tf), pos in bars.groupby(["symbol", "timeframe"], sort=False).indices.items():
            key = (str(sym), str(tf))
            c = self._bars.get(key)
            if c is None:
                continue
            old = c.value
            last = old["ts"].iloc[-1].value
            pos = pos[ts[pos] > last]
            if not len(pos):
                continue
            if not _continues(ts[pos], last, timeframe_offset(key[1])):
                self._bars.pop(key, None)   # a hole: the store has the filled bars
                continue
            schema = tuple(zip(old.columns, map(str, old.dtypes)))
            conv = converted.get(schema)
            if conv is None:
                conv = converted[schema] = _conform(bars, old)
            df = pd.concat([old, conv.iloc[pos]], ignore_index=True)
            keep = self.keep(key[1])
            if keep:
                df = df.iloc[-keep:].reset_index(drop=True)
            self._bars[key] = _Cached(time.monotonic(), df)
            self._last[key] = df["ts"].iloc[-1]
            taken += len(pos)
        return taken

    def universe(self, symbols: list[str], timeframe: str) -> dict[str, pd.DataFrame]:
        """The universe stage over ``symbols`` (cross-sectional factors and ranks), each symbol's
        frame on its own bar times, computed as training computes it
        (:func:`models.training.dataset.universe_features`); recomputed when any symbol's latest
        bar changes."""
        from models.training.dataset import universe_features
        bars = {s: self.bars(s, timeframe) for s in symbols}
        key = (tuple(symbols), timeframe, tuple((b["ts"].iloc[-1], len(b)) for b in bars.values()))
        hit = self._universe.get((tuple(symbols), timeframe))
        if hit is not None and hit[0] == key:
            return hit[1]
        xs = universe_features(bars, {s: self.features(s, timeframe) for s in symbols})
        self._universe[(tuple(symbols), timeframe)] = (key, xs)
        return xs

    def invalidate(self) -> None:
        self._series = None
        self._bars.clear()
        self._streams.clear()
        self._rows.clear()
