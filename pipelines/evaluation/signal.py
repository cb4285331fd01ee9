"""Signal analysis of a cross-section: is a score ranking the symbols the right way round, day by
day, out of sample? The one place where the cross-sectional information coefficient is computed.

Inputs are keyed by (ts, symbol): a score known at ``ts`` (a model's expected return, or a
baseline computed from closes up to ``ts``) and the realized forward return from close(ts) to
close(ts + h) (the label). From them:

- the daily IC (Pearson) and rank IC (Spearman) across symbols, their mean, std, ICIR
  (mean / std), Newey-West t of the mean (``lags = horizon``: h-bar labels overlap for h - 1
  bars, so the series is autocorrelated up to lag h - 1 under the null) and share of positive days;
- the mean forward return of each quantile of the score (deciles when there are ten or more
  names a day), and the top-minus-bottom long-short: equal weight long the top quantile, short
  the bottom, held as ``h`` staggered tranches (each bar 1/h of the book is rebalanced into that
  bar's ranking and held h bars). Its per-bar return is the day's h-bar long-short return / h;
  turnover is the sum of absolute weight changes of that 1/h; the net return pays
  ``cost_bps`` per side on it. Equity is the cumulative sum (labels are log returns);
- the same for the trivial baselines on the same cells: 1-bar reversal, 5-bar reversal and
  20-bar momentum, each from closes known at ts.

Newey-West uses statsmodels' HAC covariance (Bartlett kernel) of an intercept-only regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_NAMES = 5            # fewer symbols on a day than this and the day is not scored
BASELINES = ("reversal_1", "reversal_5", "momentum_20")


def newey_west_t(x, lags: int) -> tuple[float, float]:
    """(mean, t) of a series with a Newey-West (Bartlett, ``lags``) standard error of the mean;
    NaN t when there are too few values or no variation."""
    from statsmodels.regression.linear_model import OLS   # not statsmodels.api: ~1 s less to import
    v = np.asarray(x, dtype="float64")
    v = v[np.isfinite(v)]
    if len(v) < max(10, 2 * lags + 2) or np.std(v) == 0:
        return (float(np.mean(v)) if len(v) else float("nan")), float("nan")
    fit = OLS(v, np.ones((len(v), 1))).fit(cov_type="HAC", cov_kwds={"maxlags": int(max(0, lags))})
    return float(fit.params[0]), float(fit.tvalues[0])


def _wide(s: pd.Series) -> pd.DataFrame:
    if not isinstance(s.index, pd.MultiIndex) or s.index.nlevels != 2:
        raise ValueError("a signal is a Series keyed by (ts, symbol)")
    return s.astype("float64").unstack(level=1).sort_index()


def _row_corr(a: pd.DataFrame, b: pd.DataFrame) -> pd.Series:
    """Pearson correlation across the columns of each row, on the cells both have."""
    ok = a.notna() & b.notna()
    a, b = a.where(ok), b.where(ok)
    am, bm = a.sub(a.mean(axis=1), axis=0), b.sub(b.mean(axis=1), axis=0)
    num = (am * bm).sum(axis=1)
    den = np.sqrt((am ** 2).sum(axis=1) * (bm ** 2).sum(axis=1))
    return (num / den.where(den > 0)).astype("float64")


@dataclass
class SignalAnalysis:
    ic: pd.Series            # daily Pearson IC across symbols
    rank_ic: pd.Series       # daily Spearman IC across symbols
    quantiles: pd.DataFrame  # ts x quantile (0 = lowest score): mean forward return
    long_short: pd.DataFrame  # per bar: gross, turnover, net (per-bar, staggered tranches)
    horizon: int
    cost_bps: float
    names: int               # symbols seen

    def summary(self) -> dict:
        """The JSON-ready figures (no series)."""
        out: dict = {"days": int(self.rank_ic.notna().sum()), "names": self.names, "horizon": self.horizon,
                     "nw_lags": self.horizon, "cost_bps_per_side": self.cost_bps}
        for key, s in (("ic", self.ic), ("rank_ic", self.rank_ic)):
            v = s.dropna()
            mean, t = newey_west_t(v, self.horizon)
            std = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
            out.update({f"{key}_mean": mean, f"{key}_std": std,
                        f"{key}_ir": mean / std if std and np.isfinite(std) and std > 0 else float("nan"),
                        f"{key}_nw_t": t, f"{key}_positive_share": float((v > 0).mean()) if len(v) else float("nan")})
        q = self.quantiles.mean(axis=0)
        out["quantile_mean_return"] = [float(x) for x in q.to_numpy()]
        ls = self.long_short
        out["long_short_gross_total"] = float(ls["gross"].sum())
        out["long_short_net_total"] = float(ls["net"].sum())
        out["long_short_gross_mean"] = float(ls["gross"].mean()) if len(ls) else float("nan")
        out["long_short_net_mean"] = float(ls["net"].mean()) if len(ls) else float("nan")
        out["long_short_net_nw_t"] = newey_west_t(ls["net"], self.horizon)[1]
        out["turnover_mean"] = float(ls["turnover"].mean()) if len(ls) else float("nan")
        if len(self.rank_ic.dropna()):
            idx = self.rank_ic.dropna().index
            out["test_start"], out["test_end"] = str(idx[0]), str(idx[-1])
        return out

    def series(self) -> dict:
        """JSON-ready series (ISO dates) for plots."""
        def iso(s: pd.Series) -> dict:
            return {"ts": [str(t) for t in s.index], "values": [None if not np.isfinite(x) else float(x)
                                                                 for x in s.to_numpy(dtype="float64")]}
        return {"ic": iso(self.ic), "rank_ic": iso(self.rank_ic),
                "long_short_gross_equity": iso(self.long_short["gross"].cumsum()),
                "long_short_net_equity": iso(self.long_short["net"].cumsum())}


def analyse(score: pd.Series, realized: pd.Series, horizon: int = 1, cost_bps: float = 0.0,
            n_quantiles: int = 10, min_names: int = MIN_NAMES) -> SignalAnalysis:
    """The signal analysis of ``score`` against ``realized`` (both keyed by (ts, symbol)); days
    with fewer than ``min_names`` symbols having both are dropped. Quantiles: ``n_quantiles``, or
    fewer when a day has fewer names than that."""
    h = max(1, int(horizon))
    s, r = _wide(score), _wide(realized)
    s, r = s.align(r, join="inner")
    ok = s.notna() & r.notna()
    s, r = s.where(ok), r.where(ok)
    n = ok.sum(axis=1)
    keep = n >= min_names
    s, r, n = s[keep], r[keep], n[keep]
    ic = _row_corr(s, r)
    rank_ic = _row_corr(s.rank(axis=1), r.rank(axis=1))
    nq = int(min(n_quantiles, n.min())) if len(n) else int(n_quantiles)
    ranks = s.rank(axis=1, method="first")
    qmat = np.floor((ranks.sub(1)).mul(nq).div(n, axis=0))
    quantiles = pd.DataFrame({q: r.where(qmat == q).mean(axis=1) for q in range(nq)}, index=s.index)
    top, bottom = (qmat == nq - 1), (qmat == 0)
    w = top.div(top.sum(axis=1), axis=0) - bottom.div(bottom.sum(axis=1), axis=0)   # (T, N)
    w = w.where(s.notna(), 0.0).fillna(0.0)
    gross_h = (w * r.fillna(0.0)).sum(axis=1)
    turnover = w.diff().abs().sum(axis=1)
    if len(w):
        turnover.iloc[0] = w.iloc[0].abs().sum()
    gross = gross_h / h
    turnover = turnover / h
    net = gross - turnover * cost_bps / 1e4
    ls = pd.DataFrame({"gross": gross, "turnover": turnover, "net": net})
    return SignalAnalysis(ic=ic, rank_ic=rank_ic, quantiles=quantiles, long_short=ls, horizon=h,
                          cost_bps=float(cost_bps), names=int(ok.any(axis=0).sum()))


def baseline_scores(closes: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The trivial cross-sectional signals from a ts x symbol frame of closes, each at ts from
    closes up to ts only: minus the 1-bar and 5-bar log return (reversal) and the 20-bar log
    return (momentum)."""
    lc = np.log(closes.sort_index().astype("float64"))
    return {"reversal_1": -(lc - lc.shift(1)), "reversal_5": -(lc - lc.shift(5)),
            "momentum_20": lc - lc.shift(20)}


def stack(wide: pd.DataFrame) -> pd.Series:
    """ts x symbol frame -> Series keyed by (ts, symbol), NaN cells dropped."""
    out = wide.stack()
    out.index = out.index.set_names(["ts", "symbol"])
    return out


def analyse_run(scores: dict[str, pd.Series], realized: pd.Series, closes: pd.DataFrame | None,
                horizon: int, cost_bps: float, n_quantiles: int = 10,
                min_names: int = MIN_NAMES) -> dict:
    """Every model's signal analysis and the baselines' on the same (ts, symbol) cells, as a
    JSON-ready dict: ``{"models": {name: {...summary, "series": ...}}, "baselines": {...}}``.
    The cells are those every model scored with a realized return."""
    cells = realized.dropna().index
    for sc in scores.values():
        cells = cells.intersection(sc.dropna().index)
    out: dict = {"models": {}, "baselines": {}, "cells": int(len(cells))}
    r = realized.reindex(cells)
    for name, sc in scores.items():
        a = analyse(sc.reindex(cells), r, horizon, cost_bps, n_quantiles, min_names)
        out["models"][name] = {**a.summary(), "series": a.series()}
    if closes is not None:
        for name, wide in baseline_scores(closes).items():
            sc = stack(wide).reindex(cells)
            a = analyse(sc, r, horizon, cost_bps, n_quantiles, min_names)
            out["baselines"][name] = {**a.summary(), "series": a.series()}
    return out
