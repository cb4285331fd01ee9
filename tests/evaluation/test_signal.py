"""Signal analysis across symbols: a planted factor's IC is recovered, a random-walk panel shows
nothing (the baselines neither), and the baselines use closes known at ts only."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipelines.evaluation.signal import analyse, analyse_run, baseline_scores, newey_west_t, stack
from pipelines.evaluation.verdict import judge

T, N = 400, 40


def _panel(values: np.ndarray, ts: pd.DatetimeIndex, symbols: list[str]) -> pd.Series:
    return stack(pd.DataFrame(values, index=ts, columns=symbols))


@pytest.fixture(scope="module")
def grid():
    ts = pd.date_range("2021-01-04", periods=T, freq="B", tz="UTC")
    return ts, [f"S{i:02d}" for i in range(N)]


def test_planted_factor_ic_is_recovered(grid):
    ts, syms = grid
    rng = np.random.default_rng(0)
    rho = 0.1
    f = rng.normal(size=(T, N))
    r = 0.01 * (rho * f + math.sqrt(1 - rho ** 2) * rng.normal(size=(T, N)))
    a = analyse(_panel(f, ts, syms), _panel(r, ts, syms), horizon=1, cost_bps=5.0)
    s = a.summary()
    assert s["days"] == T and s["names"] == N
    assert s["ic_mean"] == pytest.approx(rho, abs=0.02)
    # Spearman of a bivariate normal: (6 / pi) asin(rho / 2)
    assert s["rank_ic_mean"] == pytest.approx(6 / math.pi * math.asin(rho / 2), abs=0.02)
    assert s["rank_ic_nw_t"] > 8 and s["rank_ic_positive_share"] > 0.6
    assert s["rank_ic_ir"] == pytest.approx(s["rank_ic_mean"] / s["rank_ic_std"])
    q = s["quantile_mean_return"]
    assert len(q) == 10 and q[-1] > q[0] and np.corrcoef(np.arange(10), q)[0, 1] > 0.9
    # costs are paid on turnover: net = gross - turnover * 5 bps, bar by bar
    ls = a.long_short
    assert np.allclose(ls["net"], ls["gross"] - ls["turnover"] * 5e-4)
    assert s["long_short_gross_total"] > s["long_short_net_total"] > 0


def test_turnover_of_a_constant_ranking_is_the_entry_only(grid):
    ts, syms = grid
    rng = np.random.default_rng(1)
    score = np.tile(np.arange(N, dtype=float), (T, 1))          # the same ranking every day
    r = rng.normal(0, 0.01, (T, N))
    a = analyse(_panel(score, ts, syms), _panel(r, ts, syms), horizon=5, cost_bps=10.0, n_quantiles=5)
    # one-fifth of the book enters each bar: long 1 and short 1 once, over h = 5 tranches
    assert a.long_short["turnover"].iloc[0] == pytest.approx(2 / 5)
    assert a.long_short["turnover"].iloc[1:].abs().max() == pytest.approx(0.0)
    assert a.summary()["nw_lags"] == 5


def test_random_walk_panel_shows_no_signal_and_no_edge(grid):
    ts, syms = grid
    rng = np.random.default_rng(2)
    closes = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, N)), axis=0)), index=ts, columns=syms)
    fwd = np.log(closes.shift(-1) / closes)                       # 1-bar forward label
    noise = _panel(rng.normal(size=(T, N)), ts, syms)
    sig = analyse_run({"noise": noise}, stack(fwd), closes, horizon=1, cost_bps=3.5)
    assert set(sig["baselines"]) == {"reversal_1", "reversal_5", "momentum_20"}
    for name, s in {**sig["models"], **sig["baselines"]}.items():
        assert abs(s["rank_ic_nw_t"]) < 2, name
        assert abs(s["rank_ic_mean"]) < 0.02, name
    report = {"horizon": 1, "symbols": {}, "signal": sig}
    v = judge([report])
    assert v["flagged"] == 0 and v["tests"] == 1
    assert not sig["models"]["noise"]["has_edge"]
    assert all(s["reference"] and not s["has_edge"] for s in sig["baselines"].values())


def test_baselines_use_closes_known_at_ts_only(grid):
    ts, syms = grid
    rng = np.random.default_rng(3)
    closes = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, N)), axis=0)), index=ts, columns=syms)
    full = baseline_scores(closes)
    lc = np.log(closes)
    assert np.allclose(full["reversal_1"].iloc[1:], -(lc.diff().iloc[1:]))
    for t in (25, 100, T - 1):                                  # prefix test: row t from bars[:t+1]
        cut = baseline_scores(closes.iloc[: t + 1])
        for name in full:
            pd.testing.assert_series_equal(cut[name].iloc[-1], full[name].iloc[t])


def test_newey_west_widens_for_overlapping_sums():
    rng = np.random.default_rng(4)
    e = rng.normal(0.05, 1, 3000)
    overlapping = np.convolve(e, np.ones(20), "valid")           # 20-bar sums overlap
    _, t_naive = newey_west_t(overlapping, 0)
    _, t_nw = newey_west_t(overlapping, 20)
    assert t_nw < t_naive / 2
