"""The gnn in the recorded panel walk-forward (`meridian walkforward --panel --models gnn,...`):
a late listing and a gap keep their rows, every model's predictions are recorded under the run
and analysed by the same signal analysis; the per-symbol walk-forward refuses it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pipelines.cli import main
from pipelines.store import ParquetStore
from tests.helpers import cli_json
from tests.synthetic.markets import bars_from_returns

N_DAYS = 320


def _store(tmp_path, monkeypatch) -> list[str]:
    """Six full symbols, LATE listing on day 120 and GAPPY without bars on days 150-179."""
    lake = tmp_path / "lake"
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(lake))
    monkeypatch.setenv("MERIDIAN__WALKFORWARD__TRAIN_BARS", "150")
    monkeypatch.setenv("MERIDIAN__WALKFORWARD__TEST_BARS", "60")
    monkeypatch.setenv("MERIDIAN__MODELS__PARAMS", json.dumps({"gnn": {"epochs": 20, "min_overlap": 30}}))
    rng = np.random.default_rng(3)
    store = ParquetStore(lake)
    syms = [f"P{i}" for i in range(6)] + ["LATE", "GAPPY"]
    for i, s in enumerate(syms):
        bars = bars_from_returns(np.r_[0.0, rng.normal(0, 0.01, N_DAYS - 1)], symbol=s, timeframe="1d", seed=i)
        if s == "LATE":
            bars = bars.iloc[120:]
        elif s == "GAPPY":
            bars = bars.drop(index=range(150, 180))
        store.write_bars(bars.reset_index(drop=True))
    store.close()
    return syms


def test_walkforward_panel_records_gnn_predictions(tmp_path, monkeypatch, capsys):
    syms = _store(tmp_path, monkeypatch)
    run = cli_json(capsys, "walkforward", "--panel", "--symbols", ",".join(syms), "--models", "gnn,logistic",
                   "--horizon", "1", "--no-ray", "--json")
    out = run["horizons"]["1"]
    assert out["universe"] == sorted(syms) and out["skipped"] == {} and out["folds"] >= 2
    g, lg = out["signal"]["models"]["gnn"], out["signal"]["models"]["logistic"]
    assert g["names"] == len(syms) and g["days"] == lg["days"] > 100 and np.isfinite(g["rank_ic_mean"])
    # every (ts, symbol) test row of the panel, for both models, LATE and GAPPY included
    path = tmp_path / "preds.csv"
    cli_json(capsys, "runs", "predictions", run["run_id"], "--out", str(path), "--json")
    preds = pd.read_csv(path)
    by_model = {m: p.set_index(["ts", "symbol"]).index for m, p in preds.groupby("model")}
    assert set(by_model) == {"gnn", "logistic"}
    assert by_model["gnn"].sort_values().equals(by_model["logistic"].sort_values())
    assert {"LATE", "GAPPY"} <= set(preds.loc[preds["model"] == "gnn", "symbol"])
    gnn = preds[preds["model"] == "gnn"]
    assert gnn["prediction"].notna().all() and len(gnn) == out["signal"]["cells"]


def test_per_symbol_walkforward_refuses_gnn(tmp_path, monkeypatch, capsys):
    syms = _store(tmp_path, monkeypatch)
    assert main(["walkforward", "--symbols", ",".join(syms[:3]), "--models", "gnn", "--no-ray", "--json"]) == 1
    assert "gnn is a panel model: use --panel" in capsys.readouterr().err
