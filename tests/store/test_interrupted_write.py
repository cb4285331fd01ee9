"""A write killed midway leaves what was committed before intact, on both stores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pandas as pd
import pytest

from pipelines.store import ParquetStore
from pipelines.store.postgres import PostgresStore

WRITER = textwrap.dedent("""
    import sys, numpy as np, pandas as pd
    sys.path.insert(0, {repo!r})
    from pipelines.store import ParquetStore
    from pipelines.store.postgres import PostgresStore
    kind, target = sys.argv[1], sys.argv[2]
    store = ParquetStore(target) if kind == "parquet" else PostgresStore({dsn!r}, schema=target)
    n = 3_000_000
    ts = pd.date_range("2000-01-01", periods=n, freq="min", tz="UTC")
    x = np.linspace(100, 200, n)
    big = pd.DataFrame({{"symbol": "AAA", "asset_class": "crypto", "venue": "t", "timeframe": "1m",
                        "ts": ts, "open": x, "high": x + 1, "low": x - 1, "close": x, "volume": 1.0,
                        "known_at": ts + pd.Timedelta(minutes=1)}})
    print("writing", flush=True)
    store.write("bars", big)
    print("done", flush=True)
""")


@pytest.mark.parametrize("kind", ["parquet", "postgres"])
def test_kill_mid_write_keeps_committed_rows(kind, tmp_path, request):
    from pathlib import Path
    repo = str(Path(__file__).resolve().parents[2])
    if kind == "postgres":
        dsn = request.getfixturevalue("pg_dsn")
        target = f"t_{uuid.uuid4().hex[:10]}"
        store = PostgresStore(dsn, schema=target)
    else:
        dsn = ""
        target = str(tmp_path / "lake")
        store = ParquetStore(target)
    # committed before the crash: 2000-01-01 .. a few days, in the same partitions the big write touches
    ts = pd.date_range("2000-01-01", periods=500, freq="min", tz="UTC")
    first = pd.DataFrame({"symbol": "AAA", "asset_class": "crypto", "venue": "t", "timeframe": "1m",
                          "ts": ts, "open": 5.0, "high": 6.0, "low": 4.0, "close": 5.0, "volume": 2.0,
                          "known_at": ts + pd.Timedelta(minutes=1)})
    store.write("bars", first)
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(repo=repo, dsn=dsn))
    proc = subprocess.Popen([sys.executable, str(script), kind, target], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(1.5)  # the 3M-row write is in progress
        assert proc.poll() is None, "the writer finished before it could be killed; make the batch bigger"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        out = store.read_bars("AAA", "1m")
        # the batch was all-or-nothing per file/transaction: the 500 committed rows are intact
        committed = out[out["ts"] < ts[-1] + pd.Timedelta(minutes=1)]
        assert len(committed) == 500
        assert (committed["close"] == 5.0).all() or (committed["close"] > 99).all()
        assert out["ts"].is_unique and out["ts"].is_monotonic_increasing
        # and the store still takes writes
        store.write("bars", first)
        assert len(store.read_bars("AAA", "1m", end=ts[-1] + pd.Timedelta(minutes=1))) == 500
    finally:
        if proc.poll() is None:
            proc.kill()
        if kind == "postgres":
            store.drop_schema()
        store.close()
