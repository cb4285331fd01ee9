"""``meridian backtest`` by strategy or by run (never mixing runs or horizons), ``meridian
strategy create|list|show|promote``: the record on both stores, the report's leverage figures,
per-symbol table and warnings."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main
from pipelines.config import MeridianConfig
from pipelines.evaluation import runs
from pipelines.store import ParquetStore
from pipelines.trading import strategy as strategies
from tests.helpers import cli_json


def _bars(symbol: str, asset_class: str, seed: int, n: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2023-01-02", periods=n, freq="1h", tz="UTC")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    bars = pd.DataFrame({
        "symbol": symbol, "asset_class": asset_class, "venue": "test", "timeframe": "1h", "ts": ts,
        "open": open_, "high": np.maximum(open_, close) * 1.001, "low": np.minimum(open_, close) * 0.999,
        "close": close, "volume": 1.0, "known_at": ts + pd.Timedelta(hours=1)})
    return bars, pd.Series(close, index=ts)


def seed_run(store, symbols=(("BTCUSDT", "crypto", 1), ("EURUSD", "forex", 2)), n: int = 900,
             horizons=(1, 3), models=("xgboost", "logistic"), start: int = 200) -> str:
    """Bars, and a recorded run whose models have some skill (the realised move plus noise)."""
    rec = runs.start(store, kind="walkforward", config={}, config_hash="t" * 16, symbols=[s for s, _, _ in symbols],
                     models=list(models), horizons=list(horizons))
    for sym, ac, seed in symbols:
        bars, close = _bars(sym, ac, seed, n)
        store.write("bars", bars)
        rng = np.random.default_rng(seed + 100)
        for h in horizons:
            fwd = (close.shift(-h) / close - 1.0).iloc[start:-h]
            for k, m in enumerate(models):
                er = fwd + rng.normal(0, 0.004 * (k + 1), len(fwd))
                preds = pd.DataFrame({"expected_return": er, "prob_up": 1 / (1 + np.exp(-er * 400)),
                                      "realized_return": fwd,
                                      "fold": np.arange(len(fwd)) // 150}, index=fwd.index.rename("ts"))
                runs.record_predictions(store, rec.run_id, m, h, sym, "1h", preds)
    runs.finish(store, rec, {"horizons": {}}, {})
    return rec.run_id


@pytest.fixture
def lake(tmp_path, monkeypatch):
    store = ParquetStore(tmp_path / "lake")
    run_id = seed_run(store)
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("MERIDIAN__REPORT_DIR", str(tmp_path / "reports"))
    return tmp_path, run_id


def test_the_strategy_record_round_trips_on_both_stores(store):
    run_id = seed_run(store, symbols=(("AAA", "stock", 3),), n=500, horizons=(1,))
    st = strategies.from_run(store, MeridianConfig(), run_id, ["xgboost", "logistic"], 1)
    saved = strategies.save(store, st)
    back = strategies.get(store, saved.strategy_id)
    assert back == saved and back.run_id == run_id and back.models == ("logistic", "xgboost")
    fitted = back.combiner.params["AAA"]
    # a weight vector per fold, each learned before the fold, the first fold equal weights
    assert len(fitted["folds"]) == 2 and fitted["folds"][0]["weights"] == [0.5, 0.5]
    assert fitted["final"][fitted["models"].index("xgboost")] > fitted["final"][fitted["models"].index("logistic")]
    again = strategies.save(store, strategies.from_run(store, MeridianConfig(), run_id, ["xgboost"], 1,
                                                       name=saved.name))
    assert again.version == 2 and again.strategy_id.endswith("-v2")
    strategies.set_status(store, saved.strategy_id, "promoted")
    assert [s.strategy_id for s in strategies.list_strategies(store, "promoted")] == [saved.strategy_id]
    with pytest.raises(Exception, match="no strategy 'nope'"):
        strategies.get(store, "nope")


def test_strategy_cli_and_backtest_by_strategy(lake, capsys):
    tmp, run_id = lake
    made = cli_json(capsys, "strategy", "create", "--run", run_id, "--models", "xgboost,logistic",
                    "--horizon", "1", "--name", "pair", "--json")
    sid = made["strategy_id"]
    assert made["models"] == ["logistic", "xgboost"] and made["horizon"] == 1
    assert [s["strategy_id"] for s in cli_json(capsys, "strategy", "list", "--json")] == [sid]
    shown = cli_json(capsys, "strategy", "show", sid, "--json")
    assert shown["costs"]["slippage_vol_mult"] == 0.05 and shown["combiner"]["kind"] == "weighted"
    assert cli_json(capsys, "strategy", "promote", sid, "--json")["status"] == "promoted"
    out = cli_json(capsys, "backtest", "--strategy", sid, "--out", str(tmp / "rep"), "--json")
    m = out["metrics"]
    assert out["strategy"]["strategy_id"] == sid and m["total_return"] > m["buy_and_hold_total_return"]
    # the signal rule gives each symbol an equal share: 1x gross like the benchmark
    assert m["max_gross_exposure"] <= 1.0 + 1e-12 and m["buy_and_hold_gross_leverage"] == pytest.approx(1.0, abs=0.01)
    assert {r["symbol"] for r in out["per_symbol"]} == {"BTCUSDT", "EURUSD"}
    assert all(r["return"] > 0 and r["costs"] > 0 for r in out["per_symbol"])   # additive shares
    assert out["final_equity"] == pytest.approx(1 + m["total_return"])
    assert (tmp / "rep" / "report.html").exists()
    capsys.readouterr()
    assert main(["backtest", "--strategy", sid, "--out", str(tmp / "rep2")]) == 0
    text = capsys.readouterr().out
    assert "gross leverage" in text and "1x-normalised return" in text and "%" in text


def test_backtest_by_run_never_mixes_runs_or_horizons(lake, capsys):
    tmp, run_id = lake
    assert main(["backtest", "--models", "xgboost", "--json"]) != 0
    err = capsys.readouterr().err
    assert "ambiguous (2 choices)" in err and f"--run {run_id} --horizon 1" in err and "--horizon 3" in err
    out = cli_json(capsys, "backtest", "--run", run_id, "--models", "xgboost", "--horizon", "3",
                   "--sizing", "kelly", "--out", str(tmp / "k"), "--json")
    assert out["strategy"]["horizon"] == 3 and out["strategy"]["models"] == ["xgboost"]
    assert 0 < out["metrics"]["max_gross_exposure"] <= 12.5 + 1e-9
    assert main(["backtest", "--run", run_id, "--models", "prophet", "--horizon", "1", "--json"]) == 1
    assert "no recorded run has out-of-sample predictions of prophet" in capsys.readouterr().err


def test_backtest_flags_leverage_and_costs(lake, capsys):
    tmp, run_id = lake
    store = ParquetStore(tmp / "lake")
    cfg = MeridianConfig.model_validate({"trading": {"fee_bps": 40.0}, "portfolio": {"risk": {"max_gross": 2.0}}})
    st = strategies.from_run(store, cfg, run_id, ["xgboost"], 1, rule="kelly")
    strategies.save(store, st)
    out = cli_json(capsys, "backtest", "--strategy", st.strategy_id, "--out", str(tmp / "w"), "--json")
    warnings = " ".join(out["warnings"])
    assert "of equity, above 10% of the starting equity" in warnings
    assert out["metrics"]["costs_paid"] > 0.1
