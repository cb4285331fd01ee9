"""Values of selected families against independent computations, and the registry's size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from pipelines.features.engine import compute_features
from pipelines.features.garch import SCALE, SCHEDULE, _fit
from pipelines.features.garch_fit import fit_garch11
from pipelines.features.catalog import all_specs, columns_of, feature_set
from pipelines.features.spec import FeatureContext
from tests.synthetic.bars import synthetic_bars, synthetic_macro


def _detrend(w: np.ndarray) -> np.ndarray:
    n = w.shape[1]
    t = np.arange(n) - (n - 1) / 2.0
    slope = (w @ t) / (t @ t)
    return w - w.mean(axis=1, keepdims=True) - slope[:, None] * t


def _fft_reference(w: np.ndarray) -> np.ndarray:
    """Dominant cycle of each window by definition (detrend, Hann, rfft): what :func:`_fft`
    computes, Columns: period / window, share of power."""
    n = w.shape[1]
    p = np.abs(np.fft.rfft(_detrend(w) * np.hanning(n), axis=1)) ** 2
    p = p[:, 1:]  # drop the mean
    k = p.argmax(axis=1)
    total = p.sum(axis=1)
    share = np.where(total > 0, p[np.arange(len(p)), k] / np.where(total > 0, total, 1.0), np.nan)
    return np.stack([1.0 / (k + 1.0), share], axis=1)


def _one(name):
    return next(s for s in all_specs() if s.name == name)


def test_at_least_200_features_from_bars_with_volume():
    bars = synthetic_bars(900, seed=2)
    feats = compute_features(bars, feature_set("full"), FeatureContext(timeframe="1h"), drop_warmup=False)
    assert feats.shape[1] >= 200
    assert len(set(columns_of(feature_set("full")))) == len(columns_of(feature_set("full")))
    core = feature_set("core")
    assert [s.name for s in core][:2] == ["ret_lags", "vol_20"]  # the demo's set is unchanged


def test_talib_wrappers_match_talib():
    bars = synthetic_bars(600, seed=3)
    c, h, lo = (bars[k].to_numpy() for k in ("close", "high", "low"))
    out = _one("rsi_21").fn(bars, FeatureContext())
    np.testing.assert_allclose(out["rsi_21"], talib.RSI(c, 21) / 100, equal_nan=True)
    adx = _one("adx_14").fn(bars, FeatureContext())
    np.testing.assert_allclose(adx["adx_14"], talib.ADX(h, lo, c, 14) / 100, equal_nan=True)


def test_garch_at_a_fit_point_is_the_fitted_models_forecast():
    bars = synthetic_bars(700, seed=4)
    out = _one("garch_1_1").fn(bars, FeatureContext())
    k = SCHEDULE.first
    r = np.log(bars["close"]).diff().to_numpy() * SCALE
    seg = r[max(1, k - SCHEDULE.window + 1):k + 1]
    fit = fit_garch11(seg)
    e = seg[-1] - fit.mu
    expect = np.sqrt(fit.omega + fit.alpha * e * e + fit.beta * fit.sigma2_last) / SCALE
    assert np.isclose(out["garch_vol"].iloc[k], expect, rtol=1e-12)
    # and the one-step forecast arch itself makes from its own fit of that window
    ref = np.sqrt(_fit(seg).forecast(horizon=1).variance.iloc[-1, 0]) / SCALE
    assert np.isclose(out["garch_vol"].iloc[k], ref, rtol=1e-3)
    assert out["garch_vol"].iloc[:k].isna().all() and out["garch_vol"].iloc[k:].notna().all()


def test_previous_session_return_uses_completed_sessions_only():
    bars = synthetic_bars(24 * 6, seed=5, start="2024-03-04")  # Monday
    out = _one("session_previous").fn(bars, FeatureContext(asset_class="forex", timeframe="1h"))
    ts = bars["ts"]
    tokyo_mon = bars[(ts >= "2024-03-04 00:00Z") & (ts < "2024-03-04 09:00Z")]
    expect = np.log(tokyo_mon["close"].iloc[-1] / tokyo_mon["open"].iloc[0])
    row_0800 = int(np.flatnonzero(ts == pd.Timestamp("2024-03-04 08:00Z"))[0])
    row_0900 = row_0800 + 1  # 09:00 bar closes at 10:00, after Tokyo's 09:00 close
    assert np.isnan(out["prev_tokyo_ret"].iloc[row_0800 - 1])  # no Tokyo session finished yet
    assert np.isclose(out["prev_tokyo_ret"].iloc[row_0800], expect)  # 08:00 bar closes at 09:00
    assert np.isclose(out["prev_tokyo_ret"].iloc[row_0900], expect)


def test_macro_value_is_invisible_before_its_release():
    bars = synthetic_bars(24 * 10, seed=6, start="2024-05-01")
    macro = synthetic_macro(bars["ts"].iloc[0], bars["ts"].iloc[-1], seed=1)
    out = _one("macro_vixcls").fn(bars, FeatureContext(macro=macro))
    vix = macro[macro["series_id"] == "VIXCLS"].set_index("ts")
    # the observation dated 2024-05-03 is released 2024-05-04 13:30: bars closing before see the previous one
    before = int(np.flatnonzero(bars["known_at"] == pd.Timestamp("2024-05-04 13:00Z"))[0])
    after = int(np.flatnonzero(bars["known_at"] == pd.Timestamp("2024-05-04 14:00Z"))[0])
    assert out["macro_vixcls"].iloc[before] == vix.loc[pd.Timestamp("2024-05-02", tz="UTC"), "value"]
    assert out["macro_vixcls"].iloc[after] == vix.loc[pd.Timestamp("2024-05-03", tz="UTC"), "value"]


def test_alpha101_definitions():
    bars = synthetic_bars(300, seed=7)
    o, h, lo, c = (bars[k].to_numpy() for k in ("open", "high", "low", "close"))
    a101 = _one("alpha101").fn(bars, FeatureContext())["alpha101"].to_numpy()
    np.testing.assert_allclose(a101, (c - o) / ((h - lo) + 0.001 * c))
    a054 = _one("alpha054").fn(bars, FeatureContext())["alpha054"].to_numpy()
    np.testing.assert_allclose(a054, (-1 * (lo - c) * (o / c) ** 5) / (lo - h))


def _sampen_by_definition(w: np.ndarray, m: int, rfac: float) -> float:
    """Sample entropy of one window, counted pair by pair (templates starting before n - m)."""
    n, r = len(w), rfac * w.std()
    b = a = 0
    for i in range(n - m):
        for j in range(i + 1, n - m):
            if np.max(np.abs(w[i:i + m] - w[j:j + m])) <= r:
                b += 1
                a += abs(w[i + m] - w[j + m]) <= r
    return -np.log((a + 1.0) / (b + 1.0))


def test_sample_entropy_matches_its_definition_window_by_window():
    from pipelines.features.stats import _sampen_windows
    rng = np.random.default_rng(8)
    x = rng.standard_normal(9000) * 0.01
    x[3000] = np.nan           # windows holding it stay NaN
    x[6000:6050] = 0.0         # zero spread: no value
    for n, m, rfac in ((40, 2, 0.2), (25, 3, 0.3)):
        out = np.full(len(x), np.nan)
        _sampen_windows(x, n, m, rfac, out, 1000)  # several chunks, windows across their edges
        for end in list(range(n - 1, n + 5)) + list(rng.integers(n, len(x), 150)) + [999, 1000, 1001 + n]:
            w = x[end - n + 1:end + 1]
            if np.isnan(w).any() or w.std() == 0:
                assert np.isnan(out[end])
            else:
                assert np.isclose(out[end], _sampen_by_definition(w, m, rfac), rtol=1e-12, atol=0), (n, m, end)
        assert np.isnan(out[:n - 1]).all() and np.isnan(out[3000:3000 + n]).all()


def test_fft_features_match_the_detrend_window_rfft_definition():
    from pipelines.features.kernels import sliding
    from pipelines.features.stats import _fft
    rng = np.random.default_rng(9)
    lc = np.cumsum(rng.standard_normal(6000)) * 0.01 + 4.0
    lc[1000] = np.nan                                   # windows holding it stay NaN
    lc[2000:2200] = lc[1999]                            # a stale feed: flat, no cycle
    j = np.arange(3000, 3400)
    lc[j] = 5.0 + 0.002 * (j - 3000) + 0.01 * np.sin(2 * np.pi * (j - 3000) / 16.0)  # trend + 16-bar cycle
    close = np.exp(lc)
    bars = pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0})
    for n in (64, 128):
        out = _fft(n)(bars, None)
        period, share = out[f"fft_period_{n}"], out[f"fft_power_{n}"]
        ref = np.full((len(lc), 2), np.nan)
        ref[n - 1:] = _fft_reference(np.nan_to_num(sliding(lc, n)))
        flat = np.array([np.ptp(lc[max(0, e - n + 1):e + 1]) == 0 for e in range(len(lc))])
        nan_window = np.array([e < n - 1 or np.isnan(lc[e - n + 1:e + 1]).any() for e in range(len(lc))])
        assert np.isnan(period[nan_window | flat]).all() and np.isnan(share[nan_window | flat]).all()
        ok = ~(nan_window | flat)
        assert ok.sum() > 5000 - 2 * n
        np.testing.assert_array_equal(period[ok], ref[ok, 0])
        np.testing.assert_allclose(share[ok], ref[ok, 1], rtol=1e-9)
        # the trend is removed before the spectrum: the 16-bar cycle dominates windows inside it
        inside = np.arange(3000 + n - 1, 3400)
        np.testing.assert_array_equal(period[inside], 16.0 / n)
        assert (share[inside] > 0.5).all()
