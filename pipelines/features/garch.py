"""GARCH(1,1) conditional volatility and ARCH-effect statistics, kept causal by refitting on a
fixed schedule: a fit happens at the first bar of each block of ``every`` bar-lengths of clock
time (blocks anchored at the epoch, so any prefix or trailing slice of a series sees the same
fit points), once ``first`` returns exist, on the trailing ``window`` returns up to and including
that bar; the variance is filtered forward with that fit's parameters until the next one. A value
at t therefore uses only a fit on data <= t, and each fit depends on its own window alone.

Fits use :func:`pipelines.features.garch_fit.fit_garch11` (arch's model and likelihood, compiled,
~25x faster); ``method="arch"`` fits with the arch package itself, the reference it is tested
against."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
from arch import arch_model

from pipelines.features.garch_fit import fit_garch11
from pipelines.features.kernels import div, logret, ohlcv, roll_corr, roll_std, shift, spec


@dataclass(frozen=True)
class GarchSchedule:
    first: int = 300     # no fit before this many bars of the series
    every: int = 1000    # refit once per block of this many bar-lengths of clock time
    window: int = 1000   # trailing returns per fit
    lm_lags: int = 5     # lags of the ARCH LM test on each fit's standardised residuals

    def fit_points(self, ts_ns: np.ndarray, bar_ns: int) -> np.ndarray:
        """Rows where a fit happens: the first row of each clock block, from row ``first`` on."""
        n = len(ts_ns)
        if n <= self.first:
            return np.array([], dtype="int64")
        block = ts_ns // (max(int(bar_ns), 1) * self.every)
        change = np.flatnonzero(np.diff(block) != 0) + 1
        pts = change[change >= self.first]
        # the first fit comes as soon as the series is long enough
        return np.unique(np.concatenate([[self.first], pts])) if self.first not in pts else pts


SCHEDULE = GarchSchedule()
SCALE = 100.0  # fit on percent returns (the optimiser's comfortable range)


@numba.njit(cache=True)
def _filter(r, mu, omega, alpha, beta, s2_start, start, stop, out):
    """One-step-ahead variance forecasts for t in [start, stop): out[t] = var(r[t+1] | r[..t])."""
    s2 = s2_start
    for t in range(start, stop):
        e = r[t] - mu
        if np.isnan(e):
            out[t] = np.nan
            continue
        s2 = omega + alpha * e * e + beta * s2
        out[t] = s2


def _fit(x: np.ndarray):
    am = arch_model(x, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return am.fit(disp="off", show_warning=False, options={"maxiter": 200})


def _fit_params(seg: np.ndarray, lm_lags: int, method: str):
    """(mu, omega, alpha, beta, variance of the last return, LM statistic, LM p-value)."""
    if method == "arch":
        res = _fit(seg)
        p = [float(res.params[k]) for k in ("mu", "omega", "alpha[1]", "beta[1]")]
        lm = res.arch_lm_test(lags=lm_lags, standardized=True)
        return (*p, float(res.conditional_volatility[-1]) ** 2, float(lm.stat), float(lm.pval))
    f = fit_garch11(seg, lm_lags=lm_lags)
    return f.mu, f.omega, f.alpha, f.beta, f.sigma2_last, f.lm_stat, f.lm_pval


def garch_path(r: np.ndarray, ts_ns: np.ndarray, bar_ns: int,
               sched: GarchSchedule = SCHEDULE, method: str = "compiled") -> dict[str, np.ndarray]:
    """Forecast volatility, persistence and ARCH LM statistic/p-value for each bar."""
    if method not in ("compiled", "arch"):
        raise ValueError(f"unknown GARCH fit method {method!r}: 'compiled' or 'arch'")
    n = len(r)
    x = r * SCALE
    fc = np.full(n, np.nan)
    persist = np.full(n, np.nan)
    lm_stat = np.full(n, np.nan)
    lm_p = np.full(n, np.nan)
    pts = sched.fit_points(ts_ns, bar_ns)
    for i, k in enumerate(pts):
        stop = pts[i + 1] if i + 1 < len(pts) else n
        seg = x[max(1, k - sched.window + 1):k + 1]
        seg = seg[np.isfinite(seg)]
        if len(seg) < 50:
            continue
        try:
            mu, omega, alpha, beta, s2_k, stat, pval = _fit_params(seg, sched.lm_lags, method)
        except (ValueError, np.linalg.LinAlgError):  # a constant window, or the optimiser failed
            continue
        if not np.isfinite([mu, omega, alpha, beta, s2_k]).all():
            continue
        # variance of r[k] under the fit, then forecasts from bar k on
        e_k = seg[-1] - mu
        fc[k] = omega + alpha * e_k * e_k + beta * s2_k
        _filter(x, mu, omega, alpha, beta, fc[k], k + 1, stop, fc)
        persist[k:stop] = alpha + beta
        lm_stat[k:stop] = stat / len(seg)
        lm_p[k:stop] = pval
    return {"garch_vol": np.sqrt(fc) / SCALE, "garch_persistence": persist,
            "arch_lm_stat": lm_stat, "arch_lm_pval": lm_p}


def _garch(bars, ctx):
    c = ohlcv(bars)[3]
    r = logret(c)
    ts_ns = pd.DatetimeIndex(bars["ts"]).as_unit("ns").asi8
    # every bar carries its own length (known_at - ts), so the clock blocks need no estimate
    bar_ns = int((bars["known_at"] - bars["ts"]).iloc[0].value) if len(bars) else 1
    out = garch_path(r, ts_ns, bar_ns)
    out["garch_vol_ratio"] = div(out["garch_vol"], roll_std(r, 50))
    return out


def _arch_lm_rolling(bars, ctx):
    """Engle's LM statistic with one lag on a rolling window: n * corr(e2_t, e2_{t-1})^2 / n."""
    r = logret(ohlcv(bars)[3])
    e2 = (r - 0) ** 2
    out = {}
    for n in (50, 200):
        rho = roll_corr(e2, shift(e2, 1), n)
        out[f"arch_lm1_{n}"] = rho * rho
    return out


FEATURES = (
    spec("garch_1_1", "volatility",
         ("garch_vol", "garch_persistence", "arch_lm_stat", "arch_lm_pval", "garch_vol_ratio"),
         SCHEDULE.first, _garch,
         description=f"GARCH(1,1) one-step volatility forecast (refit every {SCHEDULE.every} bars on "
                     f"{SCHEDULE.window} trailing returns), alpha+beta, ARCH LM({SCHEDULE.lm_lags}) "
                     "statistic per observation and p-value of that fit, forecast / rv(50)"),
    spec("arch_lm_rolling", "volatility", ("arch_lm1_50", "arch_lm1_200"), 201, _arch_lm_rolling,
         description="rolling R^2 of squared returns on their first lag (ARCH LM(1) / n), 50 and 200 bars"),
)
