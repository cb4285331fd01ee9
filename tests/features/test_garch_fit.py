"""The compiled GARCH(1,1) fit against the arch package it reproduces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from arch.data import sp500

from pipelines.features.garch import SCHEDULE, _fit as _arch, garch_path
from pipelines.features.garch_fit import fit_garch11
from tests.synthetic.bars import garch_returns, synthetic_bars


def _cases():
    r = 100 * np.log(sp500.load()["Adj Close"]).diff().dropna().to_numpy()
    rng = np.random.default_rng(11)
    yield "sp500_1990s", r[:1000]
    yield "sp500_2000s", r[2500:3500]
    yield "simulated_garch", 100 * garch_returns(1000, 3)
    yield "iid_normal", rng.standard_normal(1000)  # alpha at its bound of 0
    yield "short_window", r[4000:4060]


@pytest.mark.parametrize("name,x", list(_cases()), ids=[c[0] for c in _cases()])
def test_compiled_fit_reaches_archs_maximum(name, x):
    ref = _arch(x)
    fit = fit_garch11(x)
    # the same likelihood: never worse than arch's optimum, and not better by more than rounding
    # would allow if the two were different models
    assert fit.loglik >= ref.loglikelihood - 1e-5
    assert fit.loglik - ref.loglikelihood < 1e-3
    p = ref.params
    np.testing.assert_allclose([fit.mu, fit.omega, fit.alpha, fit.beta],
                               [p["mu"], p["omega"], p["alpha[1]"], p["beta[1]"]], rtol=2e-2, atol=2e-3)
    assert 0 <= fit.alpha and 0 <= fit.beta and fit.alpha + fit.beta < 1 and fit.omega > 0
    np.testing.assert_allclose(fit.sigma2_last, ref.conditional_volatility[-1] ** 2, rtol=1e-3)
    lm = ref.arch_lm_test(lags=5, standardized=True)
    np.testing.assert_allclose([fit.lm_stat, fit.lm_pval], [lm.stat, lm.pval], rtol=1e-3, atol=1e-4)


def test_fit_refuses_nan_tiny_and_constant_windows():
    with pytest.raises(ValueError, match="finite"):
        fit_garch11(np.array([1.0, np.nan] * 20))
    with pytest.raises(ValueError, match="at least 10"):
        fit_garch11(np.ones(5))
    with pytest.raises(ValueError, match="constant"):
        fit_garch11(np.full(500, 0.25))


def test_a_flat_stretch_leaves_its_block_without_a_fit():
    """A market that did not move for a whole fit window (a halted or stale feed) has no
    variance to fit: those bars get no GARCH value, and the next block fits again."""
    bars = synthetic_bars(2600, seed=12)
    r = np.log(bars["close"]).diff().to_numpy().copy()
    r[1:1100] = 0.0
    ts = pd.DatetimeIndex(bars["ts"]).as_unit("ns").asi8
    out = garch_path(r, ts, 3600 * 10**9)
    pts = SCHEDULE.fit_points(ts, 3600 * 10**9)
    flat = [k for k in pts if k < 1100]
    later = [k for k in pts if k - SCHEDULE.window + 1 > 1100]
    assert flat and later
    assert np.isnan(out["garch_vol"][flat[0]])
    assert np.isfinite(out["garch_vol"][later[0]:]).all()


def test_feature_path_matches_the_arch_fitted_path():
    bars = synthetic_bars(3500, seed=9)
    r = np.log(bars["close"]).diff().to_numpy()
    ts = pd.DatetimeIndex(bars["ts"]).as_unit("ns").asi8
    bar_ns = 3600 * 10**9
    fast = garch_path(r, ts, bar_ns)
    ref = garch_path(r, ts, bar_ns, method="arch")
    k = SCHEDULE.first
    for col in fast:
        assert np.isnan(fast[col][:k]).all() and np.isfinite(fast[col][k:]).all(), col
        np.testing.assert_allclose(fast[col], ref[col], rtol=5e-3, atol=1e-4, equal_nan=True, err_msg=col)
    with pytest.raises(ValueError, match="unknown GARCH fit method"):
        garch_path(r, ts, bar_ns, method="nope")
