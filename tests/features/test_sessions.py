"""Session definitions and live status."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.features.sessions import SESSION_NAMES, session_masks, session_status


def T(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def test_london_new_york_overlap_is_the_most_liquid():
    st = session_status(T("2026-11-24 14:00"))  # a Tuesday
    assert st["open"] == ["london", "new_york"]
    assert st["active_overlaps"] == ["london_new_york"]
    assert st["sessions"]["london"] == {"open": True, "next_event": "close", "minutes_to_next": 120.0}
    assert st["sessions"]["tokyo"] == {"open": False, "next_event": "open", "minutes_to_next": 600.0}
    assert st["liquidity"] == 1.0
    quiet = session_status(T("2026-11-24 22:30"))
    assert quiet["open"] == ["sydney"] and quiet["liquidity"] < st["liquidity"]


def test_tokyo_london_overlap_and_sydney_across_midnight():
    st = session_status(T("2026-11-24 08:30"))
    assert st["overlaps"] == {"tokyo_london": True, "london_new_york": False}
    assert st["sessions"]["tokyo"]["minutes_to_next"] == 30.0
    late = session_status(T("2026-11-24 23:15"))
    assert late["sessions"]["sydney"] == {"open": True, "next_event": "close", "minutes_to_next": 465.0}


def test_weekend_is_closed_and_reopens_with_sydney_on_sunday():
    sat = session_status(T("2026-11-28 12:00"))
    assert sat["open"] == [] and sat["liquidity"] == 0.0
    # Sydney reopens Sunday 22:00: 34 hours from Saturday noon
    assert sat["sessions"]["sydney"]["minutes_to_next"] == 34 * 60
    assert session_status(T("2026-11-27 22:30"))["open"] == []  # Friday night: no Sydney session
    assert session_status(T("2026-11-29 22:30"))["open"] == ["sydney"]
    crypto = session_status(T("2026-11-28 12:00"), weekends=False)
    assert crypto["open"] == ["london"]


def test_naive_time_is_utc():
    """Meridian's rule (pipelines.times): a time without a zone is UTC."""
    assert session_status(pd.Timestamp("2026-11-24 12:00")) == session_status(pd.Timestamp("2026-11-24 12:00", tz="UTC"))


def test_masks_agree_with_status_hour_by_hour():
    ts = pd.date_range("2026-11-23", "2026-12-01", freq="30min", tz="UTC")
    masks = session_masks(ts)
    for i, t in enumerate(ts):
        st = session_status(t)
        assert [n for n in SESSION_NAMES if masks[n][i]] == st["open"], t


def test_clock_fields_match_pandas_accessors_in_any_zone_and_before_1970():
    from pipelines.features.sessions import day_of_week, fractional_hour
    rng = np.random.default_rng(0)
    # whole seconds from 1950 to 2090, as UTC and as the same instants in New York time
    secs = np.sort(rng.integers(-20 * 365 * 86400, 120 * 365 * 86400, 20000))
    utc = pd.DatetimeIndex(pd.to_datetime(secs, unit="s", utc=True))
    for ts in (utc, utc.tz_convert("America/New_York"), pd.Series(utc.as_unit("ms"))):
        t = pd.DatetimeIndex(ts).tz_convert("UTC")
        np.testing.assert_array_equal(fractional_hour(ts), (t.hour + t.minute / 60.0 + t.second / 3600.0).to_numpy())
        np.testing.assert_array_equal(day_of_week(ts), t.dayofweek.to_numpy())
    # naive times are UTC (pipelines.times)
    np.testing.assert_array_equal(fractional_hour(utc.tz_localize(None)), fractional_hour(utc))


def test_same_hour_volume_ratio_uses_the_utc_hour_whatever_the_zone_of_ts():
    # a zone with daylight saving: its local hour is not a fixed relabelling of the UTC hour
    from pipelines.features.session_features import _by_hour
    from pipelines.features.spec import FeatureContext
    from tests.synthetic.bars import synthetic_bars
    bars = synthetic_bars(6000, seed=4)  # spans a change of daylight saving time
    local = bars.assign(ts=bars["ts"].dt.tz_convert("America/New_York"),
                        known_at=bars["known_at"].dt.tz_convert("America/New_York"))
    ctx = FeatureContext(asset_class="crypto")
    a, b = _by_hour(bars, ctx), _by_hour(local, ctx)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    # and it is the ratio to the mean of the previous 10 bars at that hour, by its definition
    v = np.log1p(bars["volume"].to_numpy())
    t = 24 * 20 + 5
    same = v[t - 24 * 10:t:24]
    assert a["session_volume_ratio"][t] == pytest.approx(v[t] / same.mean(), rel=1e-12)
