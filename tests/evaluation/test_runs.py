"""Runs are records: the run record and its predictions round-trip on both stores; a walk-forward
is a run (id printed, models registered under it, predictions exported, the report rebuilt from
the record alone); a run that fails is recorded with its reason."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main
from pipelines.errors import DataError
from pipelines.evaluation import runs
from tests.helpers import cli_json


def _preds(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC", name="ts")
    return pd.DataFrame({"expected_return": rng.normal(0, 1e-3, n), "prob_up": rng.uniform(0, 1, n),
                         "realized_return": rng.normal(0, 1e-2, n), "fold": np.repeat([0, 1], n // 2)}, index=idx)


def test_the_record_round_trips_on_both_stores(store):
    rec = runs.start(store, kind="walkforward", config={"meridian": {"walkforward": {"horizon": 1}}},
                     config_hash="c" * 16, symbols=["AAA", "BBB"], models=["logistic"], horizons=[1])
    assert runs.get(store, rec.run_id).status == "running"
    p = _preds()
    assert runs.record_predictions(store, rec.run_id, "logistic", 1, "AAA", "1h", p) == len(p)
    report = {"run_id": rec.run_id, "horizons": {"1": {"symbols": {"AAA": {"models": {"logistic": {
        "directional_accuracy": 0.51, "ic": float("nan"), "strategy_sharpe": 0.2}}}}}}}
    runs.finish(store, rec, report, {"bars": {"AAA": "d" * 16}})
    back = runs.get(store, rec.run_id)
    assert back.status == "done" and back.finished_at is not None and back.reason is None
    assert back.symbols == ["AAA", "BBB"] and back.horizons == [1] and back.digests == {"bars": {"AAA": "d" * 16}}
    assert back.report["horizons"]["1"]["symbols"]["AAA"]["models"]["logistic"]["ic"] is None  # strict JSON
    got = runs.predictions(store, rec.run_id)
    assert list(got.columns) == ["ts", "symbol", "model", "horizon", "prediction", "realized"]
    np.testing.assert_allclose(got["prediction"].to_numpy(), p["expected_return"].to_numpy())
    np.testing.assert_allclose(got["realized"].to_numpy(), p["realized_return"].to_numpy())
    assert (got["ts"].to_numpy() == p.index.to_numpy()).all()
    failed = runs.start(store, kind="walkforward", config={}, config_hash="e" * 16, symbols=["AAA"],
                        models=["x"], horizons=[1])
    runs.fail(store, failed, "no bars for 'AAA'")
    assert runs.get(store, failed.run_id).status == "failed" and runs.get(store, failed.run_id).reason == "no bars for 'AAA'"
    assert {r.run_id for r in runs.list_runs(store, "done")} == {rec.run_id}
    with pytest.raises(DataError, match="no run 'nope'"):
        runs.get(store, "nope")


@pytest.fixture
def lake(tmp_path, monkeypatch):
    from pipelines.store import ParquetStore
    from tests.synthetic.markets import ar1
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("MERIDIAN__REPORT_DIR", str(tmp_path / "reports"))
    store = ParquetStore(tmp_path / "lake")
    store.write("bars", ar1(1200, phi=0.3, seed=8, symbol="SIM").bars)
    return store


def test_a_walkforward_is_a_run_rebuilt_from_its_record(lake, tmp_path, capsys):
    argv = ["--symbols", "SIM", "--models", "logistic", "--train-bars", "500", "--test-bars", "200",
            "--no-ray", "--json"]
    out = cli_json(capsys, "walkforward", *argv)
    run_id = out["run_id"]
    assert run_id.startswith("run-") and set(out["horizons"]) == {"1"}
    listed = cli_json(capsys, "runs", "list", "--json")
    assert [(r["run_id"], r["status"]) for r in listed] == [(run_id, "done")]
    shown = cli_json(capsys, "runs", "show", run_id, "--json")
    assert shown["config"]["options"]["models"] == "logistic" and shown["config_hash"]
    assert shown["digests"]["bars"]["SIM"] == runs.bars_digest(lake.read_bars("SIM", "1h"))
    assert shown["report"]["horizons"]["1"]["symbols"]["SIM"]["models"]["logistic"] == \
        out["horizons"]["1"]["symbols"]["SIM"]["models"]["logistic"]
    # the models it registered name the run
    model_id = out["horizons"]["1"]["symbols"]["SIM"]["model_ids"]["logistic"]
    rec = cli_json(capsys, "models", "show", model_id, "--json")
    assert rec["config"]["run_id"] == run_id
    # predictions exported: one row per out-of-sample bar, realized beside the prediction
    csv = tmp_path / "p.csv"
    assert cli_json(capsys, "runs", "predictions", run_id, "--out", str(csv), "--json")["rows"] > 0
    got = pd.read_csv(csv)
    assert list(got.columns) == ["ts", "symbol", "model", "horizon", "prediction", "realized"]
    n_test = out["horizons"]["1"]["symbols"]["SIM"]["models"]["logistic"]["n_test_bars"]
    assert len(got[got["model"] == "logistic"]) == n_test
    # the report and metrics.json from the record alone
    paths = cli_json(capsys, "runs", "report", run_id, "--json")
    metrics = json.loads(open(paths["metrics"]).read())
    assert metrics["run_id"] == run_id and metrics["horizons"]["1"]["symbols"]["SIM"]["models"]["logistic"]
    assert run_id in open(paths["html"]).read()
    # a second run with another window, compared
    out2 = cli_json(capsys, "walkforward", *argv[:5], "300", *argv[6:])
    cmp_ = cli_json(capsys, "runs", "compare", run_id, out2["run_id"], "--json")
    assert cmp_["config"]["meridian.walkforward.train_bars"] == [500, 300]
    assert "logistic/h1" in cmp_["cells"]


def test_a_failed_run_is_recorded_with_its_reason(lake, capsys):
    assert main(["walkforward", "--symbols", "NOPE", "--models", "logistic", "--no-ray"]) == 1
    assert "no bars for 'NOPE'" in capsys.readouterr().err
    listed = cli_json(capsys, "runs", "list", "--status", "failed", "--json")
    assert len(listed) == 1 and "no bars for 'NOPE'" in listed[0]["reason"]


def test_the_job_module_takes_the_same_options(lake, capsys):
    from pipelines.jobs.train import main as train_main
    from pipelines.jobs.walkforward import main as wf_main
    argv = ["--symbols", "SIM", "--models", "logistic", "--train-bars", "500", "--test-bars", "200", "--no-ray", "--json"]
    assert wf_main(argv) == 0
    a = json.loads(capsys.readouterr().out)
    assert train_main(argv) == 0
    b = json.loads(capsys.readouterr().out)
    assert a["run_id"] != b["run_id"]
    assert a["horizons"]["1"]["symbols"]["SIM"]["models"] == b["horizons"]["1"]["symbols"]["SIM"]["models"]


def test_a_symbol_that_cannot_form_a_fold_is_skipped_not_fatal(ray_session, lake, capsys):
    """Per-symbol mode over several symbols runs them as Ray tasks; a too-short symbol is skipped
    with the reason, a late-listed one is evaluated on the bars it has, nothing aborts."""
    from tests.synthetic.markets import ar1
    late = ar1(900, phi=0.3, seed=9, symbol="LATE").bars
    late = late.assign(ts=late["ts"] + pd.Timedelta(days=20), known_at=late["known_at"] + pd.Timedelta(days=20))
    lake.write("bars", late)
    lake.write("bars", ar1(120, phi=0.3, seed=10, symbol="SHORT").bars)
    out = cli_json(capsys, "walkforward", "--symbols", "SIM,LATE,SHORT,NOPE", "--models", "logistic",
                   "--train-bars", "500", "--test-bars", "200", "--json")
    rep = out["horizons"]["1"]
    assert set(rep["symbols"]) == {"SIM", "LATE"}
    assert "120 1h bars, fewer than one walk-forward fold needs" in rep["skipped"]["SHORT"]
    assert "no bars for 'NOPE'" in rep["skipped"]["NOPE"]
    assert rep["symbols"]["LATE"]["models"]["logistic"]["n_test_bars"] > 0
    listed = cli_json(capsys, "runs", "list", "--json")
    assert listed[0]["status"] == "done"
