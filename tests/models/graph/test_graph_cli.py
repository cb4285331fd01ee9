"""`meridian graph train` over a universe in the store: features per symbol, the graph from the
training rows, the out-of-sample comparison with a node-only ridge, the registry record."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from models.registry import list_models
from models.zoo import load as load_model
from pipelines.cli import main
from tests.synthetic.markets import bars_from_returns
from pipelines.store import ParquetStore
from tests.helpers import cli_json

torch.set_num_threads(1)
SYMS = ["AAA", "BBB", "CCC", "DDD"]


@pytest.fixture
def lake(tmp_path, monkeypatch):
    """Four random walks sharing a market factor: correlated (the graph has edges), unpredictable."""
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    rng = np.random.default_rng(7)
    n = 900
    market = rng.normal(0, 0.008, n)
    store = ParquetStore(tmp_path / "lake")
    for i, s in enumerate(SYMS):
        r = market + rng.normal(0, 0.006, n)
        r[0] = 0.0
        store.write_bars(bars_from_returns(r, symbol=s, timeframe="1h", seed=i))
    store.close()
    return tmp_path / "lake"


def test_graph_train_reports_out_of_sample_and_registers(lake, capsys):
    out = cli_json(capsys, "graph", "train", "--symbols", ",".join(SYMS), "--param", "epochs=60", "--json")
    assert out["symbols"] == SYMS and out["timeframe"] == "1h"
    assert out["edges"] >= 3                      # the common factor links the symbols
    assert out["test_rows"] >= 200 and out["train_rows"] > out["test_rows"]
    for part in [out["pooled"], *out["per_symbol"].values()]:
        for model in ("gnn", "ridge"):
            s = part[model]
            assert s["n"] >= 200 and -1 <= s["ic"] <= 1 and 0 <= s["hit_rate"] <= 1
    # random walks: no out-of-sample edge for either model
    assert abs(out["pooled"]["gnn"]["t"]) < 3.5, out["pooled"]
    assert abs(out["pooled"]["ridge"]["t"]) < 3.5, out["pooled"]

    rec = {r.model_id: r for r in list_models(ParquetStore(lake))}[out["model_id"]]
    assert rec.kind == "graph-forecaster" and rec.name == "gnn" and rec.symbols == SYMS
    assert rec.metrics["pooled"]["gnn"]["ic"] == pytest.approx(out["pooled"]["gnn"]["ic"])
    assert rec.train_end.isoformat() < out["test_start"]          # purged split: training ends first
    # the universe stage (cross-sectional factors and ranks) is part of every node's features
    assert out["universe_columns"] and set(out["universe_columns"]) <= set(rec.features)
    assert any(c.startswith("xs_rank_") for c in out["universe_columns"])
    # the saved artifact loads through the zoo and predicts every node
    model = load_model(rec.artifact_path, expected_features=rec.features)
    assert model.symbols_ == SYMS


def test_universe_stage_can_be_left_out(lake, capsys):
    out = cli_json(capsys, "graph", "train", "--symbols", "AAA,BBB,CCC", "--no-universe", "--param", "epochs=20", "--json")
    assert out["universe_columns"] == []
    two = cli_json(capsys, "graph", "train", "--symbols", "AAA,BBB", "--param", "epochs=20", "--json")
    assert two["universe_columns"] == []          # a rank over two symbols says little: not built


def test_graph_train_refuses_bad_universes(lake, capsys):
    assert main(["graph", "train", "--symbols", "AAA", "--json"]) == 1
    assert "two or more symbols" in capsys.readouterr().err
    assert main(["graph", "train", "--symbols", "AAA,NOPE", "--json"]) == 1
    assert "no bars for 'NOPE'" in capsys.readouterr().err


@pytest.mark.shared
def test_graph_on_real_daily_stocks(shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    syms = ["AAPL", "MSFT", "JPM", "BAC", "XOM", "CVX"]
    files = [str(shared_data / "stocks_daily_sp500" / f"{s}_data.csv.gz") for s in syms]
    for s, f in zip(syms, files):
        cli_json(capsys, "import", f, "--symbol", s, "--asset-class", "stock", "--tz", "UTC", "--json")
    out = cli_json(capsys, "graph", "train", "--symbols", ",".join(syms), "--param", "epochs=100", "--json")
    assert out["test_rows"] > 250 and out["edges"] >= 3
    assert set(out["per_symbol"]) == set(syms)
    assert np.isfinite(out["pooled"]["gnn"]["ic"])
    # six symbols: judged on the cross-section, next to reversal and momentum on the same cells
    sig = out["signal"]
    assert set(sig["models"]) == {"gnn", "ridge"}
    assert set(sig["baselines"]) == {"reversal_1", "reversal_5", "momentum_20"}
    assert sig["models"]["gnn"]["names"] == 6 and sig["models"]["gnn"]["days"] > 250
    assert all(b["has_edge"] is False for b in sig["baselines"].values())
    rec = next(r for r in list_models(ParquetStore(tmp_path / "lake")) if r.model_id == out["model_id"])
    assert rec.metrics["signal"]["rank_ic_nw_t"] == pytest.approx(sig["models"]["gnn"]["rank_ic_nw_t"])
