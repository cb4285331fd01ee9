"""The promotion gate: `meridian models promote` refuses a model whose out-of-sample evidence
fails the configured thresholds (or that has none), and `--force --reason` records the override."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from models.registry import ModelRecord, PromotionGate, PromotionRefused, get, promote, refusal, register
from pipelines.cli import main
from pipelines.store import ParquetStore


def _rec(model_id: str, metrics: dict, symbols=("AAPL",)) -> ModelRecord:
    return ModelRecord(model_id=model_id, name="xgboost", kind="forecaster", config={}, config_hash="h" * 16,
                       features=["ret_lag_1"], symbols=list(symbols), timeframe="1d", horizon=1,
                       train_start=pd.Timestamp("2020-01-01", tz="UTC"),
                       train_end=pd.Timestamp("2023-01-01", tz="UTC"), metrics=metrics, artifact_path="/tmp/none")


@pytest.fixture
def lake(tmp_path, monkeypatch):
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    store = ParquetStore(tmp_path / "lake")
    register(store, _rec("weak", {"strategy_dsr": 0.40, "strategy_excess_dsr": 0.30}))
    register(store, _rec("drift", {"strategy_dsr": 0.99, "strategy_excess_dsr": 0.20}))
    register(store, _rec("strong", {"strategy_dsr": 0.99, "strategy_excess_dsr": 0.97}))
    register(store, _rec("bare", {"directional_accuracy": 0.6}))
    register(store, _rec("panel-weak", {"signal": {"rank_ic_nw_t": 1.4}}, symbols=("AAPL", "MSFT", "JPM")))
    register(store, _rec("panel-strong", {"signal": {"rank_ic_nw_t": 3.1}}, symbols=("AAPL", "MSFT", "JPM")))
    yield store
    store.close()


def _promote(capsys, *args) -> tuple[int, str, str]:
    rc = main(["models", "promote", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("model_id, why", [
    ("weak", "deflated Sharpe ratio 0.400 < 0.95"),
    ("drift", "deflated Sharpe ratio in excess of buy-and-hold 0.200 < 0.95"),
    ("bare", "no out-of-sample evidence"),
    ("panel-weak", "rank-IC Newey-West t 1.40 < 2"),
])
def test_promote_refuses_weak_or_missing_evidence(lake, capsys, model_id, why):
    rc, _, err = _promote(capsys, model_id)
    assert rc == 1 and why in err and len(err.strip().splitlines()) == 1
    assert get(lake, model_id).status == "candidate"


def test_promote_accepts_evidence_that_passes(lake, capsys):
    for mid in ("strong", "panel-strong"):
        rc, out, _ = _promote(capsys, mid, "--json")
        assert rc == 0 and json.loads(out)["promoted"] == mid
        assert get(lake, mid).status == "promoted"
        assert "promotion" not in get(lake, mid).metrics


def test_thresholds_come_from_config(lake, capsys, monkeypatch):
    monkeypatch.setenv("MERIDIAN__MODELS__PROMOTE_MIN_DSR", "0.25")
    assert _promote(capsys, "weak")[0] == 0
    monkeypatch.setenv("MERIDIAN__MODELS__PROMOTE_MIN_RANK_IC_T", "1.0")
    assert _promote(capsys, "panel-weak")[0] == 0


def test_force_records_who_when_why(lake, capsys):
    rc, _, err = _promote(capsys, "weak", "--force")
    assert rc == 1 and "--reason" in err
    rc, out, _ = _promote(capsys, "weak", "--force", "--reason", "paper-trade it for a month", "--json")
    assert rc == 0 and json.loads(out)["forced"] is True
    rec = get(lake, "weak")
    p = rec.metrics["promotion"]
    assert rec.status == "promoted" and p["forced"] is True and p["reason"] == "paper-trade it for a month"
    assert "0.400 < 0.95" in p["gate"] and p["by"] and pd.Timestamp(p["at"]).tzinfo is not None
    assert rec.metrics["strategy_dsr"] == 0.40          # the evidence is kept beside the override


def test_gate_in_the_registry_api(lake):
    gate = PromotionGate()
    assert refusal(get(lake, "strong"), gate) is None
    with pytest.raises(PromotionRefused, match="no out-of-sample evidence"):
        promote(lake, "bare", gate)
    assert promote(lake, "bare").status == "promoted"   # no gate: the registry's plain operation
