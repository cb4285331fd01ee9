"""Parity on market data, not synthetic walks: a walk-forward run on real bars (the shared dev
data's Binance hourly bars, and the bundled sample's EURUSD hourly), a strategy from it, and the
backtest, the paper replay and the served decision of that strategy agree: same final equity,
same positions, and the decision served for the newest bar is the backtest's last row."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.store import ParquetStore
from pipelines.trading import strategy as strategies
from pipelines.trading.replay import served_decision
from tests.helpers import cli_json


def _parity(store_path, capsys, symbols: list[str], rule: str) -> None:
    run = cli_json(capsys, "walkforward", "--symbols", ",".join(symbols), "--models", "logistic,xgboost",
                   "--ensembles", "", "--horizon", "1", "--train-bars", "500", "--test-bars", "250",
                   "--no-ray", "--report", str(store_path.parent / "wf"), "--json")
    sid = cli_json(capsys, "strategy", "create", "--run", run["run_id"], "--models", "logistic,xgboost",
                   "--horizon", "1", "--rule", rule, "--json")["strategy_id"]
    bt = cli_json(capsys, "backtest", "--strategy", sid, "--out", str(store_path.parent / "bt"), "--json")
    paper = cli_json(capsys, "paper", "replay", "--strategy", sid, "--json")
    assert paper["final_equity"] == pytest.approx(bt["final_equity"], rel=1e-9)
    assert paper["as_of"] == bt["metrics"]["last_ts"] and paper["bars"] > 400
    store = ParquetStore(store_path)
    st = strategies.get(store, sid)
    served = served_decision(store, st)
    assert served["ts"] == bt["metrics"]["last_ts"]
    for s in symbols:
        assert served["symbols"][s]["held"] == pytest.approx(paper["positions"][s], rel=1e-9, abs=1e-12)
    assert np.isfinite(bt["final_equity"]) and bt["final_equity"] != 1.0


@pytest.mark.shared
@pytest.mark.parametrize("rule", ["signal", "kelly"])
def test_parity_on_real_binance_bars(shared_data, tmp_path, monkeypatch, capsys, rule):
    from pipelines.sources.files import import_bars
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    store = ParquetStore(tmp_path / "lake")
    for s in ("BTCUSDT", "ETHUSDT"):
        bars = import_bars(shared_data / "crypto_binance_spot_1h" / f"{s}_1h.csv.gz", asset_class="crypto",
                           tz="UTC").bars.tail(1500)
        store.write("bars", bars.reset_index(drop=True))
    store.close()
    _parity(tmp_path / "lake", capsys, ["BTCUSDT", "ETHUSDT"], rule)


@pytest.mark.parametrize("rule", ["signal", "kelly"])
def test_parity_on_the_bundled_sample(tmp_path, monkeypatch, capsys, rule):
    from pipelines.sources.sample import sample_bars
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    store = ParquetStore(tmp_path / "lake")
    bars, _ = sample_bars("EURUSD", 1500)
    store.write("bars", bars)
    store.close()
    _parity(tmp_path / "lake", capsys, ["EURUSD"], rule)
