"""Plain-language readings of indicator values and session statistics (pure functions, tested
without Streamlit)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _find(values: dict, *prefixes: str) -> tuple[str, float] | None:
    for p in prefixes:
        for k, v in values.items():
            if k.startswith(p) and v is not None and math.isfinite(v):
                return k, float(v)
    return None


def rsi_reading(values: dict) -> str | None:
    hit = _find(values, "rsi_14")
    if not hit:
        return None
    v = hit[1] * 100 if hit[1] <= 1.0 else hit[1]
    state = "overbought" if v >= 70 else "oversold" if v <= 30 else "neutral"
    return f"RSI(14) is {v:.0f}: {state}."


def macd_reading(values: dict, hist_history: list[float] | None = None) -> str | None:
    hit = _find(values, "macd_hist_12_26_9", "macd_hist")
    if not hit:
        return None
    side = "above" if hit[1] > 0 else "below"
    text = f"MACD is {side} its signal line ({'bullish' if hit[1] > 0 else 'bearish'})."
    if hist_history:
        signs = np.sign(np.asarray(hist_history, dtype=float))
        flips = np.nonzero(np.diff(signs) != 0)[0]
        if len(flips):
            text += f" Last crossover {len(signs) - 1 - flips[-1]} bars ago."
    return text


def atr_reading(values: dict) -> str | None:
    hit = _find(values, "atr_norm_14", "atr_14_norm", "atr_norm")
    if not hit:
        return None
    return f"ATR(14) is {hit[1] * 100:.2f}% of the price: a typical bar moves about that much."


def bollinger_reading(values: dict) -> str | None:
    hit = _find(values, "bb_pos_20", "bb_pos")
    if not hit:
        return None
    v = hit[1]
    where = ("above the upper band" if v > 1 else "below the lower band" if v < -1
             else "in the upper half" if v > 0 else "in the lower half")
    return f"Price is {where} of the 20-bar Bollinger bands (position {v:+.2f})."


def session_stats(bars: pd.DataFrame) -> dict:
    """Hourly volatility profile (UTC) from bars, the calmest and busiest hours."""
    if len(bars) < 48:
        return {}
    ts = pd.to_datetime(bars["ts"], utc=True)
    r = np.log(bars["close"].astype(float)).diff().abs()
    if ts.diff().median() >= pd.Timedelta(days=1):
        return {}
    by_hour = r.groupby(ts.dt.hour).mean().dropna()
    if by_hour.empty:
        return {}
    return {"by_hour": by_hour, "busiest_hour": int(by_hour.idxmax()), "calmest_hour": int(by_hour.idxmin())}
