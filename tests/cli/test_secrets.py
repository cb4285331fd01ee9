"""Planted secrets (a provider key, a DSN password, the serving API key) never appear in what
``meridian`` prints or logs, at any log level, whether the command fails or succeeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.replay.fixtures import replay  # noqa: F401 (the loopback provider)

KEY = "planted-key-7f3a9c"
PASSWORD = "planted-pw-51e0b2"
SERVE_KEY = "planted-serve-9d4e11"
ROOT = Path(__file__).resolve().parents[2]


def _run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(replay, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MERIDIAN", "RAY_ADDRESS"))}
    env.update({"PYTHONPATH": str(ROOT), "MERIDIAN_HOME": str(tmp_path / "home"), "FINNHUB_API_KEY": KEY,
                "MERIDIAN__SERVING__API_KEY": SERVE_KEY,
                "MERIDIAN__STORE__BACKEND": "parquet", "MERIDIAN__STORE__PATH": str(tmp_path / "lake"),
                "MERIDIAN__INGEST__SOURCES__FINNHUB__BASE_URL": replay.url + "/finnhub/api/v1",
                "MERIDIAN__INGEST__SOURCES__BINANCE__BASE_URL": replay.url})
    return env


def _clean(*procs: subprocess.CompletedProcess) -> str:
    out = "\n".join(p.stdout + p.stderr for p in procs)
    for secret in (KEY, PASSWORD, SERVE_KEY):
        assert secret not in out, f"{secret} leaked:\n{out}"
    return out


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
def test_a_provider_key_never_appears(replay, env, verbosity):
    # the provider refuses the key and echoes it back, then accepts it
    replay.fail("/finnhub/api/v1/stock/candle", 401, f"Invalid API key {KEY} for token={KEY}")
    failed = _run(env, *verbosity, "ingest", "backfill", "--local", "--source", "finnhub", "--symbols", "AAPL",
                  "--timeframe", "1d", "--since", "2024-01-01", "--until", "2024-01-13")
    assert failed.returncode == 1 and "HTTP 401" in failed.stderr
    ok = _run(env, *verbosity, "ingest", "backfill", "--local", "--source", "finnhub", "--symbols", "AAPL",
              "--timeframe", "1d", "--since", "2024-01-01", "--until", "2024-01-13")
    assert ok.returncode == 0, ok.stderr
    assert replay.requests[-1][1]["token"] == KEY  # the key was sent, just never shown
    out = _clean(failed, ok)
    if verbosity == ["-vv"]:
        assert "DEBUG" in out  # the request lines were logged, scrubbed


@pytest.mark.parametrize("verbosity", [[], ["-vv"]])
def test_a_dsn_password_never_appears(env, tmp_path, verbosity):
    env = dict(env, MERIDIAN__STORE__BACKEND="postgres",
               MERIDIAN__STORE__DSN=f"postgresql://meridian:{PASSWORD}@127.0.0.1:1/nodb")
    down = _run(env, *verbosity, "data", "list")
    assert down.returncode != 0 and down.stderr.strip()
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"store:\n  backend: postgres\n  dsn: postgresql://meridian:{PASSWORD}@127.0.0.1:1/nodb\n"
                   "  nonsense: 1\n")
    wrong = _run({k: v for k, v in env.items() if not k.startswith("MERIDIAN__STORE")},
                 *verbosity, "--config", str(bad), "data", "list")
    assert wrong.returncode == 2 and "nonsense" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    _clean(down, wrong)
