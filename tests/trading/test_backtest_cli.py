"""``meridian backtest`` on predictions and bars in the store: JSON result and the HTML report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.registry import ModelRecord, promote, register
from pipelines.cli import main
from pipelines.store import ParquetStore


def _seed(store, symbol: str, asset_class: str, seed: int, n: int = 900) -> None:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2023-01-02", periods=n, freq="1h", tz="UTC")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    store.write("bars", pd.DataFrame({
        "symbol": symbol, "asset_class": asset_class, "venue": "test", "timeframe": "1h", "ts": ts,
        "open": open_, "high": np.maximum(open_, close) * 1.001, "low": np.minimum(open_, close) * 0.999,
        "close": close, "volume": 1.0, "known_at": ts + pd.Timedelta(hours=1)}))
    fwd = pd.Series(close).shift(-1) / pd.Series(close) - 1
    # a model with some skill: the realized next return plus a lot of noise
    er = fwd + rng.normal(0, 0.006, n)
    start = 200
    for name in ("xgboost", "logistic"):
        mid = f"{name}-{symbol}-1h-h1-test"
        store.write("predictions", pd.DataFrame({
            "model_id": mid, "symbol": symbol, "timeframe": "1h", "ts": ts[start:-1],
            "known_at": ts[start:-1] + pd.Timedelta(hours=1), "horizon": 1, "fold": 0,
            "expected_return": er[start:-1].to_numpy(), "prob_up": (1 / (1 + np.exp(-er[start:-1] * 400))).to_numpy(),
            "confidence": rng.uniform(0.4, 0.9, n - start - 1), "realized_return": fwd[start:-1].to_numpy(),
            "config_hash": "test"}))
        register(store, ModelRecord(mid, name, "forecaster", {}, "test", ["f"], [symbol], "1h", 1,
                                    ts[0], ts[start], {}, "/nowhere"))
        promote(store, mid)


@pytest.fixture
def lake(tmp_path, monkeypatch):
    store = ParquetStore(tmp_path / "lake")
    _seed(store, "BTCUSDT", "crypto", 1)
    _seed(store, "EURUSD", "forex", 2)
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("MERIDIAN__REPORT_DIR", str(tmp_path / "reports"))
    return tmp_path


@pytest.mark.parametrize("sizing", ["signal", "kelly"])
def test_backtest_cli_json_and_report(lake, capsys, sizing):
    out_dir = lake / f"report-{sizing}"
    rc = main(["backtest", "--symbols", "BTCUSDT,EURUSD", "--models", "xgboost,logistic",
               "--sizing", sizing, "--out", str(out_dir), "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    m = res["metrics"]
    assert res["models"]["BTCUSDT"] == ["logistic-BTCUSDT-1h-h1-test", "xgboost-BTCUSDT-1h-h1-test"]
    assert m["trade_trades"] > 10 and m["bars"] == 699 and m["sizing"] == sizing
    assert m["total_return"] > m["buy_and_hold_total_return"]          # the seeded skill shows
    page = (out_dir / "report.html").read_text()
    for div in ("fig-equity", "fig-drawdown", "fig-monthly", 'id="trades"'):
        assert div in page
    trades = pd.read_csv(out_dir / "trades.csv")
    assert len(trades) == m["trade_trades"] + m["trade_open_trades"]
    assert set(trades["symbol"]) == {"BTCUSDT", "EURUSD"}
    if sizing == "kelly":
        assert 0 < m["max_gross_exposure"] <= 12.5 and trades["size"].max() <= 3.0 + 1e-9
    else:
        assert trades["size"].max() == 1.0


def test_backtest_cli_unknown_model_is_a_clear_error(lake, capsys):
    rc = main(["backtest", "--symbols", "BTCUSDT", "--models", "prophet", "--json"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "no predictions for BTCUSDT from prophet" in err and "xgboost-BTCUSDT-1h-h1-test" in err


def test_backtest_refuses_mixed_timeframes(lake, capsys):
    store = ParquetStore(lake / "lake")
    p = store.read("predictions", {"symbol": "EURUSD"})
    p["timeframe"], p["model_id"] = "1d", p["model_id"].str.replace("-1h-", "-1d-")
    store.write("predictions", p)
    assert main(["backtest", "--symbols", "BTCUSDT,EURUSD", "--models", "xgboost-BTCUSDT-1h-h1-test,"
                 "xgboost-EURUSD-1d-h1-test", "--json"]) == 1
    assert "mix timeframes (BTCUSDT: 1h; EURUSD: 1d)" in capsys.readouterr().err
    assert main(["backtest", "--symbols", "EURUSD", "--models", "xgboost", "--timeframe", "1h",
                 "--out", str(lake / "r1h"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["models"]["EURUSD"] == ["xgboost-EURUSD-1h-h1-test"]


def test_backtest_job_entrypoint(lake, capsys):
    from pipelines.jobs.backtest import main as job_main
    assert job_main(["--symbols", "EURUSD", "--models", "logistic", "--out", str(lake / "job"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["models"] == {"EURUSD": ["logistic-EURUSD-1h-h1-test"]}
    assert (lake / "job" / "report.html").exists() and (lake / "job" / "metrics.json").exists()
