"""Time, the one place: UTC normalisation, the duration grammar, timeframes and annualisation.

**The rule for naive times.** Every timestamp in Meridian is UTC (tz-aware, nanoseconds). A time
given without a zone (a ``--since 2023-01-01``, a naive column, a naive ``known_at``) *is UTC*;
an aware one is converted. The single exception is a bar file's own clock at import, whose zone
the user declares (``meridian import --tz``, :func:`pipelines.validation.to_utc`), because a
broker's server time is not UTC and guessing would shift every bar.

**The duration grammar** (timeframes, horizons, retrain steps, look-back spans): a positive whole
number and a unit, ``m`` minute, ``h`` hour, ``d`` day, ``w`` week, ``M`` month, ``y`` year. ``m``
and ``M`` differ by case as in Binance's intervals (``1m`` is a minute, ``1M`` a month); ``H``, ``D``,
``W`` and ``Y`` are accepted for their lower-case units.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

_DURATION = re.compile(r"^\s*(\d{1,7})\s*([mhdwMyHDWY])\s*$")
_FIXED_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_MONTH_S = 30.436875 * 86400
_YEAR_S = 365.2425 * 86400
GRAMMAR = "a positive count and a unit: m (minute), h, d, w, M (month) or y, e.g. 15m, 1h, 1d, 1M"


def duration(text: str) -> tuple[int, str]:
    """``"15m"`` -> ``(15, "m")``; the unit normalised (``"30D"`` -> ``(30, "d")``). ValueError otherwise."""
    m = _DURATION.match(str(text))
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration: give {GRAMMAR}")
    unit = m.group(2)
    return int(m.group(1)), unit if unit in "mM" else unit.lower()


def duration_seconds(text: str) -> float:
    """Nominal length in seconds (a month is 30.44 days, a year 365.24)."""
    n, unit = duration(text)
    return n * (_MONTH_S if unit == "M" else _YEAR_S if unit == "y" else _FIXED_S[unit])


def timeframe_offset(timeframe: str) -> pd.DateOffset | pd.Timedelta:
    """'1h' -> 1 hour, '1d' -> 1 day, '1M' -> one calendar month, '1y' -> one calendar year."""
    try:
        n, unit = duration(timeframe)
    except ValueError:
        raise ValueError(f"unknown timeframe {timeframe!r}: use e.g. 1m, 15m, 1h, 4h, 1d, 1w, 1M") from None
    if unit == "M":
        return pd.DateOffset(months=n)
    if unit == "y":
        return pd.DateOffset(years=n)
    return pd.Timedelta(n * _FIXED_S[unit], unit="s")


def timeframe_seconds(timeframe: str) -> float:
    """Nominal length in seconds; for annualisation and gap checks."""
    try:
        return duration_seconds(timeframe)
    except ValueError:
        raise ValueError(f"unknown timeframe {timeframe!r}: use e.g. 1m, 15m, 1h, 4h, 1d, 1w, 1M") from None


def periods_per_year(timeframe: str, asset_class: str = "crypto") -> float:
    """Bars per year for annualising: crypto trades 24/7, forex ~24/5, stocks ~6.5h x 252."""
    sec = timeframe_seconds(timeframe)
    if sec >= 86400:
        days = {"crypto": 365.0}.get(asset_class, 252.0)
        return days * 86400 / sec
    if asset_class == "crypto":
        return 365 * 86400 / sec
    if asset_class == "forex":
        return 260 * 86400 / sec
    return 252 * 6.5 * 3600 / sec


def span_bars(span: str | int, timeframe: str, asset_class: str = "crypto") -> int:
    """A number of bars, or a calendar span ("30d", "12w", "1M", "3y") in bars of this timeframe
    and asset class (stocks count trading hours only), e.g. monthly retraining with the last 3
    years kept: ``test_bars=span_bars("1M", ...)``, ``train_bars=span_bars("3y", ...)``."""
    if isinstance(span, int) or str(span).strip().isdigit():
        n = int(span)
    else:
        try:
            years = duration_seconds(str(span)) / _YEAR_S
        except ValueError:
            raise ValueError(f"span {span!r}: give a number of bars or {GRAMMAR}") from None
        n = int(round(years * periods_per_year(timeframe, asset_class)))
    if n <= 0:
        raise ValueError(f"span {span!r} is less than one {timeframe} bar")
    return n


def as_utc(value: Any) -> pd.Timestamp | None:
    """A timestamp as UTC (naive = UTC); None stays None."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def utc_index(values: Any) -> pd.DatetimeIndex:
    """Timestamps as a ns UTC index, whatever unit or zone they came in (naive = UTC)."""
    ts = pd.DatetimeIndex(values)
    return (ts.tz_convert("UTC") if ts.tz is not None else ts.tz_localize("UTC")).as_unit("ns")


def epoch_ns(values: Any) -> np.ndarray:
    """Nanoseconds since the epoch of timestamps (naive = UTC), as int64."""
    return pd.DatetimeIndex(values).as_unit("ns").asi8


def utc_now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")
