"""The training job: walk-forward on stored bars, artifacts saved and registered, promoted,
and loadable from the registry record with the feature check."""

from __future__ import annotations

import json

import pytest

from models import zoo
from models.registry import list_models
from pipelines.errors import ModelError
from pipelines.jobs.train import main
from pipelines.sources.sample import sample_bars
from pipelines.store import ParquetStore


def test_train_job_registers_loadable_models(ray_session, tmp_path, monkeypatch, capsys):
    lake = tmp_path / "data" / "lake"
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(lake))
    monkeypatch.setenv("MERIDIAN__WALKFORWARD__TRAIN_BARS", "400")
    monkeypatch.setenv("MERIDIAN__WALKFORWARD__TEST_BARS", "150")
    monkeypatch.setenv("MERIDIAN__MODELS__PARAMS", json.dumps({"lightgbm": {"n_estimators": 40}}))
    monkeypatch.setenv("MERIDIAN__MODELS__PROMOTE_MIN_DSR", "0")     # the gate is tested in test_promotion
    store = ParquetStore(lake)
    store.write("bars", sample_bars("SPX", 900)[0])     # real S&P 500 daily bars
    assert main(["--symbols", "SPX", "--models", "logistic,lightgbm", "--horizon", "1",
                 "--promote", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ids = out["horizons"]["1"]["symbols"]["SPX"]["model_ids"]
    records = {r.model_id: r for r in list_models(store)}
    assert set(records) == {ids["logistic"], ids["lightgbm"]}      # ensembles are not artifacts
    for rec in records.values():
        assert rec.status == "promoted" and rec.horizon == 1 and rec.symbols == ["SPX"]
        assert rec.train_start < rec.train_end
        assert "directional_accuracy" in rec.metrics and rec.metrics["n_trials"] == 6
        assert rec.metrics["verdict"]["n_trials"] == 6 and "strategy_excess_dsr" in rec.metrics
        assert rec.metrics["test_start"] < rec.metrics["test_end"]
        model = zoo.load(rec.artifact_path, expected_features=rec.features)
        assert model.name == rec.name
        with pytest.raises(ModelError, match="trained on feature set"):
            zoo.load(rec.artifact_path, expected_features=rec.features[:-1])
    preds = store.read("predictions")
    assert set(preds["model_id"]) == set(ids.values())
