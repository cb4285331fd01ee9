"""Session definitions and live status."""

from __future__ import annotations

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


def test_naive_time_is_refused():
    with pytest.raises(ValueError, match="naive"):
        session_status(pd.Timestamp("2026-11-24 12:00"))


def test_masks_agree_with_status_hour_by_hour():
    ts = pd.date_range("2026-11-23", "2026-12-01", freq="30min", tz="UTC")
    masks = session_masks(ts)
    for i, t in enumerate(ts):
        st = session_status(t)
        assert [n for n in SESSION_NAMES if masks[n][i]] == st["open"], t
