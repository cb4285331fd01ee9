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
    """Pearson correlation of one series' predictions with its realized returns over time (a
    time-series IC). The cross-sectional IC, across symbols day by day, is
    :mod:`pipelines.evaluation.signal`."""
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


def hit_rate_by_confidence(pred, realized, confidence, buckets: int = 4) -> list[dict]:
    """Directional accuracy per confidence quantile bucket (lowest first). A model whose
    confidence means something is more accurate in its upper buckets."""
    p, r = np.asarray(pred, dtype="float64"), np.asarray(realized, dtype="float64")
    c = np.asarray(confidence, dtype="float64")
    ok = np.isfinite(p) & np.isfinite(r) & np.isfinite(c) & (p != 0) & (r != 0)
    p, r, c = p[ok], r[ok], c[ok]
    if len(c) < buckets:
        return []
    edges = np.unique(np.quantile(c, np.linspace(0, 1, buckets + 1)))
    out = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        sel = (c >= lo) & ((c <= hi) if i == len(edges) - 2 else (c < hi))
        if sel.any():
            out.append({"bucket": i, "confidence_min": float(lo), "confidence_max": float(hi),
                        "n": int(sel.sum()), "hit_rate": float(np.mean(np.sign(p[sel]) == np.sign(r[sel])))})
    return out


def profit_factor(returns) -> float:
    """Gross profits over gross losses (inf when nothing was lost, NaN when nothing traded)."""
    r = np.asarray(returns, dtype="float64")
    r = r[np.isfinite(r)]
    gains, losses = r[r > 0].sum(), -r[r < 0].sum()
    if losses == 0:
        return float("inf") if gains > 0 else float("nan")
    return float(gains / losses)


def sharpe_stats(returns) -> dict[str, float]:
    """Per-period Sharpe, skewness, (non-excess) kurtosis and count of a return series: all that
    the probabilistic and deflated Sharpe ratios need, so they can be recomputed from a report."""
    r = np.asarray(returns, dtype="float64")
    r = r[np.isfinite(r)]
    if len(r) < 3 or r.std(ddof=1) == 0:
        return {"sr": float("nan"), "skew": float("nan"), "kurtosis": float("nan"), "n": int(len(r))}
    return {"sr": float(r.mean() / r.std(ddof=1)), "skew": float(stats.skew(r)),
            "kurtosis": float(stats.kurtosis(r, fisher=False)), "n": int(len(r))}


def psr_from_stats(sr: float, n: int, skew: float, kurtosis: float, benchmark_sr: float = 0.0) -> float:
    """P(true per-period Sharpe > ``benchmark_sr``) from a sample Sharpe ``sr`` over ``n``
    periods with the given skewness and kurtosis (Bailey & Lopez de Prado, 2012)."""
    if n is None or n < 3 or not all(np.isfinite(x) for x in (sr, skew, kurtosis)):
        return float("nan")
    denom = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr ** 2
    if denom <= 0:
        return float("nan")
    return float(stats.norm.cdf((sr - benchmark_sr) * math.sqrt(n - 1) / math.sqrt(denom)))


def probabilistic_sharpe(returns, benchmark_sr: float = 0.0) -> float:
    """P(true per-period Sharpe > ``benchmark_sr``) given the sample's Sharpe, skewness and
    kurtosis (Bailey & Lopez de Prado, 2012). Per-period, not annualised."""
    st = sharpe_stats(returns)
    return psr_from_stats(st["sr"], st["n"], st["skew"], st["kurtosis"], benchmark_sr)


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """Expected maximum per-period Sharpe among ``n_trials`` unskilled strategies whose Sharpe
    estimates have variance ``sr_variance`` (the false-strategy theorem)."""
    if n_trials <= 1 or sr_variance <= 0:
        return 0.0
    gamma = 0.5772156649015329
    z1 = stats.norm.ppf(1.0 - 1.0 / n_trials)
    z2 = stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(sr_variance) * ((1.0 - gamma) * z1 + gamma * z2))


def deflated_sharpe(returns, n_trials: int, trial_sharpes=None) -> float:
    """PSR against the Sharpe the best of ``n_trials`` unskilled tries would show by luck
    (Bailey & Lopez de Prado, 2014). ``trial_sharpes`` (per-period Sharpe of every model or
    configuration tried) gives their variance; without it, the variance of a Sharpe estimate
    under the null, 1 / (n - 1), is used."""
    st = sharpe_stats(returns)
    return dsr_from_stats(st, n_trials, trial_sharpes)


def dsr_from_stats(st: dict, n_trials: int, trial_sharpes=None) -> float:
    """:func:`deflated_sharpe` from :func:`sharpe_stats` (``sr``, ``n``, ``skew``, ``kurtosis``)."""
    n = int(st.get("n") or 0)
    if n < 3:
        return float("nan")
    ts = np.asarray(trial_sharpes if trial_sharpes is not None else [], dtype="float64")
    ts = ts[np.isfinite(ts)]
    var = float(np.var(ts, ddof=1)) if len(ts) >= 2 else 1.0 / (n - 1)
    return psr_from_stats(st["sr"], n, st["skew"], st["kurtosis"],
                          expected_max_sharpe(max(1, int(n_trials)), var))


def per_period_sharpe(returns) -> float:
    r = np.asarray(returns, dtype="float64")
    r = r[np.isfinite(r)]
    return float(r.mean() / r.std(ddof=1)) if len(r) > 1 and r.std(ddof=1) > 0 else float("nan")
