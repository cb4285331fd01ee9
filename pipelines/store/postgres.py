"""PostgreSQL store (psycopg 3): the same contract as the Parquet lake.

Each write is one transaction: the batch is streamed with COPY into a temporary table, then
merged with ``INSERT ... ON CONFLICT (key) DO UPDATE``. An interrupted write rolls back whole, so
what was committed before stays as it was. Reads stream out with ``COPY (SELECT ...) TO STDOUT``.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pyarrow as pa
import psycopg
from psycopg import sql

from pipelines.errors import StoreError
from pipelines.schema import TABLES, TableSpec, conform
from pipelines.store.base import (Filter, StoreHelpers, conform_summary, empty_summary, finish,
                                  prepare, spec_of)
from pipelines.times import as_utc

_NULL = r"\N"


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "timestamptz"
    if pa.types.is_floating(t):
        return "double precision"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_boolean(t):
        return "boolean"
    return "text"


class PostgresStore(StoreHelpers):
    def __init__(self, dsn: str, schema: str = "meridian") -> None:
        try:
            self.conn = psycopg.connect(dsn, autocommit=False)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to PostgreSQL ({exc}); check MERIDIAN__STORE__DSN") from exc
        self._dsn = dsn
        self.schema = schema
        with self.conn.transaction():
            self.conn.execute("SET TIME ZONE 'UTC'")
            self.conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            for spec in TABLES.values():
                self._create(spec)

    def _t(self, spec: TableSpec) -> sql.Composed:
        return sql.Identifier(self.schema, spec.name)

    def _create(self, spec: TableSpec) -> None:
        cols = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(_pg_type(f.type)))
            for f in spec.schema)
        key = sql.SQL(", ").join(map(sql.Identifier, spec.key))
        self.conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
            self._t(spec), cols, key))
        have = {r[0] for r in self.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (self.schema, spec.name)).fetchall()}
        for f in spec.schema:  # columns the spec gained after the table was created
            if f.name not in have:
                self.conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                    self._t(spec), sql.Identifier(f.name), sql.SQL(_pg_type(f.type))))
        if spec.time_column not in spec.key:
            self.conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(f"{spec.name}_{spec.time_column}_idx"), self._t(spec),
                sql.Identifier(spec.time_column)))

    # ------------------------------------------------------------------ protocol
    def write(self, table: str, df: pd.DataFrame) -> int:
        spec = spec_of(table)
        if df is None or len(df) == 0:
            return 0
        batch = prepare(df, spec)
        buf = io.StringIO()
        batch.to_csv(buf, index=False, header=False, na_rep=_NULL, date_format="%Y-%m-%d %H:%M:%S.%f%z")
        data = buf.getvalue().encode()
        cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
        updates = [c for c in spec.columns if c not in spec.key]
        on_conflict = (sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in updates)
            if updates else sql.SQL("DO NOTHING"))
        tmp = sql.Identifier(f"_load_{spec.name}")
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS")
                            .format(tmp, self._t(spec)))
                with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, NULL {})").format(
                        tmp, cols, sql.Literal(_NULL))) as copy:
                    for i in range(0, len(data), 1 << 20):
                        copy.write(data[i:i + (1 << 20)])
                cur.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) ").format(
                    self._t(spec), cols, cols, tmp, sql.SQL(", ").join(map(sql.Identifier, spec.key)))
                    + on_conflict)
        except psycopg.Error as exc:
            raise StoreError(f"write to {self.schema}.{spec.name} failed and was rolled back: {exc}") from exc
        return len(batch)

    def _where(self, spec: TableSpec, where: Filter, start: Any, end: Any) -> tuple[sql.Composable, list]:
        parts: list[sql.Composable] = []
        params: list[Any] = []
        names = set(spec.columns)
        for col, val in where.items():
            if col not in names:
                raise KeyError(f"{spec.name} has no column {col!r}")
            if isinstance(val, (list, tuple, set)):
                parts.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(col)))
                params.append([str(v) if not isinstance(v, (int, float)) else v for v in val])
            else:
                parts.append(sql.SQL("{} = %s").format(sql.Identifier(col)))
                params.append(val)
        start, end = as_utc(start), as_utc(end)
        if start is not None:
            parts.append(sql.SQL("{} >= %s").format(sql.Identifier(spec.time_column)))
            params.append(start.to_pydatetime())
        if end is not None:
            parts.append(sql.SQL("{} < %s").format(sql.Identifier(spec.time_column)))
            params.append(end.to_pydatetime())
        if not parts:
            return sql.SQL(""), params
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts), params

    def read(self, table: str, where: Filter | None = None, start: Any = None,
             end: Any = None) -> pd.DataFrame:
        spec = spec_of(table)
        cond, params = self._where(spec, dict(where or {}), start, end)
        cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
        query = sql.SQL("SELECT {} FROM {}").format(cols, self._t(spec)) + cond
        with psycopg.ClientCursor(self.conn) as cur:
            inner = cur.mogrify(query, params) if params else query.as_string(self.conn)
            out = io.BytesIO()
            with cur.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER, NULL {})").format(
                    sql.SQL(inner), sql.Literal(_NULL))) as copy:
                for block in copy:
                    out.write(block)
        self.conn.commit()
        out.seek(0)
        dtypes = {f.name: "string" for f in spec.schema if pa.types.is_string(f.type)}
        df = pd.read_csv(out, na_values=[_NULL], keep_default_na=False, dtype=dtypes)
        if df.empty:
            df = pd.DataFrame({c: pd.Series(dtype="object") for c in spec.columns})
        for f in spec.schema:
            if pa.types.is_boolean(f.type) and len(df):
                df[f.name] = df[f.name].map({"t": True, "f": False, True: True, False: False})
            elif pa.types.is_timestamp(f.type) and len(df):
                df[f.name] = pd.to_datetime(df[f.name], utc=True, format="ISO8601")
        return finish(conform(df, spec), spec)

    def delete(self, table: str, where: Filter) -> int:
        spec = spec_of(table)
        cond, params = self._where(spec, where, None, None)
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(sql.SQL("DELETE FROM {}").format(self._t(spec)) + cond, params)
            return cur.rowcount

    def distinct(self, table: str, columns: tuple[str, ...]) -> pd.DataFrame:
        spec = spec_of(table)
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT DISTINCT {} FROM {} ORDER BY {}").format(cols, self._t(spec), cols))
            rows = cur.fetchall()
        self.conn.commit()
        return pd.DataFrame(rows, columns=list(columns)).astype("string")

    def last_ts(self, symbol: str, timeframe: str) -> pd.Timestamp | None:
        """max(ts) answered from the (symbol, timeframe, ts) primary-key index."""
        return self._ts_bound("max", symbol, timeframe)

    def first_ts(self, symbol: str, timeframe: str) -> pd.Timestamp | None:
        """min(ts) answered from the (symbol, timeframe, ts) primary-key index."""
        return self._ts_bound("min", symbol, timeframe)

    def _ts_bound(self, fn: str, symbol: str, timeframe: str) -> pd.Timestamp | None:
        query = sql.SQL("SELECT {}(ts) FROM {} WHERE symbol = %s AND timeframe = %s").format(
            sql.SQL(fn), self._t(spec_of("bars")))
        with self.conn.cursor() as cur:
            cur.execute(query, (symbol, timeframe))
            row = cur.fetchone()
        self.conn.commit()
        value = row[0] if row else None
        return None if value is None else as_utc(value)

    def series_summary(self) -> pd.DataFrame:
        query = sql.SQL("SELECT symbol, timeframe, asset_class, count(*), min(ts), max(ts) FROM {} "
                        "GROUP BY symbol, timeframe, asset_class").format(self._t(spec_of("bars")))
        with self.conn.cursor() as cur:
            cur.execute(query)
            rows = cur.fetchall()
        self.conn.commit()
        if not rows:
            return empty_summary()
        return conform_summary(pd.DataFrame(rows, columns=["symbol", "timeframe", "asset_class", "rows",
                                                           "first", "last"]))

    def drop_schema(self) -> None:
        """Remove every Meridian table in this schema (tests use a schema of their own)."""
        with self.conn.transaction():
            self.conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def close(self) -> None:
        self.conn.close()

    def __reduce__(self):
        """Pickled (e.g. into a Ray task) as what it connects to: the copy opens its own connection."""
        return (PostgresStore, (self._dsn, self.schema))

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"
