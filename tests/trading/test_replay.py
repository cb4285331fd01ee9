"""Parity by construction: a strategy's paper account fed one bar at a time ends with the positions,
fills and equity of the backtest of the same strategy; the decision at t depends on nothing after
t; the run's own out-of-sample strategy figures equal the backtest of the one-model strategy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.config import MeridianConfig
from pipelines.evaluation.study import load, run_study
from pipelines.store import ParquetStore
from pipelines.trading import strategy as strategies
from pipelines.trading.decide import Market, targets
from pipelines.trading.replay import StrategyAccount, served_decision
from tests.helpers import cli_json
from tests.trading.test_backtest_cli import seed_run


@pytest.fixture
def lake(tmp_path, monkeypatch):
    store = ParquetStore(tmp_path / "lake")
    run_id = seed_run(store)
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("MERIDIAN__REPORT_DIR", str(tmp_path / "reports"))
    return store, run_id


@pytest.mark.parametrize("combiner", ["weighted", "stacking"])
@pytest.mark.parametrize("rule", ["signal", "kelly"])
def test_paper_replay_ends_where_the_backtest_ends(lake, capsys, rule, combiner):
    store, run_id = lake
    sid = cli_json(capsys, "strategy", "create", "--run", run_id, "--models", "xgboost,logistic",
                   "--horizon", "1", "--rule", rule, "--combiner", combiner, "--json")["strategy_id"]
    since = "2023-01-15T00:00:00Z"
    bt = cli_json(capsys, "backtest", "--strategy", sid, "--since", since, "--out", str(store.root / "r"), "--json")
    paper = cli_json(capsys, "paper", "replay", "--strategy", sid, "--since", since, "--json")
    assert paper["final_equity"] == pytest.approx(bt["final_equity"], rel=1e-9)
    st = strategies.get(store, sid)
    if combiner == "stacking":       # meta-learners from the second fold on, not the average fallback
        assert all("meta" in f for p in st.combiner.params.values() for f in p["folds"][1:])
    res = run_study(store, st, since=since).result
    assert paper["bars"] == len(res.index) and paper["as_of"] == bt["metrics"]["last_ts"]
    held = res.positions.iloc[-1]
    assert paper["positions"] == pytest.approx({s: float(v) for s, v in held.items()}, rel=1e-9, abs=1e-12)
    changes = int((np.abs(np.diff(np.vstack([np.zeros(2), res.sim.held]), axis=0)) > 0).sum())
    assert paper["fills"] == changes > 10


def test_an_interrupted_account_resumes_exactly_and_resets(lake, capsys):
    store, run_id = lake
    st = strategies.save(store, strategies.from_run(store, MeridianConfig(), run_id, ["xgboost"], 1, rule="kelly"))
    whole = StrategyAccount(store, st, account="whole")
    whole.replay()
    first = StrategyAccount(store, st, account="parts", flush_every=50)
    assert first.replay(max_bars=333) == 333
    del first                                        # a new process: state only from the store
    again = StrategyAccount(store, st, account="parts")
    again.replay()
    assert again.summary()["final_equity"] == pytest.approx(whole.summary()["final_equity"], rel=1e-12)
    out = cli_json(capsys, "paper", "reset", "--account", "parts", "--json")
    assert out["decisions_removed"] == 2 * len(again.ts)
    one = StrategyAccount(store, st, symbols=["BTCUSDT"], account="parts")   # a new symbol set after reset
    assert one.replay() > 0 and set(one.summary()["positions"]) == {"BTCUSDT"}


def test_changing_the_symbol_set_keeps_the_past_and_trades_the_new_set(lake):
    """An account of BTCUSDT that adds EURUSD keeps every decision it made, trades EURUSD from the
    next bar, and later dropping BTCUSDT flattens it at the next open and keeps it flat."""
    store, run_id = lake
    st = strategies.save(store, strategies.from_run(store, MeridianConfig(), run_id, ["xgboost"], 1, rule="kelly"))
    one = StrategyAccount(store, st, symbols=["BTCUSDT"], account="grow")
    one.replay(max_bars=300)
    past = one.summary()
    both = StrategyAccount(store, st, symbols=["BTCUSDT", "EURUSD"], account="grow")
    assert both.ts == one.ts and both.summary()["final_equity"] == past["final_equity"]
    both.replay(max_bars=200)
    res = both.result()
    held = res.positions
    assert (held["EURUSD"].iloc[:301] == 0).all() and (held["EURUSD"].iloc[301:] != 0).any()
    n = len(both.ts)
    only_eur = StrategyAccount(store, st, symbols=["EURUSD"], account="grow")
    assert only_eur.symbols == ["EURUSD", "BTCUSDT"] and len(only_eur.ts) == n
    only_eur.replay(max_bars=50)
    again = StrategyAccount(store, st, symbols=["EURUSD"], account="grow")   # after a restart, the same
    assert again.summary()["final_equity"] == pytest.approx(only_eur.summary()["final_equity"], rel=1e-12)
    held = again.result().positions
    assert held["BTCUSDT"].iloc[n + 1:].eq(0).all() and held["BTCUSDT"].iloc[:n].ne(0).any()
    assert again.summary()["positions"]["BTCUSDT"] == 0.0


def test_the_decision_at_t_uses_nothing_after_t(lake):
    store, run_id = lake
    st = strategies.from_run(store, MeridianConfig(), run_id, ["xgboost", "logistic"], 3, rule="kelly")
    views, market = load(store, st)
    full = targets(st, views, market)
    for t in (40, 300, len(market.index) - 2):
        ts = market.index[t]
        prefix = Market(*(f.loc[:ts] for f in (market.open, market.high, market.low, market.close)),
                        market.classes, market.timeframe)
        part = targets(st, {s: v.loc[:ts] for s, v in views.items()}, prefix)
        np.testing.assert_allclose(part.iloc[-1].to_numpy(), full.iloc[t].to_numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("models,combiner", [("logistic", "weighted"), ("logistic,xgboost", "weighted"),
                                             ("logistic,xgboost", "stacking"), ("logistic,xgboost", "bma")])
def test_the_runs_out_of_sample_strategy_is_the_backtest_of_its_strategy(tmp_path, monkeypatch, capsys, models,
                                                                         combiner):
    """One model: the run's figures of that model; two: the run's ensemble of the strategy's
    combiner, learned per fold from earlier folds, is what the strategy stores and applies."""
    from tests.synthetic.markets import ar1
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("MERIDIAN__REPORT_DIR", str(tmp_path / "reports"))
    ParquetStore(tmp_path / "lake").write("bars", ar1(1200, phi=0.3, seed=8, symbol="SIM").bars)
    wf = cli_json(capsys, "walkforward", "--symbols", "SIM", "--models", models, "--ensembles", combiner,
                  "--train-bars", "500", "--test-bars", "200", "--no-ray", "--json")
    sid = cli_json(capsys, "strategy", "create", "--run", wf["run_id"], "--models", models, "--horizon", "1",
                   "--combiner", combiner, "--json")["strategy_id"]
    bt = cli_json(capsys, "backtest", "--strategy", sid, "--out", str(tmp_path / "r"), "--json")["metrics"]
    cell = wf["horizons"]["1"]["symbols"]["SIM"]
    oos = cell["models"][models] if "," not in models else cell["ensembles"][combiner]
    assert bt["total_return"] == pytest.approx(oos["strategy_total_return"], rel=1e-9)
    assert bt["sharpe"] == pytest.approx(oos["strategy_sharpe"], rel=1e-9)
    assert bt["max_drawdown"] == pytest.approx(oos["strategy_max_drawdown"], rel=1e-9)
    if "," not in models:
        return
    # what it learned is in the record: a step per fold (learned before it) and a final one
    fitted = cli_json(capsys, "strategy", "show", sid, "--json")["combiner"]["params"]["SIM"]
    assert fitted["kind"] == combiner and fitted["models"] == ["logistic", "xgboost"] and len(fitted["folds"]) >= 3
    assert fitted["folds"][0]["weights"] == [0.5, 0.5]                     # nothing known before the first fold
    later = [f.get("meta") or f["weights"] for f in fitted["folds"][1:]] + [fitted["final"]]
    if combiner == "stacking":
        assert all(len(m["er_coef"]) == len(m["p_coef"]) == len(m["scale"]) == 2 for m in later)
        assert len({m["er_intercept"] for m in later}) == len(later)        # refitted at every fold
    else:
        assert all(sum(w) == pytest.approx(1.0) and w != [0.5, 0.5] for w in later)
    text = main_text(capsys, "strategy", "show", sid)
    assert ("stacking: expected return" if combiner == "stacking" else "SIM weights") in text


def main_text(capsys, *argv: str) -> str:
    from pipelines.cli import main
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("rule", ["signal", "kelly"])
def test_bars_after_the_run_are_decided_from_the_served_models(lake, rule):
    """A run that stops 150 bars early, and the served models' answers for those bars fed to the
    account (here: what a longer run of the same models said), end where the backtest over the
    longer run ends; a restarted account decides them from the kept answers, the same way."""
    from pipelines.evaluation import runs
    store, run_id = lake
    full = strategies.run_predictions(store, run_id, ["xgboost", "logistic"], 1)
    cut = sorted(full["ts"].unique())[-150]
    short = runs.start(store, kind="walkforward", config={}, config_hash="s" * 16, symbols=["BTCUSDT", "EURUSD"],
                       models=["xgboost", "logistic"], horizons=[1])
    for (m, s), g in full[full["ts"] < cut].groupby(["model", "symbol"]):
        runs.record_predictions(store, short.run_id, m, 1, s, "1h", pd.DataFrame(
            {"expected_return": g["prediction"].to_numpy(), "prob_up": g["prob_up"].to_numpy(),
             "realized_return": g["realized"].to_numpy(), "fold": g["fold"].to_numpy()},
            index=pd.DatetimeIndex(g["ts"], name="ts")))
    runs.finish(store, short, {"horizons": {}}, {})
    cfg = MeridianConfig()
    st_full = strategies.save(store, strategies.from_run(store, cfg, run_id, ["xgboost", "logistic"], 1,
                                                         rule=rule, combiner="average", name="full"))
    st = strategies.save(store, strategies.from_run(store, cfg, short.run_id, ["xgboost", "logistic"], 1,
                                                    rule=rule, combiner="average", name="short"))
    acct = StrategyAccount(store, st, flush_every=40)
    acct.replay()
    assert acct.last_ts < cut
    later = full[full["ts"] >= cut]
    answers = {str(s): {m: pd.DataFrame({"expected_return": f["prediction"].to_numpy(),
                                         "prob_up": f["prob_up"].to_numpy()},
                                        index=pd.DatetimeIndex(f["ts"], name="ts")) for m, f in g.groupby("model")}
               for s, g in later.groupby("symbol")}
    # what serving answers for the newest bar from those answers is the longer run's last backtest row
    served = served_decision(store, st, answers)
    views, market = load(store, st_full)
    tgt, held = targets(st_full, views, market), run_study(store, st_full).result.positions
    assert served["ts"] == market.index[-1].isoformat()
    for s, d in served["symbols"].items():
        assert d["source"] == "served models"
        assert d["target"] == pytest.approx(float(tgt[s].iloc[-1]), rel=1e-12, abs=1e-15)
        assert d["held"] == pytest.approx(float(held[s].iloc[-1]), rel=1e-9, abs=1e-12)
    for s, frames in answers.items():
        assert acct.add_predictions(s, frames) == 150
    assert acct.replay() == 150
    bt = run_study(store, st_full).result
    assert acct.summary()["final_equity"] == pytest.approx(float(bt.equity.iloc[-1]), rel=1e-9)
    assert acct.summary()["as_of"] == bt.index[-1].isoformat()
    again = StrategyAccount(store, st)                 # a new process: the kept answers, the same account
    assert again.summary()["final_equity"] == pytest.approx(acct.summary()["final_equity"], rel=1e-12)


def test_a_kelly_bar_decided_alone_is_the_full_history_decision(tmp_path):
    """The carried decision (what the paper account runs bar by bar) against one call over the
    whole history, on more bars than any of its windows (volatility median, correlation, payoff
    horizon): the last bar decided alone, and every bar of blocks of mixed sizes, equal to 1e-12."""
    from pipelines.trading.decide import Decision
    store = ParquetStore(tmp_path / "lake")
    run_id = seed_run(store, n=1600, horizons=(3,))
    st = strategies.from_run(store, MeridianConfig(), run_id, ["xgboost", "logistic"], 3, rule="kelly")
    # leverage that follows the volatility ratio at every bar (no class cap hides it)
    st = st.model_copy(update={"sizing": st.sizing.model_copy(update={"vol_cut_ratio": 0.9,
                                                                      "asset_class_leverage": {}})})
    views, market = load(store, st)
    n = len(market.index)
    assert n > max(st.sizing.vol_lookback, st.limits.corr_window + st.limits.corr_every) + st.horizon
    full = targets(st, views, market).to_numpy()
    assert np.count_nonzero(full) > n // 4                       # sized, not flat: the comparison bites

    def rows(lo, hi):
        return Market(*(f.iloc[lo:hi] for f in (market.open, market.high, market.low, market.close)),
                      market.classes, market.timeframe)

    carried = Decision(st, market.symbols)
    carried.next(views, rows(0, n - 1))
    last = carried.next({s: v.loc[carried.views_from:] for s, v in views.items()}, rows(n - 1, n))
    np.testing.assert_allclose(last.to_numpy()[0], full[-1], rtol=1e-12, atol=1e-12)
    carried, got, lo = Decision(st, market.symbols), [], 0
    for size in (1, 2, 3, 7, 60, 1, 333, 1, 1, 249):
        got.append(carried.next(views, rows(lo, lo + size)).to_numpy())
        lo += size
    while lo < n:
        got.append(carried.next(views, rows(lo, lo + 1)).to_numpy())
        lo += 1
    np.testing.assert_allclose(np.vstack(got), full, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="not after the last decided"):
        carried.next(views, rows(n - 1, n))
