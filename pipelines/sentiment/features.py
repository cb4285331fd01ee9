"""Sentiment features: scored news and social posts, and the Crypto Fear & Greed index, aligned
to each bar by the time each item was first seen (``known_at``), never by its claimed publish time.

``ctx.news`` is the frame :func:`pipelines.sentiment.scorer.score_news` makes: ``known_at`` and
``score`` are required; ``channel`` ('news' or 'social', default news), ``label`` (default: the
sign of the score outside +/-0.05) and ``tickers`` (JSON list; empty = market-wide) are optional.
An item counts for a bar when its ``known_at`` is at or before the bar's ``known_at`` (its close)
and inside the window; items naming other tickers are left out. Windows are wall-clock time, so
the same features mean the same on 1m and 1d bars. With no item in a window a mean is 0 (neutral)
and the matching count says there was nothing. The index comes from ``ctx.macro`` as the series
``CRYPTO_FEAR_GREED`` (0 = extreme fear, 100 = extreme greed), as released; its changes need
seven releases before the first bar (the store keeps the daily history).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pipelines.features.kernels import shared, spec
from pipelines.tickers import parse_tickers, symbol_aliases

FEAR_GREED = "CRYPTO_FEAR_GREED"
HOUR = 3600 * 10**9
DAY = 24 * HOUR
LABEL_BAND = 0.05


def items(ctx, channel: str) -> pd.DataFrame:
    """The context's scored items of one channel that concern ctx.symbol (or the whole market),
    sorted by known_at, without unscored ones."""
    news = ctx.news
    missing = [c for c in ("known_at", "score") if c not in news.columns]
    if missing:
        raise ValueError(f"ctx.news lacks {missing}: pass the frame score_news() returns")
    ch = news["channel"].astype("string").fillna("news") if "channel" in news else pd.Series("news", index=news.index)
    keep = (ch == channel).to_numpy() & news["score"].notna().to_numpy()
    if ctx.symbol and "tickers" in news:
        keep &= _concerns(news["tickers"], symbol_aliases(ctx.symbol))
    df = news.loc[keep]
    out = pd.DataFrame({"known_at": pd.to_datetime(df["known_at"], utc=True), "score": df["score"].astype("float64")})
    if "label" in df:
        out["pos"] = (df["label"].astype("string") == "positive").to_numpy(dtype="float64")
        out["neg"] = (df["label"].astype("string") == "negative").to_numpy(dtype="float64")
    else:
        out["pos"] = (out["score"] > LABEL_BAND).astype("float64")
        out["neg"] = (out["score"] < -LABEL_BAND).astype("float64")
    return out.sort_values("known_at", kind="stable").reset_index(drop=True)


def _names_symbol(raw, names: set[str]) -> bool:
    t = parse_tickers(raw)
    return not t or bool(names & {x.rsplit(":", 1)[-1] for x in t})  # BINANCE:BTCUSDT -> BTCUSDT


def _concerns(tickers: pd.Series, names: set[str]) -> np.ndarray:
    """Whether each item's ticker list names the symbol (or nothing: market-wide). Each distinct
    list is parsed once: the column is factorised, lists as tuples."""
    col = tickers.astype("object")
    try:
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
    except TypeError:  # list cells are unhashable: key them as tuples
        col = col.map(lambda v: tuple(v) if isinstance(v, (list, np.ndarray)) else v)
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
    # one slot per distinct list, then one for a missing list (code -1): market-wide
    hit = np.fromiter((_names_symbol(u, names) for u in uniques), dtype=bool, count=len(uniques))
    return np.append(hit, True)[codes]


class Windows:
    """Sums over items known in (T - w, T] for every bar close T, from cumulative sums."""

    def __init__(self, it: pd.DataFrame, bars: pd.DataFrame) -> None:
        self.k = pd.DatetimeIndex(it["known_at"]).as_unit("ns").asi8
        self.t = pd.DatetimeIndex(bars["known_at"]).as_unit("ns").asi8
        s = it["score"].to_numpy(dtype="float64")
        z = np.zeros(1)
        self.cs = {"n": np.arange(len(s) + 1, dtype="float64"),
                   "s": np.concatenate([z, np.cumsum(s)]), "s2": np.concatenate([z, np.cumsum(s * s)]),
                   "pos": np.concatenate([z, np.cumsum(it["pos"].to_numpy())]),
                   "neg": np.concatenate([z, np.cumsum(it["neg"].to_numpy())])}
        self._bounds: dict[int, np.ndarray] = {}

    def _upto(self, end_offset: int) -> np.ndarray:
        """Items known by T - end_offset for every bar close T (searched once per offset)."""
        if end_offset not in self._bounds:
            self._bounds[end_offset] = np.searchsorted(self.k, self.t - end_offset, side="right")
        return self._bounds[end_offset]

    def sums(self, width: int, lag: int = 0, names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Sums over items known in (T - lag - width, T - lag] (all of them, or ``names``)."""
        hi, lo = self._upto(lag), self._upto(lag + width)
        return {name: self.cs[name][hi] - self.cs[name][lo] for name in (names or self.cs)}

    def mean(self, width: int, lag: int = 0) -> np.ndarray:
        w = self.sums(width, lag, ("s", "n"))
        return _safe(w["s"], w["n"])

    def count(self, width: int) -> np.ndarray:
        return self.sums(width, names=("n",))["n"]


def windows(bars: pd.DataFrame, ctx, channel: str) -> Windows:
    """The channel's windows, built once per computation for the specs that read them."""
    return shared(bars, ctx, f"sentiment.windows.{channel}", lambda: Windows(items(ctx, channel), bars))


PROVIDER_BAND = 0.15  # Alpha Vantage: above 0.15 somewhat bullish, below -0.15 somewhat bearish


def _provider_for(per, names: set[str]) -> float:
    """The provider's per-ticker score for the symbol (the most relevant entry), NaN if none."""
    if not isinstance(per, str) or not per:
        return np.nan
    try:
        entries = json.loads(per)
    except ValueError:
        return np.nan
    best, rel = np.nan, -1.0
    for e in entries if isinstance(entries, list) else []:
        if not isinstance(e, dict) or str(e.get("ticker", "")).upper() not in names:
            continue
        sc, r = e.get("score"), e.get("relevance")
        r = float(r) if isinstance(r, (int, float)) else 0.0
        if isinstance(sc, (int, float)) and np.isfinite(sc) and r > rel:
            best, rel = float(sc), r
    return best


def provider_items(ctx) -> pd.DataFrame:
    """The news provider's own scores (Alpha Vantage) of the items that concern ctx.symbol: its
    per-ticker score for the symbol, else its overall score; items without one are left out."""
    news = ctx.news
    if "known_at" not in news.columns:
        raise ValueError("ctx.news lacks ['known_at']: pass the frame score_news() returns")
    n = len(news)
    overall = (pd.to_numeric(news["provider_score"], errors="coerce").to_numpy(dtype="float64")
               if "provider_score" in news else np.full(n, np.nan))
    score = overall.copy()
    keep = np.ones(n, dtype=bool)
    if ctx.symbol:
        names = symbol_aliases(ctx.symbol)
        if "provider_tickers" in news:
            per = np.array([_provider_for(p, names) for p in news["provider_tickers"].astype("object")],
                           dtype="float64")
            score = np.where(np.isfinite(per), per, overall)
        if "tickers" in news:
            keep &= _concerns(news["tickers"], names)
    keep &= np.isfinite(score)
    out = pd.DataFrame({"known_at": pd.to_datetime(news["known_at"], utc=True)[keep].to_numpy(),
                        "score": score[keep]})
    out["known_at"] = pd.to_datetime(out["known_at"], utc=True)
    out["pos"] = (out["score"] > PROVIDER_BAND).astype("float64")
    out["neg"] = (out["score"] < -PROVIDER_BAND).astype("float64")
    return out.sort_values("known_at", kind="stable").reset_index(drop=True)


def _safe(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, 0 where b is 0 (no item: neutral)."""
    out = np.zeros_like(a, dtype="float64")
    np.divide(a, b, out=out, where=b > 0)
    return out


def _volume_z(w: Windows) -> np.ndarray:
    """log(1 + items in the last 24h) - log(1 + the 7-day daily average): abnormal attention."""
    return np.log1p(w.count(DAY)) - np.log1p(w.count(7 * DAY) / 7.0)


def news_sentiment(bars, ctx):
    w = windows(bars, ctx, "news")
    d = w.sums(DAY)
    var = np.maximum(_safe(d["s2"], d["n"]) - _safe(d["s"], d["n"]) ** 2, 0.0)
    return {"news_sent_1h": w.mean(HOUR), "news_sent_4h": w.mean(4 * HOUR), "news_sent_24h": w.mean(DAY),
            "news_count_1h": w.count(HOUR), "news_count_24h": d["n"], "news_volume_z": _volume_z(w),
            "news_sent_disp_24h": np.where(d["n"] >= 2, np.sqrt(var), 0.0),
            "news_controversy_24h": _safe(2.0 * np.minimum(d["pos"], d["neg"]), d["n"])}


def news_sentiment_trend(bars, ctx):
    w = windows(bars, ctx, "news")
    s0, s1, s2 = (w.mean(DAY, lag * DAY) for lag in (0, 1, 2))
    h0, h1 = w.mean(4 * HOUR), w.mean(4 * HOUR, 4 * HOUR)
    return {"news_sent_mom_24h": s0 - s1, "news_sent_accel_24h": s0 - 2.0 * s1 + s2,
            "news_sent_mom_4h": h0 - h1}


def social_sentiment(bars, ctx):
    w = windows(bars, ctx, "social")
    d = w.sums(DAY)
    return {"social_sent_4h": w.mean(4 * HOUR), "social_sent_24h": w.mean(DAY),
            "social_count_24h": d["n"], "social_volume_z": _volume_z(w),
            "social_controversy_24h": _safe(2.0 * np.minimum(d["pos"], d["neg"]), d["n"])}


def provider_sentiment(bars, ctx):
    w = shared(bars, ctx, "sentiment.windows.provider", lambda: Windows(provider_items(ctx), bars))
    return {"news_provider_sent_24h": w.mean(DAY), "news_provider_count_24h": w.count(DAY)}


def fear_greed(bars, ctx):
    m = ctx.macro
    s = m[m["series_id"] == FEAR_GREED].sort_values(["known_at", "ts"], kind="stable")
    v = s["value"].to_numpy(dtype="float64")
    pos = np.searchsorted(pd.DatetimeIndex(s["known_at"]).as_unit("ns").asi8,
                          pd.DatetimeIndex(bars["known_at"]).as_unit("ns").asi8, side="right") - 1

    def at(k: int) -> np.ndarray:  # the release k before the latest one known at each bar
        p = pos - k
        return np.where(p >= 0, v[np.maximum(p, 0)], np.nan)

    lvl = at(0)
    return {"fear_greed": lvl, "fear_greed_chg_1": lvl - at(1), "fear_greed_chg_7": lvl - at(7)}


_NEWS_COLS = ("news_sent_1h", "news_sent_4h", "news_sent_24h", "news_count_1h", "news_count_24h",
              "news_volume_z", "news_sent_disp_24h", "news_controversy_24h")

FEATURES = (
    spec("news_sentiment", "sentiment", _NEWS_COLS, 0, news_sentiment, needs=("news",),
         description="mean news sentiment over 1h/4h/24h, item counts, abnormal volume (log 24h vs 7-day "
                     "average), disagreement (std of scores, 24h) and controversy (2 min(pos, neg) / n, 24h)"),
    spec("news_sentiment_trend", "sentiment", ("news_sent_mom_24h", "news_sent_accel_24h", "news_sent_mom_4h"),
         0, news_sentiment_trend, needs=("news",),
         description="momentum (this 24h minus the previous 24h; also 4h) and acceleration of news sentiment"),
    spec("social_sentiment", "sentiment",
         ("social_sent_4h", "social_sent_24h", "social_count_24h", "social_volume_z", "social_controversy_24h"),
         0, social_sentiment, needs=("news",),
         description="sentiment, volume and controversy of social posts (Reddit, X)"),
    spec("provider_sentiment", "sentiment", ("news_provider_sent_24h", "news_provider_count_24h"), 0,
         provider_sentiment, needs=("news",),
         description="the news provider's own sentiment (Alpha Vantage: per-ticker score for the asset, else "
                     "overall) averaged over the items first seen in the last 24h, and their count"),
    spec("fear_greed", "sentiment", ("fear_greed", "fear_greed_chg_1", "fear_greed_chg_7"), 0, fear_greed,
         needs=(f"macro:{FEAR_GREED}",),
         description="Crypto Fear & Greed index as released, change since the previous and the 7th-previous release"),
)
