"""GARCH(1,1) conditional volatility and ARCH-effect statistics, kept causal by refitting on a
fixed schedule: fits happen at bars ``first, first + every, ...`` on the trailing ``window``
returns up to and including that bar, and the variance is filtered forward with the latest
fit's parameters until the next one. A value at t therefore uses only a fit on data <= t, and the
schedule (anchored at the series' first bar) is the same for any prefix of the series."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numba
import numpy as np
from arch import arch_model

from pipelines.features.kernels import div, logret, ohlcv, roll_corr, roll_std, shift, spec


@dataclass(frozen=True)
class GarchSchedule:
    first: int = 300     # first fit at this bar (needs this many returns)
    every: int = 500     # refit every so many bars
    window: int = 1000   # trailing returns per fit
    lm_lags: int = 5     # lags of the ARCH LM test on each fit's standardised residuals

    def fit_points(self, n: int) -> np.ndarray:
        return np.arange(self.first, n, self.every)


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


def _fit(x: np.ndarray, start_values: np.ndarray | None):
    am = arch_model(x, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return am.fit(disp="off", show_warning=False, starting_values=start_values,
                      options={"maxiter": 200})


def garch_path(r: np.ndarray, sched: GarchSchedule = SCHEDULE) -> dict[str, np.ndarray]:
    """Forecast volatility, persistence and ARCH LM statistic/p-value for each bar."""
    n = len(r)
    x = r * SCALE
    fc = np.full(n, np.nan)
    persist = np.full(n, np.nan)
    lm_stat = np.full(n, np.nan)
    lm_p = np.full(n, np.nan)
    pts = sched.fit_points(n)
    prev = None
    for i, k in enumerate(pts):
        stop = pts[i + 1] if i + 1 < len(pts) else n
        seg = x[max(1, k - sched.window + 1):k + 1]
        seg = seg[np.isfinite(seg)]
        if len(seg) < 50:
            continue
        try:
            res = _fit(seg, prev)
        except (ValueError, np.linalg.LinAlgError):  # pragma: no cover - optimiser failure
            continue
        mu, omega, alpha, beta = (float(res.params[k_]) for k_ in ("mu", "omega", "alpha[1]", "beta[1]"))
        if not np.isfinite([mu, omega, alpha, beta]).all():
            continue
        prev = res.params.to_numpy()
        # variance of r[k] under the fit, then forecasts from bar k on
        s2_k = float(res.conditional_volatility[-1]) ** 2
        e_k = seg[-1] - mu
        fc[k] = omega + alpha * e_k * e_k + beta * s2_k
        _filter(x, mu, omega, alpha, beta, fc[k], k + 1, stop, fc)
        persist[k:stop] = alpha + beta
        lm = res.arch_lm_test(lags=sched.lm_lags, standardized=True)
        lm_stat[k:stop] = float(lm.stat) / len(seg)
        lm_p[k:stop] = float(lm.pval)
    return {"garch_vol": np.sqrt(fc) / SCALE, "garch_persistence": persist,
            "arch_lm_stat": lm_stat, "arch_lm_pval": lm_p}


def _garch(bars, ctx):
    c = ohlcv(bars)[3]
    r = logret(c)
    out = garch_path(r)
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
