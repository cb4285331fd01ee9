"""`meridian import` reads every price file format in ../shared/data and converts time zones."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main as cli
from pipelines.errors import DataError
from pipelines.sources.files import detect_format, epoch_to_utc, import_bars, infer_timeframe
from pipelines.store import ParquetStore

# (relative path, asset class, tz, expected format, symbol, timeframe, first UTC bar open, rows)
SHARED_FILES = [
    ("crypto_binance_spot_1h/BTCUSDT_1h.csv.gz", "crypto", "UTC", "ohlcv", "BTCUSDT", "1h",
     "2021-04-04 20:00", None),
    ("crypto_binance_vision_1h/BTCUSDT-1h-2023-01.csv", "crypto", None, "binance", "BTCUSDT", "1h",
     "2023-01-01 00:00", 744),
    ("crypto_cryptodatadownload_1h/Binance_BTCUSDT_1h.csv.gz", "crypto", None, "cryptodatadownload",
     "BTCUSDT", "1h", "2017-08-17 04:00", None),
    # EET in summer is UTC+3: 01.07.2020 00:00 local is 2020-06-30 21:00 UTC
    ("forex_dukascopy_1h/EURUSD_Candlestick_1_Hour_BID_01.07.2020-15.07.2023.csv.gz", "forex", None,
     "dukascopy", "EURUSD", "1h", "2020-06-30 21:00", 17768),
    # MT4 server at a fixed UTC+1: 2009/08/11 12:00 server is 11:00 UTC
    ("forex_mt4_h1/EURUSD60.csv.gz", "forex", "Etc/GMT-1", "mt4", "EURUSD", "1h", "2009-08-11 11:00", 65000),
    ("forex_yahoo_1h/AUDUSD_X_1h.json.gz", "forex", None, "json", "AUDUSD", "1h", "2024-02-27 04:00", 11979),
    ("stocks_daily_sp500/AAPL_data.csv.gz", "stock", "UTC", "ohlcv", "AAPL", "1d", "2013-02-08 00:00", 1259),
    ("stocks_intraday_dukascopy_style/AAPLUSUSD_H1.csv.gz", "stock", "UTC", "ohlcv", "AAPLUSUSD", "1h",
     "2017-02-01 14:00", None),
    ("stocks_intraday_dukascopy_style/AAPLUSUSD_M15.csv.gz", "stock", "UTC", "ohlcv", "AAPLUSUSD", "15m",
     None, None),
    ("stocks_intraday_dukascopy_style/AAPLUSUSD_D1.csv.gz", "stock", "UTC", "ohlcv", "AAPLUSUSD", "1d",
     None, None),
]


@pytest.mark.shared
@pytest.mark.parametrize("rel,asset,tz,fmt,symbol,tf,first,rows", SHARED_FILES, ids=[f[0].split("/")[0] + ":" + f[0].split("/")[-1] for f in SHARED_FILES])
def test_imports_every_shared_format(shared_data, rel, asset, tz, fmt, symbol, tf, first, rows):
    res = import_bars(shared_data / rel, asset_class=asset, tz=tz)
    b = res.bars
    assert res.format == fmt
    assert res.symbol == symbol
    assert res.timeframe == tf
    assert len(b) > 100
    if rows is not None:
        assert len(b) == rows
    if first is not None:
        assert b["ts"].iloc[0] == pd.Timestamp(first, tz="UTC")
    assert str(b["ts"].dtype) == "datetime64[ns, UTC]"
    assert b["ts"].is_monotonic_increasing and b["ts"].is_unique
    assert (b["high"] >= b[["open", "close"]].max(axis=1)).all()
    assert (b["low"] <= b[["open", "close"]].min(axis=1)).all()
    assert (b[["open", "high", "low", "close"]] > 0).all().all()
    assert (b["known_at"] > b["ts"]).all()


@pytest.mark.shared
def test_cryptodatadownload_quirks_are_repaired_and_counted(shared_data):
    res = import_bars(shared_data / "crypto_cryptodatadownload_1h/Binance_BTCUSDT_1h.csv.gz",
                      asset_class="crypto")
    # newest-first file, 2,649 duplicated timestamps, seconds and milliseconds mixed
    assert res.report.repaired["duplicate_timestamp"] == 2649
    assert res.report.repaired["out_of_order"] > 0
    assert res.report.rows_out == res.report.rows_in - 2649
    assert res.bars["ts"].iloc[-1] == pd.Timestamp("2021-06-10 00:00", tz="UTC")


@pytest.mark.shared
def test_dukascopy_winter_offset(shared_data):
    """EET is UTC+2 in winter: 02.11.2020 00:00 local -> 2020-11-01 22:00 UTC."""
    res = import_bars(shared_data / "forex_dukascopy_1h/EURUSD_Candlestick_1_Hour_BID_01.07.2020-15.07.2023.csv.gz",
                      asset_class="forex")
    ts = set(res.bars["ts"])
    assert pd.Timestamp("2020-11-01 22:00", tz="UTC") in ts
    assert pd.Timestamp("2020-07-01 21:00", tz="UTC") in ts  # summer: UTC+3


@pytest.mark.shared
def test_cli_import_into_store_json(shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    rc = cli(["import", str(shared_data / "forex_mt4_h1/USDJPY60.csv.gz"), "--asset-class", "forex",
              "--tz", "Etc/GMT-1", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["symbol"] == "USDJPY" and out["rows_written"] == 65000 and out["format"] == "mt4"
    store = ParquetStore(tmp_path / "lake")
    assert len(store.read_bars("USDJPY", "1h")) == 65000
    # importing again changes nothing
    assert cli(["import", str(shared_data / "forex_mt4_h1/USDJPY60.csv.gz"), "--asset-class", "forex",
                "--tz", "Etc/GMT-1", "--json"]) == 0
    assert len(store.read_bars("USDJPY", "1h")) == 65000


# ---- formats and zones on files the test writes itself (no ../shared needed) -------------------

def _write(path, text):
    path.write_text(text)
    return path


def test_naive_timestamps_need_a_zone(tmp_path):
    f = _write(tmp_path / "x.csv", "date,open,high,low,close,volume\n2021-01-01 00:00,1,2,0.5,1.5,10\n"
                                   "2021-01-01 01:00,1.5,2,1,1.2,11\n")
    with pytest.raises(DataError, match="--tz"):
        import_bars(f, asset_class="crypto")
    res = import_bars(f, asset_class="crypto", tz="America/New_York")
    assert res.bars["ts"].iloc[0] == pd.Timestamp("2021-01-01 05:00", tz="UTC")


def test_nonexistent_local_time_is_an_error(tmp_path):
    # 2021-03-28 03:30 does not exist in Europe/Helsinki (clocks jump 03:00 -> 04:00)
    f = _write(tmp_path / "x.csv", "date,open,high,low,close\n2021-03-28 02:00,1,1,1,1\n"
                                   "2021-03-28 03:30,1,1,1,1\n")
    with pytest.raises(Exception, match="2021-03-28 03:30"):
        import_bars(f, asset_class="forex", tz="Europe/Helsinki", timeframe="1h")


def test_aware_timestamps_convert(tmp_path):
    f = _write(tmp_path / "x.csv", "time,open,high,low,close\n2021-01-01T09:00:00+09:00,1,1,1,1\n"
                                   "2021-01-01T10:00:00+09:00,1,1,1,1\n")
    res = import_bars(f, asset_class="stock")
    assert res.bars["ts"].iloc[0] == pd.Timestamp("2021-01-01 00:00", tz="UTC")


def test_bad_rows_rejected_with_reasons(tmp_path):
    f = _write(tmp_path / "x.csv", "\n".join([
        "date,open,high,low,close,volume",
        "2021-01-01 00:00,1,2,0.5,1.5,10",
        "2021-01-01 01:00,nan,2,0.5,1.5,10",       # NaN price
        "2021-01-01 02:00,-1,2,0.5,1.5,10",        # negative price
        "2021-01-01 03:00,1,0.5,2,1.5,10",         # high < low
        "2021-01-01 05:00,1,1.2,0.9,1.1,-5",       # negative volume (repaired)
        "2021-01-01 04:00,1,1.1,0.95,1.05,3",      # out of order (repaired)
        "2021-01-01 04:00,1,1.1,0.95,1.06,3",      # duplicate (last wins)
        "2021-01-01 06:00,1,1.0,0.9,1.3,4",        # high below close (repaired)
    ]) + "\n")
    res = import_bars(f, asset_class="crypto", tz="UTC", timeframe="1h")
    r = res.report
    assert r.rejected == {"nan_price": 1, "nonpositive_price": 1, "high_below_low": 1}
    assert r.repaired["duplicate_timestamp"] == 1 and r.repaired["negative_volume"] == 1
    assert r.repaired["out_of_order"] == 1 and r.repaired["high_below_open_close"] == 1
    b = res.bars
    assert len(b) == 4 and b["ts"].is_monotonic_increasing
    assert b.loc[b["ts"] == pd.Timestamp("2021-01-01 04:00", tz="UTC"), "close"].item() == 1.06
    assert b["high"].iloc[-1] == 1.3


def test_binance_headerless_and_epoch_units(tmp_path):
    rows = [f"{1672531200000 + i * 3600000},1,2,0.5,1.5,10,{1672534799999 + i * 3600000},15,3,5,7,0"
            for i in range(5)]
    f = _write(tmp_path / "BTCUSDT-1h-2023-01.csv", "\n".join(rows) + "\n")
    assert detect_format(f, f.read_text()) == "binance"
    res = import_bars(f, asset_class="crypto")
    assert res.symbol == "BTCUSDT" and len(res.bars) == 5
    assert res.bars["ts"].iloc[0] == pd.Timestamp("2023-01-01", tz="UTC")
    mixed = epoch_to_utc(pd.Series([1502942400.0, 1502946000000, 1502949600000000]))
    assert list(mixed.dt.hour) == [4, 5, 6]


def test_mt4_classic_headerless(tmp_path):
    f = _write(tmp_path / "GBPUSD60.csv", "2020.01.02,00:00,1.3,1.31,1.29,1.305,100\n"
                                          "2020.01.02,01:00,1.305,1.31,1.3,1.301,90\n")
    res = import_bars(f, asset_class="forex", tz="Etc/GMT-2")
    assert res.format == "mt4" and res.symbol == "GBPUSD"
    assert res.bars["ts"].iloc[0] == pd.Timestamp("2020-01-01 22:00", tz="UTC")


def test_gzip_json_and_parquet(tmp_path):
    recs = [{"timestamp": 1709006400000 + i * 3600000, "open": 1, "high": 1.1, "low": 0.9,
             "close": 1.0, "volume": 0} for i in range(4)]
    g = tmp_path / "X_1h.json.gz"
    g.write_bytes(gzip.compress(json.dumps(recs).encode()))
    assert len(import_bars(g, asset_class="forex").bars) == 4
    p = tmp_path / "Y.parquet"
    pd.DataFrame({"timestamp": pd.date_range("2020", periods=6, freq="D", tz="UTC"),
                  "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0}).to_parquet(p)
    res = import_bars(p, asset_class="stock")
    assert res.timeframe == "1d" and len(res.bars) == 6


def test_total_row_volume_is_not_a_bar_volume(tmp_path):
    lines = ["Time\tOpen\tHigh\tLow\tClose\tVolume"]
    lines += [f"2020-01-01 {h:02d}:00:00\t1\t1.1\t0.9\t1\t10" for h in range(12)]
    lines += ["2020-01-01 12:00:00\t1\t1.1\t0.9\t1\t999999"]
    f = _write(tmp_path / "Z_H1.csv", "\n".join(lines))
    res = import_bars(f, asset_class="stock", tz="UTC")
    assert res.report.repaired["volume_is_file_total"] == 1
    assert np.isnan(res.bars["volume"].iloc[-1]) and len(res.bars) == 13


def test_infer_timeframe():
    ts = pd.Series(pd.date_range("2020", periods=10, freq="15min"))
    assert infer_timeframe(ts) == "15m"
    with pytest.raises(DataError):
        infer_timeframe(ts.iloc[:1])
