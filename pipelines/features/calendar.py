"""Calendar: cyclical hour/day/month encodings, quarter, US holiday and month-end flags (all
known in advance, so causal by nature); lags 6..50 of returns (1..5 live in the core set) and
lags of a few key features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib
from pandas.tseries.holiday import USFederalHolidayCalendar

from pipelines.features.sessions import DAY_NS
from pipelines.times import epoch_ns
from pipelines.features.kernels import arr, div, logret, roll_mean, roll_std, shift, spec, ta_lookback

RET_LAGS = tuple(range(6, 51))
KEY_LAGS = (1, 2, 3, 5, 10, 20)


def _cyc(x: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    a = 2 * np.pi * x / period
    return np.sin(a), np.cos(a)


def _calendar(bars, ctx):
    ns = epoch_ns(bars["ts"])
    minute = (ns // (60 * 10**9)) % 1440  # minute of the UTC day: the hour encodings are a lookup
    clock = np.arange(1440)
    hs, hc = (v[minute] for v in _cyc(clock // 60 + (clock % 60) / 60.0, 24))
    # everything else is a property of the UTC date: computed once per day, then spread to its bars
    # (one entry per run of bars on the same day: right in any order, one per day when sorted)
    day = ns // DAY_NS
    new_day = np.ones(len(day), dtype=bool)
    new_day[1:] = day[1:] != day[:-1]
    which = np.cumsum(new_day) - 1
    days = pd.DatetimeIndex(day[new_day] * DAY_NS)
    dom = days.day.to_numpy(dtype="float64") - 1
    dim = days.days_in_month.to_numpy(dtype="float64")
    month = days.month.to_numpy(dtype="float64") - 1
    ds, dc = _cyc(dom, dim)
    ms, mc = _cyc(month, 12)
    hol = USFederalHolidayCalendar().holidays(days.min() - pd.Timedelta(days=7),
                                              days.max() + pd.Timedelta(days=7)) if len(days) else pd.DatetimeIndex([])
    per_day = {
        "dom_sin": ds, "dom_cos": dc, "month_sin": ms, "month_cos": mc,
        "quarter": np.asarray(days.quarter, dtype="float64"),
        "is_us_holiday": np.asarray(days.isin(hol), dtype="float64"),
        "is_pre_us_holiday": np.asarray((days + pd.Timedelta(days=1)).isin(hol), dtype="float64"),
        "is_month_end_bday": np.asarray((days + pd.offsets.BMonthEnd(0)) == days, dtype="float64"),
        "days_to_month_end": dim - dom - 1,
        "is_weekend": np.asarray(days.dayofweek >= 5, dtype="float64"),
    }
    return {"hour_sin": hs, "hour_cos": hc, **{k: v[which] for k, v in per_day.items()}}


CAL_COLUMNS = ("hour_sin", "hour_cos", "dom_sin", "dom_cos", "month_sin", "month_cos", "quarter",
               "is_us_holiday", "is_pre_us_holiday", "is_month_end_bday", "days_to_month_end", "is_weekend")


def _ret_lags(bars, ctx):
    r = logret(arr(bars, "close"))
    return {f"ret_lag_{k}": shift(r, k - 1) for k in RET_LAGS}


def _key_lags(bars, ctx):
    c = arr(bars, "close")
    rsi = talib.RSI(c, 14) / 100.0
    rv = roll_std(logret(c), 20)
    out = {}
    for k in KEY_LAGS:
        out[f"rsi_14_lag_{k}"] = shift(rsi, k)
        out[f"rv_20_lag_{k}"] = shift(rv, k)
    return out


def _volume_lags(bars, ctx):
    lv = np.log1p(np.clip(arr(bars, "volume"), 0, None))
    z = div(lv - roll_mean(lv, 20), roll_std(lv, 20))
    return {f"volume_z_20_lag_{k}": shift(z, k) for k in KEY_LAGS}


FEATURES = (
    spec("calendar", "calendar", CAL_COLUMNS, 0, _calendar,
         description="hour/day-of-month/month sin-cos, quarter, US federal holiday and eve, "
                     "last business day of month, days to month end, weekend"),
    spec("ret_lags_long", "lags", tuple(f"ret_lag_{k}" for k in RET_LAGS), max(RET_LAGS), _ret_lags,
         description="log return lagged 6..50 bars"),
    spec("key_lags", "lags", tuple(c for k in KEY_LAGS for c in (f"rsi_14_lag_{k}", f"rv_20_lag_{k}")),
         ta_lookback("RSI", timeperiod=14) + max(KEY_LAGS) + 6, _key_lags,
         description=f"RSI(14) and 20-bar realized volatility lagged {KEY_LAGS} bars"),
    spec("volume_lags", "lags", tuple(f"volume_z_20_lag_{k}" for k in KEY_LAGS), 19 + max(KEY_LAGS),
         _volume_lags, needs=("volume",), description=f"20-bar z-score of log volume lagged {KEY_LAGS} bars"),
)
