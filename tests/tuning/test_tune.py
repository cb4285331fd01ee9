"""`meridian tune` end to end on bars in the store: a tabular (xgboost) search with a tiny
budget, the best trial registered and promotable, the training status of the experiment."""

from __future__ import annotations


import pytest

from models.registry import get, list_models
from models.tuning.status import training_status
from models.zoo import load
from pipelines.cli import main
from pipelines.sources.sample import sample_bars
from pipelines.store import ParquetStore
from tests.helpers import cli_json


@pytest.fixture
def lake(tmp_path, monkeypatch):
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    s = ParquetStore(tmp_path / "lake")
    bars, _ = sample_bars("SPX", 320)
    s.write("bars", bars)
    s.close()
    return tmp_path


@pytest.mark.slow
def model_frame(lake, rec):
    from models.training.dataset import make_dataset
    from pipelines.features.catalog import feature_set
    bars, _ = sample_bars("SPX", 320)
    return make_dataset(bars, feature_set("core"), horizon=rec.horizon).X.iloc[-20:]


def test_tune_xgboost_registers_the_best_trial(ray_session, lake, capsys):
    storage = lake / "tune"
    xgb = cli_json(capsys, "tune", "--model", "xgboost", "--symbol", "SPX", "--trials", "2", "--scheduler", "asha",
                   "--param", "n_estimators=20", "--storage", str(storage), "--json")
    assert len(xgb["trials"]) == 2 and all(t["final"] for t in xgb["trials"])
    assert xgb["best_metrics"]["val_mse"] == min(t["val_mse"] for t in xgb["trials"])
    assert xgb["best_params"]["n_estimators"] == 20 and "max_depth" in xgb["best_params"]

    store = ParquetStore(lake / "lake")
    try:
        recs = {r.model_id: r for r in list_models(store)}
        assert {xgb["model_id"]} <= set(recs)
        rec = recs[xgb["model_id"]]
        assert rec.kind == "tune-best" and rec.status == "candidate" and rec.name == "xgboost"
        assert rec.config["params"] == xgb["best_params"]
        model = load(rec.artifact_path, expected_features=rec.features)
        assert model.params["n_estimators"] == 20 and model.predict(model_frame(lake, rec)).notna().all().all()
    finally:
        store.close()
    # a Tune trial's validation score is not out-of-sample evidence: the gate refuses it, and an
    # override is recorded with its reason
    assert main(["models", "promote", xgb["model_id"], "--json"]) == 1
    assert "out-of-sample" in capsys.readouterr().err
    promoted = cli_json(capsys, "models", "promote", xgb["model_id"], "--force", "--reason", "smoke test", "--json")
    assert promoted["promoted"] == xgb["model_id"]
    store = ParquetStore(lake / "lake")
    try:
        rec = get(store, xgb["model_id"])
        assert rec.status == "promoted" and rec.metrics["promotion"]["reason"] == "smoke test"
    finally:
        store.close()

    status = training_status(storage)
    by_model = {e["model"]: e for e in status["experiments"]}
    assert set(by_model) == {"xgboost"}
    assert by_model["xgboost"]["status_counts"] == {"TERMINATED": 2}
    assert {t["val_mse"] for t in by_model["xgboost"]["trials"]} == {t["val_mse"] for t in xgb["trials"]}
    assert status["live"]["available"] is False and status["live"]["error"]   # no dashboard here


def test_tune_refuses_bad_requests(lake, capsys):
    assert main(["tune", "--model", "lstm", "--symbol", "NOPE", "--trials", "1", "--json"]) == 1
    assert "no bars for 'NOPE'" in capsys.readouterr().err
    assert main(["tune", "--model", "logistic", "--symbol", "SPX", "--trials", "1", "--json"]) == 1
    assert "no search space for 'logistic'" in capsys.readouterr().err
    assert main(["tune", "--resume", str(lake), "--json"]) == 1
    assert "not a meridian tune experiment" in capsys.readouterr().err


@pytest.mark.slow
def test_tune_lstm_with_asha(ray_session, lake, capsys):
    out = cli_json(capsys, "tune", "--model", "lstm", "--symbol", "SPX", "--trials", "3", "--scheduler", "asha",
                   "--max-epochs", "3", "--param", "hidden=8", "--param", "window=8", "--param", "aux_horizons=[5]",
                   "--storage", str(lake / "tune"), "--json")
    assert len(out["trials"]) == 3 and not any(t["error"] for t in out["trials"])
    finished = [t for t in out["trials"] if t["final"]]
    stopped = [t for t in out["trials"] if not t["final"]]
    assert finished and all(t["iterations"] == 4 for t in finished)        # 3 epochs + the final report
    assert all(t["iterations"] < 4 for t in stopped)                       # cut short by ASHA
    assert out["best_metrics"]["val_mse"] == min(t["val_mse"] for t in finished)
    assert out["best_params"]["hidden"] == 8 and {"lr", "dropout", "batch_size", "layers"} <= set(out["best_params"])
    assert out["model_id"].startswith("lstm-SPX-1d-h1-tune-")
