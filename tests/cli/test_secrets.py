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


CONFIG_KEY = "planted-yaml-key-c03b7e"
CONFIG_PASSWORD = "planted-yaml-pw-8a1f64"

SERVE_DRIVER = '''
import json, logging, sys, time
from pathlib import Path
import ray, yaml
from ray import serve
from cluster.runtime import init_ray
from pipelines.config import RayConfig, load_config
from tests.cli.serve_leak import Leaky

mode, temp_dir, port, config = sys.argv[1:]

@ray.remote
def leak(cfg):
    held = f"api_key={cfg.serving.api_key.get_secret_value()} dsn={cfg.store.dsn.get_secret_value()}"
    print(f"task printed {held}")
    logging.getLogger("meridian.task").warning("task logged %s", held)
    return 0

if mode == "meridian":   # a Meridian command: init_ray, then work sent with the loaded config
    init_ray(RayConfig(num_cpus=1, object_store_memory=100_000_000, temp_dir=temp_dir))
    cfg = load_config(config)
    ray.get(leak.remote(cfg), timeout=120)
    serve.start(http_options={"host": "127.0.0.1", "port": int(port)})   # as `meridian serve`
    serve.run(Leaky.bind(cfg), name="leaky", route_prefix="/")
else:   # `serve deploy serving/serve-config.yaml` on a head: the controller has no hook of ours
    ray.init(address="local", num_cpus=1, object_store_memory=100_000_000, include_dashboard=False,
             _temp_dir=temp_dir)
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema
    serve.start(http_options={"host": "127.0.0.1", "port": int(port)})
    app = yaml.safe_load(Path("serving/serve-config.yaml").read_text())["applications"][0]
    _get_global_client().deploy_apps(ServeDeploySchema(applications=[
        {"name": "leaky", "route_prefix": "/", "import_path": "tests.cli.serve_leak:build",
         "runtime_env": app["runtime_env"], "args": {"config": config}}]), _blocking=True)
pid = serve.get_app_handle("leaky").remote().result(timeout_s=120)
logs = ray._private.worker._global_node.get_logs_dir_path()
time.sleep(2)   # the log monitor streams the replica's lines to this console
serve.shutdown()
ray.shutdown()
print(json.dumps({"pid": pid, "logs": logs}))
'''


@pytest.mark.parametrize("mode", ["meridian", "serve-config"])
def test_serve_replicas_and_tasks_never_show_a_configured_secret(tmp_path, mode):
    """A Serve replica (deployed from serving/serve-config.yaml's runtime_env, or run by a
    Meridian command) and a Ray task print and log an environment key and the API key and DSN
    password written only in the YAML configuration: none reaches the console or a log file."""
    import json
    import shutil
    import tempfile

    from tests.helpers import free_port
    script = tmp_path / "driver.py"
    script.write_text(SERVE_DRIVER)
    config = tmp_path / "meridian.yaml"
    config.write_text(f"serving:\n  api_key: {CONFIG_KEY}\nstore:\n  backend: postgres\n"
                      f"  dsn: postgresql://meridian:{CONFIG_PASSWORD}@127.0.0.1:1/nodb\n")
    temp_dir = tempfile.mkdtemp(prefix="mr-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MERIDIAN", "RAY_ADDRESS"))}
    env.update({"PYTHONPATH": str(ROOT), "MERIDIAN_HOME": str(tmp_path / "home"), "FINNHUB_API_KEY": KEY,
                "RAY_AUTH_MODE": "disabled"})
    try:
        proc = subprocess.run([sys.executable, str(script), mode, temp_dir, str(free_port()), str(config)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = proc.stdout + proc.stderr
        where = json.loads(proc.stdout.strip().splitlines()[-1])
        logs = Path(where["logs"])
        files = [p for p in logs.rglob("*") if p.is_file()]
        for secret in (KEY, CONFIG_KEY, CONFIG_PASSWORD):
            assert secret not in out, f"{secret} reached the console:\n{out}"
            for p in files:
                assert secret.encode() not in p.read_bytes(), f"{secret} leaked into {p}"
        held = "token=*** api_key=*** dsn=postgresql://meridian:***@127.0.0.1:1/nodb"
        replica = "".join(p.read_text(errors="replace") for p in files
                          if p.name.startswith("worker-") and f"-{where['pid']}." in p.name)
        for line in (f"replica printed {held}", f"replica stderr {held}", f"replica logged {held}"):
            assert line in replica, f"{line!r} not in the replica's log files:\n{replica}"
        if mode == "meridian":
            for line in ("task printed api_key=*** dsn=", "task logged api_key=*** dsn="):
                assert line in out, f"{line!r} not streamed to the driver:\n{out}"
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_configuration_masks_its_secrets_wherever_it_is_built_or_received(tmp_path):
    """A process masks the secret fields of a configuration it loads from YAML or unpickles (a
    Ray task's argument, a Serve replica's), though no environment variable holds them."""
    import pickle
    from pipelines.config import load_config
    config = tmp_path / "meridian.yaml"
    config.write_text(f"serving:\n  api_key: {CONFIG_KEY}\nstore:\n"
                      f"  dsn: postgresql://meridian:{CONFIG_PASSWORD}@127.0.0.1:1/nodb\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MERIDIAN")}
    env.update({"PYTHONPATH": str(ROOT), "MERIDIAN_HOME": str(tmp_path / "home")})
    line = f"key={CONFIG_KEY} dsn=postgresql://meridian:{CONFIG_PASSWORD}@127.0.0.1:1/nodb"
    show = f"from pipelines.secrets import scrub; print(scrub({line!r}))"
    loaded = subprocess.run([sys.executable, "-c", f"from pipelines.config import load_config; "
                             f"load_config({str(config)!r}); {show}"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    received = subprocess.run([sys.executable, "-c", f"import pickle, sys; pickle.load(sys.stdin.buffer); {show}"],
                              cwd=ROOT, env=env, input=pickle.dumps(load_config(config)), capture_output=True,
                              timeout=60)
    for out in (loaded.stdout, received.stdout.decode()):
        assert out.strip() == "key=*** dsn=postgresql://meridian:***@127.0.0.1:1/nodb", (loaded, received)


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
