"""Policies judged out of sample through run_backtest and strategy_metrics."""

import numpy as np
import pandas as pd
import pytest

from models.rl.env import TradingEnv
from pipelines.evaluation.policy import evaluate_policy
from pipelines.errors import ModelError


def _planted(n=300, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.choice([-1.0, 1.0], size=n)
    rets = np.concatenate([[0.0], 0.01 * f[:-1]])
    close = 100 * np.cumprod(1 + rets)
    ts = pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC")
    opens = np.concatenate([[close[0]], close[:-1]])  # each bar opens at the previous close
    bars = pd.DataFrame({"ts": ts, "open": opens, "close": close})
    return np.column_stack([f, rng.normal(size=n)]), close, ts, bars


def test_backtest_agrees_with_env_accounting_and_beats_buy_and_hold():
    feats, close, ts, bars = _planted()
    env = TradingEnv(features=feats, close=close, window=2, action_mode="discrete")
    follow = lambda obs: 2 if obs[-4] > 0 else 0  # last row's planted feature
    rows = range(200, 290)
    out = evaluate_policy(follow, env, ts, bars, rows)
    # env accounting on the same rows: the position decided at t earns close[t] -> close[t+1]
    pos = out["positions"].to_numpy()
    r = close[201:291] / close[200:290] - 1
    turnover = np.abs(np.diff(np.concatenate([[0.0], pos])))
    env_equity = np.prod(1 + pos * r - turnover * env.costs.per_unit_turnover)
    exit_cost = abs(pos[-1]) * env.costs.per_unit_turnover
    assert out["metrics"]["total_return"] == pytest.approx(env_equity * (1 - exit_cost) - 1, rel=1e-9)
    assert out["metrics"]["total_return"] > 1.0
    assert out["metrics"]["sharpe"] > out["buy_and_hold"]["sharpe"]
    assert out["trades"] > 10 and out["mean_abs_position"] == 1.0


def test_a_policy_reading_the_wrong_sign_loses():
    feats, close, ts, bars = _planted()
    env = TradingEnv(features=feats, close=close, window=2, action_mode="continuous")
    out = evaluate_policy(lambda obs: np.array([-obs[-4]]), env, ts, bars, range(200, 290))
    assert out["metrics"]["total_return"] < -0.5


def test_rows_outside_the_data_are_refused():
    feats, close, ts, bars = _planted(n=50)
    env = TradingEnv(features=feats, close=close, window=5)
    with pytest.raises(ModelError, match="do not fit"):
        evaluate_policy(lambda o: 1, env, ts, bars, range(2, 40))
    with pytest.raises(ModelError, match="ts has"):
        evaluate_policy(lambda o: 1, env, ts[:-1], bars, range(10, 40))
