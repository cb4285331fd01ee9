"""Out-of-sample metrics for predictions and for strategy returns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats


def _clean(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


def directional_accuracy(pred, realized) -> float:
    """Share of bars where sign(prediction) == sign(realized); exact zeros are excluded."""
    p, r = _clean(pred, realized)
    ok = (p != 0) & (r != 0)
    return float(np.mean(np.sign(p[ok]) == np.sign(r[ok]))) if ok.any() else float("nan")


def information_coefficient(pred, realized) -> float:
    p, r = _clean(pred, realized)
    if len(p) < 3 or p.std() == 0 or r.std() == 0:
        return float("nan")
    return float(np.corrcoef(p, r)[0, 1])


def rank_ic(pred, realized) -> float:
    p, r = _clean(pred, realized)
    if len(p) < 3 or p.std() == 0 or r.std() == 0:
        return float("nan")
    return float(stats.spearmanr(p, r).statistic)


def sharpe(returns, periods_per_year: float) -> float:
    r = np.asarray(returns, dtype="float64")
    r = r[np.isfinite(r)]
    if len(r) < 2 or r.std(ddof=1) == 0:
        return 0.0 if len(r) >= 2 else float("nan")
    return float(r.mean() / r.std(ddof=1) * math.sqrt(periods_per_year))


def sortino(returns, periods_per_year: float) -> float:
    r = np.asarray(returns, dtype="float64")
    r = r[np.isfinite(r)]
    down = r[r < 0]
    if len(r) < 2 or len(down) < 2:
        return float("nan")
    dd = math.sqrt(np.mean(down ** 2))
    return float(r.mean() / dd * math.sqrt(periods_per_year)) if dd > 0 else float("nan")


def max_drawdown(equity) -> float:
    """Largest peak-to-trough loss of an equity curve, as a negative fraction."""
    e = np.asarray(equity, dtype="float64")
    if len(e) == 0:
        return float("nan")
    peak = np.maximum.accumulate(e)
    return float(np.min(e / peak - 1.0))


def strategy_metrics(returns: pd.Series, periods_per_year: float) -> dict[str, float]:
    """Sharpe, Sortino, max drawdown, total and annual return, Calmar, win rate."""
    r = returns.fillna(0.0).to_numpy(dtype="float64")
    equity = np.cumprod(1.0 + r)
    n = len(r)
    total = float(equity[-1] - 1.0) if n else float("nan")
    years = n / periods_per_year if periods_per_year else float("nan")
    cagr = float(equity[-1] ** (1 / years) - 1) if n and years > 0 and equity[-1] > 0 else float("nan")
    mdd = max_drawdown(equity)
    active = r[r != 0]
    return {
        "sharpe": sharpe(r, periods_per_year),
        "sortino": sortino(r, periods_per_year),
        "max_drawdown": mdd,
        "total_return": total,
        "annual_return": cagr,
        "calmar": float(cagr / abs(mdd)) if mdd and mdd < 0 and np.isfinite(cagr) else float("nan"),
        "win_rate": float(np.mean(active > 0)) if len(active) else float("nan"),
        "bars": int(n),
    }


def prediction_metrics(pred, realized) -> dict[str, float]:
    p, r = _clean(pred, realized)
    return {
        "directional_accuracy": directional_accuracy(p, r),
        "ic": information_coefficient(p, r),
        "rank_ic": rank_ic(p, r),
        "n_test_bars": int(len(p)),
    }
