"""Two machines sharing one PostgreSQL store, as cluster/README.md sets them up: the head and a
worker started by cluster/start-head and cluster/join-worker on loopback, each with a Meridian
home of its own and the same MERIDIAN__STORE__* settings; a walk-forward job submitted through
the Jobs API runs its driver on the worker node and records its run and models in PostgreSQL;
a local `meridian` command with a third home (the laptop, another machine) sees them.

PostgreSQL is MERIDIAN_TEST_PG_DSN, in a schema of this test's own, dropped after."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from tests.cluster.test_cli_cluster import PY, RAY, REPO, _ok, _sh, _user_env
from tests.helpers import free_port

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not RAY.exists(), reason=f"{RAY} missing: the scripts use the checkout's .venv")]


@pytest.fixture
def pg_cluster(tmp_path_factory, pg_dsn):
    from pipelines.sources.sample import sample_bars
    from pipelines.store.postgres import PostgresStore

    tmp_path = tmp_path_factory.mktemp("pg")   # short: Ray's socket paths under it have a length limit
    schema = f"t_{uuid.uuid4().hex[:10]}"
    store_env = {"MERIDIAN__STORE__BACKEND": "postgres", "MERIDIAN__STORE__DSN": pg_dsn,
                 "MERIDIAN__STORE__SCHEMA_NAME": schema}
    store = PostgresStore(pg_dsn, schema=schema)
    # the head's ingestion, in short: bars in the shared store
    store.write("bars", sample_bars("GOOG", 700)[0])
    port, dash = free_port(), free_port()
    head_tmp, worker_tmp = tmp_path / "head", tmp_path / "worker"
    started = []
    try:
        _ok(_sh(REPO / "cluster/start-head", "--port", port, "--dashboard-port", dash, "--temp-dir", head_tmp,
                "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--object-store-bytes", 150_000_000,
                "--", f"--dashboard-agent-listen-port={free_port()}", f"--ray-client-server-port={free_port()}",
                f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
                env=_user_env(MERIDIAN_HOME=str(tmp_path / "mac"), MERIDIAN_DIRECT_PORT=str(free_port()),
                              **store_env)))
        started.append(("stop-head", head_tmp))
        _ok(_sh(REPO / "cluster/join-worker", f"127.0.0.1:{port}", "--num-gpus", "1", "--dashboard-port", dash,
                "--temp-dir", worker_tmp, "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
                "--", f"--dashboard-agent-listen-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
                f"--metrics-export-port={free_port()}", "--object-store-memory=100000000",
                env=_user_env(MERIDIAN_HOME=str(tmp_path / "desktop"), **store_env)))
        started.append(("stop-worker", worker_tmp))
        yield {"url": f"http://127.0.0.1:{dash}", "store_env": store_env, "root": tmp_path, "store": store}
    finally:
        for script, tmp in reversed(started):
            _ok(_sh(REPO / "cluster" / script, "--temp-dir", tmp))
        store.drop_schema()
        store.close()


def test_job_on_the_worker_writes_runs_and_models_another_machine_sees(pg_cluster):
    url, store_env, root = pg_cluster["url"], pg_cluster["store_env"], pg_cluster["root"]
    sub_id = f"shared-store-{uuid.uuid4().hex[:8]}"
    _ok(_sh(RAY, "job", "submit", "--address", url, "--submission-id", sub_id, "--working-dir", ".",
                  "--entrypoint-resources", '{"gpu_worker": 0.01}', "--",
                  "python", "-m", "pipelines.jobs.walkforward", "--symbols", "GOOG", "--models", "logistic",
                  "--train-bars", "300", "--test-bars", "100", "--ensembles", "", "--json"))

    # the driver ran on the worker node ("the desktop"), not on the head
    from cluster.ready import alive_nodes
    worker = next(n for n in alive_nodes(url) if not n["isHeadNode"])
    with urllib.request.urlopen(f"{url}/api/jobs/{sub_id}", timeout=30) as r:
        job = json.loads(r.read())
    assert job["status"] == "SUCCEEDED" and job["driver_node_id"] == worker["nodeId"]

    # a third machine: its own (empty) Meridian home, the same store settings
    laptop = _user_env(MERIDIAN_HOME=str(root / "laptop"), PYTHONPATH=str(REPO), **store_env)
    runs = json.loads(_ok(_sh(PY, "-m", "pipelines.cli", "runs", "list", "--json", env=laptop)))
    # the schema is this test's own: the one run in it is the job's
    assert len(runs) == 1 and runs[0]["status"] == "done" and runs[0]["symbols"] == 1, runs
    assert runs[0]["models"] == ["logistic"], runs
    models = json.loads(_ok(_sh(PY, "-m", "pipelines.cli", "models", "list", "--json", env=laptop)))
    assert any(m["name"] == "logistic" and m["symbols"] == ["GOOG"] for m in models), models
    # nothing came from files: the laptop's home holds no lake, the records are in PostgreSQL only
    assert not (root / "laptop" / "data").exists()
    assert not any((root / "mac").rglob("*.parquet")) and not any((root / "desktop").rglob("*.parquet"))
