"""TradingEnv: gymnasium's checker, causality of observations, rewards after costs, row ranges."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from models.rl.env import TradingEnv, policy_positions
from pipelines.costs import Costs


def _data(n=120, k=3, seed=0):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, k))
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return feats, close


@pytest.mark.parametrize("mode", ["discrete", "continuous"])
def test_check_env_passes(mode):
    feats, close = _data()
    env = TradingEnv(features=feats, close=close, window=5, action_mode=mode, episode_length=30)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (5 * 3 + 2,)


def _rollout(feats, close, actions, mode="discrete"):
    env = TradingEnv(features=feats, close=close, window=4, action_mode=mode, random_start=False,
                     episode_length=500)
    obs, info = env.reset(seed=0)
    out = [(info["t"], obs)]
    for a in actions:
        obs, _, term, trunc, info = env.step(a)
        out.append((info["t"], obs))
        if term or trunc:
            break
    return out


@pytest.mark.parametrize("t_change", [10, 40, 80])
def test_observations_up_to_t_ignore_later_data(t_change):
    feats, close = _data()
    rng = np.random.default_rng(3)
    actions = rng.integers(0, 3, size=100)
    base = _rollout(feats, close, actions)
    feats2, close2 = feats.copy(), close.copy()
    feats2[t_change + 1:] = rng.normal(size=feats2[t_change + 1:].shape) * 50
    close2[t_change + 1:] *= 3.0
    changed = _rollout(feats2, close2, actions)
    for (t, a), (t2, b) in zip(base, changed):
        assert t == t2
        if t <= t_change:
            np.testing.assert_array_equal(a, b)
    # the check is not vacuous: the decision after t_change does see the changed data
    after = [(a, b) for (t, a), (_, b) in zip(base, changed) if t == t_change + 1]
    assert after and not np.array_equal(*after[0])


def test_observation_holds_rows_up_to_t_and_account_state():
    feats, close = _data(n=40, k=2)
    env = TradingEnv(features=feats, close=close, window=3, random_start=False)
    obs, info = env.reset(seed=0)
    t = info["t"]
    assert t == 2
    np.testing.assert_allclose(obs[:6], feats[0:3].reshape(-1).astype("float32"))
    np.testing.assert_allclose(obs[6:], [0.0, 0.0])
    obs, _, _, _, info = env.step(2)  # buy
    np.testing.assert_allclose(obs[:6], feats[1:4].reshape(-1).astype("float32"))
    assert obs[6] == 1.0 and obs[7] == pytest.approx(np.log(info["equity"]), abs=1e-6)


def test_reward_is_equity_change_after_costs():
    feats, close = _data(n=30)
    costs = Costs(fee_bps=5, spread_bps=2, slippage_bps=3)
    env = TradingEnv(features=feats, close=close, window=2, random_start=False, costs=costs,
                     action_mode="continuous", max_leverage=2.0)
    _, info = env.reset(seed=0)
    t = info["t"]
    _, r, _, _, _ = env.step(np.array([0.5], dtype=np.float32))  # position 1.0
    ret = close[t + 1] / close[t] - 1
    assert r == pytest.approx(1.0 * ret - 1.0 * costs.per_unit_turnover)
    e1 = 1 + r
    _, r2, _, _, _ = env.step(np.array([-1.0], dtype=np.float32))  # position -2.0: trades 3 units
    ret2 = close[t + 2] / close[t + 1] - 1
    assert r2 == pytest.approx(e1 * (-2.0 * ret2 - 3.0 * costs.per_unit_turnover))


def test_episodes_stay_inside_their_row_range():
    feats, close = _data(n=200)
    env = TradingEnv(features=feats, close=close, window=5, start=20, end=100, episode_length=15)
    seen = []
    for seed in range(30):
        _, info = env.reset(seed=seed)
        seen.append(info["t"])
        done = False
        while not done:
            _, _, term, trunc, info = env.step(env.action_space.sample())
            done = term or trunc
            seen.append(info["t"])
    assert min(seen) >= 24 and max(seen) <= 99


class _Penalised(TradingEnv):
    def reward(self, equity_before, equity_after, bar_return, cost):
        return super().reward(equity_before, equity_after, bar_return, cost) - 10 * cost


def test_reward_is_overridable():
    feats, close = _data()
    a = TradingEnv(features=feats, close=close, random_start=False)
    b = _Penalised(features=feats, close=close, random_start=False)
    a.reset(seed=0), b.reset(seed=0)
    ra, rb = a.step(2)[1], b.step(2)[1]
    assert rb == pytest.approx(ra - 10 * Costs().per_unit_turnover)


def test_bad_input_is_refused():
    feats, close = _data(n=20)
    with pytest.raises(ValueError, match="NaN"):
        TradingEnv(features=np.where(np.arange(20)[:, None] == 3, np.nan, feats), close=close)
    with pytest.raises(ValueError, match="rows"):
        TradingEnv(features=feats, close=close[:-1])
    with pytest.raises(ValueError, match="action_mode"):
        TradingEnv(features=feats, close=close, action_mode="both")
    with pytest.raises(ValueError, match="too few"):
        TradingEnv(features=feats, close=close, window=30)


def test_policy_positions_follow_the_policy():
    feats, close = _data(n=50)
    env = TradingEnv(features=feats, close=close, window=3, action_mode="discrete")
    pos = policy_positions(env, lambda obs: 2 if obs[-3] > 0 else 0, range(10, 40))
    expected = np.where(feats[10:40, -1] > 0, 1.0, -1.0)
    np.testing.assert_array_equal(pos, expected)


def test_close_is_the_gymnasium_method():
    feats, close = _data(n=30)
    env = TradingEnv(features=feats, close=close)
    env.close()
    np.testing.assert_array_equal(env.prices, close)
