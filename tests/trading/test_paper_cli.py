"""``meridian paper run|status`` on a strategy's paper account, and an account that survives a
``kill -9`` of a real ``meridian paper replay`` process: the restart ends exactly where an
uninterrupted account ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.config import MeridianConfig
from pipelines.store import ParquetStore
from pipelines.trading import strategy as strategies
from pipelines.trading.replay import STATE_SOURCE, StrategyAccount
from tests.helpers import cli_json
from tests.trading.test_backtest_cli import seed_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lake(tmp_path, monkeypatch):
    store = ParquetStore(tmp_path / "lake")
    run_id = seed_run(store)
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("MERIDIAN__PORTFOLIO__INITIAL_CASH", "50000")
    return store, run_id


def test_paper_run_then_status_read_the_strategy_account(lake, capsys):
    store, run_id = lake
    st = strategies.save(store, strategies.from_run(store, MeridianConfig(), run_id, ["xgboost", "logistic"], 1))
    out = cli_json(capsys, "paper", "run", "--strategy", st.strategy_id, "--max-cycles", "1", "--json")
    whole = StrategyAccount(store, st, account="reference")
    whole.replay()
    assert out["processed_bars"] == len(whole.ts) > 600
    assert out["final_equity"] == pytest.approx(whole.summary()["final_equity"], rel=1e-12)
    assert out["pnl_total"] == pytest.approx((out["final_equity"] - 1) * 50_000)
    again = cli_json(capsys, "paper", "run", "--strategy", st.strategy_id, "--max-cycles", "1", "--json")
    assert again["processed_bars"] == 0 and again["final_equity"] == out["final_equity"]   # nothing new
    status = cli_json(capsys, "paper", "status", "--strategy", st.strategy_id, "--json")
    assert {k: status[k] for k in ("final_equity", "pnl_total", "pnl_today", "positions", "fills", "as_of")} == \
        {k: out[k] for k in ("final_equity", "pnl_total", "pnl_today", "positions", "fills", "as_of")}
    # a smaller symbol set: the account keeps its past and trades only BTCUSDT from the next bar
    fewer = cli_json(capsys, "paper", "run", "--strategy", st.strategy_id, "--symbols", "BTCUSDT", "--json")
    assert fewer["processed_bars"] == 0 and set(fewer["positions"]) == {"BTCUSDT", "EURUSD"}


@pytest.mark.parametrize("rule", ["signal", "kelly"])
def test_a_killed_paper_replay_resumes_exactly(lake, tmp_path, rule):
    store, run_id = lake
    st = strategies.save(store, strategies.from_run(store, MeridianConfig(), run_id, ["xgboost", "logistic"], 1,
                                                    rule=rule))
    whole = StrategyAccount(store, st, account="reference")
    whole.replay()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MERIDIAN__STORE__PATH": str(tmp_path / "lake")}
    cmd = [sys.executable, "-m", "pipelines.cli", "paper", "replay", "--strategy", st.strategy_id,
           "--flush-every", "25", "--json"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    account = f"paper:{st.strategy_id}"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        done = store.read("strategy_decisions", {"account": account})
        if len(done) >= 2 * 100:                       # some bars in, most still to come
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the replay ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    killed_at = store.read("strategy_decisions", {"account": account})["ts"].nunique()
    assert 100 <= killed_at < len(whole.ts)
    assert len(store.read("checkpoints", {"source": STATE_SOURCE, "stream": account})) > 0
    rerun = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    out = json.loads(rerun.stdout)
    ref = whole.summary()
    assert out["bars"] == len(whole.ts) and out["processed_bars"] < len(whole.ts)
    assert out["final_equity"] == pytest.approx(ref["final_equity"], rel=1e-12)
    assert out["positions"] == pytest.approx(ref["positions"], rel=1e-12, abs=1e-15)
    assert out["fills"] == ref["fills"]
