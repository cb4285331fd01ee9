"""Position sizing: fractional Kelly on out-of-sample payoffs, dynamic leverage.

The Kelly fraction uses the model's probability of an up move and the average win and loss
*measured on the model's own earlier out-of-sample outcomes* (:func:`measured_payoff`), never
in-sample fit figures. Leverage starts at a base, rises with confidence to a maximum, is cut when
volatility is high against its own history, scaled by session liquidity and capped per asset class.
A position is ``kelly x leverage`` (a multiple of equity), signed by the direction.
"""

from __future__ import annotations

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
                    min_outcomes: int = 20) -> pd.DataFrame:
    """Average win and loss of the signals' out-of-sample outcomes, as known at each bar.

    The outcome of the signal at bar s is ``direction[s] * realized[s]`` (realized: the label,
    the return from close(s) to close(s + horizon)); it is known at s + horizon, so bar t uses
    only outcomes of bars s <= t - horizon. NaN until ``min_outcomes`` wins and losses exist."""
    if horizon < 1:
        raise ValueError("horizon must be >= 1 bar")
    d = np.sign(direction.reindex(realized.index).to_numpy(dtype="float64"))
    out = d * realized.to_numpy(dtype="float64")
    out = np.where(np.isfinite(out), out, 0.0)
    win, loss = np.where(out > 0, out, 0.0), np.where(out < 0, -out, 0.0)

    def known(x: np.ndarray) -> np.ndarray:
        c = np.cumsum(x)
        return np.concatenate([np.zeros(horizon), c[:-horizon]]) if len(c) > horizon else np.zeros(len(c))

    n_win, n_loss = known((out > 0).astype(float)), known((out < 0).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_win = np.where(n_win >= min_outcomes, known(win) / n_win, np.nan)
        avg_loss = np.where(n_loss >= min_outcomes, known(loss) / n_loss, np.nan)
    return pd.DataFrame({"avg_win": avg_win, "avg_loss": avg_loss, "n_win": n_win, "n_loss": n_loss},
                        index=realized.index)


def session_liquidity(ts, weekends: bool = True) -> np.ndarray:
    """Liquidity score in [0, 1] for each timestamp from the trading sessions open at it
    (weights of the open sessions plus a bonus per overlap); ``weekends=False`` for crypto."""
    masks = session_masks(ts, weekends=weekends)
    score = sum(s.weight * masks[s.name].astype(float) for s in SESSIONS)
    score = score + OVERLAP_BONUS * sum((masks[a] & masks[b]).astype(float) for _, a, b in OVERLAPS)
    return np.minimum(np.asarray(score, dtype="float64"), 1.0)


def volatility_ratio(vol: pd.Series, lookback: int) -> np.ndarray:
    """Volatility at t over the median of its last ``lookback`` values up to t (1 while warming up)."""
    med = vol.rolling(lookback, min_periods=max(10, lookback // 10)).median()
    ratio = (vol / med).to_numpy(dtype="float64")
    return np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)


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
    k = kelly_fraction(prob_up.to_numpy(dtype="float64"), payoff["avg_win"].reindex(idx).to_numpy(),
                       payoff["avg_loss"].reindex(idx).to_numpy(), cfg.kelly_fraction, cfg.max_kelly)
    conf = confidence.reindex(idx).to_numpy(dtype="float64") if confidence is not None else np.full(len(idx), np.nan)
    vr = volatility_ratio(vol.reindex(idx), cfg.vol_lookback) if vol is not None else None
    lev = dynamic_leverage(conf, vr, liquidity, asset_class, cfg)
    return pd.Series(k * lev, index=idx, name="target")
