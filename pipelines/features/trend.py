"""Trend: ADX with +DI/-DI, Aroon, Parabolic SAR, Ichimoku (spans as known at t: no forward
shift) and SuperTrend."""

from __future__ import annotations

import numba
import numpy as np
import talib

from pipelines.features.kernels import div, ohlcv, roll_max, roll_min, shift, spec, ta_lookback

ADX_PERIODS = (7, 14, 28)
AROON_PERIODS = (14, 25, 50)
SAR_SETS = ((0.02, 0.2), (0.01, 0.1))
SUPERTREND_SETS = ((10, 3.0), (20, 2.0))
ICHIMOKU = (9, 26, 52)


def _adx(n: int):
    def fn(bars, ctx):
        _, h, lo, c, _ = ohlcv(bars)
        return {f"adx_{n}": talib.ADX(h, lo, c, n) / 100.0,
                f"plus_di_{n}": talib.PLUS_DI(h, lo, c, n) / 100.0,
                f"minus_di_{n}": talib.MINUS_DI(h, lo, c, n) / 100.0}
    return fn


def _aroon(n: int):
    def fn(bars, ctx):
        _, h, lo, _, _ = ohlcv(bars)
        down, up = talib.AROON(h, lo, n)
        return {f"aroon_up_{n}": up / 100.0, f"aroon_down_{n}": down / 100.0,
                f"aroon_osc_{n}": (up - down) / 100.0}
    return fn


def _sar(acc: float, mx: float):
    tag = f"{acc:g}_{mx:g}".replace(".", "p")

    def fn(bars, ctx):
        _, h, lo, c, _ = ohlcv(bars)
        sar = talib.SAR(h, lo, acc, mx)
        return {f"sar_dist_{tag}": div(c - sar, c), f"sar_side_{tag}": np.sign(c - sar)}
    return tag, fn


def _ichimoku(bars, ctx):
    a, b, s = ICHIMOKU
    _, h, lo, c, _ = ohlcv(bars)
    tenkan = (roll_max(h, a) + roll_min(lo, a)) / 2
    kijun = (roll_max(h, b) + roll_min(lo, b)) / 2
    span_a = (tenkan + kijun) / 2
    span_b = (roll_max(h, s) + roll_min(lo, s)) / 2
    # the cloud drawn at t is the spans computed b bars earlier: a delay, known at t
    cloud_top = shift(np.fmax(span_a, span_b), b)
    cloud_bot = shift(np.fmin(span_a, span_b), b)
    return {"ichi_tenkan_dist": np.log(div(c, tenkan)), "ichi_kijun_dist": np.log(div(c, kijun)),
            "ichi_tenkan_kijun": np.log(div(tenkan, kijun)), "ichi_span_a_dist": np.log(div(c, span_a)),
            "ichi_span_b_dist": np.log(div(c, span_b)),
            "ichi_cloud_pos": div(c - (cloud_top + cloud_bot) / 2, c),
            "ichi_cloud_width": div(cloud_top - cloud_bot, c)}


@numba.njit(cache=True)
def _supertrend_core(h, lo, c, atr, mult):
    n = len(c)
    line = np.full(n, np.nan)
    direction = np.full(n, np.nan)
    up_f = np.nan
    lo_f = np.nan
    d = 1.0
    for t in range(n):
        if np.isnan(atr[t]):
            continue
        mid = (h[t] + lo[t]) / 2.0
        up_b = mid + mult * atr[t]
        lo_b = mid - mult * atr[t]
        if np.isnan(up_f):
            up_f, lo_f = up_b, lo_b
        else:
            up_f = up_b if (up_b < up_f or c[t - 1] > up_f) else up_f
            lo_f = lo_b if (lo_b > lo_f or c[t - 1] < lo_f) else lo_f
            if d > 0 and c[t] < lo_f:
                d = -1.0
            elif d < 0 and c[t] > up_f:
                d = 1.0
        direction[t] = d
        line[t] = lo_f if d > 0 else up_f
    return line, direction


def _supertrend(n: int, mult: float):
    tag = f"{n}_{mult:g}".replace(".", "p")

    def fn(bars, ctx):
        _, h, lo, c, _ = ohlcv(bars)
        line, d = _supertrend_core(h, lo, c, talib.ATR(h, lo, c, n), mult)
        return {f"supertrend_dir_{tag}": d, f"supertrend_dist_{tag}": div(c - line, c)}
    return tag, fn


def _features():
    out = []
    for n in ADX_PERIODS:
        out.append(spec(f"adx_{n}", "trend", (f"adx_{n}", f"plus_di_{n}", f"minus_di_{n}"),
                        ta_lookback("ADX", timeperiod=n), _adx(n),
                        description=f"ADX({n}), +DI, -DI, / 100"))
    for n in AROON_PERIODS:
        out.append(spec(f"aroon_{n}", "trend", (f"aroon_up_{n}", f"aroon_down_{n}", f"aroon_osc_{n}"),
                        ta_lookback("AROON", timeperiod=n), _aroon(n), description=f"Aroon({n}) up, down, oscillator"))
    for acc, mx in SAR_SETS:
        tag, fn = _sar(acc, mx)
        out.append(spec(f"sar_{tag}", "trend", (f"sar_dist_{tag}", f"sar_side_{tag}"),
                        ta_lookback("SAR", acceleration=acc, maximum=mx), fn,
                        description=f"parabolic SAR({acc},{mx}): (close - SAR) / close and side"))
    a, b, s = ICHIMOKU
    out.append(spec("ichimoku", "trend",
                    ("ichi_tenkan_dist", "ichi_kijun_dist", "ichi_tenkan_kijun", "ichi_span_a_dist",
                     "ichi_span_b_dist", "ichi_cloud_pos", "ichi_cloud_width"),
                    s - 1 + b, _ichimoku,
                    description="Ichimoku(9,26,52) lines relative to close; the cloud at t is the one "
                                "computed 26 bars earlier (no forward-shifted span)"))
    for n, m in SUPERTREND_SETS:
        tag, fn = _supertrend(n, m)
        out.append(spec(f"supertrend_{tag}", "trend", (f"supertrend_dir_{tag}", f"supertrend_dist_{tag}"),
                        ta_lookback("ATR", timeperiod=n), fn,
                        description=f"SuperTrend(ATR {n}, x{m:g}): direction and distance"))
    return tuple(out)


FEATURES = _features()
