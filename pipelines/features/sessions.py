"""The four forex trading sessions (UTC) and where a moment stands relative to them.

Sydney 22:00-07:00 (spans midnight), Tokyo 00:00-09:00, London 08:00-16:00, New York
13:00-22:00; the busy overlaps are Tokyo-London 08:00-09:00 and London-New York 13:00-16:00.
The market is shut at weekends: a session is held only when it closes on a weekday, so Sydney's
Sunday 22:00 open is Monday's session and its Friday 22:00 open does not happen. Everything here
is a pure function of the clock, so it can serve live status and causal features alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.times import as_utc, epoch_ns


@dataclass(frozen=True)
class Session:
    """A daily session: open and close hour (UTC); ``close < open`` means it spans midnight.
    ``weight`` is its share of global turnover used by the liquidity score."""

    name: str
    open_hour: int
    close_hour: int
    weight: float

    @property
    def spans_midnight(self) -> bool:
        return self.close_hour <= self.open_hour

    @property
    def hours(self) -> int:
        return (self.close_hour - self.open_hour) % 24


SESSIONS: tuple[Session, ...] = (
    Session("sydney", 22, 7, 0.10),
    Session("tokyo", 0, 9, 0.20),
    Session("london", 8, 16, 0.40),
    Session("new_york", 13, 22, 0.40),
)
SESSION_NAMES: tuple[str, ...] = tuple(s.name for s in SESSIONS)

# Overlaps: (name, first session, second session); each adds ``OVERLAP_BONUS`` of liquidity.
OVERLAPS: tuple[tuple[str, str, str], ...] = (
    ("tokyo_london", "tokyo", "london"),
    ("london_new_york", "london", "new_york"),
)
OVERLAP_BONUS = 0.2


def session(name: str) -> Session:
    for s in SESSIONS:
        if s.name == name:
            return s
    raise KeyError(f"unknown session {name!r}: one of {', '.join(SESSION_NAMES)}")


def _instances(s: Session, now: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The session's (open, close) intervals whose open falls from 8 days before to 8 days after
    ``now``, weekends removed, in time order."""
    day0 = now.normalize()
    out = []
    for d in range(-8, 9):
        op = day0 + pd.Timedelta(days=d, hours=s.open_hour)
        cl = op + pd.Timedelta(hours=s.hours)
        if cl.dayofweek < 5:
            out.append((op, cl))
    return out


def _session_state(s: Session, now: pd.Timestamp, weekends: bool) -> dict:
    if not weekends:
        # every calendar day trades: only the hour matters
        h = now.hour + now.minute / 60 + now.second / 3600
        is_open = _hour_in(np.asarray([h]), s)[0]
        if is_open:
            to_close = ((s.close_hour - h) % 24) or 24.0
            return {"open": True, "next_event": "close", "minutes_to_next": round(to_close * 60, 2)}
        to_open = (s.open_hour - h) % 24
        return {"open": False, "next_event": "open", "minutes_to_next": round(to_open * 60, 2)}
    for op, cl in _instances(s, now):
        if op <= now < cl:
            return {"open": True, "next_event": "close",
                    "minutes_to_next": round((cl - now).total_seconds() / 60, 2)}
        if op > now:
            return {"open": False, "next_event": "open",
                    "minutes_to_next": round((op - now).total_seconds() / 60, 2)}
    raise AssertionError("a weekday session always opens within 8 days")  # pragma: no cover


def liquidity_score(open_sessions: dict[str, bool]) -> float:
    """Sum of the open sessions' weights plus a bonus per active overlap, capped at 1."""
    score = sum(s.weight for s in SESSIONS if open_sessions.get(s.name))
    score += OVERLAP_BONUS * sum(bool(open_sessions.get(a) and open_sessions.get(b)) for _, a, b in OVERLAPS)
    return float(min(score, 1.0))


def session_status(now: pd.Timestamp, weekends: bool = True) -> dict:
    """Where ``now`` (tz-aware) stands: for each session whether it is open and the minutes to
    its next close (when open) or next open (when shut); the active overlaps; a liquidity score
    in [0, 1]. ``weekends=False`` treats every day as a trading day (crypto)."""
    now = as_utc(now)
    states = {s.name: _session_state(s, now, weekends) for s in SESSIONS}
    is_open = {k: v["open"] for k, v in states.items()}
    overlaps = {name: bool(is_open[a] and is_open[b]) for name, a, b in OVERLAPS}
    return {
        "ts": now.isoformat(),
        "sessions": states,
        "open": [k for k, v in is_open.items() if v],
        "overlaps": overlaps,
        "active_overlaps": [k for k, v in overlaps.items() if v],
        "liquidity": liquidity_score(is_open),
    }


# ---- vectorised forms for features -------------------------------------------------------

def _hour_in(hour: np.ndarray, s: Session) -> np.ndarray:
    if s.spans_midnight:
        return (hour >= s.open_hour) | (hour < s.close_hour)
    return (hour >= s.open_hour) & (hour < s.close_hour)


HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS


def _hour_of(ns: np.ndarray) -> np.ndarray:
    sec = (ns // 10**9) % 86400
    return sec // 3600 + (sec % 3600 // 60) / 60.0 + (sec % 60) / 3600.0


def _weekday_of(ns: np.ndarray) -> np.ndarray:
    return (ns // DAY_NS + 3) % 7  # the epoch fell on a Thursday


def fractional_hour(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC hour of day with minutes and seconds as its fraction (whole seconds; from the epoch
    count by integer arithmetic, which is what pandas' field accessors give, at a fraction of
    their cost)."""
    return _hour_of(epoch_ns(ts))


def day_of_week(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC weekday, Monday 0 .. Sunday 6."""
    return _weekday_of(epoch_ns(ts))


def session_clock(ts: pd.Series | pd.DatetimeIndex,
                  weekends: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Epoch ns, UTC fractional hour and :func:`session_masks` of the timestamps, each computed once."""
    ns = epoch_ns(ts)
    hour = _hour_of(ns)
    dow = _weekday_of(ns) if weekends else None
    masks = {}
    for s in SESSIONS:
        m = _hour_in(hour, s)
        if weekends:
            # the weekday on which this instance closes
            close_dow = np.where(s.spans_midnight & (hour >= s.open_hour), (dow + 1) % 7, dow)
            m &= close_dow < 5
        masks[s.name] = m
    return ns, hour, masks


def session_masks(ts: pd.Series | pd.DatetimeIndex, weekends: bool = True) -> dict[str, np.ndarray]:
    """For each session, whether each timestamp lies in it (by the hour of day, and on a session
    that closes on a weekday when ``weekends``)."""
    return session_clock(ts, weekends)[2]
