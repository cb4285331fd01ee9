"""Checks at the edge: bad bars are rejected or repaired with a counted, logged reason."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipelines.errors import DataError
from pipelines.schema import ASSET_CLASSES, BARS, conform
from pipelines.times import timeframe_offset, timeframe_seconds

log = logging.getLogger(__name__)

PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclass
class ValidationReport:
    """What happened to the rows of one batch: counts per reason."""

    rows_in: int = 0
    rows_out: int = 0
    rejected: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)

    def reject(self, reason: str, n: int) -> None:
        if n:
            self.rejected[reason] += int(n)

    def repair(self, reason: str, n: int) -> None:
        if n:
            self.repaired[reason] += int(n)

    def as_dict(self) -> dict:
        return {"rows_in": self.rows_in, "rows_out": self.rows_out,
                "rejected": dict(self.rejected), "repaired": dict(self.repaired)}

    def log(self, what: str) -> None:
        if self.rejected or self.repaired:
            log.warning("%s: %d rows in, %d out; rejected %s; repaired %s", what, self.rows_in,
                        self.rows_out, dict(self.rejected), dict(self.repaired))


def to_utc(ts: pd.Series, tz: str | None) -> pd.Series:
    """Make timestamps tz-aware UTC.

    Naive timestamps need ``tz`` (their local or broker zone: 'UTC', 'Europe/Helsinki',
    'Etc/GMT-1' for a fixed UTC+1 server); aware ones are converted and ``tz`` must agree or be
    None. Local times that do not exist or are ambiguous around DST changes raise."""
    ts = pd.to_datetime(ts)
    if getattr(ts.dt, "tz", None) is None:
        if tz is None:
            raise DataError("timestamps carry no time zone: say which one they are in (--tz)")
        ts = ts.dt.tz_localize(tz, ambiguous="raise", nonexistent="raise")
    return ts.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def validate_bars(raw: pd.DataFrame, *, symbol: str | None, asset_class: str, timeframe: str,
                  venue: str = "unknown", tz: str | None = "UTC",
                  what: str | None = None) -> tuple[pd.DataFrame, ValidationReport]:
    """Turn a frame with ts/open/high/low/close[/volume] into canonical bars.

    Rejected: NaN, non-finite or non-positive prices; high below low; rows whose timestamp
    does not parse. Repaired: duplicate timestamps (the last row wins), out-of-order rows
    (sorted), high/low that do not bracket open/close (widened), missing/negative volume (0/NaN).

    ``symbol=None``: the frame holds the bars of several symbols in its ``symbol`` column (a
    socket batch, checked in one pass); order and duplicates are then judged per symbol.
    """
    if asset_class not in ASSET_CLASSES:
        raise DataError(f"unknown asset class {asset_class!r}: one of {', '.join(ASSET_CLASSES)}")
    offset = timeframe_offset(timeframe)
    missing = [c for c in ("ts", *PRICE_COLUMNS, *(() if symbol else ("symbol",))) if c not in raw.columns]
    if missing:
        raise DataError(f"{what or symbol}: bar columns missing: {missing}")
    rep = ValidationReport(rows_in=len(raw))
    df = raw.copy()
    df["ts"] = to_utc(df["ts"], tz)
    bad_ts = df["ts"].isna()
    rep.reject("unparseable_timestamp", bad_ts.sum())
    df = df[~bad_ts]
    for c in PRICE_COLUMNS:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    if "volume" not in df.columns:
        df["volume"] = np.nan
    df["volume"] = pd.to_numeric(df["volume"], errors="coerce").astype("float64")

    prices = df[list(PRICE_COLUMNS)].to_numpy()
    nan_rows = ~np.isfinite(prices).all(axis=1)
    rep.reject("nan_price", nan_rows.sum())
    nonpos = ~nan_rows & (prices <= 0).any(axis=1)
    rep.reject("nonpositive_price", nonpos.sum())
    df = df[~(nan_rows | nonpos)]
    hl = df["high"] < df["low"]
    rep.reject("high_below_low", hl.sum())
    df = df[~hl]

    top = df[["open", "close"]].max(axis=1)
    bottom = df[["open", "close"]].min(axis=1)
    wide_h = df["high"] < top
    wide_l = df["low"] > bottom
    rep.repair("high_below_open_close", wide_h.sum())
    rep.repair("low_above_open_close", wide_l.sum())
    df["high"] = df["high"].where(~wide_h, top)
    df["low"] = df["low"].where(~wide_l, bottom)
    neg_vol = df["volume"] < 0
    rep.repair("negative_volume", neg_vol.sum())
    df.loc[neg_vol, "volume"] = np.nan

    series = ["ts"] if symbol else ["symbol", "ts"]
    back = (df["ts"].diff() if symbol else df.groupby("symbol", sort=False)["ts"].diff()) < pd.Timedelta(0)
    if back.any():
        rep.repair("out_of_order", int(back.sum()))
        df = df.sort_values(series, kind="stable")
    dup = df.duplicated(series, keep="last")
    rep.repair("duplicate_timestamp", dup.sum())
    df = df[~dup]

    if symbol:
        df["symbol"] = symbol
    df["asset_class"] = asset_class
    df["venue"] = venue
    df["timeframe"] = timeframe
    df["known_at"] = df["ts"] + offset
    out = conform(df, BARS)
    rep.rows_out = len(out)
    rep.log(what or f"{symbol or 'bars'} {timeframe}")
    return out, rep


def find_gaps(ts: pd.Series, timeframe: str, tolerance: float = 1.0) -> pd.DataFrame:
    """Holes in a sorted bar series longer than ``tolerance`` extra bars: (after, before, missing)."""
    if len(ts) < 2:
        return pd.DataFrame(columns=["after", "before", "missing_bars"])
    step = pd.Timedelta(seconds=timeframe_seconds(timeframe))
    d = ts.diff().iloc[1:]
    mask = d > step * (1 + tolerance)
    after = ts.shift(1).iloc[1:][mask]
    before = ts.iloc[1:][mask]
    missing = (d[mask] / step).round().astype(int) - 1
    return pd.DataFrame({"after": after.to_numpy(), "before": before.to_numpy(),
                         "missing_bars": missing.to_numpy()})

