"""Contract for the bar-series methods of the protocol (both stores): last_ts, series_summary,
delete_series, and that both implementations satisfy ``Store``."""

from __future__ import annotations

import pandas as pd

from pipelines.store.base import SERIES_COLUMNS, Store
from tests.store.test_contract import make_bars


def test_implements_the_protocol(store):
    assert isinstance(store, Store)


def test_last_ts_is_the_newest_bar_across_years(store):
    assert store.last_ts("AAA", "1h") is None
    bars = make_bars(n=24 * 5, start="2021-12-29")  # spans two year partitions
    store.write("bars", bars.sample(frac=1.0, random_state=1))
    last = store.last_ts("AAA", "1h")
    assert last == bars["ts"].iloc[-1]
    assert str(last.tz) == "UTC"
    assert store.last_ts("AAA", "1d") is None and store.last_ts("ZZZ", "1h") is None


def test_first_ts_is_the_oldest_bar_across_years(store):
    assert store.first_ts("AAA", "1h") is None
    bars = make_bars(n=24 * 5, start="2021-12-29")
    store.write("bars", bars.sample(frac=1.0, random_state=2))
    first = store.first_ts("AAA", "1h")
    assert first == bars["ts"].iloc[0] and str(first.tz) == "UTC"
    assert store.first_ts("AAA", "1d") is None


def test_last_ts_follows_deletes(store):
    bars = make_bars(n=24 * 5, start="2021-12-29")
    store.write("bars", bars)
    store.delete("bars", {"symbol": "AAA", "timeframe": "1h"})
    assert store.last_ts("AAA", "1h") is None
    store.write("bars", bars.iloc[:10])
    assert store.last_ts("AAA", "1h") == bars["ts"].iloc[9]


def test_series_summary(store):
    assert list(store.series_summary().columns) == list(SERIES_COLUMNS)
    assert store.series_summary().empty
    store.write("bars", pd.concat([make_bars("AAA", n=24 * 5, start="2021-12-29"),
                                   make_bars("BBB", n=30, tf="1d", asset_class="stock")]))
    s = store.series_summary()
    assert list(s.columns) == list(SERIES_COLUMNS)
    assert s[["symbol", "timeframe", "asset_class"]].to_numpy().tolist() == [
        ["AAA", "1h", "crypto"], ["BBB", "1d", "stock"]]
    assert s["rows"].tolist() == [120, 30]
    assert s["first"].iloc[0] == pd.Timestamp("2021-12-29", tz="UTC")
    assert s["last"].iloc[0] == pd.Timestamp("2021-12-29", tz="UTC") + pd.Timedelta(hours=119)
    assert s["last"].iloc[1] == pd.Timestamp("2021-01-30", tz="UTC")
    assert str(s["first"].dtype) == "datetime64[ns, UTC]" and str(s["rows"].dtype) == "int64"


def test_delete_series_one_timeframe_or_all(store):
    store.write("bars", pd.concat([make_bars("AAA"), make_bars("AAA", n=30, tf="1d"),
                                   make_bars("BBB", seed=1)]))
    assert store.delete_series("AAA", "1d") == 30
    assert store.read_bars("AAA", "1d").empty and len(store.read_bars("AAA", "1h")) == 100
    assert store.delete_series("AAA") == 100
    assert store.delete_series("AAA") == 0
    assert store.series_summary()["symbol"].tolist() == ["BBB"]
