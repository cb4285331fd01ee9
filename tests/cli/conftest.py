"""The ``meridian`` command run in-process against each store, configured by a YAML file."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.schema import TABLES
from pipelines.store.base import Store

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@dataclass
class CliStore:
    """A store and the config file that points ``meridian`` at it."""

    store: Store
    config: Path
    kind: str

    def run(self, *argv: str) -> int:
        return main(["--config", str(self.config), *argv])

    def digest(self) -> str:
        """Every row of every table, in key order (the same digest whatever the backend)."""
        h = hashlib.sha256()
        for name in sorted(TABLES):
            h.update(name.encode())
            h.update(self.store.read(name).to_csv(index=False).encode())
        return h.hexdigest()


def lake_files_digest(root: Path) -> str:
    """The lake's files byte for byte (lock files aside): leftovers of a failed write show too."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.endswith(".lock"):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(params=["parquet", "postgres"])
def cli_store(request, tmp_path):
    config = tmp_path / "meridian.yaml"
    if request.param == "parquet":
        from pipelines.store import ParquetStore
        lake = tmp_path / "lake"
        config.write_text(f"store:\n  backend: parquet\n  path: {lake}\n")
        s = ParquetStore(lake)
        yield CliStore(s, config, "parquet")
        s.close()
    else:
        dsn = request.getfixturevalue("pg_dsn")
        from pipelines.store.postgres import PostgresStore
        schema = f"t_{uuid.uuid4().hex[:10]}"
        config.write_text(f"store:\n  backend: postgres\n  dsn: {dsn}\n  schema_name: {schema}\n")
        s = PostgresStore(dsn, schema=schema)
        yield CliStore(s, config, "postgres")
        s.drop_schema()
        s.close()
