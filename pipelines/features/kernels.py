"""Vectorised causal building blocks shared by the feature families.

Every function maps arrays aligned with the bars to arrays of the same length, and row t depends
on rows <= t only. Rolling statistics use pandas' compiled windows or TA-Lib; nothing here calls
a Python function per row.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
from talib import abstract

from pipelines.features.spec import FeatureContext, FeatureSpec

Arrays = dict[str, np.ndarray]


_SHARED: contextvars.ContextVar[tuple[pd.DataFrame, FeatureContext, dict[str, Any]] | None] = \
    contextvars.ContextVar("feature_shared_inputs", default=None)


@contextmanager
def shared_inputs(bars: pd.DataFrame, ctx: FeatureContext) -> Iterator[None]:
    """Within the block, :func:`shared` builds each named intermediate of these bars and this
    context once (the engine opens one per computation, so the specs of a family share their
    inputs); outside it, or for other bars or another context, every call builds its own."""
    token = _SHARED.set((bars, ctx, {}))
    try:
        yield
    finally:
        _SHARED.reset(token)


def shared(bars: pd.DataFrame, ctx: FeatureContext, key: str, make: Callable[[], Any]) -> Any:
    """``make()``, built once per :func:`shared_inputs` block for the very ``bars`` and ``ctx``
    objects it was opened with. Callers must not modify what it returns."""
    scope = _SHARED.get()
    if scope is None or scope[0] is not bars or scope[1] is not ctx:
        return make()
    memo = scope[2]
    if key not in memo:
        memo[key] = make()
    return memo[key]


def ta_lookback(name: str, **params) -> int:
    """TA-Lib's own count of leading rows without a value for this function and parameters."""
    f = abstract.Function(name)
    if params:
        f.set_parameters(**params)
    return int(f.lookback)


def arr(bars: pd.DataFrame, col: str) -> np.ndarray:
    return bars[col].to_numpy(dtype="float64")


def ohlcv(bars: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(arr(bars, c) for c in ("open", "high", "low", "close", "volume"))


def div(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """a / b with inf and 0/0 as NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(a, dtype="float64") / b
    out[~np.isfinite(out)] = np.nan
    return out


def shift(x: np.ndarray, k: int) -> np.ndarray:
    """x delayed by k >= 0 rows (leading NaN)."""
    if k == 0:
        return x.copy()
    out = np.full_like(x, np.nan, dtype="float64")
    out[k:] = x[:-k]
    return out


def logret(close: np.ndarray, k: int = 1) -> np.ndarray:
    """log(close_t / close_{t-k})."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(div(close, shift(close, k)))


def _roll(x: np.ndarray, n: int):
    return pd.Series(x, copy=False).rolling(n, min_periods=n)


def roll_mean(x: np.ndarray, n: int) -> np.ndarray:
    return _roll(x, n).mean().to_numpy()


def roll_sum(x: np.ndarray, n: int) -> np.ndarray:
    return _roll(x, n).sum().to_numpy()


def roll_std(x: np.ndarray, n: int, ddof: int = 1) -> np.ndarray:
    return _roll(x, n).std(ddof=ddof).to_numpy()


def roll_var(x: np.ndarray, n: int, ddof: int = 1) -> np.ndarray:
    return _roll(x, n).var(ddof=ddof).to_numpy()


def roll_skew(x: np.ndarray, n: int) -> np.ndarray:
    return _roll(x, n).skew().to_numpy()


def roll_kurt(x: np.ndarray, n: int) -> np.ndarray:
    return _roll(x, n).kurt().to_numpy()


def roll_max(x: np.ndarray, n: int) -> np.ndarray:
    return _roll(x, n).max().to_numpy()


def roll_min(x: np.ndarray, n: int) -> np.ndarray:
    return _roll(x, n).min().to_numpy()


def roll_corr(x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    out = np.array(_roll(x, n).corr(pd.Series(y, copy=False)), dtype="float64")
    out[~np.isfinite(out)] = np.nan
    return out


def roll_cov(x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    return _roll(x, n).cov(pd.Series(y, copy=False)).to_numpy()


def sliding(x: np.ndarray, n: int) -> np.ndarray:
    """(len(x) - n + 1, n) read-only view of the trailing windows; row i ends at x[i + n - 1]."""
    return np.lib.stride_tricks.sliding_window_view(x, n)


def per_window(x: np.ndarray, n: int, fn: Callable[[np.ndarray], np.ndarray],
               chunk: int = 16384) -> np.ndarray:
    """Apply a vectorised ``fn`` ((m, n) windows -> (m,) or (m, k)) to every trailing window of
    length n, in chunks to bound memory; rows before the first full window are NaN. Windows with
    a NaN give NaN."""
    m = len(x)
    if m < n:
        probe = fn(np.zeros((1, n)))
        shape = (m,) + probe.shape[1:]
        return np.full(shape, np.nan)
    w = sliding(x, n)
    first = fn(w[:1])
    out = np.full((m,) + first.shape[1:], np.nan)
    nans = np.concatenate(([0], np.cumsum(np.isnan(x))))
    has_nan = nans[n:] > nans[:-n]  # window i holds a NaN: counted once, not per window
    for a in range(0, len(w), chunk):
        block = w[a:a + chunk]
        res = fn(block)
        bad = has_nan[a:a + chunk]
        if bad.any():
            res = np.array(res, dtype="float64", copy=True)
            res[bad] = np.nan
        out[a + n - 1:a + n - 1 + len(block)] = res
    return out


def frame(bars: pd.DataFrame, cols: Arrays) -> pd.DataFrame:
    return pd.DataFrame(cols, index=bars.index)


def spec(name: str, family: str, columns: tuple[str, ...] | list[str], lookback: int,
         fn: Callable[[pd.DataFrame, FeatureContext], Arrays], needs: tuple[str, ...] = (),
         description: str = "") -> FeatureSpec:
    """A spec for a function returning {column: array}; the engine checks the columns."""
    cols = tuple(columns)

    def wrapped(bars: pd.DataFrame, ctx: FeatureContext) -> pd.DataFrame:
        out = fn(bars, ctx)
        return pd.DataFrame({c: out[c] for c in cols}, index=bars.index)

    wrapped.__name__ = f"feature_{name}"
    return FeatureSpec(name, family, wrapped, cols, int(lookback), needs, description, arrays=fn)
