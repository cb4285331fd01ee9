"""``meridian paper run|status`` with a real promoted forecaster from the registry."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.registry import ModelRecord, promote, register
from models.training.dataset import make_dataset
from models.zoo import create
from pipelines.cli import main
from pipelines.features.catalog import feature_set
from pipelines.store import ParquetStore
from pipelines.trading.predictors import RegistryPredictor


def _bars(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    ts = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    return pd.DataFrame({"symbol": "BTCUSDT", "asset_class": "crypto", "venue": "test", "timeframe": "1h",
                         "ts": ts, "open": open_, "high": np.maximum(open_, close) * 1.003,
                         "low": np.minimum(open_, close) * 0.997, "close": close,
                         "volume": rng.uniform(1, 2, n), "known_at": ts + pd.Timedelta(hours=1)})


@pytest.fixture
def lake(tmp_path, monkeypatch):
    store = ParquetStore(tmp_path / "lake")
    bars = _bars()
    store.write("bars", bars)
    ds = make_dataset(bars.iloc[:300], feature_set("core"), horizon=1)
    model = create("logistic").fit(ds.X, ds.y)
    path = model.save(tmp_path / "models" / "logistic-BTCUSDT")
    rec = ModelRecord("logistic-BTCUSDT-1h-h1-t", "logistic", "forecaster", {"feature_set": "core"}, "t",
                      list(ds.X.columns), ["BTCUSDT"], "1h", 1, ds.X.index[0], ds.X.index[-1], {}, str(path))
    register(store, rec)
    promote(store, rec.model_id)
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("MERIDIAN__PORTFOLIO__INITIAL_CASH", "50000")
    monkeypatch.setenv("MERIDIAN__PORTFOLIO__SIZING__MIN_OUTCOMES", "1")
    return store, bars


def test_registry_predictor_answers_for_the_newest_bar(lake):
    store, bars = lake
    pred = RegistryPredictor(store, ["BTCUSDT"], "1h")
    view = pred("BTCUSDT", bars.iloc[:350])
    assert set(view) == {"expected_return", "prob_up", "confidence"} and 0 <= view["prob_up"] <= 1
    assert pred("BTCUSDT", bars.iloc[:3]) is None                 # inside the features' warm-up
    with pytest.raises(Exception, match="no promoted 1h forecaster for ETHUSDT"):
        RegistryPredictor(store, ["ETHUSDT"], "1h")


def test_paper_run_then_status(lake, capsys):
    store, bars = lake
    since = bars["ts"].iloc[-9].isoformat()
    assert main(["paper", "run", "--symbols", "BTCUSDT", "--timeframe", "1h", "--since", since,
                 "--max-cycles", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["processed_bars"] == 8 and out["models"] == {"BTCUSDT": ["logistic-BTCUSDT-1h-h1-t"]}
    fills = store.read("fills", {"account": "paper"})
    trades = fills[fills["symbol"] == "BTCUSDT"]
    assert len(trades) > 0 and (trades["ts"] > pd.Timestamp(since)).all()   # nothing before --since
    assert main(["paper", "run", "--symbols", "BTCUSDT", "--timeframe", "1h", "--max-cycles", "1",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["processed_bars"] == 0   # restart: nothing new
    assert main(["paper", "status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["pnl_total"] == pytest.approx(st["equity"] - 50_000)
    assert st["positions"] or st["actions"] == {}
    for sym in st["positions"]:
        assert st["actions"][sym]["action"] in {"TAKE_PROFIT", "EXIT", "ADD", "MONITOR", "HOLD"}
        assert st["actions"][sym]["reason"]
