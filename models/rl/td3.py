"""TD3 (Fujimoto et al., 2018) in plain PyTorch, for :class:`models.rl.env.TradingEnv` in
continuous mode.

Twin critics with the minimum of their targets, target policy smoothing (clipped noise on the
target action), delayed actor and target updates, and a uniform replay buffer. ``train_td3``
runs in-process; ``train_td3_remote`` runs it as a Ray task placed by
:func:`cluster.placement.training_options`. ``TD3Agent.save`` / ``load`` write and read a folder
(``weights.pt`` + ``meta.json``) that resumes training or serves ``act`` without Ray.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.rl.env import TradingEnv
from pipelines.errors import ModelError


@dataclass(frozen=True)
class TD3Params:
    hidden: int = 64
    gamma: float = 0.9
    tau: float = 0.005
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    batch_size: int = 128
    buffer_size: int = 100_000
    start_steps: int = 500          # uniform random actions before the policy acts
    exploration_noise: float = 0.2
    policy_noise: float = 0.2       # target policy smoothing
    noise_clip: float = 0.5
    policy_delay: int = 2           # critic updates per actor/target update
    seed: int = 0


def _mlp(n_in: int, n_out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))


class Replay:
    def __init__(self, obs_dim: int, act_dim: int, size: int) -> None:
        self.obs = np.zeros((size, obs_dim), np.float32)
        self.act = np.zeros((size, act_dim), np.float32)
        self.rew = np.zeros((size, 1), np.float32)
        self.nxt = np.zeros((size, obs_dim), np.float32)
        self.done = np.zeros((size, 1), np.float32)
        self.size, self.n, self.i = size, 0, 0

    def add(self, o, a, r, o2, d) -> None:
        self.obs[self.i], self.act[self.i], self.rew[self.i], self.nxt[self.i], self.done[self.i] = o, a, r, o2, d
        self.i = (self.i + 1) % self.size
        self.n = min(self.n + 1, self.size)

    def sample(self, rng: np.random.Generator, k: int) -> tuple[torch.Tensor, ...]:
        idx = rng.integers(0, self.n, size=k)
        return tuple(torch.as_tensor(x[idx]) for x in (self.obs, self.act, self.rew, self.nxt, self.done))


class TD3Agent:
    def __init__(self, obs_dim: int, act_dim: int = 1, params: TD3Params | None = None) -> None:
        self.params = params or TD3Params()
        p = self.params
        torch.manual_seed(p.seed)
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.actor = nn.Sequential(_mlp(obs_dim, act_dim, p.hidden), nn.Tanh())
        self.critic1 = _mlp(obs_dim + act_dim, 1, p.hidden)
        self.critic2 = _mlp(obs_dim + act_dim, 1, p.hidden)
        self.actor_t = copy.deepcopy(self.actor)
        self.critic1_t, self.critic2_t = copy.deepcopy(self.critic1), copy.deepcopy(self.critic2)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=p.actor_lr)
        self.critic_opt = torch.optim.Adam([*self.critic1.parameters(), *self.critic2.parameters()],
                                           lr=p.critic_lr)
        self.updates = 0
        self.steps = 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.actor(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()

    def update(self, batch: tuple[torch.Tensor, ...]) -> dict[str, float]:
        p = self.params
        o, a, r, o2, d = batch
        with torch.no_grad():
            noise = (torch.randn_like(a) * p.policy_noise).clamp(-p.noise_clip, p.noise_clip)
            a2 = (self.actor_t(o2) + noise).clamp(-1.0, 1.0)
            oa2 = torch.cat([o2, a2], 1)
            q_t = torch.min(self.critic1_t(oa2), self.critic2_t(oa2))
            target = r + p.gamma * (1 - d) * q_t
        oa = torch.cat([o, a], 1)
        critic_loss = ((self.critic1(oa) - target) ** 2).mean() + ((self.critic2(oa) - target) ** 2).mean()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        self.updates += 1
        out = {"critic_loss": critic_loss.item()}
        if self.updates % p.policy_delay == 0:
            actor_loss = -self.critic1(torch.cat([o, self.actor(o)], 1)).mean()
            self.actor_opt.zero_grad()
            actor_loss.backward()
            self.actor_opt.step()
            with torch.no_grad():
                for net, tgt in ((self.actor, self.actor_t), (self.critic1, self.critic1_t),
                                 (self.critic2, self.critic2_t)):
                    for w, wt in zip(net.parameters(), tgt.parameters()):
                        wt.mul_(1 - p.tau).add_(p.tau * w)
            out["actor_loss"] = actor_loss.item()
        return out

    # -- checkpoints ------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        nets = {k: getattr(self, k).state_dict() for k in
                ("actor", "critic1", "critic2", "actor_t", "critic1_t", "critic2_t", "actor_opt", "critic_opt")}
        torch.save(nets, path / "weights.pt")
        meta = {"name": "td3", "obs_dim": self.obs_dim, "act_dim": self.act_dim,
                "params": asdict(self.params), "updates": self.updates, "steps": self.steps}
        (path / "meta.json").write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "TD3Agent":
        path = Path(path)
        if not (path / "meta.json").exists() or not (path / "weights.pt").exists():
            raise ModelError(f"{path} is not a saved TD3 agent (needs meta.json and weights.pt)")
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("name") != "td3":
            raise ModelError(f"{path} holds a {meta.get('name')!r} agent, not td3")
        agent = cls(meta["obs_dim"], meta["act_dim"], TD3Params(**meta["params"]))
        nets = torch.load(path / "weights.pt", weights_only=True)
        for k, state in nets.items():
            getattr(agent, k).load_state_dict(state)
        agent.updates, agent.steps = meta["updates"], meta["steps"]
        return agent


def train_td3(env_config: dict[str, Any], total_steps: int, params: TD3Params | None = None,
              agent: TD3Agent | None = None, progress: bool = False) -> tuple[TD3Agent, list[float]]:
    """Train for ``total_steps`` environment steps (resuming ``agent`` if given); returns the
    agent and the returns of finished episodes."""
    env = TradingEnv({**env_config, "action_mode": "continuous"})
    params = agent.params if agent is not None else (params or TD3Params())
    agent = agent or TD3Agent(env.observation_space.shape[0], env.action_space.shape[0], params)
    if env.observation_space.shape[0] != agent.obs_dim:
        raise ModelError(f"agent expects {agent.obs_dim} observation values, env gives "
                         f"{env.observation_space.shape[0]}")
    rng = np.random.default_rng(params.seed + agent.steps)
    buf = Replay(agent.obs_dim, agent.act_dim, params.buffer_size)
    obs, _ = env.reset(seed=params.seed + agent.steps)
    returns, ep_ret = [], 0.0
    steps = range(total_steps)
    if progress:
        from tqdm import tqdm
        steps = tqdm(steps, desc="td3", unit="step")
    for _ in steps:
        if agent.steps < params.start_steps:
            a = rng.uniform(-1, 1, size=agent.act_dim).astype(np.float32)
        else:
            a = np.clip(agent.act(obs) + rng.normal(0, params.exploration_noise, agent.act_dim), -1, 1)
            a = a.astype(np.float32)
        obs2, r, term, trunc, _ = env.step(a)
        buf.add(obs, a, r, obs2, float(term))
        ep_ret += r
        obs = obs2
        agent.steps += 1
        if term or trunc:
            returns.append(ep_ret)
            ep_ret = 0.0
            obs, _ = env.reset()
        if buf.n >= params.batch_size and agent.steps >= params.start_steps // 2:
            agent.update(buf.sample(rng, params.batch_size))
    return agent, returns


def _train_task(env_config: dict[str, Any], total_steps: int, params: TD3Params | None,
                out_dir: str) -> dict[str, Any]:
    torch.set_num_threads(1)
    agent, returns = train_td3(env_config, total_steps, params)
    agent.save(out_dir)
    return {"path": out_dir, "episodes": len(returns), "steps": agent.steps}


def train_td3_remote(env_config: dict[str, Any], total_steps: int, out_dir: str | Path,
                     params: TD3Params | None = None, timeout: float = 3600.0) -> dict[str, Any]:
    """Train as a Ray task (one CPU, no GPU: the networks are small) and save to ``out_dir``
    (a path every node can reach)."""
    import ray

    from cluster.placement import training_options
    task = ray.remote(_train_task).options(**training_options(want_gpu=False, num_cpus=1.0), max_retries=1)
    return ray.get(task.remote(env_config, total_steps, params, str(Path(out_dir).resolve())), timeout=timeout)
