"""Panel mode from the command line: `meridian walkforward --panel` and
`python -m pipelines.jobs.train --panel` run the same recorded run over bars in the store; on real
daily stocks (shared data) the report has every model and baseline on the same cells."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines.jobs.train import main as train_main
from pipelines.store import ParquetStore
from tests.helpers import cli_json
from tests.synthetic.markets import bars_from_returns


def _store(tmp_path, monkeypatch, n_symbols: int = 8, n_days: int = 360) -> list[str]:
    lake = tmp_path / "lake"
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(lake))
    monkeypatch.setenv("MERIDIAN__WALKFORWARD__TRAIN_BARS", "150")
    monkeypatch.setenv("MERIDIAN__WALKFORWARD__TEST_BARS", "60")
    rng = np.random.default_rng(7)
    store = ParquetStore(lake)
    syms = [f"P{i}" for i in range(n_symbols)]
    for i, s in enumerate(syms):
        r = np.r_[0.0, rng.normal(0, 0.01, n_days - 1)]
        store.write_bars(bars_from_returns(r, symbol=s, timeframe="1d", seed=i))
    store.close()
    return syms


def test_meridian_walkforward_panel_json(tmp_path, monkeypatch, capsys):
    syms = _store(tmp_path, monkeypatch)
    run = cli_json(capsys, "walkforward", "--panel", "--symbols", ",".join(syms + ["NOPE"]),
                   "--models", "logistic", "--label", "rank", "--horizon", "1", "--no-ray", "--json")
    out = run["horizons"]["1"]
    assert out["mode"] == "panel" and out["label"] == "rank" and out["folds"] >= 3
    assert out["skipped"] == {"NOPE": "no 1d bars in the store"}
    m = out["signal"]["models"]["logistic"]
    assert m["names"] == 8 and m["days"] > 100 and m["nw_lags"] == 1
    assert set(out["signal"]["baselines"]) == {"reversal_1", "reversal_5", "momentum_20"}
    assert all(b["days"] == m["days"] for b in out["signal"]["baselines"].values())
    # a recorded run: every out-of-sample (ts, symbol) prediction is in the store under it
    listed = cli_json(capsys, "runs", "list", "--json")
    assert listed[0]["run_id"] == run["run_id"] and listed[0]["kind"] == "panel" and listed[0]["status"] == "done"
    csv = tmp_path / "panel.csv"
    assert cli_json(capsys, "runs", "predictions", run["run_id"], "--out", str(csv), "--json")["rows"] > 800
    # baselines are references, never flagged; the verdict judged the model by rank-IC t
    assert out["verdict"]["tests"] >= 1 and not any(b.get("has_edge") for b in out["signal"]["baselines"].values())


def test_train_job_panel_branch(ray_session, tmp_path, monkeypatch, capsys):
    syms = _store(tmp_path, monkeypatch, n_symbols=6, n_days=300)
    assert train_main(["--panel", "--symbols", ",".join(syms), "--models", "logistic", "--horizon", "2",
                       "--label", "excess", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["horizons"]["2"]
    assert out["horizon"] == 2 and out["label"] == "excess"
    assert out["signal"]["models"]["logistic"]["nw_lags"] == 2 and out["signal"]["models"]["logistic"]["names"] == 6


@pytest.mark.shared
def test_panel_on_real_daily_stocks(shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    syms = ["AAPL", "MSFT", "JPM", "BAC", "XOM", "CVX", "GE", "INTC"]
    for s in syms:
        cli_json(capsys, "import", str(shared_data / "stocks_daily_sp500" / f"{s}_data.csv.gz"),
                 "--symbol", s, "--asset-class", "stock", "--tz", "UTC", "--json")
    out = cli_json(capsys, "walkforward", "--panel", "--symbols", ",".join(syms), "--models", "logistic",
                   "--keep", "500", "--retrain-every", "126", "--horizon", "1", "--no-ray", "--json")["horizons"]["1"]
    assert out["walkforward"]["train_bars"] == 500 and out["walkforward"]["test_bars"] == 126
    m = out["signal"]["models"]["logistic"]
    assert m["names"] == len(syms) and m["days"] > 500 and np.isfinite(m["rank_ic_mean"])
