from __future__ import annotations

import pandas as pd
import pytest

from pipelines.errors import DataError
from pipelines.times import timeframe_offset
from pipelines.validation import find_gaps, to_utc, validate_bars


def test_known_at_is_open_plus_timeframe_including_months():
    df = pd.DataFrame({"ts": ["2020-01-01", "2020-02-01"], "open": [1, 1], "high": [1, 1],
                       "low": [1, 1], "close": [1, 1]})
    bars, _ = validate_bars(df, symbol="X", asset_class="crypto", timeframe="1M")
    assert list(bars["known_at"]) == [pd.Timestamp("2020-02-01", tz="UTC"), pd.Timestamp("2020-03-01", tz="UTC")]


def test_naive_without_zone_is_refused():
    with pytest.raises(DataError, match="time zone"):
        to_utc(pd.Series(pd.to_datetime(["2020-01-01"])), None)


def test_unknown_asset_class_and_timeframe():
    df = pd.DataFrame({"ts": ["2020-01-01"], "open": [1], "high": [1], "low": [1], "close": [1]})
    with pytest.raises(DataError, match="asset class"):
        validate_bars(df, symbol="X", asset_class="bonds", timeframe="1d")
    with pytest.raises(ValueError, match="timeframe"):
        timeframe_offset("7x")


def test_find_gaps():
    ts = pd.Series(pd.to_datetime(["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 05:00"], utc=True))
    g = find_gaps(ts, "1h")
    assert len(g) == 1 and g["missing_bars"].item() == 3


def test_bars_of_several_symbols_are_checked_in_one_pass_as_each_alone():
    """A socket batch (symbol=None, a symbol column): the same rows and reasons as one call per
    symbol; order and duplicates are judged per symbol, so A and B at one ts are no duplicate."""
    raw = pd.DataFrame({"symbol": ["A", "B", "A", "B", "A", "B"],
                        "ts": ["2020-01-01 00:01", "2020-01-01 00:00", "2020-01-01 00:00",
                               "2020-01-01 00:00", "2020-01-01 00:02", "2020-01-01 00:01"],
                        "open": [1, 1, 1, 2, 1, 1], "high": [1, 1, 1, 2, 0.5, 1], "low": [1, 1, 1, 2, 1, 1],
                        "close": [1, 1, 1, 2, 1, float("nan")]})
    both, rep = validate_bars(raw, symbol=None, asset_class="crypto", timeframe="1m")
    alone = [validate_bars(raw[raw["symbol"] == s].drop(columns="symbol"), symbol=s, asset_class="crypto",
                           timeframe="1m") for s in ("A", "B")]
    expected = pd.concat([b for b, _ in alone], ignore_index=True)
    pd.testing.assert_frame_equal(both.sort_values(["symbol", "ts"]).reset_index(drop=True), expected)
    assert rep.rejected == alone[0][1].rejected + alone[1][1].rejected == {"high_below_low": 1, "nan_price": 1}
    assert rep.repaired == alone[0][1].repaired + alone[1][1].repaired
    assert rep.repaired["out_of_order"] == 1 and rep.repaired["duplicate_timestamp"] == 1
    with pytest.raises(DataError, match="symbol"):
        validate_bars(raw.drop(columns="symbol"), symbol=None, asset_class="crypto", timeframe="1m")
