"""The demo job end to end on a small slice of the sample set, with real Ray and the Parquet lake."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipelines.config import load_config
from pipelines.jobs.demo import DEMO_DEFAULTS, run
from pipelines.store import ParquetStore


def test_demo_end_to_end(ray_session, tmp_path):
    overrides = {**DEMO_DEFAULTS,
                 "walkforward": {"horizon": 1, "train_bars": 300, "test_bars": 100, "validation_fraction": 0.2},
                 "store": {"path": str(tmp_path / "data" / "lake")},
                 "report_dir": str(tmp_path / "reports"),
                 "models": {"params": {"xgboost": {"n_estimators": 40}}}}
    cfg = load_config(overrides=overrides, environ={})
    out = run(cfg, ["SPX", "EURUSD"], ["xgboost"], max_bars=700, progress=False)
    metrics = json.loads(Path(out["metrics"]).read_text())
    html = Path(out["report"]).read_text()
    assert "equity-SPX" in html and "equity-EURUSD" in html
    assert (Path(out["report"]).parent / "plotly.min.js").exists()
    for sym in ("SPX", "EURUSD"):
        m = metrics["models"]["xgboost"][sym]
        for k in ("directional_accuracy", "ic", "strategy_sharpe", "strategy_max_drawdown", "n_test_bars"):
            assert k in m
        assert 0.0 <= m["directional_accuracy"] <= 1.0
        assert m["n_test_bars"] > 300
        assert m["strategy_max_drawdown"] <= 0
    store = ParquetStore(tmp_path / "data" / "lake")
    preds = store.read("predictions")
    assert set(preds["symbol"]) == {"SPX", "EURUSD"}
    assert preds["fold"].nunique() >= 3
    assert preds[["model_id", "symbol", "ts"]].duplicated().sum() == 0
    models = store.read("models")
    assert len(models) == 2 and set(models["status"]) == {"promoted"}
    for path in models["artifact_path"]:
        assert (Path(path) / "meta.json").exists()
    # every prediction was made before its outcome: decision at known_at, label later
    bars = store.read("bars", {"symbol": "SPX"})
    assert len(bars) == 700
    spx = preds[preds["symbol"] == "SPX"].set_index("ts")
    assert (spx.index >= bars["ts"].iloc[0] + pd.Timedelta(days=300)).all()
    # rerunning is idempotent: the same rows, not twice as many
    run(cfg, ["SPX", "EURUSD"], ["xgboost"], max_bars=700, progress=False)
    assert len(store.read("predictions")) == len(preds)
