"""`meridian walkforward` on data loaded by `meridian import`, and `meridian models
list|show|promote` against both stores."""

from __future__ import annotations


import pandas as pd

from models.registry import ModelRecord, register
from pipelines.cli import main
from tests.helpers import cli_json


def _strict(token: str):
    raise AssertionError(f"not strict JSON: {token}")


def _run(capsys, *argv) -> object:
    return cli_json(capsys, *argv, parse_constant=_strict)


def test_walkforward_on_imported_real_data(ray_session, shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    folder = shared_data / "crypto_binance_vision_1h"
    files = sorted(str(p) for p in folder.glob("BTCUSDT-1h-2023-0*.csv"))
    assert len(files) == 5
    imported = _run(capsys, "import", *files, "--symbol", "BTCUSDT", "--asset-class", "crypto", "--json")
    assert sum(r["rows_written"] for r in imported) > 3000
    out = _run(capsys, "walkforward", "--symbols", "BTCUSDT", "--models", "xgboost,logistic",
               "--horizon", "2", "--train-bars", "1200", "--test-bars", "600", "--json")
    assert out["run_id"].startswith("run-") and out["horizons"]["2"]["horizon"] == 2
    r = out["horizons"]["2"]["symbols"]["BTCUSDT"]
    assert r["timeframe"] == "1h" and r["folds"] >= 3
    assert set(r["models"]) == {"xgboost", "logistic"}
    assert set(r["ensembles"]) == {"average", "weighted", "stacking", "bma"}
    assert set(r["baselines"]) == {"buy_and_hold", "momentum"}
    for m in list(r["models"].values()) + list(r["ensembles"].values()):
        for k in ("directional_accuracy", "ic", "rank_ic", "strategy_sharpe", "strategy_sortino",
                  "strategy_max_drawdown", "strategy_calmar", "strategy_win_rate", "strategy_profit_factor",
                  "strategy_turnover", "strategy_psr", "strategy_dsr", "hit_rate_by_confidence",
                  "buy_and_hold_sharpe", "momentum_sharpe", "edge_test"):
            assert k in m, k
        assert m["n_trials"] == 6
    from pipelines.store import ParquetStore
    preds = ParquetStore(tmp_path / "lake").read("predictions")
    assert set(preds["model_id"]) == set(r["model_ids"].values())
    assert preds.groupby("model_id")["fold"].nunique().min() == r["folds"]
    # a second round of tries on the same series counts the first round's in its corrections
    again = _run(capsys, "walkforward", "--symbols", "BTCUSDT", "--models", "logistic,lightgbm",
                 "--horizon", "2", "--train-bars", "1200", "--test-bars", "600", "--json")
    r2 = again["horizons"]["2"]["symbols"]["BTCUSDT"]
    assert r2["model_ids"]["logistic"] == r["model_ids"]["logistic"]      # same config, same id
    assert r2["n_trials"] == 6 + 5      # + xgboost and the four ensembles over other members
    assert r2["models"]["logistic"]["n_trials"] == 11


def test_walkforward_errors_are_clear(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    assert main(["walkforward", "--symbols", "NOPE", "--models", "xgboost", "--no-ray", "--json"]) == 1
    assert "no bars for 'NOPE'" in capsys.readouterr().err
    assert main(["walkforward", "--symbols", "NOPE", "--models", "prophet", "--no-ray"]) == 1
    assert "unknown model 'prophet'" in capsys.readouterr().err


def _record(model_id: str, name: str = "xgboost", status: str = "candidate", acc: float = 0.52) -> ModelRecord:
    return ModelRecord(model_id=model_id, name=name, kind="forecaster", config={"params": {"max_depth": 3}},
                       config_hash="h" * 16, features=["ret_lag_1", "vol_20"], symbols=["BTCUSDT"],
                       timeframe="1h", horizon=1, train_start=pd.Timestamp("2023-01-01", tz="UTC"),
                       train_end=pd.Timestamp("2023-03-01", tz="UTC"),
                       metrics={"directional_accuracy": acc, "strategy_sharpe": 0.4, "strategy_dsr": 0.97,
                                "strategy_excess_dsr": 0.96},
                       artifact_path="/tmp/none", status=status)


def test_models_list_show_promote(store, monkeypatch, tmp_path, capsys, request):
    if hasattr(store, "schema"):
        monkeypatch.setenv("MERIDIAN__STORE__BACKEND", "postgres")
        monkeypatch.setenv("MERIDIAN__STORE__DSN", request.getfixturevalue("pg_dsn"))
        monkeypatch.setenv("MERIDIAN__STORE__SCHEMA_NAME", store.schema)
    else:
        monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    register(store, _record("xgb-old", status="promoted", acc=0.51))
    register(store, _record("xgb-new", acc=0.55))
    register(store, _record("lgb-1", name="lightgbm"))

    rows = _run(capsys, "models", "list", "--json")
    assert {r["model_id"] for r in rows} == {"xgb-old", "xgb-new", "lgb-1"}
    assert {r["model_id"] for r in _run(capsys, "models", "list", "--name", "xgboost", "--json")} == {"xgb-old", "xgb-new"}
    shown = _run(capsys, "models", "show", "xgb-new", "--json")
    assert shown["features"] == ["ret_lag_1", "vol_20"] and shown["config"]["params"]["max_depth"] == 3
    assert shown["metrics"]["directional_accuracy"] == 0.55 and len(shown["feature_hash"]) == 16

    res = _run(capsys, "models", "promote", "xgb-new", "--json")
    assert res == {"promoted": "xgb-new", "retired": ["xgb-old"]}
    promoted = _run(capsys, "models", "list", "--status", "promoted", "--json")
    assert {r["model_id"] for r in promoted} == {"xgb-new"}
    assert main(["models", "show", "missing", "--json"]) == 1
    assert "no model 'missing'" in capsys.readouterr().err


def test_walkforward_several_horizons(tmp_path, monkeypatch, capsys):
    from tests.synthetic.markets import ar1
    from pipelines.store import ParquetStore
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    store = ParquetStore(tmp_path / "lake")
    store.write("bars", ar1(1500, phi=0.3, seed=8, symbol="SIM").bars)
    out = _run(capsys, "walkforward", "--symbols", "SIM", "--models", "logistic", "--horizon", "1,3",
               "--train-bars", "600", "--test-bars", "300", "--no-ray", "--json")
    assert set(out["horizons"]) == {"1", "3"}
    for h, rep in out["horizons"].items():
        assert rep["horizon"] == int(h)
        m = rep["symbols"]["SIM"]["models"]["logistic"]
        assert m["directional_accuracy"] > 0.5 and m["n_test_bars"] > 700
        assert rep["symbols"]["SIM"]["ensembles"] == {}     # one model: nothing to combine
    preds = store.read("predictions")
    assert set(preds["horizon"]) == {1, 3}
    assert main(["walkforward", "--symbols", "SIM", "--horizon", "0", "--no-ray"]) == 1
    assert "positive bar counts" in capsys.readouterr().err
