"""Per-symbol walk-forward over many symbols: symbols one after another in this process versus
one Ray task per symbol (``pipelines.jobs.train.run``), features included, same folds.

    python tests/bench/bench_symbols.py                       # 100 stocks of the daily dev universe, lightgbm
    python tests/bench/bench_symbols.py --symbols 30          # smaller, for iteration
    python tests/bench/bench_symbols.py --data synthetic --bars 1500 --model logistic

Options also come from the environment (BENCH_SYMBOLS, BENCH_BARS, BENCH_CPUS, BENCH_MODEL,
BENCH_DATA). ``--data dev`` reads the 197-stock daily universe of ../shared/data
(stocks_daily_sp500*, first N by file name); ``--data synthetic`` writes AR(1) bars. Train 600 /
test 300 bars. The results of both modes are checked equal (metrics of every model).

One JSON object per line per figure; the parallel figure's baseline is the sequential time and its
ratio the speed-up (sequential / parallel), bounded by --cpus."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
DATA = Path(os.environ.get("MERIDIAN_SHARED_DATA", REPO.parent / "shared" / "data"))
FOLDERS = ("stocks_daily_sp500", "stocks_daily_sp500_universe")


def emit(bench: str, value: float, unit: str, baseline=None, ratio=None, **extra) -> None:
    print(json.dumps({"bench": bench, "value": round(value, 3), "unit": unit, "baseline": baseline,
                      "ratio": None if ratio is None else round(ratio, 3), **extra}), flush=True)


def options(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--symbols", type=int, default=int(env("BENCH_SYMBOLS", "100")), help="how many symbols (100)")
    p.add_argument("--data", choices=("dev", "synthetic"), default=env("BENCH_DATA", "dev"),
                   help="dev: the daily stock universe of ../shared/data; synthetic: AR(1) bars (dev)")
    p.add_argument("--bars", type=int, default=int(env("BENCH_BARS", "1500")), help="bars per synthetic symbol (1500)")
    p.add_argument("--cpus", type=int, default=int(env("BENCH_CPUS", "2")), help="the local Ray's CPUs (2)")
    p.add_argument("--model", default=env("BENCH_MODEL", "lightgbm"), help="zoo model (lightgbm)")
    return p.parse_args(argv)


def write_bars(store, args: argparse.Namespace) -> list[str]:
    if args.data == "synthetic":
        from tests.synthetic.markets import ar1
        syms = [f"S{i:03d}" for i in range(args.symbols)]
        for i, s in enumerate(syms):
            store.write("bars", ar1(args.bars, phi=0.1, seed=i, symbol=s).bars)
        return syms
    from pipelines.sources.files import import_bars
    files = sorted(f for d in FOLDERS for f in (DATA / d).glob("*_data.csv.gz"))
    if not files:
        raise SystemExit(f"no stock files under {DATA}: pass --data synthetic")
    syms = []
    for f in files[:args.symbols]:
        sym = f.name.split("_")[0]
        store.write("bars", import_bars(f, asset_class="stock", tz="UTC", symbol=sym).bars)
        syms.append(sym)
    return syms


def _comparable(report: dict) -> str:
    return json.dumps({k: v for k, v in report.items() if k != "seconds"}, sort_keys=True, default=str)


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    import ray

    from pipelines.config import load_config
    from pipelines.jobs.train import run
    from pipelines.store import ParquetStore
    with tempfile.TemporaryDirectory() as d:
        store = ParquetStore(Path(d) / "lake")
        syms = write_bars(store, args)
        cfg = load_config(environ={}, overrides={"home": d, "walkforward": {"train_bars": 600, "test_bars": 300}})
        common = {"symbols": len(syms), "data": args.data, "model": args.model, "cpus": args.cpus}
        t0 = time.perf_counter()
        seq = run(cfg, store, syms, [args.model], persist=False, use_ray=False, progress=False)
        t_seq = time.perf_counter() - t0
        emit("walkforward_symbols_sequential", t_seq, "s", **common)
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, object_store_memory=200_000_000,
                 log_to_driver=False)
        try:
            t0 = time.perf_counter()
            par = run(cfg, store, syms, [args.model], persist=False, use_ray=True, progress=False)
            t_par = time.perf_counter() - t0
        finally:
            ray.shutdown()
        same = _comparable(seq) == _comparable(par)
        emit("walkforward_symbols_ray_parallel", t_par, "s", baseline=round(t_seq, 3), ratio=t_seq / t_par,
             same_results=same, **common)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
