"""Pytest fixtures around the replay server, shared by the source and ingestion tests."""

from __future__ import annotations

import pytest

from pipelines.config.sources import ProviderConfig, RetryConfig, SourcesConfig
from tests.replay.server import ReplayServer

FAST_RETRY = RetryConfig(attempts=4, backoff_base=0.001, backoff_max=0.01, jitter=0.5,
                         retry_after_max=2.0, timeout=5.0)


def replay_sources(srv: ReplayServer, **overrides) -> SourcesConfig:
    """Every provider pointed at the loopback server, with tiny waits."""
    def p(prefix: str, **kw) -> ProviderConfig:
        base = dict(base_url=srv.url + prefix, retry=FAST_RETRY, max_wait=5.0)
        base.update(kw)
        return ProviderConfig(**base)
    cfg = dict(
        binance=p("", ws_url=srv.ws_url, per_minute=100_000),
        yahoo=p("/yahoo", per_minute=1000),
        finnhub=p("/finnhub/api/v1", api_key_env="MERIDIAN_TEST_FINNHUB_KEY", per_minute=1000),
        alphavantage=p("/alphavantage", api_key_env="MERIDIAN_TEST_AV_KEY", per_minute=1000, per_day=500),
        twelvedata=p("/twelvedata", api_key_env="MERIDIAN_TEST_TD_KEY", per_minute=1000),
        coingecko=p("/coingecko/api/v3", per_minute=1000),
        fred=p("/fred", api_key_env="MERIDIAN_TEST_FRED_KEY", per_minute=1000),
        blockchain=p("/blockchain", per_minute=1000),
    )
    cfg.update(overrides)
    return SourcesConfig(**cfg)


@pytest.fixture
def replay():
    with ReplayServer() as srv:
        yield srv


@pytest.fixture
def sources_cfg(replay, monkeypatch) -> SourcesConfig:
    for var in ("MERIDIAN_TEST_FINNHUB_KEY", "MERIDIAN_TEST_AV_KEY", "MERIDIAN_TEST_TD_KEY",
                "MERIDIAN_TEST_FRED_KEY"):
        monkeypatch.setenv(var, "test-secret-key")
    return replay_sources(replay)


def store_config_of(store) -> "StoreConfig":
    """The StoreConfig that opens the same store as the ``store`` fixture (for other processes)."""
    from pipelines.config import StoreConfig
    from pipelines.store import ParquetStore
    if isinstance(store, ParquetStore):
        return StoreConfig(backend="parquet", path=str(store.root))
    return StoreConfig(backend="postgres", dsn=store.conn.info.dsn, schema_name=store.schema)


def store_env(store) -> dict[str, str]:
    """MERIDIAN__STORE__* variables naming the same store."""
    cfg = store_config_of(store)
    env = {"MERIDIAN__STORE__BACKEND": cfg.backend}
    if cfg.backend == "parquet":
        env["MERIDIAN__STORE__PATH"] = cfg.path
    else:
        env["MERIDIAN__STORE__DSN"] = cfg.dsn.get_secret_value()
        env["MERIDIAN__STORE__SCHEMA_NAME"] = cfg.schema_name
    return env


def wait_for_checkpoint(cps, source: str, stream: str, at_least, timeout: float = 60.0):
    """The ingestion checkpoint of ``stream`` once it has reached ``at_least`` (a running
    backfill writes it as it goes); AssertionError after ``timeout`` seconds."""
    import time

    import pandas as pd
    at_least = pd.Timestamp(at_least)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cp = cps.get(source, stream)
        if cp is not None and cp.ts >= at_least:
            return cp
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint written within {timeout:.0f} s")
