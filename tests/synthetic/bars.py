"""Generated inputs for exercising every feature family without outside data: a bar series
with GARCH-like volatility, reference peers (spy, btc, dxy, sector), FRED-like macro releases
with a publication lag (and a fear & greed index), scored news, order-book snapshots and trades."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.features.macro import SERIES
from pipelines.features.spec import FeatureContext
from tests.synthetic.markets import bars_from_returns


def garch_returns(n: int, seed: int, omega: float = 2e-6, alpha: float = 0.08, beta: float = 0.9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    r = np.zeros(n)
    s2 = omega / (1 - alpha - beta)
    for t in range(1, n):
        s2 = omega + alpha * r[t - 1] ** 2 + beta * s2
        r[t] = np.sqrt(s2) * z[t]
    return r


def synthetic_bars(n: int, seed: int = 0, symbol: str = "SYN", timeframe: str = "1h",
                   start: str = "2021-03-01", asset_class: str = "crypto") -> pd.DataFrame:
    return bars_from_returns(garch_returns(n, seed), symbol=symbol, timeframe=timeframe,
                             asset_class=asset_class, start=start, seed=seed)


def synthetic_macro(start: pd.Timestamp, end: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """Daily observations of each macro series, released one day (plus a few hours) after the
    reference date, starting 60 days before ``start``."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(start.normalize() - pd.Timedelta(days=60), end.normalize(), freq="D", tz="UTC")
    rows = []
    for i, sid in enumerate(SERIES):
        v = 2.0 + i + np.cumsum(rng.normal(0, 0.05, len(days)))
        rows.append(pd.DataFrame({"series_id": sid, "source": "synthetic", "ts": days,
                                  "known_at": days + pd.Timedelta(days=1, hours=13, minutes=30), "value": v}))
    fg = np.clip(50 + np.cumsum(rng.normal(0, 4, len(days))), 0, 100)
    rows.append(pd.DataFrame({"series_id": "CRYPTO_FEAR_GREED", "source": "synthetic", "ts": days,
                              "known_at": days + pd.Timedelta(hours=1), "value": fg}))
    return pd.concat(rows, ignore_index=True)


def synthetic_news(bars: pd.DataFrame, per_day: int = 12, seed: int = 0) -> pd.DataFrame:
    """Scored items (news and social) spread over the bars' span, first seen a few minutes to
    hours after their claimed publish time; a third name the market, the rest other tickers or
    none."""
    rng = np.random.default_rng(seed)
    start, end = bars["ts"].iloc[0], bars["known_at"].iloc[-1]
    n = max(1, int((end - start) / pd.Timedelta(days=1) * per_day))
    published = start + pd.to_timedelta(np.sort(rng.uniform(0, (end - start).total_seconds(), n)), unit="s")
    known = published + pd.to_timedelta(rng.exponential(1800, n), unit="s")
    tickers = rng.choice(np.array(["[]", '["BTC"]', '["AAPL"]']), n)
    return pd.DataFrame({"item_id": [f"n{i}" for i in range(n)], "published_at": published, "known_at": known,
                         "score": np.tanh(rng.normal(0, 0.6, n)), "channel": rng.choice(["news", "social"], n),
                         "tickers": tickers}).sort_values("known_at", kind="stable").reset_index(drop=True)


def synthetic_orderbook(bars: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Two snapshots per bar, at 40% and 90% of it."""
    rng = np.random.default_rng(seed)
    dur = bars["known_at"] - bars["ts"]
    rows = []
    for frac in (0.4, 0.9):
        ts = bars["ts"] + dur * frac
        mid = bars["open"].to_numpy() + frac * (bars["close"].to_numpy() - bars["open"].to_numpy())
        half = mid * rng.uniform(1e-4, 5e-4, len(bars))
        rows.append(pd.DataFrame({"symbol": bars["symbol"].to_numpy(), "venue": "synthetic", "ts": ts, "known_at": ts,
                                  "best_bid": mid - half, "best_ask": mid + half,
                                  "bid_size": rng.lognormal(0, 0.5, len(bars)), "ask_size": rng.lognormal(0, 0.5, len(bars)),
                                  "bid_depth": rng.lognormal(3, 0.3, len(bars)), "ask_depth": rng.lognormal(3, 0.3, len(bars)),
                                  "bids": "[]", "asks": "[]"}))
    return pd.concat(rows).sort_values("known_at", kind="stable").reset_index(drop=True)


def synthetic_trades(bars: pd.DataFrame, per_bar: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(bars) * per_bar
    which = np.repeat(np.arange(len(bars)), per_bar)
    frac = np.sort(rng.uniform(0, 1, n).reshape(len(bars), per_bar), axis=1).ravel()
    start = pd.DatetimeIndex(bars["ts"]).as_unit("ns").asi8[which]
    dur = pd.DatetimeIndex(bars["known_at"]).as_unit("ns").asi8[which] - start
    ts = start + (dur * frac).astype("int64")
    return pd.DataFrame({"symbol": bars["symbol"].iloc[0] if len(bars) else "", "venue": "synthetic",
                         "trade_id": np.arange(n).astype(str), "ts": pd.to_datetime(ts, utc=True),
                         "known_at": pd.to_datetime(ts, utc=True) + pd.Timedelta(milliseconds=50),
                         "price": bars["close"].to_numpy()[which], "qty": rng.lognormal(0, 1, n),
                         "is_buyer_maker": rng.uniform(0, 1, n) < 0.5})


def synthetic_context(bars: pd.DataFrame, seed: int = 0, asset_class: str = "crypto",
                      timeframe: str = "1h") -> FeatureContext:
    """Peers on the same clock, macro releases and order flow for ``bars``."""
    n = len(bars)
    start = str(bars["ts"].iloc[0].tz_convert(None))
    peers = {name: synthetic_bars(n, seed=seed + 101 + i, symbol=name.upper(), timeframe=timeframe, start=start)
             for i, name in enumerate(("spy", "btc", "dxy", "sector"))}
    macro = synthetic_macro(bars["ts"].iloc[0], bars["ts"].iloc[-1], seed)
    return FeatureContext(symbol=str(bars["symbol"].iloc[0]), asset_class=asset_class, timeframe=timeframe,
                          peers=peers, macro=macro, news=synthetic_news(bars, seed=seed),
                          extra={"orderbook": synthetic_orderbook(bars, seed), "trades": synthetic_trades(bars, seed=seed)})
