"""Volume and order flow: OBV and A/D flows, Chaikin money flow, volume rate of change, VWAP
distance (anchored at the UTC day and rolling); from order-book snapshots and trades where the
context carries them (``ctx.extra['orderbook']`` / ``ctx.extra['trades']``): spread, book
imbalance, trade-size distribution and buy/sell volume ratio, each as known at the bar's close."""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from pipelines.times import epoch_ns
from pipelines.features.kernels import arr, div, ohlcv, roll_mean, roll_sum, shift, spec, ta_lookback
from pipelines.features.sessions import SESSIONS

FLOW_PERIODS = (10, 20, 50)
VROC_PERIODS = (1, 5, 20)
VWAP_PERIODS = (20, 50, 100)


def _flows(n: int):
    def fn(bars, ctx):
        _, h, lo, c, v = ohlcv(bars)
        dc = np.sign(np.diff(c, prepend=np.nan))
        clv = div((c - lo) - (h - c), h - lo)
        clv = np.where(h > lo, clv, 0.0)
        vs = roll_sum(v, n)
        return {f"obv_flow_{n}": div(roll_sum(dc * v, n), vs), f"cmf_{n}": div(roll_sum(clv * v, n), vs)}
    return fn


def _adosc(bars, ctx):
    _, h, lo, c, v = ohlcv(bars)
    return {"adosc_3_10": div(talib.ADOSC(h, lo, c, v, 3, 10), roll_mean(v, 10))}


def _vroc(n: int):
    def fn(bars, ctx):
        lv = np.log1p(np.clip(arr(bars, "volume"), 0, None))
        return {f"volume_roc_{n}": lv - shift(lv, n)}
    return fn


def _volume_ratio(bars, ctx):
    v = arr(bars, "volume")
    return {"volume_ratio_5_50": div(roll_mean(v, 5), roll_mean(v, 50)),
            "volume_ratio_1_20": div(v, roll_mean(v, 20))}


def _typical(bars) -> np.ndarray:
    _, h, lo, c, _ = ohlcv(bars)
    return (h + lo + c) / 3.0


def _vwap_day(bars, ctx):
    tp, v, c = _typical(bars), arr(bars, "volume"), arr(bars, "close")
    day = epoch_ns(bars["ts"]) // (86400 * 10**9)
    pv = pd.Series(tp * v).groupby(day).cumsum().to_numpy()
    cv = pd.Series(v).groupby(day).cumsum().to_numpy()
    return {"vwap_day_dist": np.log(div(c, div(pv, cv)))}


def _vwap_session(bars, ctx):
    """VWAP anchored at the latest session open (Tokyo 00, London 08, New York 13, Sydney 22 UTC)."""
    tp, v, c = _typical(bars), arr(bars, "volume"), arr(bars, "close")
    ns = epoch_ns(bars["ts"])
    opens = np.array(sorted(s.open_hour for s in SESSIONS), dtype="int64")
    hour = (ns // (3600 * 10**9)) % 24
    day = ns // (86400 * 10**9)
    key = day * len(opens) + np.searchsorted(opens, hour, side="right") - 1
    pv = pd.Series(tp * v).groupby(key).cumsum().to_numpy()
    cv = pd.Series(v).groupby(key).cumsum().to_numpy()
    return {"vwap_session_dist": np.log(div(c, div(pv, cv)))}


def _vwap_roll(n: int):
    def fn(bars, ctx):
        tp, v, c = _typical(bars), arr(bars, "volume"), arr(bars, "close")
        return {f"vwap_dist_{n}": np.log(div(c, div(roll_sum(tp * v, n), roll_sum(v, n))))}
    return fn


def _asof(bars: pd.DataFrame, other: pd.DataFrame) -> np.ndarray:
    """Row of ``other`` (sorted by known_at) last known at each bar's close; -1 where none."""
    return np.searchsorted(epoch_ns(other["known_at"]), epoch_ns(bars["known_at"]), side="right") - 1


def _book(bars, ctx):
    ob = ctx.extra["orderbook"].sort_values("known_at", kind="stable")
    idx = _asof(bars, ob)
    ok = idx >= 0
    take = lambda col: np.where(ok, ob[col].to_numpy(dtype="float64")[np.maximum(idx, 0)], np.nan)  # noqa: E731
    bid, ask, bs, az = take("best_bid"), take("best_ask"), take("bid_size"), take("ask_size")
    bd, ad = take("bid_depth"), take("ask_depth")
    mid = (bid + ask) / 2
    return {"book_spread": div(ask - bid, mid), "book_imbalance": div(bs - az, bs + az),
            "book_depth_imbalance": div(bd - ad, bd + ad)}


def _trades(bars, ctx):
    tr = ctx.extra["trades"]
    start, end = epoch_ns(bars["ts"]), epoch_ns(bars["known_at"])
    tts = epoch_ns(tr["ts"])
    # a trade belongs to the bar whose interval holds it, and only once known by that bar's close
    b = np.searchsorted(start, tts, side="right") - 1
    bb = np.maximum(b, 0)
    valid = (b >= 0) & (epoch_ns(tr["known_at"]) <= end[bb]) & (tts < end[bb])
    b = b[valid]
    qty = tr["qty"].to_numpy(dtype="float64")[valid]
    buy = ~tr["is_buyer_maker"].to_numpy(dtype=bool)[valid]
    n = len(bars)
    cnt = np.bincount(b, minlength=n).astype("float64")
    vol = np.bincount(b, qty, minlength=n)
    buyv = np.bincount(b, qty * buy, minlength=n)
    sq = np.bincount(b, qty * qty, minlength=n)
    mx = np.zeros(n)
    if len(b):
        order = np.argsort(b, kind="stable")
        bs, qs = b[order], qty[order]
        firsts = np.flatnonzero(np.r_[True, np.diff(bs) != 0])
        mx[bs[firsts]] = np.maximum.reduceat(qs, firsts)
    mean = div(vol, cnt)
    sd = np.sqrt(np.clip(div(sq, cnt) - mean * mean, 0, None))
    return {"trade_buy_ratio": div(buyv, vol), "trade_count_log": np.log1p(cnt),
            "trade_size_mean_rel": div(mean, roll_mean(mean, 20)), "trade_size_cv": div(sd, mean),
            "trade_size_max_share": div(mx, vol)}


def _features():
    out = []
    for n in FLOW_PERIODS:
        out.append(spec(f"volume_flows_{n}", "volume", (f"obv_flow_{n}", f"cmf_{n}"), n, _flows(n),
                        needs=("volume",),
                        description=f"OBV change over {n} bars / volume, Chaikin money flow({n})"))
    out.append(spec("adosc_3_10", "volume", ("adosc_3_10",),
                    max(ta_lookback("ADOSC", fastperiod=3, slowperiod=10), 9), _adosc, needs=("volume",),
                    description="Chaikin A/D oscillator(3,10) / mean volume(10)"))
    for n in VROC_PERIODS:
        out.append(spec(f"volume_roc_{n}", "volume", (f"volume_roc_{n}",), n, _vroc(n), needs=("volume",),
                        description=f"log(1+volume) change over {n} bars"))
    out.append(spec("volume_ratios", "volume", ("volume_ratio_5_50", "volume_ratio_1_20"), 49,
                    _volume_ratio, needs=("volume",), description="short over long mean volume"))
    out.append(spec("vwap_day", "volume", ("vwap_day_dist",), 0, _vwap_day, needs=("volume",),
                    description="log(close / VWAP anchored at the UTC day's first bar)"))
    out.append(spec("vwap_session", "volume", ("vwap_session_dist",), 0, _vwap_session,
                    needs=("volume", "intraday"),
                    description="log(close / VWAP anchored at the latest session open: 00, 08, 13, 22 UTC)"))
    for n in VWAP_PERIODS:
        out.append(spec(f"vwap_{n}", "volume", (f"vwap_dist_{n}",), n - 1, _vwap_roll(n), needs=("volume",),
                        description=f"log(close / rolling VWAP({n}))"))
    out.append(spec("order_book", "order_flow", ("book_spread", "book_imbalance", "book_depth_imbalance"), 0,
                    _book, needs=("orderbook",),
                    description="last order-book snapshot known at the bar's close: relative spread, "
                                "top-of-book and depth imbalance"))
    out.append(spec("trade_flow", "order_flow",
                    ("trade_buy_ratio", "trade_count_log", "trade_size_mean_rel", "trade_size_cv",
                     "trade_size_max_share"), 19, _trades, needs=("trades",),
                    description="trades inside the bar: taker-buy share of volume, count, mean size "
                                "vs its 20-bar mean, size dispersion, largest trade's share"))
    return tuple(out)


FEATURES = _features()
