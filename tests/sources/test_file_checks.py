"""Whole-file checks of ``meridian import``: cut last lines, two series in one file, and a stored
series imported again under another time zone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.errors import DataError
from pipelines.sources.file_checks import check_not_truncated, shifted_copy_offset
from pipelines.sources.files import import_bars
from pipelines.validation import validate_bars


def _csv(n: int, vol: float = 74990.495) -> str:
    rows = ["date,open,high,low,close,volume"]
    rows += [f"2021-03-01 {i // 4:02d}:{15 * (i % 4):02d},1.{i:03d},1.5,0.5,1.{i:03d},{vol + i:.3f}" for i in range(n)]
    return "\n".join(rows)


def test_complete_last_line_without_newline_is_kept(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text(_csv(40))  # Dukascopy-style: no final newline, but the line is whole
    res = import_bars(f, asset_class="forex", tz="UTC")
    assert len(res.bars) == 40 and res.bars["volume"].iloc[-1] == pytest.approx(75029.495)


def test_cut_last_field_is_refused(tmp_path):
    text = _csv(40)
    with pytest.raises(DataError, match="last field '7502' is shorter"):
        check_not_truncated(tmp_path / "x.csv", text[:-5])
    with pytest.raises(DataError, match=r"3 of 6 fields"):
        check_not_truncated(tmp_path / "x.csv", text[:-20])
    check_not_truncated(tmp_path / "x.csv", text[:-5] + "\n")  # a final newline: the line is whole
    check_not_truncated(tmp_path / "x.csv", _csv(5)[:-5])  # too few rows to judge a field's width


def test_many_conflicting_duplicates_refuse_the_file(tmp_path):
    rows = ["date,open,high,low,close"]
    for h in range(12):
        rows += [f"2021-03-01 {h:02d}:00,1,1.2,0.9,1.1", f"2021-03-01 {h:02d}:00,2,2.2,1.9,2.1"]
    f = tmp_path / "x.csv"
    f.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="12 timestamps carry two different bars"):
        import_bars(f, asset_class="crypto", tz="UTC")


def _bars(tz: str, n: int = 200) -> pd.DataFrame:
    local = pd.date_range("2021-06-01", periods=n, freq="h")
    close = 100 + np.cumsum(np.random.default_rng(0).normal(0, 1, n))
    df = pd.DataFrame({"ts": local, "open": close, "high": close + 1, "low": close - 1, "close": close})
    return validate_bars(df, symbol="X", asset_class="forex", timeframe="1h", tz=tz)[0]


def test_shifted_copy_is_found_for_intraday_bars():
    stored, again = _bars("UTC"), _bars("Europe/Helsinki")  # summer: UTC+3
    offset, hits, n = shifted_copy_offset(stored, again)
    assert offset == pd.Timedelta(hours=3) and hits == n == 200
    assert shifted_copy_offset(stored, stored) is None  # the same import again
    later = _bars("UTC").assign(ts=lambda d: d["ts"] + pd.Timedelta(days=30))
    assert shifted_copy_offset(stored, later) is None  # no overlap
    other = _bars("UTC").assign(close=lambda d: d["close"] * 1.01)
    assert shifted_copy_offset(stored, other) is None  # overlapping but other prices: an update


def test_utf16_export_is_read_and_binary_bytes_are_refused(tmp_path):
    f = tmp_path / "x.csv"
    f.write_bytes((_csv(12) + "\n").encode("utf-16"))
    assert len(import_bars(f, asset_class="forex", tz="UTC").bars) == 12
    f.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match="x.csv: binary content"):
        import_bars(f, asset_class="forex", tz="UTC")
