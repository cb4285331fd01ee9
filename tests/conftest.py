"""Shared fixtures: one local Ray per session, the PostgreSQL server, the shared data folder."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Every test's Meridian home is a fresh folder of this session (inherited by the processes tests
# start), never the user's ~/.meridian; a test that needs its own sets MERIDIAN_HOME itself.
if "MERIDIAN_HOME" not in os.environ or os.environ.get("CI"):
    import tempfile
    os.environ["MERIDIAN_HOME"] = tempfile.mkdtemp(prefix="meridian-home-")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MERIDIAN_SHARED_DATA", REPO.parent / "shared" / "data"))
PG_DSN = os.environ.get("MERIDIAN_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real market data); absent in a user's fresh clone, present in CI."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} not present (it ships beside the repo in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    import psycopg
    try:
        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_DSN}: {exc}")
    return PG_DSN


RAY_TEST_ARGS = dict(num_cpus=2, include_dashboard=False, object_store_memory=200_000_000, log_to_driver=False)


def start_test_ray() -> None:
    """The suite's own local Ray: always a new instance, never a cluster another process started
    on this machine, on 127.0.0.1 and free ports only (cluster.runtime.start_local_ray)."""
    from cluster.runtime import start_local_ray
    start_local_ray(**RAY_TEST_ARGS)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole session (2 CPUs, small object store, no dashboard)."""
    import ray
    if not ray.is_initialized():
        start_test_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(params=["parquet", "postgres"])
def store(request, tmp_path):
    """Each store implementation, empty; PostgreSQL in a schema of its own, dropped after."""
    if request.param == "parquet":
        from pipelines.store import ParquetStore
        s = ParquetStore(tmp_path / "lake")
        yield s
        s.close()
    else:
        dsn = request.getfixturevalue("pg_dsn")
        from pipelines.store.postgres import PostgresStore
        s = PostgresStore(dsn, schema=f"t_{uuid.uuid4().hex[:10]}")
        yield s
        s.drop_schema()
        s.close()
