"""Stores: one protocol, two implementations (Parquet lake by default, PostgreSQL)."""

from __future__ import annotations

from pipelines.config import StoreConfig
from pipelines.errors import ConfigError
from pipelines.store.base import Store
from pipelines.store.parquet import ParquetStore


def open_store(cfg: StoreConfig) -> "Store":
    """The store the configuration names."""
    if cfg.backend == "parquet":
        return ParquetStore(cfg.path)
    if cfg.dsn is None:
        raise ConfigError("store.backend is postgres but no DSN is set: export MERIDIAN__STORE__DSN="
                          "postgresql://user@host:5432/db")
    from pipelines.store.postgres import PostgresStore
    return PostgresStore(cfg.dsn.get_secret_value(), schema=cfg.schema_name)


__all__ = ["Store", "ParquetStore", "open_store"]
