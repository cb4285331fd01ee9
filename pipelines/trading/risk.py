"""Risk limits on target positions (bars x symbols, multiples of equity), all causal.

* :func:`position_limits`: |position| per asset and gross exposure caps.
* :func:`correlation_limits`: assets whose return correlation (measured on the last
  ``corr_window`` bars up to the decision, refreshed every ``corr_every`` bars) exceeds the
  threshold count as one group; a group's combined |position| is capped.
* :func:`stops_and_daily_limit`: ATR stop-loss and take-profit from each trade's entry, checked
  at every close (the exit fills at the next open like any decision); a stopped trade stays out
  until the strategy's own signal goes flat or flips. A UTC day whose marked loss reaches the
  limit flattens everything until the next day.

:class:`Limits` applies them block after block of bars, carrying what the bars before left
(positions, entries, the day's loss, the correlation window), so a new bar costs what it needs
and not a pass over the history: the limits of two blocks in turn are those of one call over both.
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
    return _correlated(targets, close, cfg, 0, close[:0], None)[0]


def _correlated(targets: np.ndarray, close: np.ndarray, cfg: RiskConfig, start: int, earlier: np.ndarray,
                corr: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`correlation_limits` of rows ``start, start + 1, ...`` of a longer history: the
    correlation is measured at every ``corr_every``-th row from the first of the history, on the
    ``corr_window`` rows before it (``earlier``: the closes before these rows, the last
    ``corr_window`` at least) and the row itself; ``corr`` is the one in force at row ``start``
    (measured before it). Returns the limited rows and the correlation in force after them."""
    T, N = targets.shape
    out = np.where(np.isfinite(targets), targets, 0.0).copy()
    if N < 2:
        return out, None
    every, e = cfg.corr_every, len(earlier)
    closes = np.vstack([earlier, close]) if e else close
    i = 0
    while i < T:
        if (start + i) % every == 0:
            corr = return_correlation(closes[max(0, e + i - cfg.corr_window): e + i + 1])
        stop = min(T, i + every - (start + i) % every)
        if corr is not None:
            out[i:stop] = group_caps(out[i:stop], corr, cfg)
        i = stop
    return out, corr


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
def _overlay(targets, open_, close, tradable, atr, day, stop_atr, tp_atr, daily_limit, unit_cost, book, account):
    """``book`` (7 x N: held, entry, entry ATR, blocked side, last open, pending, decided ATR) and
    ``account`` (equity, day start, halted, day, bars seen) are what the bars before left; they
    are updated to what these bars leave."""
    T, N = targets.shape
    out = targets.copy()
    held = book[0]
    entry = book[1]
    entry_atr = book[2]
    blocked = book[3]          # side a stop closed; re-entry waits for a new signal
    last_open = book[4]
    pending = book[5]
    decided_atr = book[6]
    equity = account[0]
    day_start = account[1]
    halted = account[2] != 0.0
    last_day = account[3]
    seen = account[4]
    for t in range(T):
        if seen == 0 or day[t] != last_day:
            halted = False
            day_start = equity
        # open: mark the move since the last open, then fill the pending decisions
        for j in range(N):
            if tradable[t, j]:
                if last_open[j] == last_open[j] and held[j] != 0.0:
                    equity *= 1.0 + held[j] * (open_[t, j] / last_open[j] - 1.0)
                last_open[j] = open_[t, j]
                if seen > 0 and pending[j] != held[j]:
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
        last_day = day[t]
        seen += 1
    account[0] = equity
    account[1] = day_start
    account[2] = 1.0 if halted else 0.0
    account[3] = last_day
    account[4] = seen
    return out


@numba.njit(cache=True)
def _band(targets, band, start):
    T, N = targets.shape
    out = np.empty_like(targets)
    for j in range(N):
        cur = start[j]
        for t in range(T):
            x = targets[t, j]
            if x != x:
                x = 0.0
            # a change of side, going flat, or a resize beyond the band trades; smaller resizes wait
            if np.sign(x) != np.sign(cur) or abs(x - cur) > band:
                cur = x
            out[t, j] = cur
    return out


def no_trade_band(targets: np.ndarray, band: float, before: np.ndarray | None = None) -> np.ndarray:
    """Keep the previous target while a new one differs by no more than ``band`` (multiples of
    equity) on the same side: sized positions then trade on real changes, not on every wobble.
    ``before``: the banded targets of the bar before the first (flat when None)."""
    t = np.ascontiguousarray(targets, dtype="float64")
    if band <= 0:
        return np.where(np.isfinite(t), t, 0.0)
    start = np.zeros(t.shape[1]) if before is None else np.asarray(before, dtype="float64")
    return _band(t, float(band), start)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int,
        before: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Average true range (Wilder-style exponential mean), known at each bar's close.
    ``before``: (close, ATR) of the bar before the first, to continue an earlier call."""
    prev = np.vstack([close[:1] if before is None else np.reshape(before[0], close[:1].shape), close[:-1]])
    tr = np.maximum.reduce([high - low, np.abs(high - prev), np.abs(low - prev)])
    tr = np.ascontiguousarray(tr, dtype="float64")
    flat = tr.reshape(len(tr), -1)
    start = np.full(flat.shape[1], np.nan) if before is None else np.asarray(before[1], dtype="float64").ravel()
    return _wilder(flat, 1.0 / period, start, before is not None).reshape(tr.shape)


@numba.njit(cache=True)
def _wilder(tr, alpha, start, carried):
    T, N = tr.shape
    out = np.empty_like(tr)
    for j in range(N):
        prev = start[j]
        for t in range(T):
            x = tr[t, j]
            if t == 0 and not carried:
                out[t, j] = x
            else:
                out[t, j] = prev + alpha * (x - prev) if np.isfinite(x) else prev
            prev = out[t, j]
    return out


def stops_and_daily_limit(targets: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                          close: np.ndarray, day: np.ndarray, cfg: RiskConfig,
                          unit_cost: float = 0.0) -> np.ndarray:
    """``day``: an integer per bar (e.g. ``ts // 1 day``) that changes at each UTC midnight."""
    return Limits(cfg, np.shape(targets)[1], unit_cost).stops(
        targets, open_, close, atr(high, low, close, cfg.atr_period), day)


def apply_limits(targets: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                 close: np.ndarray, day: np.ndarray, cfg: RiskConfig, unit_cost: float = 0.0) -> np.ndarray:
    """All limits in order: per-asset and gross caps, correlation groups, stops and daily loss."""
    return Limits(cfg, np.shape(targets)[1], unit_cost).apply(
        targets, open_, close, atr(high, low, close, cfg.atr_period), day)


class Limits:
    """:func:`apply_limits` over consecutive blocks of bars (``apply`` once per block, in time
    order): what the earlier blocks left (positions held and their entries, the day's loss, the
    correlation window) is carried, so each block costs its own length and the result equals
    one call over all of them. ``atr``: the ATR of each bar (:func:`atr`, ``cfg.atr_period``)."""

    def __init__(self, cfg: RiskConfig, n_symbols: int, unit_cost: float = 0.0) -> None:
        self.cfg, self.unit_cost = cfg, float(unit_cost)
        self.bars = 0
        self.closes = np.empty((0, n_symbols))     # the last corr_window closes
        self.corr: np.ndarray | None = None
        self.book = np.zeros((7, n_symbols))
        self.book[[1, 2, 4, 6]] = np.nan             # entry, entry ATR, last open, decided ATR
        self.account = np.array([1.0, 1.0, 0.0, 0.0, 0.0])

    def apply(self, targets: np.ndarray, open_: np.ndarray, close: np.ndarray, atr: np.ndarray,
              day: np.ndarray) -> np.ndarray:
        t = position_limits(np.asarray(targets, dtype="float64"), self.cfg)
        close = np.asarray(close, dtype="float64")
        t, self.corr = _correlated(t, close, self.cfg, self.bars, self.closes, self.corr)
        if t.shape[1] > 1:
            self.closes = np.vstack([self.closes, close])[-self.cfg.corr_window:]
        self.bars += len(t)
        return self.stops(t, open_, close, atr, day)

    def stops(self, targets: np.ndarray, open_: np.ndarray, close: np.ndarray, atr: np.ndarray,
              day: np.ndarray) -> np.ndarray:
        """The stops and the daily loss limit alone (:func:`stops_and_daily_limit`)."""
        t = np.ascontiguousarray(np.where(np.isfinite(targets), targets, 0.0), dtype="float64")
        tradable = np.isfinite(open_) & (open_ > 0)
        cfg = self.cfg
        return _overlay(t, np.ascontiguousarray(open_, dtype="float64"), np.ascontiguousarray(close, dtype="float64"),
                        tradable, np.ascontiguousarray(atr, dtype="float64"), np.asarray(day, dtype="int64"),
                        cfg.stop_atr or 0.0, cfg.take_profit_atr or 0.0, cfg.daily_loss_limit or 0.0,
                        self.unit_cost, self.book, self.account)
