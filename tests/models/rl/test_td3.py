"""TD3: a smoke train as a Ray task, save / load / resume, and learning a planted pattern."""

import numpy as np
import pytest
import torch

from models.rl.env import TradingEnv, policy_positions
from models.rl.td3 import TD3Agent, TD3Params, train_td3, train_td3_remote
from pipelines.errors import ModelError

torch.set_num_threads(1)


def _planted(n=600, seed=0):
    """Price rises 1% on the bar after feature +1 and falls 1% after -1."""
    rng = np.random.default_rng(seed)
    f = rng.choice([-1.0, 1.0], size=n)
    noise = rng.normal(size=(n, 2))
    rets = np.concatenate([[0.0], 0.01 * f[:-1]])
    close = 100 * np.cumprod(1 + rets)
    return np.column_stack([f, noise]), close


def _oos_return(env, act, rows):
    pos = policy_positions(env, act, rows)
    rets = env.prices[np.array(rows) + 1] / env.prices[np.array(rows)] - 1
    turnover = np.abs(np.diff(np.concatenate([[0.0], pos])))
    return float(np.sum(pos * rets - turnover * env.costs.per_unit_turnover))


def test_td3_learns_planted_pattern_better_than_random():
    feats, close = _planted()
    cfg = {"features": feats, "close": close, "window": 2, "start": 0, "end": 400, "episode_length": 50}
    params = TD3Params(hidden=32, batch_size=64, start_steps=300, seed=0, gamma=0.5)
    agent, returns = train_td3(cfg, 1500, params)
    assert returns
    test_env = TradingEnv({**cfg, "start": 0, "end": len(close), "action_mode": "continuous"})
    rows = range(401, len(close) - 1)
    learned = _oos_return(test_env, agent.act, rows)
    rng = np.random.default_rng(1)
    random = [_oos_return(test_env, lambda o: rng.uniform(-1, 1, 1), rows) for _ in range(5)]
    # a perfect policy earns ~1% per bar (~1.97 over 197 bars); random earns ~0
    assert learned > max(random) + 0.5, (learned, random)


def test_save_load_resume(tmp_path):
    feats, close = _planted(n=200)
    cfg = {"features": feats, "close": close, "window": 2, "end": 150, "episode_length": 40}
    params = TD3Params(hidden=16, batch_size=32, start_steps=50)
    agent, _ = train_td3(cfg, 120, params)
    agent.save(tmp_path / "a")
    back = TD3Agent.load(tmp_path / "a")
    obs = np.random.default_rng(0).normal(size=agent.obs_dim).astype(np.float32)
    np.testing.assert_allclose(back.act(obs), agent.act(obs))
    assert back.steps == 120 and back.updates == agent.updates > 0
    resumed, _ = train_td3(cfg, 60, agent=back)
    assert resumed.steps == 180 and resumed.updates > agent.updates
    (tmp_path / "bad").mkdir()
    with pytest.raises(ModelError, match="not a saved TD3"):
        TD3Agent.load(tmp_path / "bad")


@pytest.mark.slow
def test_td3_runs_as_ray_task(ray_session, tmp_path):
    feats, close = _planted(n=150)
    cfg = {"features": feats, "close": close, "window": 2, "end": 120, "episode_length": 30}
    out = train_td3_remote(cfg, 80, tmp_path / "remote", TD3Params(hidden=16, batch_size=32, start_steps=40),
                           timeout=120)
    assert out["steps"] == 80 and out["episodes"] >= 2
    agent = TD3Agent.load(out["path"])
    assert agent.act(np.zeros(agent.obs_dim, np.float32)).shape == (1,)
