"""Volatility: ATR over several periods, realized volatility and the range estimators (Parkinson,
Garman-Klass, Rogers-Satchell, Yang-Zhang), volatility ratios. All per bar (not annualised)."""

from __future__ import annotations

import numpy as np
import talib

from pipelines.features.kernels import div, logret, ohlcv, roll_mean, roll_std, shift, spec, ta_lookback

ATR_PERIODS = (7, 21, 50, 100)
RV_PERIODS = (5, 10, 50, 100, 200)
RANGE_PERIODS = (10, 20, 50)


def _atr(n: int):
    def fn(bars, ctx):
        _, h, lo, c, _ = ohlcv(bars)
        return {f"atr_norm_{n}": div(talib.ATR(h, lo, c, n), c)}
    return fn


def _rv(n: int):
    def fn(bars, ctx):
        return {f"rv_{n}": roll_std(logret(ohlcv(bars)[3]), n)}
    return fn


def _range_vols(n: int):
    def fn(bars, ctx):
        o, h, lo, c, _ = ohlcv(bars)
        with np.errstate(divide="ignore", invalid="ignore"):
            hl, co = np.log(div(h, lo)), np.log(div(c, o))
            ho, lo_, hc, lc = np.log(div(h, o)), np.log(div(lo, o)), np.log(div(h, c)), np.log(div(lo, c))
            oc_prev = np.log(div(o, shift(c, 1)))
        park = np.sqrt(roll_mean(hl * hl, n) / (4 * np.log(2)))
        gk = np.sqrt(np.clip(roll_mean(0.5 * hl * hl - (2 * np.log(2) - 1) * co * co, n), 0, None))
        rs_term = ho * hc + lo_ * lc
        rs = np.sqrt(np.clip(roll_mean(rs_term, n), 0, None))
        k = 0.34 / (1.34 + (n + 1) / (n - 1))
        yz_var = (roll_std(oc_prev, n) ** 2 + k * roll_std(co, n) ** 2 + (1 - k) * roll_mean(rs_term, n))
        yz = np.sqrt(np.clip(yz_var, 0, None))
        return {f"parkinson_{n}": park, f"garman_klass_{n}": gk, f"rogers_satchell_{n}": rs,
                f"yang_zhang_{n}": yz}
    return fn


def _vol_ratios(bars, ctx):
    r = logret(ohlcv(bars)[3])
    v5, v20, v100 = roll_std(r, 5), roll_std(r, 20), roll_std(r, 100)
    _, h, lo, c, _ = ohlcv(bars)
    return {"vol_ratio_5_20": div(v5, v20), "vol_ratio_20_100": div(v20, v100),
            "range_rel_atr14": div(h - lo, talib.ATR(h, lo, c, 14))}


def _features():
    out = []
    for n in ATR_PERIODS:
        out.append(spec(f"atr_norm_{n}", "volatility", (f"atr_norm_{n}",), ta_lookback("ATR", timeperiod=n),
                        _atr(n), description=f"ATR({n}) / close"))
    for n in RV_PERIODS:
        out.append(spec(f"rv_{n}", "volatility", (f"rv_{n}",), n, _rv(n),
                        description=f"realized volatility: sd of log returns over {n} bars"))
    for n in RANGE_PERIODS:
        out.append(spec(f"range_vol_{n}", "volatility",
                        (f"parkinson_{n}", f"garman_klass_{n}", f"rogers_satchell_{n}", f"yang_zhang_{n}"),
                        n, _range_vols(n),
                        description=f"Parkinson, Garman-Klass, Rogers-Satchell, Yang-Zhang over {n} bars"))
    out.append(spec("vol_ratios", "volatility", ("vol_ratio_5_20", "vol_ratio_20_100", "range_rel_atr14"), 100,
                    _vol_ratios, description="short/long realized-volatility ratios, range over ATR(14)"))
    return tuple(out)


FEATURES = _features()
