"""A backfill process killed mid-way (SIGKILL) resumes from its checkpoint: no holes, no duplicates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pipelines.ingest.checkpoints import Checkpoints, bar_stream
from tests.replay.fixtures import store_env

REPO = Path(__file__).resolve().parents[2]
SINCE, UNTIL = "2024-01-01", "2024-01-11"


def _cmd() -> list[str]:
    return [sys.executable, "-m", "pipelines.jobs.ingest", "backfill", "--local", "--source", "binance",
            "--symbols", "BTCUSDT", "--timeframe", "1h", "--since", SINCE, "--until", UNTIL,
            "--json", "--no-progress"]


@pytest.mark.slow
def test_killed_backfill_resumes_without_holes_or_duplicates(replay, store, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MERIDIAN_CONFIG"}
    env.update(store_env(store))
    env.update({
           "MERIDIAN__INGEST__SOURCES__BINANCE__BASE_URL": replay.url,
           "MERIDIAN__INGEST__SOURCES__BINANCE__PAGE_LIMIT": "24"})
    replay.delay = 0.25
    proc = subprocess.Popen(_cmd(), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cps = Checkpoints(store)
    stream = bar_stream("BTCUSDT", "1h")
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            cp = cps.get("binance", stream)
            if cp is not None and cp.ts >= pd.Timestamp("2024-01-03", tz="UTC"):
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        else:
            raise AssertionError("the backfill wrote no checkpoint in 60 s")
    finally:
        proc.kill()
        proc.wait(10)
    killed_at = cps.get("binance", stream).ts
    partial = store.read_bars("BTCUSDT", "1h")
    assert len(partial) < 240, "the process finished before it was killed"
    assert partial["ts"].iloc[-1] >= killed_at

    replay.delay = 0.0
    done = subprocess.run(_cmd(), cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])[0]
    assert pd.Timestamp(result["resumed_from"]) == killed_at
    bars = store.read_bars("BTCUSDT", "1h")
    expected = pd.date_range(SINCE, UNTIL, freq="1h", inclusive="left", tz="UTC")
    assert bars["ts"].is_unique and list(bars["ts"]) == list(expected)
    assert cps.get("binance", stream).ts == expected[-1]
