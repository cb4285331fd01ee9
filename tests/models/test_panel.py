"""Panel mode: the dataset (per-date ranks, labels, ragged symbols), its date folds (purge and
embargo in dates) and the walk-forward out of sample, on synthetic panels generated here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.training.panel import (
    cross_sectional_rank,
    date_splits,
    make_panel,
    panel_folds,
)
from models.training.panel_walkforward import run_panel_walkforward
from pipelines.config import WalkForwardConfig, load_config
from pipelines.features.catalog import feature_set
from pipelines.evaluation.signal import analyse
from pipelines.jobs.panel import evaluate_panel, run_panel
from pipelines.store import ParquetStore
from tests.synthetic.markets import bars_from_returns

CORE = feature_set("core")


def ar_panel(n_symbols: int, n_days: int, phi: float, seed: int, sigma: float = 0.01) -> dict[str, pd.DataFrame]:
    """Independent AR(1) daily log returns per symbol: ``r_t = phi r_{t-1} + e_t``. Across
    symbols on a date, (r_t, r_{t+1}) is bivariate normal with correlation phi, so the rank IC
    of yesterday's return for tomorrow's is (6 / pi) asin(phi / 2)."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, sigma * math.sqrt(1 - phi ** 2), (n_days, n_symbols))
    r = np.empty_like(e)
    r[0] = rng.normal(0.0, sigma, n_symbols)
    for t in range(1, n_days):
        r[t] = phi * r[t - 1] + e[t]
    r[0] = 0.0
    return {f"S{i:02d}": bars_from_returns(r[:, i], symbol=f"S{i:02d}", timeframe="1d", seed=seed + i)
            for i in range(n_symbols)}


def phi_for_rank_ic(ic: float) -> float:
    return 2 * math.sin(ic * math.pi / 6)


WF = WalkForwardConfig(horizon=1, train_bars=250, test_bars=100, validation_fraction=0.2)


@pytest.mark.parametrize("model", ["logistic", "lightgbm"])
def test_planted_factor_is_recovered_near_its_rank_ic(model):
    planted = 0.10
    panel = make_panel(ar_panel(40, 600, phi_for_rank_ic(planted), seed=11), CORE, 1, label="rank")
    res = run_panel_walkforward(panel, [model], WF, use_ray=False)[model]
    p = res.predictions
    assert p.index.names == ["ts", "symbol"] and {"label", "fwd_return", "expected_return"} <= set(p.columns)
    s = analyse(p["expected_return"], p["fwd_return"], 1).summary()
    assert s["days"] >= 250
    assert abs(s["rank_ic_mean"] - planted) < 0.04, s["rank_ic_mean"]
    assert s["rank_ic_nw_t"] > 3
    # the 1-bar return itself (momentum at phi > 0) on the same cells measures the planted IC
    oracle = analyse(-panel.signals["reversal_1"].reindex(p.index), p["fwd_return"], 1).summary()
    assert abs(oracle["rank_ic_mean"] - planted) < 0.03


def test_random_walk_panel_shows_no_edge():
    panel = make_panel(ar_panel(40, 600, 0.0, seed=5), CORE, 1, label="excess")
    res = run_panel_walkforward(panel, ["lightgbm"], WF, use_ray=False)["lightgbm"]
    s = analyse(res.predictions["expected_return"], res.predictions["fwd_return"], 1).summary()
    assert abs(s["rank_ic_nw_t"]) < 2
    assert abs(s["rank_ic_mean"]) < 0.03


def test_late_listed_symbol_contributes_and_short_symbol_is_skipped(tmp_path):
    bars = ar_panel(10, 500, 0.05, seed=3)
    late = bars_from_returns(np.r_[0.0, np.random.default_rng(9).normal(0, 0.01, 199)], symbol="LATE",
                             timeframe="1d", seed=9, start=str(bars["S00"]["ts"].iloc[300].date()))
    short = bars["S01"].iloc[:40].assign(symbol="SHORT")
    gappy = bars["S02"].drop(index=range(200, 230)).assign(symbol="GAPPY")   # a month without bars
    store = ParquetStore(tmp_path / "lake")
    for b in [*bars.values(), late, short, gappy]:
        store.write_bars(b)
    cfg = load_config(environ={}, overrides={"walkforward": {"horizon": 1, "train_bars": 200, "test_bars": 100}})
    syms = [*bars, "LATE", "SHORT", "GAPPY", "MISSING"]
    report = run_panel(cfg, store, syms, ["logistic"], use_ray=False, label="excess")
    assert set(report["skipped"]) == {"SHORT", "MISSING"}
    assert "40 bars" in report["skipped"]["SHORT"] and "no 1d bars" in report["skipped"]["MISSING"]
    assert "LATE" in report["universe"] and "GAPPY" in report["universe"]
    assert report["signal"]["models"]["logistic"]["names"] == 12
    assert set(report["signal"]["baselines"]) == {"reversal_1", "reversal_5", "momentum_20"}
    _, results, panel = evaluate_panel(cfg, {s: store.read_bars(s, "1d") for s in [*bars, "LATE", "GAPPY"]},
                                       ["logistic"], use_ray=False)
    p = results["logistic"].predictions
    late_rows = p.xs("LATE", level="symbol")
    assert len(late_rows) > 50 and late_rows.index.min() >= late["ts"].iloc[49]
    assert len(panel.X.xs("LATE", level="symbol")) == 200 - 49 - 1   # its warm-up and last label only


@pytest.mark.parametrize("horizon,embargo", [(1, 0), (5, 3)])
def test_folds_purge_and_embargo_in_dates(horizon, embargo):
    bars = ar_panel(8, 420, 0.0, seed=1)
    bars["S03"] = bars["S03"].drop(index=range(250, 262))  # a gap: its labels reach further ahead
    panel = make_panel(bars, CORE, horizon)
    wf = WalkForwardConfig(horizon=horizon, train_bars=150, test_bars=60, embargo_bars=embargo,
                           validation_fraction=0.2)
    dates = panel.dates
    ts = panel.X.index.get_level_values("ts")
    folds = panel_folds(panel, wf)
    assert len(folds) == len(date_splits(panel, wf)) >= 3
    for f in folds:
        test_first = dates.get_loc(ts[f.test[0]])
        train_last = dates.get_loc(ts[f.train].max())
        assert test_first - train_last > horizon + embargo - 1       # h dates purged, then the embargo
        assert panel.label_known_at.iloc[f.train].max() <= ts[f.test[0]]
        if len(f.val):
            assert panel.label_known_at.iloc[f.fit].max() <= ts[f.val[0]]
        test_dates = set(ts[f.test])
        assert not test_dates & set(ts[f.train])
        assert len(set(panel.X.index[f.test].get_level_values("symbol"))) == 8


def test_per_date_normalisation_is_causal():
    bars = ar_panel(12, 300, 0.0, seed=2)
    panel = make_panel(bars, CORE, 1)
    changed = dict(bars)
    b = bars["S04"].copy()
    b.loc[250:, ["open", "high", "low", "close"]] *= 3.0      # a future shock to one symbol
    changed["S04"] = b
    late = make_panel(changed, CORE, 1)
    cut = bars["S04"]["ts"].iloc[250]
    before = panel.X[panel.X.index.get_level_values("ts") < cut]
    pd.testing.assert_frame_equal(before, late.X.loc[before.index])
    assert not panel.X.equals(late.X)
    x = panel.X.to_numpy()
    assert np.nanmin(x) >= -0.5 and np.nanmax(x) <= 0.5


def test_cross_sectional_rank_and_labels():
    idx = pd.MultiIndex.from_tuples([(d, s) for d in (1, 2) for s in "abc"], names=["ts", "symbol"])
    s = pd.Series([3.0, 1.0, 2.0, 5.0, np.nan, 5.0], index=idx)
    assert cross_sectional_rank(s).tolist()[:3] == [0.5, -0.5, 0.0]
    r2 = cross_sectional_rank(s).tolist()[3:]
    assert r2[0] == 0.0 and np.isnan(r2[1]) and r2[2] == 0.0
    panel = make_panel(ar_panel(6, 200, 0.0, seed=4), CORE, 2, label="excess")
    means = panel.y.groupby(level="ts").mean()
    assert np.allclose(means, 0.0, atol=1e-12)
    assert panel.fwd.name == "fwd_ret_2" and not panel.y.equals(panel.fwd)


def test_folds_as_ray_tasks_give_the_in_process_predictions(ray_session):
    panel = make_panel(ar_panel(8, 320, 0.05, seed=6), CORE, 1, label="rank")
    wf = WalkForwardConfig(horizon=1, train_bars=150, test_bars=60)
    local = run_panel_walkforward(panel, ["logistic"], wf, use_ray=False)["logistic"]
    remote = run_panel_walkforward(panel, ["logistic"], wf, use_ray=True)["logistic"]
    pd.testing.assert_frame_equal(local.predictions, remote.predictions)
    assert [f["test_start"] for f in local.folds] == [f["test_start"] for f in remote.folds]
