"""A single-symbol trading environment over a features frame and its close prices.

Timing. Step ``t`` is the decision taken at the close of bar ``t``. Its observation holds the
feature rows ``t-window+1 .. t`` (``window`` rows ending with bar ``t`` itself, all known at that
close) followed by the position held into bar ``t`` and the log of the account equity; nothing
from bar ``t+1`` or later enters it. The action sets the position held from the close of ``t``
to the close of ``t+1``; the reward of the step is the change in equity over that bar, after the
costs (fee, half spread, slippage) on the traded notional.

Episodes start at a random row of ``[start, end)`` (the training window) and never read a row at
or after ``end``: the last decision of an episode is taken at ``end - 2`` so that its reward uses
the close of ``end - 1`` at most.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from gymnasium import spaces

from pipelines.costs import Costs

ACTION_MODES = ("discrete", "continuous")


class TradingEnv(gym.Env):
    """``features``: (n, k) rows per bar; ``close``: n closes aligned with them. ``action_mode``
    "discrete": actions 0/1/2 mean sell/hold/buy, i.e. positions -max_leverage/0/+max_leverage;
    "continuous": an action in [-1, 1] is the target position as a fraction of ``max_leverage``.
    ``env_config`` keys mirror the keyword arguments (RLlib passes a single dict)."""

    metadata = {"render_modes": []}

    def __init__(self, env_config: dict | None = None, **kwargs: Any) -> None:
        cfg = {**(env_config or {}), **kwargs}
        feats = cfg["features"]
        feats = feats.to_numpy(dtype="float64") if isinstance(feats, pd.DataFrame) else np.asarray(feats, "float64")
        close = np.asarray(cfg["close"], dtype="float64").reshape(-1)
        if feats.ndim != 2:
            raise ValueError(f"features must be 2-D (rows, columns), got shape {feats.shape}")
        if len(close) != len(feats):
            raise ValueError(f"features have {len(feats)} rows but close has {len(close)}")
        if not np.all(np.isfinite(feats)):
            raise ValueError("features contain NaN or infinite values: fill or drop those rows first")
        if not np.all(np.isfinite(close)) or np.any(close <= 0):
            raise ValueError("close must be finite and > 0 on every row")
        self.features = feats.astype("float32")
        self.prices = close
        self.window = int(cfg.get("window", 8))
        self.action_mode = cfg.get("action_mode", "discrete")
        if self.action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {self.action_mode!r}")
        self.max_leverage = float(cfg.get("max_leverage", 1.0))
        costs = cfg.get("costs", Costs())
        self.costs = Costs(**costs) if isinstance(costs, dict) else costs
        n = len(close)
        self.start = int(cfg.get("start", 0))
        self.end = int(cfg.get("end", n))
        if not 0 <= self.start < self.end <= n:
            raise ValueError(f"row range [{self.start}, {self.end}) is not inside [0, {n})")
        self.first_t = self.start + self.window - 1
        if self.first_t > self.end - 2:
            raise ValueError(f"rows [{self.start}, {self.end}) are too few for window={self.window}")
        self.episode_length = int(cfg.get("episode_length", 256))
        if self.window < 1 or self.episode_length < 1 or self.max_leverage <= 0:
            raise ValueError("window and episode_length must be >= 1 and max_leverage > 0")
        self.random_start = bool(cfg.get("random_start", True))

        k = self.features.shape[1]
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(self.window * k + 2,), dtype=np.float32)
        if self.action_mode == "discrete":
            self.action_space = spaces.Discrete(3)
        else:
            self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.t = self.first_t
        self.position = 0.0
        self.equity = 1.0

    # -- pieces a subclass may change ---------------------------------------------------------
    def target_position(self, action: Any) -> float:
        if self.action_mode == "discrete":
            return (int(action) - 1) * self.max_leverage
        a = float(np.clip(np.asarray(action, dtype="float64").reshape(-1)[0], -1.0, 1.0))
        return a * self.max_leverage

    def reward(self, equity_before: float, equity_after: float, bar_return: float, cost: float) -> float:
        """Change in equity over the step, after costs. Override for risk-adjusted variants."""
        return equity_after - equity_before

    # -- gymnasium ----------------------------------------------------------------------------
    def observation_at(self, t: int, position: float, equity: float) -> np.ndarray:
        rows = self.features[t - self.window + 1: t + 1].reshape(-1)
        return np.concatenate([rows, np.array([position, np.log(equity)], dtype=np.float32)]).astype(np.float32)

    def _last_t(self) -> int:
        return self.end - 2

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        last_start = max(self.first_t, self._last_t() - self.episode_length + 1)
        if self.random_start and last_start > self.first_t:
            self.t = int(self.np_random.integers(self.first_t, last_start + 1))
        else:
            self.t = self.first_t
        self.episode_end = min(self._last_t(), self.t + self.episode_length - 1)
        self.position = 0.0
        self.equity = 1.0
        return self.observation_at(self.t, self.position, self.equity), {"t": self.t}

    def step(self, action: Any):
        t = self.t
        target = self.target_position(action)
        cost = abs(target - self.position) * self.costs.per_unit_turnover
        bar_return = self.prices[t + 1] / self.prices[t] - 1.0
        before = self.equity
        after = before * (1.0 + target * bar_return - cost)
        after = max(after, 1e-9)
        r = float(self.reward(before, after, bar_return, cost))
        self.equity, self.position = after, target
        self.t = t + 1
        truncated = t >= self.episode_end
        terminated = after <= 1e-9
        obs = self.observation_at(self.t, self.position, self.equity)
        return obs, r, terminated, bool(truncated and not terminated), {"t": self.t, "equity": after,
                                                                        "position": target, "cost": cost}


def policy_positions(env: TradingEnv, act, rows: range) -> np.ndarray:
    """Positions a policy ``act(obs) -> action`` takes on ``rows`` (decisions at each row's close),
    stepping the account forward so position and equity in the observation are the policy's own."""
    positions = np.zeros(len(rows))
    position, equity = 0.0, 1.0
    for i, t in enumerate(rows):
        obs = env.observation_at(t, position, equity)
        target = env.target_position(act(obs))
        if t + 1 < len(env.prices):
            ret = env.prices[t + 1] / env.prices[t] - 1.0
            equity = max(equity * (1 + target * ret - abs(target - position) * env.costs.per_unit_turnover), 1e-9)
        positions[i] = position = target
    return positions
