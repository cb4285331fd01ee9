"""Compute features for one symbol's bars, dropping warm-up rows by declaration."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from pipelines.features.kernels import shared_inputs
from pipelines.features.spec import FeatureContext, FeatureSpec
from pipelines.times import timeframe_seconds

log = logging.getLogger(__name__)
BAR_COLUMNS = ("ts", "open", "high", "low", "close", "volume", "known_at")


def usable(spec: FeatureSpec, bars: pd.DataFrame, ctx: FeatureContext) -> bool:
    """Whether the data can feed this spec (volume present, peers/macro/news given)."""
    for need in spec.needs:
        if need == "volume" and not (bars["volume"].notna().any() and (bars["volume"] > 0).any()):
            return False
        if need == "peers" and not ctx.peers:
            return False
        if need.startswith("peer:") and need[5:] not in ctx.peers:
            return False
        if need in ("macro", "news") and getattr(ctx, need) is None:
            return False
        if need.startswith("macro:") and (ctx.macro is None or not (ctx.macro["series_id"] == need[6:]).any()):
            return False
        if need in ("orderbook", "trades") and (ctx.extra.get(need) is None or not len(ctx.extra[need])):
            return False
        if need == "intraday" and not is_intraday(bars, ctx):
            return False
    return True


def is_intraday(bars: pd.DataFrame, ctx: FeatureContext) -> bool:
    """Bars shorter than a day (from the context's timeframe, else the bars' own spacing)."""
    if ctx.timeframe:
        return timeframe_seconds(ctx.timeframe) < 86400
    if len(bars) < 2:
        return True
    return bool((bars["known_at"] - bars["ts"]).median() < pd.Timedelta(days=1))


def _column(v, n: int, where: str, inputs: list[np.ndarray]) -> np.ndarray:
    """A feature column as its own float64 array (never a view of the bars), inf as NaN."""
    v = np.asarray(v, dtype="float64")
    if v.shape != (n,):
        raise ValueError(f"{where} has shape {v.shape} for {n} bars")
    if np.isinf(v).any():
        return np.where(np.isinf(v), np.nan, v)
    if any(np.may_share_memory(v, a) for a in inputs):
        return v.copy()
    return v


def compute_features(bars: pd.DataFrame, specs: tuple[FeatureSpec, ...],
                     ctx: FeatureContext | None = None, drop_warmup: bool = True) -> pd.DataFrame:
    """Features for one symbol, indexed by ``ts``. Leading rows inside the largest look-back of
    the specs used are dropped (``drop_warmup``); inf becomes NaN."""
    ctx = ctx or FeatureContext()
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"bars lack columns {missing}")
    if not bars["ts"].is_monotonic_increasing or bars["ts"].duplicated().any():
        raise ValueError("bars must be sorted by ts without duplicates (validate them first)")
    b = bars.reset_index(drop=True)
    n = len(b)
    active = []
    for spec in specs:
        if usable(spec, b, ctx):
            active.append(spec)
        else:
            log.debug("skipping %s: needs %s", spec.name, spec.needs)
    inputs = [b[c].to_numpy() for c in BAR_COLUMNS if c not in ("ts", "known_at")]
    columns: dict[str, np.ndarray] = {}
    max_lb = 0
    with shared_inputs(b, ctx):
        for spec in active:
            if spec.arrays is not None:  # fast path: {column: array}, no intermediate frame
                cols = spec.arrays(b, ctx)
                missing_cols = [c for c in spec.columns if c not in cols]
                if missing_cols:
                    raise ValueError(f"{spec.name} did not return {missing_cols}")
            else:
                out = spec.fn(b, ctx)
                if list(out.columns) != list(spec.columns):
                    raise ValueError(f"{spec.name} returned {list(out.columns)}, declared {list(spec.columns)}")
                if len(out) != n:
                    raise ValueError(f"{spec.name} returned {len(out)} rows for {n} bars")
                cols = {c: out[c].to_numpy(dtype="float64") for c in spec.columns}
            for c in spec.columns:
                columns[c] = _column(cols[c], n, f"{spec.name}.{c}", inputs)
            max_lb = max(max_lb, spec.lookback)
    # one block per column: assembling costs nothing; consumers consolidate if they need to
    feats = pd.DataFrame(columns, index=pd.DatetimeIndex(b["ts"], name="ts"), copy=False)
    if drop_warmup:
        feats = feats.iloc[max_lb:]
    return feats
