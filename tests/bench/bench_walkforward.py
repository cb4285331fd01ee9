"""Walk-forward wall time of XGBoost and LightGBM on 50k rows x 200 features, folds one after
another in this process versus folds as parallel Ray tasks.

    python tests/bench/bench_walkforward.py
    BENCH_ROWS=50000 BENCH_FEATURES=200 BENCH_CPUS=2 BENCH_MODELS=xgboost,lightgbm python tests/bench/bench_walkforward.py

One JSON object per line per figure. The parallel figure's baseline is the sequential time and
its ratio the speedup (sequential / parallel); with Ray limited to BENCH_CPUS CPUs and each fold
using one thread, the speedup is bounded by min(BENCH_CPUS, folds)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def synthetic(rows: int, features: int, seed: int = 0):
    """Gaussian features; the forward return depends weakly on the first five."""
    from models.training.dataset import Dataset
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (rows, features)).astype("float64")
    y = 0.001 * (X[:, :5] @ np.array([0.3, -0.2, 0.15, 0.1, -0.1])) + rng.normal(0, 0.01, rows)
    idx = pd.date_range("2015-01-01", periods=rows, freq="h", tz="UTC", name="ts")
    Xf = pd.DataFrame(X, index=idx, columns=[f"f{i:03d}" for i in range(features)])
    return Dataset(symbol="BENCH", asset_class="crypto", timeframe="1h", horizon=1, X=Xf,
                   y=pd.Series(y, index=idx), label_known_at=pd.Series(idx + pd.Timedelta(hours=2), index=idx))


def emit(bench: str, value: float, unit: str, baseline=None, ratio=None, **extra) -> None:
    """One figure; the machine's 1-minute load average is recorded with it, since on a shared
    2-core machine other work changes the parallel speedup a lot."""
    print(json.dumps({"bench": bench, "value": round(value, 3), "unit": unit, "baseline": baseline,
                      "ratio": None if ratio is None else round(ratio, 3), **extra,
                      "cpu_count": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}), flush=True)


def main() -> int:
    import ray

    from models.training.walkforward import run_walkforward, splits_for
    from pipelines.config import WalkForwardConfig

    rows = int(os.environ.get("BENCH_ROWS", 50_000))
    features = int(os.environ.get("BENCH_FEATURES", 200))
    cpus = int(os.environ.get("BENCH_CPUS", 2))
    models = os.environ.get("BENCH_MODELS", "xgboost,lightgbm").split(",")
    ds = synthetic(rows, features)
    wf = WalkForwardConfig(horizon=1, train_bars=rows * 2 // 5, test_bars=rows // 10, validation_fraction=0.2)
    folds = len(splits_for(ds, wf))
    params = {"n_estimators": int(os.environ.get("BENCH_TREES", 200))}
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, object_store_memory=500_000_000, log_to_driver=False)
    try:
        ray.get(ray.remote(lambda: 1).remote(), timeout=60)  # workers up before timing
        for model in models:
            t0 = time.perf_counter()
            seq = run_walkforward(ds, model, wf, params, use_ray=False)
            t_seq = time.perf_counter() - t0
            t0 = time.perf_counter()
            par = run_walkforward(ds, model, wf, params, use_ray=True, timeout=3600)
            t_par = time.perf_counter() - t0
            same = bool(np.allclose(seq.predictions["prob_up"], par.predictions["prob_up"]))
            shape = f"{rows}x{features}"
            emit(f"walkforward_{model}_sequential", t_seq, "s", rows=rows, features=features, folds=folds)
            emit(f"walkforward_{model}_ray_parallel", t_par, "s", baseline=round(t_seq, 3),
                 ratio=t_seq / t_par, rows=rows, features=features, folds=folds, ray_cpus=cpus,
                 identical_predictions=same, shape=shape)
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
