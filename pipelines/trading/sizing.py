"""Position sizing: fractional Kelly on out-of-sample payoffs, dynamic leverage.

The Kelly fraction uses the model's probability of an up move and the average win and loss
*measured on the model's own earlier out-of-sample outcomes* (:func:`measured_payoff`), never
in-sample fit figures. Leverage starts at a base, rises with confidence to a maximum, is cut when
volatility is high against its own history, scaled by session liquidity and capped per asset class.
A position is ``kelly x leverage`` (a multiple of equity), signed by the direction.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from pipelines.features.sessions import OVERLAP_BONUS, OVERLAPS, SESSIONS, session_masks
from pipelines.config.trading import SizingConfig


def kelly_fraction(prob_up, avg_win, avg_loss, fraction: float = 0.25, cap: float = 1.0) -> np.ndarray:
    """Signed fractional Kelly: ``fraction * (p - (1 - p) / b)`` with ``b = avg_win / avg_loss``
    for a long (p > 0.5), the mirror image for a short, clipped to ``[-cap, cap]``.

    Defined results for degenerate inputs: NaN anywhere, no measured win or loss (NaN or
    non-positive averages) or p = 0.5 give 0; p = 1 (or 0) gives ``fraction`` of equity (full
    Kelly bets it all) on the side it points to, within the cap; a negative edge gives 0 (never
    the opposite side). p outside [0, 1] is an error."""
    p = np.asarray(prob_up, dtype="float64")
    w = np.asarray(avg_win, dtype="float64")
    lo = np.asarray(avg_loss, dtype="float64")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("prob_up must lie in [0, 1]")
    p, w, lo = np.broadcast_arrays(p, w, lo)
    ok = np.isfinite(p) & np.isfinite(w) & np.isfinite(lo) & (w > 0) & (lo > 0)
    b = np.where(ok, w / np.where(lo > 0, lo, 1.0), 1.0)
    q = np.where(ok, p, 0.5)
    long_f = q - (1.0 - q) / b
    short_f = (1.0 - q) - q / b
    f = np.where(q > 0.5, np.clip(long_f, 0, None), np.where(q < 0.5, -np.clip(short_f, 0, None), 0.0))
    out = np.clip(fraction * f, -cap, cap)
    out = np.where(ok, out, 0.0)
    return out if out.ndim else out[()]


def measured_payoff(direction: pd.Series, realized: pd.Series, horizon: int,
                    min_outcomes: int = 20, before: np.ndarray | None = None) -> pd.DataFrame:
    """Average win and loss of the signals' out-of-sample outcomes, as known at each bar.

    The outcome of the signal at bar s is ``direction[s] * realized[s]`` (realized: the label,
    the return from close(s) to close(s + horizon)); it is known at s + horizon, so bar t uses
    only outcomes of bars s <= t - horizon. NaN until ``min_outcomes`` wins and losses exist.
    Columns: avg_win, avg_loss, and the counts and sums they come from (n_win, n_loss, win, loss).
    ``before``: see :func:`known_outcomes`."""
    d = direction.reindex(realized.index).to_numpy(dtype="float64")
    known = known_outcomes(d, realized.to_numpy(dtype="float64"), horizon, before)
    avg_win, avg_loss = payoff_averages(known, min_outcomes)
    n_win, n_loss, win, loss = known.T
    return pd.DataFrame({"avg_win": avg_win, "avg_loss": avg_loss, "n_win": n_win, "n_loss": n_loss,
                         "win": win, "loss": loss}, index=realized.index)


def known_outcomes(direction: np.ndarray, realized: np.ndarray, horizon: int,
                   before: np.ndarray | None = None) -> np.ndarray:
    """:func:`measured_payoff`'s counts and sums (bars x 4: n_win, n_loss, win, loss) on arrays.

    To continue an earlier series, start at most ``horizon`` bars before its end (the bars whose
    outcomes it did not know yet) and give ``before``: the counts and sums known at the bar
    before the first (the earlier series' last row; zeros at the start of the history)."""
    if horizon < 1:
        raise ValueError("horizon must be >= 1 bar")
    out = np.sign(np.asarray(direction, dtype="float64")) * np.asarray(realized, dtype="float64")
    out = np.where(np.isfinite(out), out, 0.0)
    x = np.column_stack([(out > 0).astype(float), (out < 0).astype(float),
                         np.where(out > 0, out, 0.0), np.where(out < 0, -out, 0.0)])
    start = np.zeros((1, 4)) if before is None else np.asarray(before, dtype="float64").reshape(1, 4)
    # running sums from the start: c[j + 1] counts the outcomes of bars up to j; bar t knows those up to t - horizon
    c = np.cumsum(np.vstack([start, x]), axis=0)
    return c[np.maximum(np.arange(len(out)) - horizon + 1, 0)]


def payoff_averages(known: np.ndarray, min_outcomes: int) -> tuple[np.ndarray, np.ndarray]:
    """Average win and loss from :func:`known_outcomes` (NaN below ``min_outcomes`` of each)."""
    n_win, n_loss, win, loss = np.asarray(known, dtype="float64").T
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(n_win >= min_outcomes, win / n_win, np.nan),
                np.where(n_loss >= min_outcomes, loss / n_loss, np.nan))


def session_liquidity(ts, weekends: bool = True) -> np.ndarray:
    """Liquidity score in [0, 1] for each timestamp from the trading sessions open at it
    (weights of the open sessions plus a bonus per overlap); ``weekends=False`` for crypto."""
    masks = session_masks(ts, weekends=weekends)
    score = sum(s.weight * masks[s.name].astype(float) for s in SESSIONS)
    score = score + OVERLAP_BONUS * sum((masks[a] & masks[b]).astype(float) for _, a, b in OVERLAPS)
    return np.minimum(np.asarray(score, dtype="float64"), 1.0)


def volatility_ratio(vol, lookback: int, before: np.ndarray | None = None) -> np.ndarray:
    """Volatility at t over the median of its last ``lookback`` values up to t (1 while warming up).
    ``before``: the volatilities of the bars before the first (the last ``lookback - 1`` suffice)."""
    v = np.asarray(vol, dtype="float64")
    k = len(v)
    if before is not None and len(before):
        v = np.concatenate([np.asarray(before, dtype="float64")[-(lookback - 1):], v])
    med = _rolling_median(np.ascontiguousarray(v), lookback, max(10, lookback // 10), len(v) - k)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = v[len(v) - k:] / med
    return np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)


@numba.njit(cache=True)
def _rolling_median(v, window, min_periods, first):
    """Median of the non-NaN values among the last ``window`` up to each row from ``first`` on
    (NaN below ``min_periods`` of them), as pandas' ``rolling(window, min_periods).median()``:
    a sorted copy of the window, one value out and one in per row."""
    n = len(v)
    out = np.full(n - first, np.nan)
    srt = np.empty(window)
    m = 0
    for t in range(n):
        x = v[t]
        if t >= window:
            y = v[t - window]
            if y == y:                         # leaves the window
                i = 0
                while srt[i] != y:
                    i += 1
                srt[i:m - 1] = srt[i + 1:m]
                m -= 1
        if x == x:
            i = m
            while i > 0 and srt[i - 1] > x:
                srt[i] = srt[i - 1]
                i -= 1
            srt[i] = x
            m += 1
        if t >= first and m >= min_periods and m > 0:
            out[t - first] = srt[m // 2] if m % 2 else (srt[m // 2] + srt[m // 2 - 1]) / 2
    return out


def dynamic_leverage(confidence, vol_ratio=None, liquidity=None, asset_class: str | None = None,
                     cfg: SizingConfig = SizingConfig()) -> np.ndarray:
    """Base leverage, up to the maximum as confidence rises from the floor to ``high_confidence``;
    divided by vol_ratio / vol_cut_ratio when volatility is high; times a liquidity scale
    (``liquidity / liquidity_ref``, clipped); capped per asset class. NaN confidence -> base."""
    c = np.asarray(confidence, dtype="float64")
    span = (np.where(np.isfinite(c), c, cfg.confidence_floor) - cfg.confidence_floor) / (
        cfg.high_confidence - cfg.confidence_floor)
    lev = cfg.base_leverage + (cfg.max_leverage - cfg.base_leverage) * np.clip(span, 0.0, 1.0)
    if vol_ratio is not None:
        vr = np.asarray(vol_ratio, dtype="float64")
        lev = lev * np.where(np.isfinite(vr) & (vr > cfg.vol_cut_ratio), cfg.vol_cut_ratio / np.where(vr > 0, vr, 1), 1.0)
    if liquidity is not None:
        liq = np.asarray(liquidity, dtype="float64")
        scale = np.clip(np.where(np.isfinite(liq), liq, cfg.liquidity_ref) / cfg.liquidity_ref,
                        cfg.liquidity_min_scale, cfg.liquidity_max_scale)
        lev = lev * scale
    cap = min(cfg.max_leverage, cfg.asset_class_leverage.get(asset_class or "", cfg.max_leverage))
    return np.minimum(lev, cap)


def size_positions(prob_up: pd.Series, payoff: pd.DataFrame, confidence: pd.Series | None = None,
                   vol: pd.Series | None = None, asset_class: str | None = None,
                   liquidity: np.ndarray | None = None, cfg: SizingConfig = SizingConfig()) -> pd.Series:
    """Target positions (multiples of equity) for one symbol: fractional Kelly x dynamic
    leverage. ``payoff`` from :func:`measured_payoff`; ``vol`` a per-bar volatility known at
    each bar; ``liquidity`` a session liquidity score per bar (see :func:`session_liquidity`)."""
    idx = prob_up.index
    out = sized(prob_up.to_numpy(dtype="float64"), payoff["avg_win"].reindex(idx).to_numpy(),
                payoff["avg_loss"].reindex(idx).to_numpy(),
                confidence.reindex(idx).to_numpy(dtype="float64") if confidence is not None else None,
                vol.reindex(idx).to_numpy(dtype="float64") if vol is not None else None,
                asset_class, liquidity, cfg)
    return pd.Series(out, index=idx, name="target")


def sized(prob_up: np.ndarray, avg_win: np.ndarray, avg_loss: np.ndarray, confidence: np.ndarray | None = None,
          vol: np.ndarray | None = None, asset_class: str | None = None, liquidity: np.ndarray | None = None,
          cfg: SizingConfig = SizingConfig(), vol_before: np.ndarray | None = None) -> np.ndarray:
    """:func:`size_positions` on arrays; ``vol_before``: the volatilities before the first bar
    (see :func:`volatility_ratio`), to continue an earlier call."""
    k = kelly_fraction(prob_up, avg_win, avg_loss, cfg.kelly_fraction, cfg.max_kelly)
    conf = confidence if confidence is not None else np.full(len(prob_up), np.nan)
    vr = volatility_ratio(vol, cfg.vol_lookback, vol_before) if vol is not None else None
    return k * dynamic_leverage(conf, vr, liquidity, asset_class, cfg)
