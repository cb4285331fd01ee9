"""A panel run registers its models: one per model name and horizon under the run id, the last
fold's fit saved under the models folder, with the run's panel evidence as metrics, so that
`meridian models promote` applies the rank-IC t gate to it and `--force --reason` records an
override; `walkforward --panel --promote` promotes those that pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.registry import get
from models.training.panel import make_panel
from models.zoo import model_class
from pipelines.cli import main
from pipelines.config import load_config
from pipelines.features.catalog import feature_set
from pipelines.store import ParquetStore
from tests.helpers import cli_json
from tests.models.test_panel_cli import _store


def _run(capsys, syms: list[str], *extra: str) -> dict:
    return cli_json(capsys, "walkforward", "--panel", "--symbols", ",".join(syms), "--models", "logistic,lightgbm",
                    "--label", "rank", "--horizon", "1", "--no-ray", *extra, "--json")


@pytest.fixture
def panel_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MERIDIAN_HOME", str(tmp_path / "home"))
    syms = _store(tmp_path, monkeypatch, n_symbols=6, n_days=300)
    run = _run(capsys, syms)
    store = ParquetStore(tmp_path / "lake")
    yield syms, run, store
    store.close()


def test_a_panel_run_registers_the_last_folds_model_of_each_name_under_the_run(panel_run):
    syms, run, store = panel_run
    out = run["horizons"]["1"]
    ids = out["model_ids"]
    assert set(ids) == {"logistic", "lightgbm"}
    models_dir = load_config().models_dir
    bars = {s: store.read("bars", {"symbol": s}).sort_values("ts").reset_index(drop=True) for s in syms}
    panel = make_panel(bars, feature_set(load_config().features.feature_set), 1, label="rank")
    for name, mid in ids.items():
        rec = get(store, mid)
        assert rec.kind == "panel" and rec.status == "candidate" and rec.name == name
        assert rec.config["run_id"] == run["run_id"] and rec.config["label"] == "rank"
        assert rec.symbols == out["universe"] == sorted(syms) and rec.features == out["features"]
        assert rec.timeframe == "1d" and rec.horizon == 1
        sig = out["signal"]["models"][name]
        assert rec.metrics["signal"]["rank_ic_nw_t"] == pytest.approx(sig["rank_ic_nw_t"])
        assert rec.metrics["signal"]["rank_ic_mean"] == pytest.approx(sig["rank_ic_mean"])
        assert "series" not in rec.metrics["signal"] and rec.metrics["verdict"]["tests"] == out["verdict"]["tests"]
        assert Path(rec.artifact_path).parent == Path(models_dir)
        # the registered artifact is the last fold's model: it reproduces that fold's recorded
        # out-of-sample predictions, and it was trained before that fold's first test date
        recorded = store.read("run_predictions", {"run_id": run["run_id"], "model": name})
        last = recorded[recorded["fold"] == recorded["fold"].max()].set_index(["ts", "symbol"]).sort_index()
        model = model_class(name).load(rec.artifact_path, expected_features=rec.features)
        again = model.predict(panel.X.loc[last.index])["expected_return"]
        assert again.to_numpy() == pytest.approx(last["prediction"].to_numpy(), abs=1e-9)
        assert rec.train_end < last.index.get_level_values("ts").min()


def test_promote_applies_the_rank_ic_t_gate_and_force_records(panel_run, capsys, monkeypatch):
    _, run, store = panel_run
    mid = run["horizons"]["1"]["model_ids"]["logistic"]
    t = get(store, mid).metrics["signal"]["rank_ic_nw_t"]
    bar = round(t + 1, 3)
    monkeypatch.setenv("MERIDIAN__MODELS__PROMOTE_MIN_RANK_IC_T", repr(bar))
    rc = main(["models", "promote", mid])
    err = capsys.readouterr().err
    assert rc == 1 and f"{mid}: rank-IC Newey-West t {t:.2f} < {bar:g}" in err
    assert get(store, mid).status == "candidate"
    got = cli_json(capsys, "models", "promote", mid, "--force", "--reason", "paper-trade the cross-section", "--json")
    assert got == {"promoted": mid, "retired": [], "forced": True}
    rec = get(store, mid)
    p = rec.metrics["promotion"]
    assert rec.status == "promoted" and p["forced"] is True and p["reason"] == "paper-trade the cross-section"
    assert f"rank-IC Newey-West t {t:.2f}" in p["gate"]


def test_walkforward_panel_promote_promotes_those_that_pass(panel_run, capsys, monkeypatch):
    syms, run, store = panel_run
    ts = {n: get(store, mid).metrics["signal"]["rank_ic_nw_t"] for n, mid in run["horizons"]["1"]["model_ids"].items()}
    bar = sum(ts.values()) / 2    # between the two models' t (they differ on this data)
    assert min(ts.values()) < bar < max(ts.values())
    monkeypatch.setenv("MERIDIAN__MODELS__PROMOTE_MIN_RANK_IC_T", repr(bar))
    again = _run(capsys, syms, "--promote")
    ids = again["horizons"]["1"]["model_ids"]
    best, worst = max(ts, key=ts.get), min(ts, key=ts.get)
    assert again["promotion"]["promoted"] == [ids[best]]
    assert len(again["promotion"]["refused"]) == 1 and ids[worst] in again["promotion"]["refused"][0]
    assert get(store, ids[best]).status == "promoted" and get(store, ids[worst]).status == "candidate"
    assert get(store, ids[best]).config["run_id"] == again["run_id"] != run["run_id"]
