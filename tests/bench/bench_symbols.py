"""Per-symbol walk-forward over many symbols: symbols one after another in this process versus
one Ray task per symbol (``pipelines.jobs.train.run``), features included, same folds.

    python tests/bench/bench_symbols.py
    BENCH_SYMBOLS=100 BENCH_BARS=1500 BENCH_CPUS=2 BENCH_MODEL=logistic python tests/bench/bench_symbols.py

One JSON object per line per figure; the parallel figure's baseline is the sequential time and its
ratio the speed-up (sequential / parallel), bounded by BENCH_CPUS."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def emit(bench: str, value: float, unit: str, baseline=None, ratio=None, **extra) -> None:
    print(json.dumps({"bench": bench, "value": round(value, 3), "unit": unit, "baseline": baseline,
                      "ratio": None if ratio is None else round(ratio, 3), **extra}), flush=True)


def main() -> int:
    import ray

    from pipelines.config import load_config
    from pipelines.jobs.train import run
    from pipelines.store import ParquetStore
    from tests.synthetic.markets import ar1
    n_sym = int(os.environ.get("BENCH_SYMBOLS", "100"))
    n_bars = int(os.environ.get("BENCH_BARS", "1500"))
    cpus = int(os.environ.get("BENCH_CPUS", "2"))
    model = os.environ.get("BENCH_MODEL", "logistic")
    with tempfile.TemporaryDirectory() as d:
        store = ParquetStore(Path(d) / "lake")
        syms = [f"S{i:03d}" for i in range(n_sym)]
        for i, s in enumerate(syms):
            store.write("bars", ar1(n_bars, phi=0.1, seed=i, symbol=s).bars)
        cfg = load_config(environ={}, overrides={"home": d, "walkforward": {"train_bars": 600, "test_bars": 300}})
        common = {"symbols": n_sym, "bars": n_bars, "model": model, "cpus": cpus}
        t0 = time.perf_counter()
        run(cfg, store, syms, [model], persist=False, use_ray=False, progress=False)
        t_seq = time.perf_counter() - t0
        emit("walkforward_symbols_sequential", t_seq, "s", **common)
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, object_store_memory=200_000_000,
                 log_to_driver=False)
        try:
            t0 = time.perf_counter()
            run(cfg, store, syms, [model], persist=False, use_ray=True, progress=False)
            t_par = time.perf_counter() - t0
        finally:
            ray.shutdown()
        emit("walkforward_symbols_ray_parallel", t_par, "s", baseline=round(t_seq, 3), ratio=t_seq / t_par, **common)
    return 0


if __name__ == "__main__":
    sys.exit(main())
