"""`meridian rl train` on real bars imported into the store: the agent is trained on the first
rows, judged out of sample next to buy-and-hold, and recorded in the registry."""

from __future__ import annotations


import pytest
import torch

from models.registry import list_models
from pipelines.cli import main
from tests.helpers import cli_json

torch.set_num_threads(1)


@pytest.fixture
def lake(shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    files = [str(shared_data / "crypto_binance_vision_1h" / "BTCUSDT-1h-2023-01.csv")]
    cli_json(capsys, "import", *files, "--symbol", "BTCUSDT", "--asset-class", "crypto", "--json")
    return tmp_path / "lake"


def _check(out, agent):
    assert out["agent"] == agent and out["symbol"] == "BTCUSDT" and out["timeframe"] == "1h"
    assert out["test_rows"] > 100 and out["train_rows"] > out["test_rows"]
    for part in ("metrics", "buy_and_hold"):
        assert out[part]["bars"] >= out["test_rows"]
        assert set(out[part]) >= {"sharpe", "total_return", "max_drawdown"}


@pytest.mark.slow
def test_rl_train_td3_and_ppo_are_registered(lake, ray_session, capsys):
    from pipelines.store import ParquetStore
    td3 = cli_json(capsys, "rl", "train", "--agent", "td3", "--symbol", "BTCUSDT", "--iterations", "1", "--json")
    _check(td3, "td3")
    ppo = cli_json(capsys, "rl", "train", "--agent", "ppo", "--symbol", "BTCUSDT", "--iterations", "1", "--json")
    _check(ppo, "ppo")
    recs = {r.model_id: r for r in list_models(ParquetStore(lake))}
    for out in (td3, ppo):
        rec = recs[out["model_id"]]
        assert rec.kind == "rl-agent" and rec.name == out["agent"]
        assert rec.metrics["buy_and_hold"]["total_return"] == pytest.approx(out["buy_and_hold"]["total_return"])
        assert rec.train_end < rec.created_at
    # the same buy-and-hold baseline for both agents: the same test rows
    assert td3["buy_and_hold"] == ppo["buy_and_hold"]


def test_unknown_agent_and_missing_symbol_are_clear(lake, capsys):
    with pytest.raises(SystemExit):
        main(["rl", "train", "--agent", "a2c", "--symbol", "BTCUSDT"])
    capsys.readouterr()
    assert main(["rl", "train", "--agent", "td3", "--symbol", "NOPE", "--json"]) != 0
    assert "no bars for 'NOPE'" in capsys.readouterr().err
