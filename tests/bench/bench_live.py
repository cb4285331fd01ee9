"""The live loop under load: a loopback Binance closes the 1m bar of N symbols at once, the live
ingestion actor writes and publishes them, the Serve application (following the bar bus) streams
the feature rows, predicts and pushes every prediction on WS /stream, and the paper account steps.

    python tests/bench/bench_live.py --symbols 1 --rounds 30
    python tests/bench/bench_live.py --symbols 100 --rounds 10

Figures, per (symbol, bar), from the moment the exchange sent the closed kline:
- live_bar_to_store_ms: the bar published on the bus (the ingestion publishes a bar after its
  store write and checkpoint commit, so this bounds "in the store" from above);
- live_bar_to_prediction_ms: the prediction made from that bar received on /stream.
Baselines: the polling path measured for one symbol (store 90 ms median; /stream 650 ms median,
1,040 ms max). Targets: p99 < 1,000 ms for 100 symbols, < 100 ms for one.

One JSON object per line per figure: {"bench", "value", "unit", "baseline", "ratio"}."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import ray  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from tests.replay.server import ReplayServer  # noqa: E402
from tests.serving.live_stack import LiveStack, prepare, symbols_of  # noqa: E402

BASELINES = {"live_bar_to_store_ms_p50": 90.0, "live_bar_to_prediction_ms_p50": 650.0,
             "live_bar_to_prediction_ms_p99": 1040.0}
# before batching (one store write and one checkpoint write per bar, one model call per symbol),
# on this 2-core machine: symbols -> figure -> (ms, bars that never arrived)
BEFORE = {1: {"live_bar_to_store_ms_p50": (78.1, 0), "live_bar_to_store_ms_p99": (138.25, 0),
              "live_bar_to_prediction_ms_p50": (144.62, 0), "live_bar_to_prediction_ms_p99": (202.34, 0)},
          100: {"live_bar_to_store_ms_p50": (9200.0, 210), "live_bar_to_store_ms_p99": (30000.0, 210),
                "live_bar_to_prediction_ms_p50": (16800.0, None), "live_bar_to_prediction_ms_p99": (31600.0, None)}}


def emit(bench: str, value: float, unit: str, baseline=None, **extra) -> None:
    ratio = None if baseline is None else round(float(value) / baseline, 4)
    print(json.dumps({"bench": bench, "value": round(float(value), 2), "unit": unit, "baseline": baseline,
                      "ratio": ratio, **extra}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--paper", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    syms = symbols_of(args.symbols)
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200_000_000, log_to_driver=False)
    sent: dict[tuple[str, pd.Timestamp], float] = {}
    stored: dict[tuple[str, pd.Timestamp], float] = {}
    predicted: dict[tuple[str, pd.Timestamp], float] = {}
    stop = threading.Event()
    with tempfile.TemporaryDirectory() as tmp, ReplayServer() as replay:
        cfg = prepare(Path(tmp), replay, syms, history=200)
        stack = LiveStack(replay, cfg, syms, paper=args.paper).start()
        try:
            ray.get(stack.bus.subscribe.remote("bench"), timeout=30)

            def follow_bus():
                while not stop.is_set():
                    for r in ray.get(stack.bus.wait.remote("bench", 100_000, 1.0), timeout=30):
                        stored.setdefault((r["symbol"], pd.Timestamp(r["ts"])), time.perf_counter())

            threading.Thread(target=follow_bus, daemon=True).start()
            ws = connect(f"{stack.ws_url}?symbols={','.join(syms)}", open_timeout=60, max_size=2**24)
            snapshots = 0
            while snapshots < len(syms):
                if json.loads(ws.recv(timeout=120))["type"] == "prediction":
                    snapshots += 1

            def follow_stream():
                while not stop.is_set():
                    try:
                        msg = json.loads(ws.recv(timeout=1.0))
                    except TimeoutError:
                        continue
                    except Exception:
                        return
                    if msg["type"] == "prediction":
                        ts = pd.Timestamp(msg["prediction"]["horizons"][0]["ts"])
                        predicted.setdefault((msg["symbol"], ts), time.perf_counter())

            threading.Thread(target=follow_stream, daemon=True).start()
            last = max(stack.last(s) for s in syms)
            for k in range(args.rounds):
                ts = last + pd.Timedelta(minutes=k + 1)
                for s in syms:
                    sent[(s, ts)] = time.perf_counter()
                    stack.close_bar(s, ts)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and not all((s, ts) in predicted for s in syms):
                    time.sleep(0.01)
                time.sleep(0.2)
            stop.set()
            ws.close()
        finally:
            stack.stop()
    n = args.symbols
    for name, got in (("live_bar_to_store_ms", stored), ("live_bar_to_prediction_ms", predicted)):
        lat = np.array([1000 * (got[key] - t0) for key, t0 in sent.items() if key in got])
        missing = len(sent) - len(lat)
        for q in (50, 99):
            bench = f"{name}_p{q}"
            before = BEFORE.get(n, {}).get(bench)
            emit(bench, np.percentile(lat, q) if len(lat) else float("nan"), "ms", BASELINES.get(bench),
                 symbols=n, bars=int(len(lat)), missing=missing, target_p99_ms=1000 if n > 1 else 100,
                 before_ms=None if before is None else before[0], before_missing=None if before is None else before[1])


if __name__ == "__main__":
    main()
