"""The run-wide verdict: drift is not skill, every test of a run is corrected together, the
deflated Sharpe ratio counts every trial, and baselines are never flagged."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipelines.config import MeridianConfig
from pipelines.evaluation.significance import adjust, edge_test
from pipelines.evaluation.verdict import judge
from pipelines.jobs.train import run as run_walkforward, summary_lines
from tests.synthetic.markets import bars_from_returns
from pipelines.store import ParquetStore

SYMBOLS = [f"UP{i}" for i in range(5)]


@pytest.fixture(scope="module")
def drift_run(tmp_path_factory):
    """Five series with strong positive drift (up on ~66% of bars) and no predictability."""
    store = ParquetStore(tmp_path_factory.mktemp("lake"))
    rng = np.random.default_rng(11)
    for i, sym in enumerate(SYMBOLS):
        r = np.concatenate([[0.0], rng.normal(0.004, 0.01, 1199)])
        store.write("bars", bars_from_returns(r, symbol=sym, seed=i))
    cfg = MeridianConfig.model_validate({"walkforward": {"horizon": 1, "train_bars": 500, "test_bars": 300}})
    report = run_walkforward(cfg, store, SYMBOLS, ["logistic"], ensembles=(), persist=False, use_ray=False,
                             progress=False)
    store.close()
    return report


def test_drift_only_flags_nothing_baselines_included(drift_run):
    v = drift_run["verdict"]
    assert v["flagged"] == 0 and v["method"] == "holm"
    assert v["tests"] == len(SYMBOLS) + 1           # one per symbol x model, one cross-section
    for sym, r in drift_run["symbols"].items():
        bh = r["baselines"]["buy_and_hold"]
        # always long is right far more than half the time: a test against 50% would call it skill
        n = bh["edge_test"]["n"]
        assert bh["directional_accuracy"] > 0.6
        assert stats.binomtest(round(bh["directional_accuracy"] * n), n, 0.5, alternative="greater").pvalue < 1e-6
        assert bh["edge_test"]["majority_rate"] == pytest.approx(bh["directional_accuracy"])
        for name, b in r["baselines"].items():
            assert b["edge_test"]["has_edge"] is False and b["edge_test"]["reference"], (sym, name)
        m = r["models"]["logistic"]
        assert m["edge_test"]["has_edge"] is False, (sym, m["edge_test"])
        # riding the drift earns a Sharpe ratio; in excess of buy-and-hold it earns nothing
        assert m["strategy_excess_dsr"] < 0.95 and m["n_trials"] == len(SYMBOLS)
    sig = drift_run["signal"]
    assert not sig["models"]["logistic"]["has_edge"]
    assert all(not s["has_edge"] for s in sig["baselines"].values())
    text = "\n".join(summary_lines(drift_run))
    assert "EDGE" in text and "  EDGE" not in text         # the explanation, and no flagged row
    assert "DSR:" in text and "trials: 5 = 5 candidates" in text
    assert "bps per side" in text and "test 2020-" in text


def test_always_long_and_worse_than_always_long_are_not_an_edge():
    rng = np.random.default_rng(5)
    realized = rng.normal(0.004, 0.01, 3000)               # up ~66% of the time
    always_long = np.ones_like(realized)
    e = edge_test(always_long, realized)
    assert e.accuracy == pytest.approx(e.majority_rate) and e.excess_accuracy == 0 and not e.has_edge
    # long 90% of the time at random: above 50% accurate, below the majority predictor
    mostly_long = np.where(rng.random(3000) < 0.9, 1.0, -1.0)
    e = edge_test(mostly_long, realized)
    assert 0.55 < e.accuracy < e.majority_rate and e.p_value > 0.5 and not e.has_edge
    # real skill on top of the drift is still found
    skilled = np.where(rng.random(3000) < 0.3, np.sign(realized), 1.0)
    assert edge_test(skilled, realized).has_edge


def _report(tests: dict[str, dict]) -> dict:
    return {"horizon": 1, "symbols": {
        sym: {"models": {"m": {"edge_test": et}}, "ensembles": {}, "baselines": {}, "prior_trials": 0}
        for sym, et in tests.items()}}


def test_holm_and_bh_correction_reduce_flags():
    """60 weakly skilled predictors (right on 15% of rows by design, a coin elsewhere): testing
    each at 5% flags many, Benjamini-Hochberg fewer, Holm (the run's correction) fewest."""
    rng = np.random.default_rng(7)
    tests = {}
    for i in range(60):
        realized = rng.normal(0, 1, 500)
        pred = np.where(rng.random(500) < 0.15, np.sign(realized), rng.normal(size=500))
        tests[f"W{i}"] = edge_test(pred, realized).as_dict()
    raw = np.array([t["p_value"] for t in tests.values()])
    holm, bh = adjust(raw, "holm"), adjust(raw, "fdr_bh")
    assert np.all(holm >= raw - 1e-15) and np.all(bh >= raw - 1e-15) and np.all(holm >= bh - 1e-15)
    n_raw, n_bh, n_holm = (raw < 0.05).sum(), (bh < 0.05).sum(), (holm < 0.05).sum()
    assert n_raw > n_bh > n_holm >= 1
    rep = _report(tests)
    v = judge([rep])
    flagged = {s for s, r in rep["symbols"].items() if r["models"]["m"]["edge_test"]["has_edge"]}
    assert v["tests"] == 60 and v["flagged"] == len(flagged) == n_holm
    assert judge([rep])["flagged"] == n_holm           # judging again starts from the raw p-values
    assert judge([rep], method="fdr_bh")["flagged"] == n_bh


def test_unskilled_predictors_are_never_flagged():
    rng = np.random.default_rng(8)
    tests = {f"N{i}": edge_test(rng.normal(size=500), rng.normal(0, 1, 500)).as_dict() for i in range(60)}
    assert judge([_report(tests)])["flagged"] == 0


def test_dsr_is_deflated_by_the_runs_trial_count():
    from pipelines.evaluation.metrics import deflated_sharpe, sharpe_stats
    rng = np.random.default_rng(9)
    series = [rng.normal(0.0008, 0.01, 750) for _ in range(10)]

    def rep(n_symbols: int, prior: int) -> dict:
        return {"horizon": 1, "symbols": {f"S{i}": {
            "models": {"m": {"strategy_sharpe_stats": sharpe_stats(series[i])}}, "ensembles": {},
            "baselines": {}, "prior_trials": prior} for i in range(n_symbols)}}

    one = rep(1, 0)
    judge([one])
    dsr_alone = one["symbols"]["S0"]["models"]["m"]["strategy_dsr"]
    assert dsr_alone == pytest.approx(deflated_sharpe(series[0], 1))
    two_horizons = [rep(10, 1), rep(10, 1)]                # 2 horizons x 10 symbols + 20 earlier tries
    v = judge(two_horizons)
    assert v["n_trials"] == 40 and v["candidates"] == 20 and v["prior_trials"] == 20
    m = two_horizons[1]["symbols"]["S0"]["models"]["m"]
    sharpes = [sharpe_stats(x)["sr"] for x in series] * 2
    assert m["n_trials"] == 40
    assert m["strategy_dsr"] == pytest.approx(deflated_sharpe(series[0], 40, sharpes))
    assert m["strategy_dsr"] < dsr_alone - 0.1


def test_walkforward_report_folder_has_the_signal_plots(drift_run, tmp_path):
    import json

    from pipelines.reports.signal import write_walkforward_report
    path = write_walkforward_report(tmp_path / "rep", {1: drift_run})
    page = path.read_text()
    assert "Cross-section (signal analysis)" in page and "momentum_20" in page
    assert page.count('id="signal-1-') == 4                # daily rank IC, cumulative IC, quantiles, long-short
    assert "bps" in page and "EDGE: directional accuracy" in page
    saved = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    ls = saved["horizons"]["1"]["signal"]["models"]["logistic"]
    assert len(ls["quantile_mean_return"]) == 5 and len(ls["series"]["rank_ic"]["ts"]) == ls["days"]


def test_walkforward_cli_corrects_over_every_horizon(tmp_path, monkeypatch, capsys):
    """`meridian walkforward` over five symbols and two horizons: one correction and one trial
    count for the whole run, the signal analysis in --json, and the report folder."""
    import json

    from pipelines.cli import main
    from tests.synthetic.markets import random_walk
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    store = ParquetStore(tmp_path / "lake")
    syms = [f"RW{i}" for i in range(5)]
    for i, s in enumerate(syms):
        store.write("bars", random_walk(800, seed=30 + i, symbol=s).bars)
    store.close()
    assert main(["walkforward", "--symbols", ",".join(syms), "--models", "logistic", "--ensembles", "",
                 "--horizon", "1,3", "--train-bars", "300", "--test-bars", "200", "--no-ray", "--no-persist",
                 "--report", str(tmp_path / "rep"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for h, rep in out["horizons"].items():
        v = rep["verdict"]
        assert v["tests"] == 2 * (5 + 1) and v["n_trials"] == 2 * 5 and v["flagged"] == 0
        assert rep["signal"]["models"]["logistic"]["nw_lags"] == int(h)
        assert abs(rep["signal"]["models"]["logistic"]["rank_ic_nw_t"]) < 2
        assert rep["symbols"]["RW0"]["models"]["logistic"]["n_trials"] == 10
    assert (tmp_path / "rep" / "report.html").read_text().count('id="signal-') == 8
