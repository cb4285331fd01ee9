"""Momentum: RSI over many periods, MACD sets (line, signal, histogram, crosses), rate of change,
stochastic, Williams %R, CCI, MFI. Prices enter scale-free (ratios to close)."""

from __future__ import annotations

import numpy as np
import talib

from pipelines.features.kernels import arr, div, ohlcv, spec, ta_lookback

RSI_PERIODS = (2, 3, 5, 7, 9, 21, 28, 50, 100, 200)
MACD_SETS = ((5, 35, 5), (8, 17, 9), (19, 39, 9), (24, 52, 18))
ROC_PERIODS = (1, 3, 5, 10, 20, 60)
STOCH_SETS = ((5, 3), (14, 3), (21, 5))


def _rsi(n: int):
    return lambda bars, ctx: {f"rsi_{n}": talib.RSI(arr(bars, "close"), n) / 100.0}


def _macd(f: int, s: int, g: int):
    tag = f"{f}_{s}_{g}"

    def fn(bars, ctx):
        c = arr(bars, "close")
        macd, sig, hist = talib.MACD(c, f, s, g)
        cross = np.sign(hist)
        prev = np.concatenate([[np.nan], cross[:-1]])
        return {f"macd_{tag}": div(macd, c), f"macd_signal_{tag}": div(sig, c),
                f"macd_hist_{tag}": div(hist, c), f"macd_cross_{tag}": (cross - prev) / 2.0}
    return fn


def _roc(n: int):
    return lambda bars, ctx: {f"roc_{n}": talib.ROCR(arr(bars, "close"), n) - 1.0}


def _stoch(k: int, d: int):
    def fn(bars, ctx):
        _, h, lo, c, _ = ohlcv(bars)
        sk, sd = talib.STOCH(h, lo, c, fastk_period=k, slowk_period=d, slowk_matype=0,
                             slowd_period=d, slowd_matype=0)
        return {f"stoch_k_{k}_{d}": sk / 100.0, f"stoch_d_{k}_{d}": sd / 100.0}
    return fn


def _stochrsi(n: int):
    def fn(bars, ctx):
        k, d = talib.STOCHRSI(arr(bars, "close"), timeperiod=n, fastk_period=5, fastd_period=3)
        return {f"stochrsi_k_{n}": k / 100.0, f"stochrsi_d_{n}": d / 100.0}
    return fn


def _ohlc_ind(name: str, func, n: int, scale: float):
    col = f"{name}_{n}"

    def fn(bars, ctx):
        _, h, lo, c, _ = ohlcv(bars)
        return {col: func(h, lo, c, n) / scale}
    return col, fn


def _mfi(n: int):
    def fn(bars, ctx):
        _, h, lo, c, v = ohlcv(bars)
        return {f"mfi_{n}": talib.MFI(h, lo, c, v, n) / 100.0}
    return fn


def _momentum_misc(bars, ctx):
    o, h, lo, c, _ = ohlcv(bars)
    return {"ultosc": talib.ULTOSC(h, lo, c, 7, 14, 28) / 100.0,
            "ppo_12_26": talib.PPO(c, 12, 26, 0) / 100.0,
            "trix_15": talib.TRIX(c, 15),
            "bop": talib.BOP(o, h, lo, c),
            "cmo_14": talib.CMO(c, 14) / 100.0}


def _features():
    out = []
    for n in RSI_PERIODS:
        out.append(spec(f"rsi_{n}", "momentum", (f"rsi_{n}",), ta_lookback("RSI", timeperiod=n), _rsi(n),
                        description=f"RSI({n}) / 100"))
    for f, s, g in MACD_SETS:
        tag = f"{f}_{s}_{g}"
        lb = ta_lookback("MACD", fastperiod=f, slowperiod=s, signalperiod=g) + 1
        out.append(spec(f"macd_{tag}", "momentum",
                        (f"macd_{tag}", f"macd_signal_{tag}", f"macd_hist_{tag}", f"macd_cross_{tag}"),
                        lb, _macd(f, s, g),
                        description=f"MACD({f},{s},{g}) line, signal, histogram over close; "
                                    "cross = +1 / -1 when the histogram changes sign"))
    for n in ROC_PERIODS:
        out.append(spec(f"roc_{n}", "momentum", (f"roc_{n}",), n, _roc(n), description=f"close / close[-{n}] - 1"))
    for k, d in STOCH_SETS:
        lb = ta_lookback("STOCH", fastk_period=k, slowk_period=d, slowd_period=d)
        out.append(spec(f"stoch_{k}_{d}", "momentum", (f"stoch_k_{k}_{d}", f"stoch_d_{k}_{d}"), lb,
                        _stoch(k, d), description=f"slow stochastic %K({k},{d}) and %D, / 100"))
    for n in (14, 28):
        lb = ta_lookback("STOCHRSI", timeperiod=n, fastk_period=5, fastd_period=3)
        out.append(spec(f"stochrsi_{n}", "momentum", (f"stochrsi_k_{n}", f"stochrsi_d_{n}"), lb,
                        _stochrsi(n), description=f"stochastic RSI({n}), / 100"))
    for n in (14, 28, 56):
        col, fn = _ohlc_ind("willr", talib.WILLR, n, 100.0)
        out.append(spec(col, "momentum", (col,), ta_lookback("WILLR", timeperiod=n), fn,
                        description=f"Williams %R({n}) / 100"))
    for n in (14, 20, 40):
        col, fn = _ohlc_ind("cci", talib.CCI, n, 100.0)
        out.append(spec(col, "momentum", (col,), ta_lookback("CCI", timeperiod=n), fn,
                        description=f"CCI({n}) / 100"))
    for n in (14, 28):
        out.append(spec(f"mfi_{n}", "momentum", (f"mfi_{n}",), ta_lookback("MFI", timeperiod=n), _mfi(n),
                        needs=("volume",), description=f"money flow index({n}) / 100"))
    lb = max(ta_lookback("ULTOSC"), ta_lookback("PPO", fastperiod=12, slowperiod=26),
             ta_lookback("TRIX", timeperiod=15), ta_lookback("CMO", timeperiod=14))
    out.append(spec("momentum_misc", "momentum", ("ultosc", "ppo_12_26", "trix_15", "bop", "cmo_14"), lb,
                    _momentum_misc, description="ultimate oscillator, PPO, TRIX, balance of power, CMO"))
    return tuple(out)


FEATURES = _features()
