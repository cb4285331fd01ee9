"""Bars from a user's CSV / JSON / Parquet files (``meridian import``).

Formats (``auto`` detects them from the header):

- ``binance``: kline CSV as published by Binance (``open_time`` in ms or us since epoch, with or
  without a header row; 12 columns in the /api/v3/klines order).
- ``cryptodatadownload``: ``unix,date,symbol,open,...,Volume <base>,Volume <quote>,tradecount``
  (newest first; epochs mixed seconds/ms).
- ``mt4``: MetaTrader 4 history export, ``Time,Open,High,Low,Close,Volume`` with
  ``YYYY/MM/DD HH:MM:SS`` or ``YYYY.MM.DD,HH:MM`` and no header; broker server time (give --tz).
- ``dukascopy``: ``Time (EET),Open,...`` with ``DD.MM.YYYY HH:MM:SS.000``; the zone in the header
  is used unless --tz says otherwise. Tab-separated exports are read too.
- ``json``: an array of ``{timestamp, open, high, low, close, volume}`` (epoch ms).
- ``ohlcv``: any CSV/Parquet with a time column (date/time/datetime/timestamp) and OHLC[V].
"""

from __future__ import annotations

import gzip
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.errors import DataError
from pipelines.sources.file_checks import (check_conflicting_duplicates, check_has_rows, check_not_truncated,
                                           check_some_rows_left, check_zone)
from pipelines.validation import ValidationReport, validate_bars

FORMATS = ("auto", "binance", "cryptodatadownload", "mt4", "dukascopy", "json", "ohlcv")
KLINE_COLUMNS = ["open_time", "open", "high", "low", "close", "volume", "close_time",
                 "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore"]
_TIME_ALIASES = ("ts", "timestamp", "time", "date", "datetime", "open_time", "gmt time", "local time")
_TZ_ALIASES = {"EET": "EET", "GMT": "UTC", "UTC": "UTC", "EST": "America/New_York", "CET": "CET"}


@dataclass
class ImportResult:
    bars: pd.DataFrame
    report: ValidationReport
    format: str
    symbol: str
    timeframe: str
    tz: str | None


def _open_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, gzip.BadGzipFile) as exc:
            raise DataError(f"{path.name}: the gzip stream is cut short or corrupt ({_first_line(exc)}): "
                            f"download or copy the file again") from None
    if not raw.strip():
        raise DataError(f"{path.name}: the file is empty: nothing to import")
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 text (some Windows exports)
        return raw.decode("utf-16")
    head = raw[:4096]
    binary = sum(b < 9 or 13 < b < 32 for b in head)
    if b"\x00" in head or binary > 0.05 * len(head):
        raise DataError(f"{path.name}: binary content, not a CSV or JSON text file; a Parquet file "
                        f"must be named *.parquet")
    return raw.decode("utf-8-sig", errors="replace")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def epoch_to_utc(values: pd.Series) -> pd.Series:
    """Epoch numbers of mixed units (s, ms, us, ns: judged per value by magnitude) -> UTC."""
    v = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    mag = np.abs(v)
    factor = np.select([mag < 1e11, mag < 1e14, mag < 1e17], [1e9, 1e6, 1e3], 1.0)
    ns = np.where(np.isfinite(v), v * factor, np.nan)
    out = pd.to_datetime(pd.Series(ns).round(), unit="ns", utc=True)
    out.index = values.index
    return out


def detect_format(path: Path, text: str | None) -> str:
    suffixes = "".join(path.suffixes).lower()
    if ".parquet" in suffixes:
        return "ohlcv"
    head = (text or "")[:2000].lstrip()
    if head.startswith("[") or head.startswith("{"):
        return "json"
    first = head.splitlines()[0] if head else ""
    low = first.lower()
    if low.startswith("unix,") and "tradecount" in low:
        return "cryptodatadownload"
    if "open_time" in low or re.fullmatch(r"\d{12,17}(,[^,]*){11}", first.strip()):
        return "binance"
    if re.match(r"time \(\w+\)", low) or re.match(r"\d\d\.\d\d\.\d{4} ", first):
        return "dukascopy"
    lines = head.splitlines()
    second = lines[1] if len(lines) > 1 else ""
    if re.match(r"\d{4}\.\d\d\.\d\d,\d\d:\d\d,", first) or re.match(r"\d{4}/\d\d/\d\d \d\d:\d\d", first) \
            or (low.startswith("time,") and re.match(r"\d{4}/\d\d/\d\d \d\d:\d\d", second)):
        return "mt4"
    return "ohlcv"


def _read_table(text: str) -> pd.DataFrame:
    first = text.split("\n", 1)[0]
    sep = "\t" if first.count("\t") > first.count(",") else ","
    return pd.read_csv(io.StringIO(text), sep=sep)


def _norm_columns(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df.columns = [str(c).strip().lower() for c in df.columns]
    return df


def _pick_volume(df: pd.DataFrame, symbol: str | None) -> pd.Series:
    if "volume" in df.columns:
        return df["volume"]
    vols = [c for c in df.columns if c.startswith("volume")]
    if not vols:
        return pd.Series(np.nan, index=df.index)
    if symbol:  # "Volume BTC" (base) rather than "Volume USDT" (quote)
        base = [c for c in vols if symbol.upper().startswith(c.split(" ", 1)[-1].upper())]
        if base:
            return df[base[0]]
    return df[vols[0]]


def parse_frame(path: Path, fmt: str, symbol: str | None) -> tuple[pd.DataFrame, str | None, str]:
    """Read ``path`` in ``fmt``; returns (frame with ts/open/high/low/close/volume[/symbol],
    the time zone the file declares if any, the format used). A file that cannot be read raises
    :class:`DataError` naming it and the problem."""
    parquet = ".parquet" in "".join(path.suffixes).lower()
    if parquet and path.stat().st_size == 0:
        raise DataError(f"{path.name}: the file is empty: nothing to import")
    text = None if parquet else _open_text(path)
    if fmt == "auto":
        fmt = detect_format(path, text)
    if text is not None and fmt != "json":
        check_not_truncated(path, text)
    try:
        return _parse(path, text, fmt, symbol)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name}: the file is empty: nothing to import") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path.name}: not a readable {fmt} CSV ({_first_line(exc)})") from None
    except (pa.ArrowInvalid, OSError) as exc:
        what = "Parquet file" if parquet else f"{fmt} file"
        raise DataError(f"{path.name}: not a readable {what} ({_first_line(exc)})") from None
    except (ValueError, IndexError, KeyError, StopIteration, TypeError) as exc:
        raise DataError(f"{path.name}: cannot be read as {fmt} ({type(exc).__name__}: "
                        f"{_first_line(exc)}); check --format and the file's columns") from None


def _parse(path: Path, text: str | None, fmt: str, symbol: str | None) -> tuple[pd.DataFrame, str | None, str]:
    declared_tz: str | None = None
    if fmt == "json":
        payload = json.loads(text or "[]")
        if isinstance(payload, dict):
            payload = payload.get("data") or payload.get("bars") or payload.get("values") or []
        df = _norm_columns(pd.DataFrame(payload))
        tcol = next((c for c in _TIME_ALIASES if c in df.columns), None)
        if tcol is None:
            raise DataError(f"{path}: no time field in the JSON records")
        ts = df[tcol]
        df["ts"] = epoch_to_utc(ts) if pd.api.types.is_numeric_dtype(ts) else ts
    elif fmt == "ohlcv" and text is None:
        df = _norm_columns(pd.read_parquet(path))
        tcol = next((c for c in _TIME_ALIASES if c in df.columns), None)
        if tcol is None:
            raise DataError(f"{path}: no time column (one of {', '.join(_TIME_ALIASES)})")
        df["ts"] = epoch_to_utc(df[tcol]) if pd.api.types.is_numeric_dtype(df[tcol]) else df[tcol]
    elif fmt == "binance":
        first = text.split("\n", 1)[0]
        has_header = not first[:1].isdigit()
        df = pd.read_csv(io.StringIO(text), header=0 if has_header else None)
        if not has_header:
            df.columns = KLINE_COLUMNS[: df.shape[1]]
        df = _norm_columns(df)
        df["ts"] = epoch_to_utc(df["open_time"])
    elif fmt == "cryptodatadownload":
        df = _norm_columns(pd.read_csv(io.StringIO(text)))
        df["ts"] = epoch_to_utc(df["unix"])
        if symbol is None and "symbol" in df.columns:
            symbol = str(df["symbol"].iloc[0]).replace("/", "")
        df["volume"] = _pick_volume(df, symbol)
        df = df.drop(columns=["symbol"], errors="ignore")
    elif fmt == "mt4":
        first = text.split("\n", 1)[0]
        if re.match(r"\d{4}\.\d\d\.\d\d,", first):
            df = pd.read_csv(io.StringIO(text), header=None,
                             names=["date", "time", "open", "high", "low", "close", "volume"])
            df["ts"] = pd.to_datetime(df["date"] + " " + df["time"], format="%Y.%m.%d %H:%M")
        else:
            df = _norm_columns(_read_table(text))
            tcol = next(c for c in _TIME_ALIASES if c in df.columns)
            df["ts"] = pd.to_datetime(df[tcol], format="mixed")
    elif fmt == "dukascopy":
        df = _read_table(text)
        tcol = df.columns[0]
        m = re.search(r"\((\w+)\)", str(tcol))
        if m:
            declared_tz = _TZ_ALIASES.get(m.group(1).upper(), m.group(1))
        df = _norm_columns(df)
        raw = df.iloc[:, 0].astype(str)
        df["ts"] = pd.to_datetime(raw, format="%d.%m.%Y %H:%M:%S.%f", errors="coerce")
        if df["ts"].isna().all():
            df["ts"] = pd.to_datetime(raw, format="mixed", dayfirst=True, errors="coerce")
    elif fmt == "ohlcv":
        df = _norm_columns(_read_table(text))
        tcol = next((c for c in _TIME_ALIASES if c in df.columns), None)
        if tcol is None:
            raise DataError(f"{path}: no time column (one of {', '.join(_TIME_ALIASES)}); "
                            f"columns are {list(df.columns)}")
        col = df[tcol]
        if pd.api.types.is_numeric_dtype(col):
            df["ts"] = epoch_to_utc(col)
        else:
            parsed = pd.to_datetime(col, format="mixed", errors="coerce", utc=False)
            df["ts"] = parsed
        for alias in ("ticker", "name", "symbol"):
            if symbol is None and alias in df.columns:
                symbol = str(df[alias].dropna().iloc[0])
    else:
        raise DataError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    if "volume" not in df.columns:
        df["volume"] = _pick_volume(df, symbol)
    missing = [c for c in ("open", "high", "low", "close") if c not in df.columns]
    if missing:
        raise DataError(f"{path}: price columns missing {missing}; columns are {list(df.columns)}")
    out = df[["ts", "open", "high", "low", "close", "volume"]].copy()
    if symbol:
        out.attrs["symbol"] = symbol
    return out, declared_tz, fmt


def infer_timeframe(ts: pd.Series) -> str:
    """The most common spacing between consecutive bars, as a timeframe string."""
    d = pd.Series(pd.to_datetime(ts)).drop_duplicates().sort_values().diff().dropna()
    if d.empty:
        raise DataError("cannot infer the timeframe from fewer than two bars: pass --timeframe")
    step = d.mode().iloc[0]
    secs = int(step.total_seconds())
    for unit, n in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs % n == 0 and secs >= n:
            return f"{secs // n}{unit}"
    if 27 * 86400 <= secs <= 32 * 86400:
        return "1M"
    raise DataError(f"bar spacing of {step} is not a supported timeframe: pass --timeframe")


def drop_total_rows(df: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """Some exports end with a summary row whose volume is the file's total: not a bar."""
    vol = pd.to_numeric(df["volume"], errors="coerce")
    if len(df) >= 10:
        total = vol.sum()
        mask = (vol > 0.5 * (total - vol)) & (vol > 0)
        if mask.any():
            report.repair("volume_is_file_total", int(mask.sum()))
            df = df.copy()
            df.loc[mask, "volume"] = np.nan
    return df


def import_bars(path: str | Path, *, symbol: str | None = None, asset_class: str,
                timeframe: str | None = None, tz: str | None = None, fmt: str = "auto",
                venue: str = "file") -> ImportResult:
    """Read one bar file and return canonical, validated bars (not yet stored)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {path}")
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    df, declared_tz, used = parse_frame(path, fmt, symbol)
    check_has_rows(path, df)
    if not symbol:
        symbol = df.attrs.get("symbol") or re.split(r"[_\-.]", path.name)[0].upper()
        if used == "mt4":  # MT4 names history files <SYMBOL><minutes>.csv, e.g. EURUSD60
            symbol = re.sub(r"\d+$", "", symbol) or symbol
    zone = tz or declared_tz
    check_zone(zone)
    aware = getattr(pd.to_datetime(df["ts"]).dt, "tz", None) is not None
    if zone is None and not aware:
        raise DataError(f"{path.name}: timestamps carry no time zone and the file declares none: "
                        f"pass --tz (e.g. UTC, Europe/Helsinki, Etc/GMT-1 for a UTC+1 server)")
    check_conflicting_duplicates(path, df)
    timeframe = timeframe or infer_timeframe(df["ts"].dropna())
    pre = ValidationReport()
    df = drop_total_rows(df, pre)
    try:
        bars, report = validate_bars(df, symbol=symbol, asset_class=asset_class, timeframe=timeframe,
                                     venue=venue, tz=None if aware else zone, what=path.name)
    except (ValueError, KeyError) as exc:  # local times that do not exist or repeat (DST)
        raise DataError(f"{path.name}: timestamps cannot be placed in {zone}: {_first_line(exc)}; "
                        f"check --tz") from None
    report.repaired.update(pre.repaired)
    check_some_rows_left(path, bars, dict(report.rejected))
    return ImportResult(bars=bars, report=report, format=used, symbol=symbol,
                        timeframe=timeframe, tz=zone)
