"""Per-symbol walk-forward over several symbols: one Ray task per symbol, each reading its own bars
from the store (Parquet lake or PostgreSQL), gives exactly the report of the same symbols run one
after another in this process: predictions, metrics, baselines, signal analysis, verdict,
skipped symbols and bar digests."""

from __future__ import annotations

import json

import pandas as pd

from pipelines.config import load_config
from pipelines.evaluation import runs
from pipelines.jobs.symbol_walkforward import Walkforwards
from pipelines.jobs.train import run
from tests.synthetic.markets import ar1

SYMBOLS = ["S0", "S1", "SHORT", "S2", "NOPE", "S3", "S4"]
MODELS = ["logistic", "lightgbm"]


def _comparable(report: dict) -> str:
    return json.dumps({k: v for k, v in report.items() if k != "seconds"}, sort_keys=True, default=str)


def test_ray_tasks_per_symbol_equal_sequential(ray_session, store, tmp_path):
    for i, s in enumerate(["S0", "S1", "S2", "S3", "S4"]):
        store.write("bars", ar1(700 + 40 * i, phi=0.3, seed=i, symbol=s).bars)
    store.write("bars", ar1(200, phi=0.3, seed=9, symbol="SHORT").bars)
    cfg = load_config(environ={}, overrides={"home": str(tmp_path), "walkforward": {"train_bars": 300, "test_bars": 150},
                                             "models": {"params": {"lightgbm": {"n_estimators": 20}}}})
    work = Walkforwards(store, MODELS, cfg, use_ray=True, progress=False, n_symbols=len(SYMBOLS))
    assert work.parallel            # else the comparison below would compare sequential with itself
    seq = run(cfg, store, SYMBOLS, MODELS, persist=True, use_ray=False, progress=False)
    par = run(cfg, store, SYMBOLS, MODELS, persist=True, use_ray=True, progress=False)
    assert _comparable(par) == _comparable(seq)
    assert list(par["symbols"]) == ["S0", "S1", "S2", "S3", "S4"]          # the order asked
    assert list(par["skipped"]) == ["SHORT", "NOPE"]
    assert "200 1h bars, fewer than one walk-forward fold needs" in par["skipped"]["SHORT"]
    assert par["bars_digests"]["S3"] == runs.bars_digest(store.read_bars("S3", "1h"))
    assert par["signal"]["models"] and par["symbols"]["S4"]["ensembles"]
    # the predictions persisted by the driver are the ones the symbols' tasks made
    ids = par["symbols"]["S2"]["model_ids"]
    stored = store.read("predictions", {"model_id": ids["lightgbm"]})
    assert len(stored) == par["symbols"]["S2"]["models"]["lightgbm"]["n_test_bars"]
    assert pd.Series(stored["symbol"]).eq("S2").all()


def test_the_configured_costs_are_the_ones_the_run_pays(store, tmp_path):
    """The report's header names the configured costs, and every symbol's metrics pay them."""
    store.write("bars", ar1(700, phi=0.3, seed=0, symbol="S0").bars)
    sharpe = {}
    for fee in (2.0, 40.0):
        cfg = load_config(environ={}, overrides={"home": str(tmp_path), "trading": {"fee_bps": fee},
                                                 "walkforward": {"train_bars": 300, "test_bars": 150}})
        rep = run(cfg, store, ["S0"], ["logistic"], persist=False, use_ray=False, progress=False)
        assert rep["costs"]["fee_bps"] == fee
        sharpe[fee] = rep["symbols"]["S0"]["models"]["logistic"]["strategy_sharpe"]
    # the same predictions (costs do not touch the model) pay 38 bps more per side of turnover
    assert sharpe[40.0] < sharpe[2.0] - 1.0, sharpe
