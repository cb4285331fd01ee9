"""Ingestion benchmarks against the loopback replay server (real HTTP, WebSocket, stores).

1. Live latency: a closed kline pushed on the replay WebSocket stream -> its row committed in
   PostgreSQL (checkpoint moved, bar published), p50 and p99 over BENCH_LIVE_BARS bars.
   Baseline: 100 ms (a small fraction of the shortest bar, 1 minute).
2. Bulk backfill throughput: BENCH_BACKFILL_BARS hourly bars in pages of 1000 through the Binance
   client into the Parquet lake and into PostgreSQL, rows/s. Baseline: 10,000 rows/s.

    python tests/bench/bench_ingest.py
    BENCH_LIVE_BARS=300 BENCH_BACKFILL_BARS=26280 BENCH_PG_DSN=postgresql://postgres@127.0.0.1:5432/test

One JSON object per line per figure: {"bench", "value", "unit", "baseline", "ratio"}."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipelines.ingest.backfill import backfill_bars  # noqa: E402
from pipelines.config.ingest import LiveConfig  # noqa: E402
from pipelines.ingest.live import LiveBars, LiveThread  # noqa: E402
from pipelines.sources.binance import BinanceSource  # noqa: E402
from pipelines.store import ParquetStore  # noqa: E402
from pipelines.store.postgres import PostgresStore  # noqa: E402
from tests.replay.fixtures import replay_sources  # noqa: E402
from tests.replay.server import ReplayServer, kline_event  # noqa: E402

PG_DSN = os.environ.get("BENCH_PG_DSN", os.environ.get("MERIDIAN_TEST_PG_DSN",
                                                       "postgresql://postgres@127.0.0.1:5432/test"))
LATENCY_BASELINE_MS = 100.0
THROUGHPUT_BASELINE = 10_000.0


def emit(bench: str, value: float, unit: str, baseline=None, ratio=None, **extra) -> None:
    print(json.dumps({"bench": bench, "value": round(float(value), 4), "unit": unit, "baseline": baseline,
                      "ratio": None if ratio is None else round(float(ratio), 4), **extra}), flush=True)


def live_latency(n: int) -> None:
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    step = pd.Timedelta(minutes=1)
    now = {"t": t0}
    store = PostgresStore(PG_DSN, schema=f"bench_{uuid.uuid4().hex[:8]}")
    done: dict[pd.Timestamp, float] = {}
    arrived = threading.Condition()

    def on_bar(bars: pd.DataFrame) -> None:
        t = time.perf_counter()
        with arrived:
            for ts in bars["ts"]:
                done[ts] = t
            arrived.notify_all()

    try:
        with ReplayServer() as srv:
            srv.now_ms = int(t0.value // 1_000_000)
            cfg = LiveConfig(symbols=("BTCUSDT",), timeframe="1m", depth=False, reconnect_delay=0.05)
            live = LiveBars(BinanceSource(replay_sources(srv).binance), store, cfg, publish=on_bar,
                            now=lambda: now["t"])
            runner = LiveThread(live).start()
            deadline = time.monotonic() + 30
            while live.stats.connects < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            lat = []
            for i in range(n):
                ts = t0 + i * step
                now["t"] = ts + step
                msg = {"stream": "btcusdt@kline_1m",
                       "data": kline_event("BTCUSDT", "1m", int(ts.value // 1_000_000), True)}
                sent = time.perf_counter()
                srv.push(msg)
                with arrived:
                    if not arrived.wait_for(lambda: ts in done, timeout=10):
                        raise RuntimeError(f"bar {ts} never reached the store")
                lat.append((done[ts] - sent) * 1000)
            runner.stop()
        rows = len(store.read_bars("BTCUSDT", "1m"))
        assert rows == n, f"{rows} rows stored, {n} pushed"
    finally:
        store.drop_schema()
        store.close()
    p50, p99 = np.percentile(lat, [50, 99])
    emit("ingest_live_latency_p50_ws_to_postgres", p50, "ms", LATENCY_BASELINE_MS, p50 / LATENCY_BASELINE_MS, bars=n)
    emit("ingest_live_latency_p99_ws_to_postgres", p99, "ms", LATENCY_BASELINE_MS, p99 / LATENCY_BASELINE_MS, bars=n)


def backfill_throughput(n: int) -> None:
    since = pd.Timestamp("2020-01-01", tz="UTC")
    until = since + pd.Timedelta(hours=n)
    with ReplayServer() as srv, tempfile.TemporaryDirectory() as tmp:
        srv.now_ms = int(until.value // 1_000_000) + 3_600_000
        src = BinanceSource(replay_sources(srv).binance)
        stores = {"parquet": ParquetStore(Path(tmp) / "lake"),
                  "postgres": PostgresStore(PG_DSN, schema=f"bench_{uuid.uuid4().hex[:8]}")}
        for name, store in stores.items():
            try:
                t = time.perf_counter()
                res = backfill_bars(src, store, "BTCUSDT", "1h", since, until, progress=False)
                secs = time.perf_counter() - t
                assert res.rows == n == len(store.read_bars("BTCUSDT", "1h"))
                rate = res.rows / secs
                emit(f"ingest_backfill_throughput_{name}", rate, "rows/s", THROUGHPUT_BASELINE,
                     rate / THROUGHPUT_BASELINE, rows=res.rows, pages=res.pages, seconds=round(secs, 3))
            finally:
                if name == "postgres":
                    store.drop_schema()
                store.close()


if __name__ == "__main__":
    live_latency(int(os.environ.get("BENCH_LIVE_BARS", "300")))
    backfill_throughput(int(os.environ.get("BENCH_BACKFILL_BARS", str(3 * 8760))))
