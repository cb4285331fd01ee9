"""PPO, DQN and SAC on RLlib's new API stack over :class:`models.rl.env.TradingEnv`.

The CPU budget is explicit: ``num_env_runners`` defaults to 0 (sampling in the learner's own
process; more than a runner per spare core hangs small machines). Placement follows
:func:`cluster.placement.rllib_resources`: a learner on the GPU node when the cluster has a GPU,
env runners on the head when the cluster declares one. Checkpoints resume with
:func:`restore`; :class:`RLlibPolicy` loads only the policy's RLModule (no algorithm, no Ray),
which is what Serve loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from models.rl.env import TradingEnv
from pipelines.errors import ModelError

ALGOS = ("ppo", "dqn", "sac")
POLICY = "default_policy"


def action_mode(algo: str) -> str:
    return "discrete" if algo == "dqn" else "continuous"


def build_config(algo: str, env_config: dict[str, Any], *, batch_size: int = 512, lr: float | None = None,
                 gamma: float = 0.9, num_env_runners: int = 0, want_gpu: bool = True, seed: int = 0):
    """The RLlib AlgorithmConfig for ``algo`` ("ppo" | "dqn" | "sac")."""
    algo = algo.lower()
    if algo not in ALGOS:
        raise ModelError(f"unknown RLlib algorithm {algo!r}: one of {', '.join(ALGOS)}")
    if num_env_runners < 0:
        raise ModelError(f"num_env_runners must be >= 0, got {num_env_runners}")
    env_config = {**env_config, "action_mode": action_mode(algo)}
    if algo == "ppo":
        from ray.rllib.algorithms.ppo import PPOConfig
        cfg = PPOConfig().training(train_batch_size_per_learner=batch_size,
                                   minibatch_size=max(32, batch_size // 4), num_epochs=4,
                                   lr=lr or 3e-4, gamma=gamma)
    elif algo == "dqn":
        from ray.rllib.algorithms.dqn import DQNConfig
        cfg = DQNConfig().training(train_batch_size_per_learner=min(64, batch_size), lr=lr or 1e-3,
                                   gamma=gamma, num_steps_sampled_before_learning_starts=batch_size // 2,
                                   target_network_update_freq=200)
    else:
        from ray.rllib.algorithms.sac import SACConfig
        cfg = SACConfig().training(train_batch_size_per_learner=min(64, batch_size), actor_lr=lr or 3e-4,
                                   critic_lr=lr or 3e-4, alpha_lr=lr or 3e-4, gamma=gamma,
                                   num_steps_sampled_before_learning_starts=batch_size // 2)
    from cluster.placement import rllib_resources
    res = rllib_resources(want_gpu=want_gpu)
    runners = res["env_runners"] if num_env_runners > 0 else {}
    return (cfg.environment(TradingEnv, env_config=env_config)
            .env_runners(num_env_runners=num_env_runners, **runners)
            .learners(**res["learners"])
            .reporting(min_time_s_per_iteration=0, min_sample_timesteps_per_iteration=256)
            .framework("torch")
            .debugging(seed=seed))


def run_iterations(algorithm, iterations: int, progress: bool = False, label: str = "") -> list[dict]:
    """Run ``iterations`` training iterations; one summary per iteration. Each iteration is also
    reported to Ray (:class:`cluster.progress.Progress`, ``rl <label> iteration i/n ...``), where
    the dashboard and the state API show it while the driver trains."""
    from cluster.progress import Progress
    it = range(iterations)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="rllib training", unit="iter")
    history = []
    with Progress("rl", label or type(algorithm).__name__) as board:
        for i in it:
            r = algorithm.train()
            env = r.get("env_runners", {})
            history.append({"iteration": r.get("training_iteration"),
                            "return_mean": env.get("episode_return_mean"),
                            "env_steps": env.get("num_env_steps_sampled_lifetime")})
            board.report(f"iteration {i + 1}/{iterations}", return_mean=history[-1]["return_mean"],
                         env_steps=history[-1]["env_steps"])
    return history


def train(algo: str, env_config: dict[str, Any], iterations: int, checkpoint_dir: str | Path | None = None,
          resume_from: str | Path | None = None, progress: bool = False, label: str = "", **kw) -> tuple[Any, list[dict]]:
    """Build (or resume from a checkpoint), train ``iterations`` and save to ``checkpoint_dir``
    if given. Returns the algorithm and one summary per iteration. ``label`` names the work in
    its progress reports (default: the algorithm)."""
    algorithm = restore(resume_from) if resume_from is not None else build_config(algo, env_config, **kw).build_algo()
    history = run_iterations(algorithm, iterations, progress, label or algo)
    if checkpoint_dir is not None:
        save(algorithm, checkpoint_dir)
    return algorithm, history


def save(algorithm, checkpoint_dir: str | Path) -> Path:
    path = Path(checkpoint_dir).resolve()
    algorithm.save_to_path(str(path))
    return path


def restore(checkpoint_dir: str | Path):
    """The algorithm as it was saved (weights, optimiser and counters), ready to train on."""
    from ray.rllib.algorithms.algorithm import Algorithm
    path = Path(checkpoint_dir).resolve()
    if not (path / "learner_group").exists():
        raise ModelError(f"{checkpoint_dir} is not an RLlib algorithm checkpoint")
    return Algorithm.from_checkpoint(str(path))


def module_path(checkpoint_dir: str | Path) -> Path:
    return Path(checkpoint_dir) / "learner_group" / "learner" / "rl_module" / POLICY


class RLlibPolicy:
    """A trained policy loaded from its RLModule checkpoint, without building the algorithm.
    ``act(obs)`` returns the greedy (deterministic) action for one observation."""

    def __init__(self, checkpoint_dir: str | Path) -> None:
        from ray.rllib.core.rl_module.rl_module import RLModule
        path = module_path(checkpoint_dir)
        if not path.exists():
            raise ModelError(f"{checkpoint_dir} holds no RLModule checkpoint at {path}")
        self.module = RLModule.from_checkpoint(str(path.resolve()))

    def act(self, obs: np.ndarray):
        import torch
        with torch.no_grad():
            out = self.module.forward_inference({"obs": torch.as_tensor(obs, dtype=torch.float32)[None]})
            if "actions" in out:
                return out["actions"][0].numpy()
            dist_cls = self.module.get_inference_action_dist_cls()
            dist = dist_cls.from_logits(out["action_dist_inputs"]).to_deterministic()
            return dist.sample()[0].numpy()
