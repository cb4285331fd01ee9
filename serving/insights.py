"""The asset-detail panels: latest indicator values, news sentiment and risk figures."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from pipelines.evaluation.metrics import max_drawdown, sharpe
from pipelines.config.sentiment import SentimentConfig
from pipelines.sentiment.pipeline import scored_news
from pipelines.sentiment.scorer import SentimentScorer
from pipelines.tickers import parse_tickers
from pipelines.times import periods_per_year
from pipelines.store.base import Store
from serving.market import MarketData


def number(v) -> float | None:
    """``v`` as a float, or None when it is missing, not a number or not finite (JSON-safe)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def indicators(market: MarketData, symbol: str, timeframe: str | None = None) -> dict:
    """The live feature row of the latest bar (the values the models see)."""
    tf = timeframe or market.timeframes(symbol)[0]
    bars = market.bars(symbol, tf)
    feats = market.features(symbol, tf)
    if feats.empty:
        values: dict[str, float | None] = {}
        ts = bars["ts"].iloc[-1]
    else:
        row = feats.iloc[-1]
        values = {str(k): number(v) for k, v in row.items()}
        ts = feats.index[-1]
    return {"symbol": symbol, "timeframe": tf, "ts": pd.Timestamp(ts).isoformat(),
            "close": float(bars["close"].iloc[-1]), "feature_set": market.feature_set_name, "values": values}


def risk(market: MarketData, symbol: str, timeframe: str | None = None, window: int = 500) -> dict:
    """Historical risk of holding the asset over the last ``window`` bars."""
    tf = timeframe or market.timeframes(symbol)[0]
    bars = market.bars(symbol, tf).iloc[-window:]
    rets = np.log(bars["close"]).diff().dropna()
    ppy = periods_per_year(tf, market.asset_class(symbol))
    out = {"symbol": symbol, "timeframe": tf, "bars": int(len(bars)),
           "last_ts": pd.Timestamp(bars["ts"].iloc[-1]).isoformat(), "volatility_annual": None,
           "var_95": None, "cvar_95": None, "max_drawdown": None, "sharpe_annual": None}
    if len(rets) >= 20:
        simple = np.expm1(rets)
        var = float(np.quantile(simple, 0.05))
        out.update(volatility_annual=number(rets.std(ddof=1) * math.sqrt(ppy)), var_95=number(var),
                   cvar_95=number(simple[simple <= var].mean()),
                   max_drawdown=number(max_drawdown((1 + simple).cumprod())),
                   sharpe_annual=number(sharpe(simple, ppy)))
    return out


def _source(row) -> str | None:
    for c in ("source", "provider"):
        v = row.get(c)
        if isinstance(v, str) and v:
            return v
    return None


def _provider_score(row, symbol: str) -> float | None:
    """The provider's score for this symbol (its per-ticker score), else its overall score."""
    per = row.get("provider_tickers")
    if isinstance(per, str) and per:
        try:
            for t in json.loads(per):
                if str(t.get("ticker", "")).upper() == symbol.upper() and number(t.get("score")) is not None:
                    return number(t.get("score"))
        except (ValueError, AttributeError):
            pass
    return number(row.get("provider_score"))


def sentiment(store: Store, symbol: str, window_days: int = 7, now: pd.Timestamp | None = None,
              limit: int = 20, scorer: SentimentScorer | None = None) -> dict:
    """Scores of the headlines that name the symbol and were known in the last ``window_days``
    days before ``now``, from the configured scorer: stored scores are read, and items this scorer
    version has not scored yet are scored once and stored. The provider's own score comes along."""
    now = now or pd.Timestamp.now(tz="UTC")
    scorer = scorer or SentimentScorer(SentimentConfig(model="vader"))
    start = now - pd.Timedelta(days=window_days)
    scored, info = scored_news(store, scorer.cfg, start=start, end=now, scorer=scorer)
    model = {"active": scorer.active, "version": scorer.version, "notice": scorer.notice}
    if scored.empty:
        return {"symbol": symbol, "window_days": window_days, "n_items": 0, "mean_score": None,
                "model": model, "items": []}
    news = store.read("news", start=start, end=now)[["item_id", "headline", "source"]]
    scored = scored.merge(news, on="item_id", how="left")
    scored = scored[scored["tickers"].map(lambda t: symbol in parse_tickers(t))]
    items = []
    for _, r in scored.sort_values("known_at", ascending=False).iterrows():
        if number(r["score"]) is None:
            continue
        items.append({"published_at": pd.Timestamp(r["published_at"]).isoformat(),
                      "headline": str(r["headline"] if not pd.isna(r["headline"]) else ""),
                      "source": _source(r),
                      "score": float(r["score"]), "label": str(r["label"]),
                      "provider_score": _provider_score(r, symbol)})
    mean = float(np.mean([i["score"] for i in items])) if items else None
    return {"symbol": symbol, "window_days": window_days, "n_items": len(items), "mean_score": mean,
            "model": model, "items": items[:limit]}
