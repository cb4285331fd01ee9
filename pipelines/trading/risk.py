"""Risk limits on target positions (bars x symbols, multiples of equity), all causal.

* :func:`position_limits`: |position| per asset and gross exposure caps.
* :func:`correlation_limits`: assets whose return correlation (measured on the last
  ``corr_window`` bars up to the decision, refreshed every ``corr_every`` bars) exceeds the
  threshold count as one group; a group's combined |position| is capped.
* :func:`stops_and_daily_limit`: ATR stop-loss and take-profit from each trade's entry, checked
  at every close (the exit fills at the next open like any decision); a stopped trade stays out
  until the strategy's own signal goes flat or flips. A UTC day whose marked loss reaches the
  limit flattens everything until the next day.
"""

from __future__ import annotations

import numba
import numpy as np

from pipelines.config.trading import RiskConfig


def position_limits(targets: np.ndarray, cfg: RiskConfig) -> np.ndarray:
    t = np.clip(np.where(np.isfinite(targets), targets, 0.0), -cfg.max_position, cfg.max_position)
    gross = np.abs(t).sum(axis=1, keepdims=True)
    return t * np.where(gross > cfg.max_gross, cfg.max_gross / np.where(gross > 0, gross, 1.0), 1.0)


def correlation_limits(targets: np.ndarray, close: np.ndarray, cfg: RiskConfig) -> np.ndarray:
    """Scale each correlated group down so its combined |position| is at most ``corr_cap``."""
    T, N = targets.shape
    out = np.where(np.isfinite(targets), targets, 0.0).copy()
    if N < 2:
        return out
    for k in range(0, T, cfg.corr_every):
        corr = return_correlation(close[max(0, k - cfg.corr_window): k + 1])
        if corr is not None:
            out[k: k + cfg.corr_every] = group_caps(out[k: k + cfg.corr_every], corr, cfg)
    return out


def return_correlation(close: np.ndarray) -> np.ndarray | None:
    """Correlation of the columns' log returns over the rows where all are known; None when
    fewer than 10 such rows or a column does not move."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rets = np.log(close[1:] / close[:-1])
    w = rets[np.isfinite(rets).all(axis=1)]
    if len(w) < 10 or not (w.std(axis=0) > 0).all():
        return None
    return np.corrcoef(w.T)


def group_caps(weights: np.ndarray, corr: np.ndarray, cfg: RiskConfig) -> np.ndarray:
    """Rows of positions; assets with |correlation| >= threshold form a group whose combined
    |position| is scaled down to ``corr_cap``."""
    block = np.array(weights, dtype="float64", ndmin=2)
    linked = np.abs(np.nan_to_num(corr)) >= cfg.corr_threshold
    for i in range(block.shape[1]):
        group = np.flatnonzero(linked[i])
        if len(group) < 2:
            continue
        combined = np.abs(block[:, group]).sum(axis=1, keepdims=True)
        scale = np.where(combined > cfg.corr_cap, cfg.corr_cap / np.where(combined > 0, combined, 1.0), 1.0)
        block[:, group] *= scale
    return block


@numba.njit(cache=True)
def _overlay(targets, open_, close, tradable, atr, day, stop_atr, tp_atr, daily_limit, unit_cost):
    T, N = targets.shape
    out = targets.copy()
    held = np.zeros(N)
    entry = np.full(N, np.nan)
    entry_atr = np.full(N, np.nan)
    blocked = np.zeros(N)          # side a stop closed; re-entry waits for a new signal
    last_open = np.full(N, np.nan)
    pending = np.zeros(N)
    decided_atr = np.full(N, np.nan)
    equity = 1.0
    day_start = 1.0
    halted = False
    for t in range(T):
        if t == 0 or day[t] != day[t - 1]:
            halted = False
            day_start = equity
        # open: mark the move since the last open, then fill the pending decisions
        for j in range(N):
            if tradable[t, j]:
                if last_open[j] == last_open[j] and held[j] != 0.0:
                    equity *= 1.0 + held[j] * (open_[t, j] / last_open[j] - 1.0)
                last_open[j] = open_[t, j]
                if t > 0 and pending[j] != held[j]:
                    equity -= equity * abs(pending[j] - held[j]) * unit_cost
                    new_side = np.sign(pending[j])
                    if new_side != 0 and new_side != np.sign(held[j]):
                        entry[j] = open_[t, j]
                        entry_atr[j] = decided_atr[j]
                    held[j] = pending[j]
        # close: mark, then decide
        mark = equity
        for j in range(N):
            if held[j] != 0.0 and last_open[j] == last_open[j] and close[t, j] == close[t, j]:
                mark += equity * held[j] * (close[t, j] / last_open[j] - 1.0)
        if daily_limit > 0 and mark <= day_start * (1.0 - daily_limit):
            halted = True
        for j in range(N):
            raw = out[t, j]
            side = np.sign(raw)
            if blocked[j] != 0 and side != blocked[j]:
                blocked[j] = 0.0
            if blocked[j] != 0:
                out[t, j] = 0.0
            hs = np.sign(held[j])
            c = close[t, j]
            if hs != 0 and entry_atr[j] == entry_atr[j] and c == c:
                move = (c - entry[j]) * hs
                if (stop_atr > 0 and move <= -stop_atr * entry_atr[j]) or (tp_atr > 0 and move >= tp_atr * entry_atr[j]):
                    if side == hs:
                        blocked[j] = hs
                        out[t, j] = 0.0
            if halted:
                out[t, j] = 0.0
            pending[j] = out[t, j]
            decided_atr[j] = atr[t, j]
    return out


@numba.njit(cache=True)
def _band(targets, band):
    T, N = targets.shape
    out = np.empty_like(targets)
    for j in range(N):
        cur = 0.0
        for t in range(T):
            x = targets[t, j]
            if x != x:
                x = 0.0
            # a change of side, going flat, or a resize beyond the band trades; smaller resizes wait
            if np.sign(x) != np.sign(cur) or abs(x - cur) > band:
                cur = x
            out[t, j] = cur
    return out


def no_trade_band(targets: np.ndarray, band: float) -> np.ndarray:
    """Keep the previous target while a new one differs by no more than ``band`` (multiples of
    equity) on the same side: sized positions then trade on real changes, not on every wobble."""
    t = np.ascontiguousarray(targets, dtype="float64")
    return _band(t, float(band)) if band > 0 else np.where(np.isfinite(t), t, 0.0)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Average true range (Wilder-style exponential mean), known at each bar's close."""
    prev = np.vstack([close[:1], close[:-1]])
    tr = np.maximum.reduce([high - low, np.abs(high - prev), np.abs(low - prev)])
    tr = np.ascontiguousarray(tr, dtype="float64")
    return _wilder(tr.reshape(len(tr), -1), 1.0 / period).reshape(tr.shape)


@numba.njit(cache=True)
def _wilder(tr, alpha):
    T, N = tr.shape
    out = np.empty_like(tr)
    for j in range(N):
        if T:
            out[0, j] = tr[0, j]
        for t in range(1, T):
            x = tr[t, j]
            out[t, j] = out[t - 1, j] + alpha * (x - out[t - 1, j]) if np.isfinite(x) else out[t - 1, j]
    return out


def stops_and_daily_limit(targets: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                          close: np.ndarray, day: np.ndarray, cfg: RiskConfig,
                          unit_cost: float = 0.0) -> np.ndarray:
    """``day``: an integer per bar (e.g. ``ts // 1 day``) that changes at each UTC midnight."""
    t = np.ascontiguousarray(np.where(np.isfinite(targets), targets, 0.0), dtype="float64")
    tradable = np.isfinite(open_) & (open_ > 0)
    a = atr(high, low, close, cfg.atr_period)
    return _overlay(t, np.ascontiguousarray(open_, dtype="float64"), np.ascontiguousarray(close, dtype="float64"),
                    tradable, np.ascontiguousarray(a), np.asarray(day, dtype="int64"),
                    cfg.stop_atr or 0.0, cfg.take_profit_atr or 0.0, cfg.daily_loss_limit or 0.0, unit_cost)


def apply_limits(targets: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                 close: np.ndarray, day: np.ndarray, cfg: RiskConfig, unit_cost: float = 0.0) -> np.ndarray:
    """All limits in order: per-asset and gross caps, correlation groups, stops and daily loss."""
    t = position_limits(np.asarray(targets, dtype="float64"), cfg)
    t = correlation_limits(t, close, cfg)
    return stops_and_daily_limit(t, open_, high, low, close, day, cfg, unit_cost)
