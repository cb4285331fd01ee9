"""A first handful of causal features: returns, volatility, RSI, MACD, Bollinger position,
distance from the moving average, ATR, volume z-score, day of week."""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from pipelines.features.spec import FeatureContext, FeatureSpec, single


def _logret(bars: pd.DataFrame) -> pd.Series:
    return np.log(bars["close"]).diff()


def _ret_lags(bars: pd.DataFrame, ctx: FeatureContext) -> pd.DataFrame:
    r = _logret(bars)
    return pd.DataFrame({f"ret_lag_{k}": r.shift(k - 1) for k in range(1, 6)}, index=bars.index)


def _vol(n: int):
    return lambda bars, ctx: _logret(bars).rolling(n).std()


def _rsi(n: int):
    return lambda bars, ctx: pd.Series(talib.RSI(bars["close"].to_numpy(), n), index=bars.index) / 100.0


def _macd(bars: pd.DataFrame, ctx: FeatureContext) -> pd.DataFrame:
    macd, signal, hist = talib.MACD(bars["close"].to_numpy(), 12, 26, 9)
    c = bars["close"].to_numpy()
    return pd.DataFrame({"macd_12_26_9": macd / c, "macd_hist_12_26_9": hist / c}, index=bars.index)


def _bb_pos(n: int):
    def f(bars: pd.DataFrame, ctx: FeatureContext) -> pd.Series:
        m = bars["close"].rolling(n).mean()
        s = bars["close"].rolling(n).std(ddof=0)
        return (bars["close"] - m) / (2 * s)
    return f


def _sma_dist(n: int):
    return lambda bars, ctx: np.log(bars["close"] / bars["close"].rolling(n).mean())


def _atr_norm(n: int):
    def f(bars: pd.DataFrame, ctx: FeatureContext) -> pd.Series:
        atr = talib.ATR(bars["high"].to_numpy(), bars["low"].to_numpy(), bars["close"].to_numpy(), n)
        return pd.Series(atr, index=bars.index) / bars["close"]
    return f


def _volume_z(n: int):
    def f(bars: pd.DataFrame, ctx: FeatureContext) -> pd.Series:
        lv = np.log1p(bars["volume"].clip(lower=0))
        return (lv - lv.rolling(n).mean()) / lv.rolling(n).std()
    return f


def _dow(bars: pd.DataFrame, ctx: FeatureContext) -> pd.DataFrame:
    d = bars["ts"].dt.dayofweek.to_numpy()
    return pd.DataFrame({"dow_sin": np.sin(2 * np.pi * d / 7), "dow_cos": np.cos(2 * np.pi * d / 7)},
                        index=bars.index)


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("ret_lags", "returns", _ret_lags, tuple(f"ret_lag_{k}" for k in range(1, 6)), 5),
    single("vol_20", "volatility", 20, _vol(20), description="std of log returns, 20 bars"),
    single("rsi_14", "momentum", 14, _rsi(14), description="RSI(14) / 100"),
    FeatureSpec("macd", "momentum", _macd, ("macd_12_26_9", "macd_hist_12_26_9"), 33),
    single("bb_pos_20", "mean_reversion", 19, _bb_pos(20), description="(close - SMA20) / (2 sd)"),
    single("sma_dist_50", "mean_reversion", 49, _sma_dist(50), description="log(close / SMA50)"),
    single("atr_norm_14", "volatility", 14, _atr_norm(14), description="ATR(14) / close"),
    single("volume_z_20", "volume", 20, _volume_z(20), needs=("volume",),
           description="z-score of log volume over 20 bars"),
    FeatureSpec("dow", "calendar", _dow, ("dow_sin", "dow_cos"), 0),
)
