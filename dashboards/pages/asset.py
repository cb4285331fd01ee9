"""Asset detail: candles with the forecast band, indicators in plain language, sentiment,
session analysis, per-model predictions and risk."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboards.common import EMPTY_MODELS, fetch, header, num, pct, signal_badge
from dashboards.readings import atr_reading, bollinger_reading, macd_reading, rsi_reading, session_stats

RANGES = {"1D": pd.Timedelta(days=1), "1W": pd.Timedelta(weeks=1), "1M": pd.Timedelta(days=31)}


def price_chart(symbol: str, bars: pd.DataFrame, pred: dict | None, rng: str) -> None:
    end = bars["ts"].iloc[-1]
    view = bars[bars["ts"] >= end - RANGES[rng]]
    if len(view) < 2:  # daily bars over one day: show the last bars instead
        view = bars.tail(30)
    fig = go.Figure(go.Candlestick(x=view["ts"], open=view["open"], high=view["high"], low=view["low"],
                                   close=view["close"], name=symbol))
    if pred:
        sigma = float(np.log(bars["close"]).diff().tail(250).std())
        last = float(bars["close"].iloc[-1])
        for h in pred["horizons"]:
            ens = h.get("ensemble")
            if not ens or not math.isfinite(sigma):
                continue
            t0, t1 = pd.Timestamp(h["known_at"]), pd.Timestamp(h["target_ts"])
            width = sigma * math.sqrt(max(h["horizon_bars"], 1))
            mid = last * math.exp(ens["expected_return"])
            lo, hi = last * math.exp(ens["expected_return"] - width), last * math.exp(ens["expected_return"] + width)
            fig.add_trace(go.Scatter(x=[t0, t1, t1, t0], y=[last, hi, lo, last], fill="toself", mode="lines",
                                     line=dict(width=0), fillcolor="rgba(31,119,180,0.2)",
                                     name=f"{h['horizon']} forecast (±1σ)"))
            fig.add_trace(go.Scatter(x=[t0, t1], y=[last, mid], mode="lines", line=dict(dash="dot"),
                                     name=f"{h['horizon']} expected"))
    fig.update_layout(height=460, xaxis_rangeslider_visible=False, margin=dict(l=30, r=10, t=30, b=20))
    st.plotly_chart(fig, width="stretch")


def indicators_panel(symbol: str) -> None:
    ind = fetch(f"/assets/{symbol}/indicators")
    if ind is None:
        return
    values = ind["values"]
    readings = {"Momentum": [rsi_reading(values), macd_reading(values)],
                "Volatility": [atr_reading(values)],
                "Mean reversion": [bollinger_reading(values)]}
    for title, lines in readings.items():
        with st.expander(title, expanded=title == "Momentum"):
            shown = [x for x in lines if x]
            for line in shown:
                st.markdown(f"- {line}")
            if not shown:
                st.caption("Not computed for this asset's feature set.")
    with st.expander(f"All {len(values)} indicator values ({ind['feature_set']} set, bar {ind['ts']})"):
        st.dataframe(pd.DataFrame({"value": values}), width="stretch")


def sentiment_panel(symbol: str) -> None:
    s = fetch(f"/assets/{symbol}/sentiment", window_days=7)
    if s is None:
        return
    if s["n_items"] == 0:
        st.info("No news scored for this asset in the last 7 days.")
        return
    labels = [i["label"] for i in s["items"]]
    positive = sum(1 for x in labels if x == "positive") / max(len(labels), 1)
    c = st.columns(3)
    c[0].metric("News positive", f"{positive:.0%}", help=f"of the latest {len(labels)} of {s['n_items']} articles "
                f"in {s['window_days']} days")
    c[1].metric("Articles", s["n_items"])
    c[2].metric("Mean score", num(s["mean_score"]))
    model = s.get("model") or {}
    st.caption(f"Scored with {model.get('active', '?')} ({model.get('version', '?')})"
               + (f": {model['notice']}" if model.get("notice") else ""))
    st.dataframe(pd.DataFrame(s["items"]).head(20), hide_index=True, width="stretch")


def session_panel(bars: pd.DataFrame, sessions: dict | None) -> None:
    stats = session_stats(bars)
    if sessions:
        st.metric("Liquidity score now", f"{sessions['liquidity']:.2f}",
                  help="open sessions weighted by their share of turnover, overlaps count extra")
    if not stats:
        st.caption("Hourly statistics need intraday bars.")
        return
    st.markdown(f"Busiest hour (UTC): **{stats['busiest_hour']:02d}:00**, calmest: "
                f"**{stats['calmest_hour']:02d}:00**. Trade when moves are large enough to cover costs "
                "and liquidity is high: usually the busiest hours inside a session overlap.")
    st.bar_chart(stats["by_hour"].rename("mean |return| by hour (UTC)"))


def models_panel(pred: dict | None) -> None:
    if pred is None:
        return
    rows = []
    for h in pred["horizons"]:
        for m in h["models"]:
            rows.append({"horizon": h["horizon"], "model": m["name"], "version": m["version"],
                         "expected return": pct(m["expected_return"]), "P(up)": f"{m['prob_up']:.0%}",
                         "confidence": f"{m['confidence']:.0%}"})
        if h.get("ensemble"):
            e = h["ensemble"]
            rows.append({"horizon": h["horizon"], "model": f"ensemble ({e['method']})", "version": "",
                         "expected return": pct(e["expected_return"]), "P(up)": f"{e['prob_up']:.0%}",
                         "confidence": f"{e['confidence']:.0%}"})
        for miss in h.get("missing", []):
            st.warning(f"{h['horizon']}: {miss['name']} unavailable ({miss['reason']})")
    panels = pred.get("panels", [])
    if not rows and not panels:
        st.info(EMPTY_MODELS)
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if panels:
        panel_models_table(panels)
    for miss in pred.get("panels_missing", []):
        st.warning(f"Panel model {miss['name']} unavailable ({miss['reason']})")


def panel_models_table(panels: list[dict]) -> None:
    """The panel models' answers for this asset: its score and its rank in the cross-section
    (-0.5 the weakest, +0.5 the strongest of the symbols answered that date)."""
    st.caption("Panel models rank this asset against their universe on the latest common date "
               "(rank from -0.5, the weakest, to +0.5, the strongest):")
    st.dataframe(pd.DataFrame([{"model": a["name"], "version": a["version"], "label": a["label"],
                                "horizon": a["horizon"], "score": f"{a['score']:+.4g}",
                                "rank": f"{a['rank']:+.2f}", "of symbols": a["cross_section"],
                                "as of": a["ts"]} for a in panels]),
                 hide_index=True, width="stretch")


def risk_panel(symbol: str) -> None:
    r = fetch(f"/assets/{symbol}/risk")
    if r is None:
        return
    c = st.columns(5)
    c[0].metric("Sharpe (annual)", num(r["sharpe_annual"]))
    c[1].metric("Max drawdown", pct(r["max_drawdown"], 1))
    c[2].metric("Volatility (annual)", pct(r["volatility_annual"], 1))
    c[3].metric("VaR 95% (1 bar)", pct(r["var_95"]))
    c[4].metric("CVaR 95% (1 bar)", pct(r["cvar_95"]))
    models = fetch("/models", status="promoted") or {"models": []}
    mine = [m for m in models["models"] if symbol in m["symbols"]]
    if mine:
        st.caption("Out-of-sample figures of the promoted models for this asset:")
        st.dataframe(pd.DataFrame([{"model": m["name"], "accuracy": m["accuracy"], "sharpe": m["sharpe"]}
                                   for m in mine]), hide_index=True, width="stretch")


header("Asset detail")
assets = fetch("/assets")
if assets is not None:
    if not assets["assets"]:
        st.info("No assets in the store yet: run `make demo` or `meridian import`.")
    else:
        symbols = [a["symbol"] for a in assets["assets"]]
        symbol = st.selectbox("Asset", symbols, key="symbol")
        rng = st.radio("Range", list(RANGES), horizontal=True, index=2, key="range")
        raw = fetch(f"/assets/{symbol}/bars", quiet_404=True, limit=2000)
        pred = fetch(f"/predictions/{symbol}", quiet_404=True)
        if pred:
            for h in pred["horizons"]:
                st.markdown(f"**{h['horizon']}**: {signal_badge(h['signal'])}")
            if pred.get("regime"):
                st.caption(f"Regime: {pred['regime']['label']}")
        if raw and raw["bars"]:
            bars = pd.DataFrame(raw["bars"])
            bars["ts"] = pd.to_datetime(bars["ts"], utc=True)
            price_chart(symbol, bars, pred, rng)
        else:
            st.caption("No price history for this asset from the API.")
            bars = pd.DataFrame(columns=["ts", "open", "high", "low", "close"])
        t = st.tabs(["Indicators", "Sentiment", "Sessions", "Models", "Risk"])
        with t[0]:
            indicators_panel(symbol)
        with t[1]:
            sentiment_panel(symbol)
        with t[2]:
            session_panel(bars, fetch("/sessions"))
        with t[3]:
            models_panel(pred)
        with t[4]:
            risk_panel(symbol)
