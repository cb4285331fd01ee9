"""A first handful of causal features: returns, volatility, RSI, MACD, Bollinger position,
distance from the moving average, ATR, volume z-score, day of week."""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from pipelines.features.kernels import Arrays, arr, roll_mean, roll_std, shared, spec
from pipelines.features.spec import FeatureContext, FeatureSpec

# Every spec here maps the bars' arrays to arrays ({column: array}, no frame per spec): the batch
# engine and the streaming engine (one row per new bar) call the same numpy code.


def _close(bars: pd.DataFrame, ctx: FeatureContext) -> np.ndarray:
    return shared(bars, ctx, "core.close", lambda: arr(bars, "close"))


def _logret(bars: pd.DataFrame, ctx: FeatureContext) -> np.ndarray:
    """log(close).diff(): the log of each close minus the previous one's (NaN first)."""
    def make() -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            lc = np.log(_close(bars, ctx))
        out = np.empty_like(lc)
        out[:1] = np.nan
        np.subtract(lc[1:], lc[:-1], out=out[1:])
        return out
    return shared(bars, ctx, "core.logret", make)


def _lagged(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    if k < len(x):
        out[k:] = x[:len(x) - k]
    return out


def _ret_lags(bars: pd.DataFrame, ctx: FeatureContext) -> Arrays:
    r = _logret(bars, ctx)
    return {f"ret_lag_{k}": _lagged(r, k - 1) for k in range(1, 6)}


def _vol(n: int):
    return lambda bars, ctx: {f"vol_{n}": roll_std(_logret(bars, ctx), n)}


def _rsi(n: int):
    return lambda bars, ctx: {f"rsi_{n}": talib.RSI(_close(bars, ctx), n) / 100.0}


def _macd(bars: pd.DataFrame, ctx: FeatureContext) -> Arrays:
    c = _close(bars, ctx)
    macd, signal, hist = talib.MACD(c, 12, 26, 9)
    return {"macd_12_26_9": macd / c, "macd_hist_12_26_9": hist / c}


def _bb_pos(n: int):
    def f(bars: pd.DataFrame, ctx: FeatureContext) -> Arrays:
        c = _close(bars, ctx)
        with np.errstate(divide="ignore", invalid="ignore"):
            return {f"bb_pos_{n}": (c - roll_mean(c, n)) / (2 * roll_std(c, n, ddof=0))}
    return f


def _sma_dist(n: int):
    def f(bars: pd.DataFrame, ctx: FeatureContext) -> Arrays:
        c = _close(bars, ctx)
        with np.errstate(divide="ignore", invalid="ignore"):
            return {f"sma_dist_{n}": np.log(c / roll_mean(c, n))}
    return f


def _atr_norm(n: int):
    def f(bars: pd.DataFrame, ctx: FeatureContext) -> Arrays:
        c = _close(bars, ctx)
        return {f"atr_norm_{n}": talib.ATR(arr(bars, "high"), arr(bars, "low"), c, n) / c}
    return f


def _volume_z(n: int):
    def f(bars: pd.DataFrame, ctx: FeatureContext) -> Arrays:
        lv = np.log1p(np.clip(arr(bars, "volume"), 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            return {f"volume_z_{n}": (lv - roll_mean(lv, n)) / roll_std(lv, n)}
    return f


def _dow(bars: pd.DataFrame, ctx: FeatureContext) -> Arrays:
    d = bars["ts"].dt.dayofweek.to_numpy()
    return {"dow_sin": np.sin(2 * np.pi * d / 7), "dow_cos": np.cos(2 * np.pi * d / 7)}


FEATURES: tuple[FeatureSpec, ...] = (
    spec("ret_lags", "returns", tuple(f"ret_lag_{k}" for k in range(1, 6)), 5, _ret_lags),
    spec("vol_20", "volatility", ("vol_20",), 20, _vol(20), description="std of log returns, 20 bars"),
    spec("rsi_14", "momentum", ("rsi_14",), 14, _rsi(14), description="RSI(14) / 100"),
    spec("macd", "momentum", ("macd_12_26_9", "macd_hist_12_26_9"), 33, _macd),
    spec("bb_pos_20", "mean_reversion", ("bb_pos_20",), 19, _bb_pos(20), description="(close - SMA20) / (2 sd)"),
    spec("sma_dist_50", "mean_reversion", ("sma_dist_50",), 49, _sma_dist(50), description="log(close / SMA50)"),
    spec("atr_norm_14", "volatility", ("atr_norm_14",), 14, _atr_norm(14), description="ATR(14) / close"),
    spec("volume_z_20", "volume", ("volume_z_20",), 20, _volume_z(20), needs=("volume",),
         description="z-score of log volume over 20 bars"),
    spec("dow", "calendar", ("dow_sin", "dow_cos"), 0, _dow),
)
