"""Checks on a whole bar file before any of it is stored (``meridian import``).

Each check raises :class:`DataError` with one line that names the file, the problem and what to
do; a refused file changes nothing in the store.

Truncated files. A download or copy cut short ends mid-line. The reliable signal is a file that
does not end with a newline whose last line either has fewer fields than the line before it, or
whose last field is shorter than every value of that column in the rows before it (at least
10 of them): "74990.495" cut to "7499". A missing final newline alone is not enough (Dukascopy
exports, for one, never write it) and neither is a short field alone (volumes vary in width).
Such a file is refused as a whole, not stored minus its last row: the file is incomplete and the
fix is to fetch it again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.errors import DataError

#: Rows of the file compared with its last line.
_WIDTH_SAMPLE = 1000
_MIN_ROWS_FOR_WIDTH = 10


def _split(line: str, sep: str) -> list[str]:
    return line.rstrip("\r").split(sep)


def check_not_truncated(path: Path, text: str) -> None:
    """Refuse a delimited text file whose last line was cut (see the module docstring)."""
    if not text or text.endswith("\n"):
        return
    lines = text.split("\n")
    last = lines[-1]
    if len(lines) < 2 or not last.strip():
        return
    sep = "\t" if lines[0].count("\t") > lines[0].count(",") else ","
    fields = _split(last, sep)
    before = _split(lines[-2], sep)
    if len(fields) < len(before):
        raise DataError(f"{path.name}: the last line is cut ({len(fields)} of {len(before)} fields, "
                        f"no final newline): the file is incomplete; download or export it again")
    rows = [_split(x, sep) for x in lines[max(1, len(lines) - 1 - _WIDTH_SAMPLE):-1]]
    col = len(fields) - 1
    widths = [len(r[col].strip()) for r in rows if len(r) == len(fields) and r[col].strip()]
    value = fields[col].strip()
    if len(widths) >= _MIN_ROWS_FOR_WIDTH and value and len(value) < min(widths):
        raise DataError(f"{path.name}: the last line looks cut: no final newline and its last field "
                        f"{value!r} is shorter than every other value in that column; the file is "
                        f"incomplete: download or export it again")


def check_has_rows(path: Path, df: pd.DataFrame) -> None:
    if len(df) == 0:
        raise DataError(f"{path.name}: the file has a header but no rows: nothing to import")


def check_conflicting_duplicates(path: Path, df: pd.DataFrame) -> None:
    """A few repeated timestamps are repaired (the last row wins); many timestamps with two
    *different* bars mean the file mixes two series (two symbols, or local times repeated at a DST
    change) and no choice between them is safe."""
    ts = df["ts"]
    dup = ts.duplicated(keep=False) & ts.notna()
    if not dup.any():
        return
    cols = ["ts", "open", "high", "low", "close"]
    conflicts = df.loc[dup, cols].drop_duplicates().groupby("ts").size()
    conflicts = conflicts[conflicts > 1]
    if len(conflicts) >= 10 and len(conflicts) >= 0.05 * ts.nunique():
        raise DataError(f"{path.name}: {len(conflicts)} timestamps carry two different bars (first at "
                        f"{conflicts.index[0]}): the file seems to mix two series; split it by symbol, "
                        f"or give the zone of its local times with --tz")


def check_zone(zone: str | None) -> None:
    if zone is None:
        return
    try:
        pd.Timestamp("2000-01-01").tz_localize(zone)
    except (KeyError, ValueError) as exc:
        raise DataError(f"unknown time zone {zone!r} ({exc}): use an IANA name such as UTC, "
                        f"Europe/Helsinki or Etc/GMT-1 (--tz)") from None


def check_some_rows_left(path: Path, bars: pd.DataFrame, rejected: dict[str, int]) -> None:
    if len(bars) == 0:
        reasons = ", ".join(f"{k}: {v}" for k, v in rejected.items()) or "none usable"
        raise DataError(f"{path.name}: no usable bars, every row was rejected ({reasons})")


#: Offsets tried between a file and a stored series: every quarter hour a zone can be away.
_OFFSETS = [pd.Timedelta(minutes=15 * k) for k in range(-14 * 4, 14 * 4 + 1) if k]
_SHIFT_SAMPLE = 2000


def _close_matches(ex_ts: pd.Index, ex_close: np.ndarray, ts: np.ndarray, close: np.ndarray,
                   offset_ns: int) -> int:
    pos = ex_ts.get_indexer(pd.Index(ts + offset_ns))
    hit = pos >= 0
    return int(np.isclose(ex_close[pos[hit]], close[hit], rtol=1e-9, atol=0.0).sum())


def shifted_copy_offset(existing: pd.DataFrame, incoming: pd.DataFrame) -> tuple[pd.Timedelta, int, int] | None:
    """If ``incoming`` bars are stored already at timestamps moved by a constant offset (the same
    closes, most of them, at ts + offset rather than at ts): (offset, matches, bars compared)."""
    if existing.empty or incoming.empty:
        return None
    step = max(1, len(incoming) // _SHIFT_SAMPLE)
    sample = incoming.iloc[::step]
    ts = sample["ts"].astype("int64").to_numpy()
    close = sample["close"].to_numpy(dtype="float64")
    ex_ts = pd.Index(existing["ts"].astype("int64").to_numpy())
    ex_close = existing["close"].to_numpy(dtype="float64")
    same = _close_matches(ex_ts, ex_close, ts, close, 0)
    best = max(_OFFSETS, key=lambda o: _close_matches(ex_ts, ex_close, ts, close, o.value))
    hits = _close_matches(ex_ts, ex_close, ts, close, best.value)
    if hits >= 0.5 * len(sample) and hits > same:
        return best, hits, len(sample)
    return None


def check_not_shifted_copy(path: Path, existing: pd.DataFrame, incoming: pd.DataFrame) -> None:
    """Refuse a re-import of a stored series under another time zone (it would store it twice)."""
    found = shifted_copy_offset(existing, incoming)
    if found is None:
        return
    offset, hits, n = found
    hours = offset / pd.Timedelta(hours=1)
    moved = f"{abs(hours):g} h {'later' if hours > 0 else 'earlier'}"
    row = incoming.iloc[0]
    symbol, tf = row["symbol"], row["timeframe"]
    raise DataError(f"{path.name}: {symbol} {tf} is stored already with timestamps {moved} ({hits} of "
                    f"{n} sampled bars have the same close there): it was imported before with another "
                    f"--tz, and importing again would store it twice. Use the --tz of the first import, "
                    f"or remove the stored series first: meridian data delete --symbol {symbol} "
                    f"--timeframe {tf} --yes")
