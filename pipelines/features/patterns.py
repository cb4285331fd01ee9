"""Candlestick patterns: every TA-Lib CDL* recogniser, scaled to -1 / 0 / +1 (bearish, none,
bullish; some patterns report +-2 for a confirmed signal, kept as +-2)."""

from __future__ import annotations

import talib

from pipelines.features.kernels import ohlcv, spec, ta_lookback

PATTERNS: tuple[str, ...] = tuple(sorted(talib.get_function_groups()["Pattern Recognition"]))


def _column(fn_name: str) -> str:
    return "cdl_" + fn_name[3:].lower()


def _pattern(fn_name: str):
    func = getattr(talib, fn_name)
    col = _column(fn_name)

    def fn(bars, ctx):
        o, h, lo, c, _ = ohlcv(bars)
        return {col: func(o, h, lo, c).astype("float64") / 100.0}
    return fn


FEATURES = tuple(
    spec(_column(p), "pattern", (_column(p),), ta_lookback(p), _pattern(p),
         description=f"TA-Lib {p} / 100")
    for p in PATTERNS
)
