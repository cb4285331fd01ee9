"""Mean reversion: Bollinger position and width, z-scores, distance from SMA/EMA/WMA, Keltner
channel position."""

from __future__ import annotations

import numpy as np
import talib

from pipelines.features.kernels import arr, div, ohlcv, roll_mean, roll_std, spec, ta_lookback

BB_PERIODS = (10, 50, 100)
BB_WIDTH_PERIODS = (10, 20, 50, 100)
Z_PERIODS = (10, 20, 50, 100, 200)
SMA_PERIODS = (5, 10, 20, 100, 200)
EMA_PERIODS = (5, 10, 20, 50, 100, 200)
WMA_PERIODS = (10, 20, 50)
KELTNER = ((20, 2.0), (50, 2.0))


def _bb(n: int):
    def fn(bars, ctx):
        c = arr(bars, "close")
        m, s = roll_mean(c, n), roll_std(c, n, ddof=0)
        return {f"bb_pos_{n}": div(c - m, 2 * s)}
    return fn


def _bbw(n: int):
    def fn(bars, ctx):
        c = arr(bars, "close")
        return {f"bb_width_{n}": div(4 * roll_std(c, n, ddof=0), roll_mean(c, n))}
    return fn


def _z(n: int):
    def fn(bars, ctx):
        lc = np.log(arr(bars, "close"))
        return {f"zscore_logclose_{n}": div(lc - roll_mean(lc, n), roll_std(lc, n))}
    return fn


def _dist(kind: str, n: int):
    ma = {"sma": talib.SMA, "ema": talib.EMA, "wma": talib.WMA}[kind]

    def fn(bars, ctx):
        c = arr(bars, "close")
        return {f"{kind}_dist_{n}": np.log(div(c, ma(c, n)))}
    return fn


def _keltner(n: int, k: float):
    def fn(bars, ctx):
        _, h, lo, c, _ = ohlcv(bars)
        mid = talib.EMA(c, n)
        atr = talib.ATR(h, lo, c, n)
        return {f"keltner_pos_{n}": div(c - mid, k * atr)}
    return fn


def _ma_cross(bars, ctx):
    c = arr(bars, "close")
    return {"ema_10_50_spread": np.log(div(talib.EMA(c, 10), talib.EMA(c, 50))),
            "sma_50_200_spread": np.log(div(talib.SMA(c, 50), talib.SMA(c, 200)))}


def _features():
    out = []
    for n in BB_PERIODS:
        out.append(spec(f"bb_pos_{n}", "mean_reversion", (f"bb_pos_{n}",), n - 1, _bb(n),
                        description=f"(close - SMA{n}) / (2 sd{n})"))
    for n in BB_WIDTH_PERIODS:
        out.append(spec(f"bb_width_{n}", "mean_reversion", (f"bb_width_{n}",), n - 1, _bbw(n),
                        description=f"Bollinger band width (4 sd / SMA), {n} bars"))
    for n in Z_PERIODS:
        out.append(spec(f"zscore_logclose_{n}", "mean_reversion", (f"zscore_logclose_{n}",), n - 1, _z(n),
                        description=f"z-score of log close over {n} bars"))
    for kind, periods in (("sma", SMA_PERIODS), ("ema", EMA_PERIODS), ("wma", WMA_PERIODS)):
        for n in periods:
            lb = ta_lookback(kind.upper(), timeperiod=n)
            out.append(spec(f"{kind}_dist_{n}", "mean_reversion", (f"{kind}_dist_{n}",), lb,
                            _dist(kind, n), description=f"log(close / {kind.upper()}{n})"))
    for n, k in KELTNER:
        lb = max(ta_lookback("EMA", timeperiod=n), ta_lookback("ATR", timeperiod=n))
        out.append(spec(f"keltner_pos_{n}", "mean_reversion", (f"keltner_pos_{n}",), lb, _keltner(n, k),
                        description=f"(close - EMA{n}) / ({k} ATR{n})"))
    out.append(spec("ma_spreads", "mean_reversion", ("ema_10_50_spread", "sma_50_200_spread"),
                    ta_lookback("SMA", timeperiod=200), _ma_cross,
                    description="log ratios of fast to slow moving averages"))
    return tuple(out)


FEATURES = _features()
