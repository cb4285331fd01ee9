"""The operators of "101 Formulaic Alphas" (Kakushadze, 2016) on panels: a DataFrame indexed by
time with one column per symbol (a single symbol is a one-column panel). Time-series operators
look back only; ``rank`` is cross-sectional over the columns at each time (percentile, NaN kept).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Panel = pd.DataFrame


def rank(x: Panel) -> Panel:
    """Cross-sectional percentile rank at each time."""
    return x.rank(axis=1, pct=True)


def delay(x: Panel, d: int) -> Panel:
    return x.shift(d)


def delta(x: Panel, d: int) -> Panel:
    return x - x.shift(d)


def ts_sum(x: Panel, d: int) -> Panel:
    return x.rolling(d, min_periods=d).sum()


def ts_mean(x: Panel, d: int) -> Panel:
    return x.rolling(d, min_periods=d).mean()


def stddev(x: Panel, d: int) -> Panel:
    return x.rolling(d, min_periods=d).std()


def ts_min(x: Panel, d: int) -> Panel:
    return x.rolling(d, min_periods=d).min()


def ts_max(x: Panel, d: int) -> Panel:
    return x.rolling(d, min_periods=d).max()


def _clean(x: Panel) -> Panel:
    return x.replace([np.inf, -np.inf], np.nan)


def correlation(x: Panel, y: Panel, d: int) -> Panel:
    return _clean(x.rolling(d, min_periods=d).corr(y))


def covariance(x: Panel, y: Panel, d: int) -> Panel:
    return x.rolling(d, min_periods=d).cov(y)


def _windows(x: Panel, d: int) -> np.ndarray:
    """(T, N, d) trailing windows, NaN-padded at the start."""
    a = x.to_numpy(dtype="float64")
    pad = np.vstack([np.full((d - 1, a.shape[1]), np.nan), a])
    return np.lib.stride_tricks.sliding_window_view(pad, d, axis=0)


def ts_rank(x: Panel, d: int) -> Panel:
    """Rank of today's value within the last d values, scaled to (0, 1]."""
    w = _windows(x, d)
    last = w[..., -1:]
    out = (w <= last).sum(axis=-1) / d
    out = np.where(np.isnan(w).any(axis=-1), np.nan, out)
    return Panel(out, index=x.index, columns=x.columns)


def ts_argmax(x: Panel, d: int) -> Panel:
    """Days since the window's maximum (0 = today), as in the paper's 0-based argmax."""
    w = _windows(x, d)
    bad = np.isnan(w).any(axis=-1)
    out = (d - 1 - np.argmax(np.where(np.isnan(w), -np.inf, w), axis=-1)).astype("float64")
    return Panel(np.where(bad, np.nan, out), index=x.index, columns=x.columns)


def signedpower(x: Panel, a: float) -> Panel:
    return np.sign(x) * np.abs(x) ** a


def scale(x: Panel, a: float = 1.0) -> Panel:
    """Rescale so that the absolute values sum to a across symbols at each time."""
    return x.mul(a).div(x.abs().sum(axis=1).replace(0, np.nan), axis=0)
