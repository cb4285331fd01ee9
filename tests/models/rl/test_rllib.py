"""PPO, DQN and SAC on RLlib: a tiny-budget train, save, resume, and the exported policy."""

import numpy as np
import pytest

from models.rl.env import TradingEnv
from models.rl.rllib_agents import RLlibPolicy, build_config, module_path, train
from pipelines.errors import ModelError


def env_config():
    rng = np.random.default_rng(0)
    T = 400
    return {"features": rng.normal(size=(T, 3)).astype("float32"),
            "close": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, T))),
            "window": 8, "episode_length": 64, "end": 300}


def test_unknown_algorithm_is_refused():
    with pytest.raises(ModelError, match="unknown RLlib algorithm"):
        build_config("td3", env_config())


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ppo", "dqn", "sac"])
def test_smoke_train_save_resume_export(algo, ray_session, tmp_path):
    ec = env_config()
    algorithm, hist = train(algo, ec, 1, checkpoint_dir=tmp_path / "ck")
    assert hist[0]["iteration"] == 1
    algorithm.stop()
    assert module_path(tmp_path / "ck").exists()

    resumed, hist2 = train(algo, ec, 1, resume_from=tmp_path / "ck")
    assert hist2[0]["iteration"] == 2          # the counter continues from the checkpoint
    resumed.stop()

    policy = RLlibPolicy(tmp_path / "ck")       # no algorithm built
    env = TradingEnv({**ec, "action_mode": "discrete" if algo == "dqn" else "continuous"})
    obs, _ = env.reset(seed=0)
    a = policy.act(obs)
    assert env.action_space.contains(np.asarray(a, dtype=env.action_space.dtype).reshape(env.action_space.shape))
    with pytest.raises(ModelError, match="no RLModule checkpoint"):
        RLlibPolicy(tmp_path)
