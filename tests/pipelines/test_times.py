"""The one time module: the duration grammar (m minute, M month), spans in bars, and the rule that
a naive time is UTC."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.times import (as_utc, duration, duration_seconds, epoch_ns, span_bars, timeframe_offset,
                             utc_index)


def test_minute_and_month_differ_by_case_everywhere():
    assert duration("1m") == (1, "m") and duration("1M") == (1, "M")
    assert timeframe_offset("1m") == pd.Timedelta(minutes=1)
    assert timeframe_offset("1M") == pd.DateOffset(months=1)
    assert duration_seconds("15m") == 900 and duration_seconds("24h") == duration_seconds("1d") == 86400
    # a span in bars: "1m" is a minute there too (it used to mean a month)
    assert span_bars("60m", "1m", "crypto") == 60
    assert span_bars("1M", "1d", "stock") == 21 and span_bars("3y", "1d", "stock") == 756
    assert span_bars("3Y", "1d", "stock") == 756 and span_bars("30D", "1h", "crypto") == 720
    assert span_bars(500, "1h") == 500 and span_bars("500", "1h") == 500


@pytest.mark.parametrize("bad", ["", "0h", "1x", "h", "1.5h", "-1d", "1 day"])
def test_bad_durations_name_the_grammar(bad):
    with pytest.raises(ValueError, match="duration|timeframe"):
        duration(bad)
    with pytest.raises(ValueError):
        timeframe_offset(bad)


def test_a_naive_time_is_utc():
    assert as_utc("2024-01-02 03:00") == pd.Timestamp("2024-01-02 03:00", tz="UTC")
    assert as_utc(pd.Timestamp("2024-01-02 04:00", tz="Europe/Berlin")) == pd.Timestamp("2024-01-02 03:00", tz="UTC")
    assert as_utc(None) is None
    naive = pd.date_range("2024-03-30", periods=48, freq="h")
    aware = naive.tz_localize("UTC")
    assert utc_index(naive).equals(aware) and str(utc_index(naive.as_unit("ms")).dtype) == "datetime64[ns, UTC]"
    assert (epoch_ns(naive) == epoch_ns(aware)).all()
    assert (epoch_ns(aware.tz_convert("America/New_York")) == epoch_ns(aware)).all()
