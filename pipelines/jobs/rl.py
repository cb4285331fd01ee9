"""Train a reinforcement-learning agent (PPO, DQN, SAC on RLlib; TD3 in PyTorch) on one symbol's
bars in the store with the configured feature set, judge it out of sample through the backtester
next to buy-and-hold, and record it in the model registry (kind ``rl-agent``).

The first ``train_frac`` of the rows train (features z-scored with those rows' statistics only);
the agent then trades the remaining rows, each decision at a bar's close executed at the next open.

    python -m pipelines.jobs.rl --agent ppo --symbol BTCUSDT --iterations 20 [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from typing import Any


from pipelines.config import MeridianConfig, load_config
from pipelines.errors import ConfigError, DataError
from pipelines.store.base import Store

AGENTS = ("ppo", "dqn", "sac", "td3")
TD3_STEPS_PER_ITERATION = 512


def run(cfg: MeridianConfig, store: Store, *, agent: str, symbol: str, timeframe: str | None = None,
        iterations: int = 10, window: int = 8, train_frac: float = 0.7, seed: int = 0,
        progress: bool = True) -> dict[str, Any]:
    from models.registry import ModelRecord, register
    from models.rl.env import TradingEnv
    from pipelines.evaluation.policy import evaluate_policy
    from pipelines.jobs.tune import load_dataset
    if agent not in AGENTS:
        raise ConfigError(f"unknown agent {agent!r}: one of {', '.join(AGENTS)}")
    if iterations < 1 or not 0 < train_frac < 1:
        raise ConfigError("iterations must be >= 1 and train_frac in (0, 1)")
    ds = load_dataset(cfg, store, symbol, timeframe, 1)
    bars = store.read("bars", {"symbol": ds.symbol, "timeframe": ds.timeframe}).sort_values("ts")
    bars = bars.reset_index(drop=True)
    close = bars.set_index("ts")["close"].reindex(ds.X.index).to_numpy(dtype="float64")
    X = ds.X.astype("float64")
    n = len(X)
    train_end = int(n * train_frac)
    if train_end < window + 32 or n - train_end < 16:
        raise DataError(f"{ds.symbol} has {n} usable rows: too few to train ({train_end}) and test ({n - train_end})")
    mu, sd = X.iloc[:train_end].mean(), X.iloc[:train_end].std().replace(0.0, 1.0).fillna(1.0)
    feats = ((X - mu) / sd).clip(-10, 10).fillna(0.0).to_numpy(dtype="float32")
    base = {"features": feats, "close": close, "window": window, "episode_length": 128}
    train_cfg = {**base, "start": 0, "end": train_end}
    mode = "discrete" if agent == "dqn" else "continuous"

    params = {"agent": agent, "iterations": iterations, "window": window, "train_frac": train_frac, "seed": seed,
              "feature_set": cfg.features.feature_set}
    config_hash = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    model_id = f"{agent}-{ds.symbol}-{ds.timeframe}-rl-{config_hash[:8]}"
    dest = (cfg.models_dir / model_id).resolve()
    if dest.exists():
        shutil.rmtree(dest)
    if agent == "td3":
        from models.rl.td3 import TD3Params, train_td3
        trained, _ = train_td3(train_cfg, iterations * TD3_STEPS_PER_ITERATION, TD3Params(seed=seed),
                               progress=progress)
        trained.save(dest)
        act = trained.act
    else:
        from models.rl.rllib_agents import RLlibPolicy, train
        algorithm, _ = train(agent, train_cfg, iterations, checkpoint_dir=dest, progress=progress, seed=seed,
                             label=f"{agent} {ds.symbol} {ds.timeframe}")
        algorithm.stop()
        act = RLlibPolicy(dest).act
    env = TradingEnv({**base, "action_mode": mode})
    ev = evaluate_policy(act, env, X.index, bars, range(train_end, n), periods_per_year=_periods(ds.timeframe))
    metrics = {**ev["metrics"], "buy_and_hold": ev["buy_and_hold"], "trades": ev["trades"],
               "turnover": ev["turnover"], "mean_abs_position": ev["mean_abs_position"]}
    rec = register(store, ModelRecord(
        model_id=model_id, name=agent, kind="rl-agent", config=params, config_hash=config_hash,
        features=list(X.columns), symbols=[ds.symbol], timeframe=ds.timeframe, horizon=1,
        train_start=X.index[0], train_end=X.index[train_end - 1], metrics=metrics, artifact_path=str(dest)))
    return {"agent": agent, "symbol": ds.symbol, "timeframe": ds.timeframe, "model_id": rec.model_id,
            "artifact_path": str(dest), "train_rows": train_end, "test_rows": n - train_end,
            "metrics": ev["metrics"], "buy_and_hold": ev["buy_and_hold"], "trades": ev["trades"]}


def _periods(timeframe: str) -> float:
    import pandas as pd
    try:
        return float(pd.Timedelta("365D") / pd.Timedelta(timeframe.replace("m", "min") if timeframe.endswith("m") else timeframe))
    except ValueError:
        return 252.0


def summary(out: dict[str, Any]) -> str:
    m, b = out["metrics"], out["buy_and_hold"]
    return (f"{out['agent']} on {out['symbol']} {out['timeframe']}: trained on {out['train_rows']} rows, "
            f"tested on {out['test_rows']}\n"
            f"  out of sample: total {m['total_return']:+.2%}, sharpe {m['sharpe']:.2f}, max dd {m['max_drawdown']:.2%}, "
            f"{out['trades']} trades\n"
            f"  buy-and-hold : total {b['total_return']:+.2%}, sharpe {b['sharpe']:.2f}, max dd {b['max_drawdown']:.2%}\n"
            f"  registered {out['model_id']} at {out['artifact_path']}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agent", required=True, choices=AGENTS)
    p.add_argument("--symbol", required=True, help="symbol in the store")
    p.add_argument("--timeframe", help="bar timeframe when the symbol has several")
    p.add_argument("--iterations", type=int, default=10,
                   help=f"training iterations (TD3: {TD3_STEPS_PER_ITERATION} env steps each)")
    p.add_argument("--window", type=int, default=8, help="feature rows per observation")
    p.add_argument("--train-frac", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def execute(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    from cluster.runtime import init_ray, shutdown_ray
    from pipelines.store import open_store
    cfg = load_config(getattr(args, "config", None))
    started = not ray.is_initialized()
    if args.agent != "td3":
        init_ray(cfg.ray)
    store = open_store(cfg.store)
    try:
        return run(cfg, store, agent=args.agent, symbol=args.symbol, timeframe=args.timeframe,
                   iterations=args.iterations, window=args.window, train_frac=args.train_frac,
                   seed=args.seed, progress=not args.json)
    finally:
        store.close()
        if started and ray.is_initialized():
            shutdown_ray()


def main(argv: list[str] | None = None) -> int:
    from pipelines.jobs import job_main
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
