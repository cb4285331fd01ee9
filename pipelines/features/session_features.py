"""Session features from what was known at each bar's close: the current session (one-hot), the
share of it elapsed, overlap flags and liquidity score; the return and volatility of each
session's last *completed* instance (its volatility against that session's own previous
instances); volume against the same hour's recent history; the Tokyo->London and London->NY
momentum transfer and the New York close to Asian open move. Nothing is averaged over the whole
sample or merged by calendar date: aggregates of an instance become visible only once the
instance has ended and its last bar is known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.times import epoch_ns
from pipelines.features.kernels import arr, div, logret, roll_mean, shared, shift, spec
from pipelines.features.sessions import DAY_NS, HOUR_NS, OVERLAP_BONUS, OVERLAPS, SESSIONS, session_clock

VOL_HISTORY = 10      # previous completed instances a session's volatility is compared with
VOLUME_DAYS = 10      # previous same-hour bars the volume is compared with


def _weekends(ctx) -> bool:
    return ctx.asset_class != "crypto"


def _clock(bars, ctx) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The bars' open times in epoch ns, their UTC fractional hour and the session masks, built
    once per computation for the family's specs."""
    return shared(bars, ctx, "session_clock", lambda: session_clock(bars["ts"], weekends=_weekends(ctx)))


def _completed(bars: pd.DataFrame, mask: np.ndarray, key: np.ndarray, end_ns: np.ndarray,
               with_vol: bool = True):
    """Per group of bars (``mask`` rows sharing ``key``): log return open(first) -> close(last),
    realized vol of its bar returns (None unless ``with_vol``), and when it became known: the
    later of the group's end (``end_ns`` per row) and its last bar's known_at. Groups come back
    in time order."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return np.array([]), np.array([]), np.array([], dtype="int64")
    k = key[idx]
    brk = np.flatnonzero(np.diff(k) != 0) + 1
    first = idx[np.concatenate([[0], brk])]
    last = idx[np.concatenate([brk - 1, [len(idx) - 1]])]
    o, c = arr(bars, "open"), arr(bars, "close")
    ret = np.log(div(c[last], o[first]))
    vol = None
    if with_vol:
        r = np.log(div(c[idx], o[idx]))  # intra-bar returns keep instances independent of the bar before them
        labels = np.concatenate([[0], np.cumsum(np.diff(k) != 0)])
        vol = pd.Series(r).groupby(labels).std(ddof=0).to_numpy()
    known = np.maximum(end_ns[last], epoch_ns(bars["known_at"])[last])
    return ret, vol, known


def _asof(values: np.ndarray, known: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The last value whose ``known`` time is <= each ``at`` (NaN before the first)."""
    pos = np.searchsorted(known, at, side="right") - 1
    out = np.full(len(at), np.nan)
    ok = pos >= 0
    out[ok] = values[pos[ok]]
    return out


def _basic(bars, ctx):
    _, hour, masks = _clock(bars, ctx)
    out = {}
    for s in SESSIONS:
        m = masks[s.name]
        out[f"session_{s.name}"] = m.astype("float64")
        out[f"session_{s.name}_elapsed"] = np.where(m, ((hour - s.open_hour) % 24) / s.hours, 0.0)
    liq = sum(s.weight * masks[s.name] for s in SESSIONS)
    for name, a, b in OVERLAPS:
        ov = masks[a] & masks[b]
        out[f"overlap_{name}"] = ov.astype("float64")
        liq = liq + OVERLAP_BONUS * ov
    out["session_liquidity"] = np.minimum(liq, 1.0).astype("float64")
    out["session_count"] = sum(masks[s.name].astype("float64") for s in SESSIONS)
    return out


def _previous(bars, ctx):
    ns, _, masks = _clock(bars, ctx)
    at = epoch_ns(bars["known_at"])
    out = {}
    for s in SESSIONS:
        key = (ns - s.open_hour * HOUR_NS) // DAY_NS  # the instance: the day number of its open
        end = key * DAY_NS + (s.open_hour + s.hours) * HOUR_NS
        ret, vol, known = _completed(bars, masks[s.name], key, end)
        hist = pd.Series(vol).shift(1).rolling(VOL_HISTORY, min_periods=VOL_HISTORY).mean().to_numpy()
        out[f"prev_{s.name}_ret"] = _asof(ret, known, at)
        out[f"prev_{s.name}_vol_ratio"] = _asof(div(vol, hist), known, at)
    return out


def _window(ns: np.ndarray, hour: np.ndarray, start_h: int, end_h: int):
    """The bars inside the daily UTC window [start_h, end_h) (end may pass midnight), the
    instance key (day number of the window's start) and each instance's end in epoch ns."""
    span = (end_h - start_h) % 24 or 24
    mask = ((hour - start_h) % 24) < span
    key = (ns - start_h * HOUR_NS) // DAY_NS
    return mask, key, key * DAY_NS + (start_h + span) * HOUR_NS


def _window_return(bars, clock, start_h: int, end_h: int) -> np.ndarray:
    """The return of the window's last completed instance, as known at each bar's close."""
    ns, hour, _ = clock
    mask, key, end = _window(ns, hour, start_h, end_h)
    ret, _, known = _completed(bars, mask, key, end, with_vol=False)
    return _asof(ret, known, epoch_ns(bars["known_at"]))


def _so_far(bars, mask: np.ndarray, key: np.ndarray) -> np.ndarray:
    """log(close_t / open of the first bar of t's window instance) inside the window, else 0."""
    o, c = arr(bars, "open"), arr(bars, "close")
    idx = np.flatnonzero(mask)  # an instance's rows are consecutive among these (bars are sorted)
    first_open = np.full(len(o), np.nan)
    if len(idx):
        group = np.concatenate([[0], np.cumsum(np.diff(key[idx]) != 0)])
        ok = np.flatnonzero(~np.isnan(o[idx]))  # the first open of an instance that has one
        firsts = np.full(group[-1] + 1, np.nan)
        labels, at = np.unique(group[ok], return_index=True)
        firsts[labels] = o[idx[ok[at]]]
        first_open[idx] = firsts[group]
    return np.where(mask, np.log(div(c, first_open)), 0.0)


def _transfer(bars, ctx):
    clock = _clock(bars, ctx)
    tokyo_pre = _window_return(bars, clock, 0, 8)     # Tokyo before London opens
    london_pre = _window_return(bars, clock, 8, 13)   # London before New York opens
    ny_gap = _window_return(bars, clock, 22, 24)      # New York close to the Asian open
    lmask, lkey, _ = _window(*clock[:2], 8, 16)
    nmask, nkey, _ = _window(*clock[:2], 13, 22)
    london_now = _so_far(bars, lmask, lkey)
    ny_now = _so_far(bars, nmask, nkey)
    return {"tokyo_pre_london_ret": tokyo_pre, "london_pre_ny_ret": london_pre,
            "ny_close_to_asia_open": ny_gap, "london_ret_so_far": london_now, "ny_ret_so_far": ny_now,
            "tokyo_london_transfer": np.nan_to_num(tokyo_pre) * london_now,
            "london_ny_transfer": np.nan_to_num(london_pre) * ny_now}


def _by_hour(bars, ctx):
    """Volume and |return| against the previous ``VOLUME_DAYS`` bars at the same UTC hour."""
    hour = _clock(bars, ctx)[1].astype("int64")  # whole UTC hour (the fraction is under 1)
    order = np.argsort(hour, kind="stable")  # each hour's bars, in time order
    bounds = np.concatenate([[0], np.cumsum(np.bincount(hour, minlength=24))])
    v = np.log1p(np.clip(arr(bars, "volume"), 0, None))
    a = np.abs(logret(arr(bars, "close")))
    out = {}
    for name, x in (("session_volume_ratio", v), ("session_absret_ratio", a)):
        mean = np.full(len(x), np.nan)
        for h in range(24):
            idx = order[bounds[h]:bounds[h + 1]]
            mean[idx] = roll_mean(shift(x[idx], 1), VOLUME_DAYS)
        out[name] = div(x, mean)
    return out


BASIC = tuple(c for s in SESSIONS for c in (f"session_{s.name}", f"session_{s.name}_elapsed")) + \
    tuple(f"overlap_{n}" for n, _, _ in OVERLAPS) + ("session_liquidity", "session_count")

FEATURES = (
    spec("session_basic", "session", BASIC, 0, _basic, needs=("intraday",),
         description="current session one-hot and share elapsed, overlap flags, liquidity score, "
                     "number of sessions open"),
    spec("session_previous", "session",
         tuple(c for s in SESSIONS for c in (f"prev_{s.name}_ret", f"prev_{s.name}_vol_ratio")),
         24 * (VOL_HISTORY + 6), _previous, needs=("intraday",),
         description=f"each session's last completed instance: return and volatility over the mean "
                     f"of its previous {VOL_HISTORY} instances (visible once the instance has ended)"),
    spec("session_transfer", "session",
         ("tokyo_pre_london_ret", "london_pre_ny_ret", "ny_close_to_asia_open", "london_ret_so_far",
          "ny_ret_so_far", "tokyo_london_transfer", "london_ny_transfer"),
         24 * 4, _transfer, needs=("intraday",),
         description="Tokyo 00-08 and London 08-13 returns once complete, NY close to Asian open (22-24), "
                     "London / NY return so far and their products with the preceding leg"),
    spec("session_by_hour", "session", ("session_volume_ratio", "session_absret_ratio"),
         24 * (VOLUME_DAYS + 4), _by_hour, needs=("intraday", "volume"),
         description=f"log volume and |return| over their means at the same hour in the previous "
                     f"{VOLUME_DAYS} days"),
)
