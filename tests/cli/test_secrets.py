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


WORKER_DRIVER = '''
import json, logging, os, sys
import ray
from cluster.runtime import init_ray, shutdown_ray
from pipelines.config import RayConfig

@ray.remote
def leak():
    dsn = os.environ["MERIDIAN__STORE__DSN"]
    print(f"printed token={os.environ['FINNHUB_API_KEY']} dsn={dsn}")
    print("split token=" + os.environ["FINNHUB_API_KEY"][:6], end="")   # one line in two writes
    print(os.environ["FINNHUB_API_KEY"][6:])
    print(f"to stderr token={os.environ['FINNHUB_API_KEY']}", file=sys.stderr)
    logging.getLogger("meridian.task").warning("logged token=%s dsn=%s", os.environ["FINNHUB_API_KEY"], dsn)
    try:
        raise ValueError(f"refused token={os.environ['FINNHUB_API_KEY']}")
    except ValueError:
        logging.getLogger("meridian.task").exception("traceback follows")
    return os.getpid()

init_ray(RayConfig(num_cpus=1, object_store_memory=100_000_000, temp_dir=sys.argv[1]))
pid = ray.get(leak.remote(), timeout=120)
logs = ray._private.worker._global_node.get_logs_dir_path()
import time; time.sleep(2)   # the log monitor streams the worker's lines to this console
shutdown_ray()
print(json.dumps({"pid": pid, "logs": logs}))
'''


def test_a_ray_worker_never_shows_a_secret(tmp_path):
    """A Ray task started by init_ray prints and logs a provider key and a DSN password: neither
    reaches the driver's console (log_to_driver) nor the session's log files; the mask does."""
    import json
    import shutil
    import tempfile
    script = tmp_path / "driver.py"
    script.write_text(WORKER_DRIVER)
    temp_dir = tempfile.mkdtemp(prefix="mr-", dir="/tmp")   # Ray's socket paths must stay short
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MERIDIAN", "RAY_ADDRESS"))}
    env.update({"PYTHONPATH": str(ROOT), "MERIDIAN_HOME": str(tmp_path / "home"), "FINNHUB_API_KEY": KEY,
                "MERIDIAN__STORE__DSN": f"postgresql://meridian:{PASSWORD}@127.0.0.1:1/nodb",
                "RAY_AUTH_MODE": "disabled"})
    try:
        proc = subprocess.run([sys.executable, str(script), temp_dir], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = _clean(proc)
        where = json.loads(proc.stdout.strip().splitlines()[-1])
        pid = where["pid"]
        # the worker's lines did reach the driver, masked
        for line in ("printed token=*** dsn=postgresql://meridian:***@127.0.0.1:1/nodb", "split token=***",
                     "to stderr token=***", "logged token=*** dsn=postgresql://meridian:***@", "refused token=***"):
            assert line in out, f"{line!r} not streamed to the driver:\n{out}"
        assert f"pid={pid})" in out
        logs = Path(where["logs"])
        files = [p for p in logs.rglob("*") if p.is_file()]
        assert files, f"no log files under {logs}"
        for p in files:
            data = p.read_bytes()
            for secret in (KEY, PASSWORD):
                assert secret.encode() not in data, f"{secret} leaked into {p}"
        worker_text = "".join(p.read_text(errors="replace") for p in files
                              if p.name.startswith("worker-") and p.name.endswith((f"-{pid}.out", f"-{pid}.err")))
        assert "printed token=***" in worker_text and "logged token=***" in worker_text, worker_text
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_scrubbed_stream_masks_whole_lines():
    import io
    from pipelines.secrets import MASK, ScrubbedStream
    raw = io.StringIO()
    out = ScrubbedStream(raw, [KEY])
    out.write("a " + KEY[:4])
    assert raw.getvalue() == ""           # a partial line waits for the rest of the secret
    out.write(KEY[4:] + " b\nc ")
    assert raw.getvalue() == f"a {MASK} b\n"
    out.write(KEY)
    out.flush()
    assert raw.getvalue() == f"a {MASK} b\nc {MASK}" and KEY not in raw.getvalue()
