"""The Parquet lake: the embedded default store.

Layout: ``root/<table>/<col>=<value>/.../year=<YYYY>.parquet``, partitioned by each table's
``partition_by`` columns (and the year of its time column). An upsert rewrites only the partition
files it touches: it merges the new rows into the file's rows (new wins on equal keys), writes a
temporary file beside it, fsyncs it and atomically renames it over the old one, under a per-file
lock. A crash at any point leaves either the old file or the new one, never a torn file.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote, unquote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.errors import StoreError
from pipelines.schema import TableSpec, from_arrow, to_arrow
from pipelines.store.base import Filter, StoreHelpers, finish, prepare, spec_of
from pipelines.times import as_utc


def _enc(value: Any) -> str:
    return quote(str(value), safe="")


class ParquetStore(StoreHelpers):
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ layout
    def _file_for(self, spec: TableSpec, part: dict[str, Any], year: int | None) -> Path:
        d = self.root / spec.name
        for col in spec.partition_by:
            d = d / f"{col}={_enc(part[col])}"
        return d / (f"year={year}.parquet" if year is not None else "data.parquet")

    def _files(self, spec: TableSpec, where: Filter) -> list[Path]:
        base = self.root / spec.name
        if not base.exists():
            return []
        dirs = [base]
        for col in spec.partition_by:
            wanted = where.get(col)
            nxt: list[Path] = []
            for d in dirs:
                if wanted is None:
                    nxt.extend(p for p in d.glob(f"{col}=*") if p.is_dir())
                else:
                    values = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
                    nxt.extend(d / f"{col}={_enc(v)}" for v in values)
            dirs = [d for d in nxt if d.is_dir()]
        return sorted(f for d in dirs for f in d.glob("*.parquet"))

    @contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.with_name("." + path.name + ".lock")
        with open(lock, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @staticmethod
    def _atomic_write(table: pa.Table, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            pq.write_table(table, tmp, compression="zstd")
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            dfd = os.open(path.parent, os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        finally:
            if tmp.exists():
                tmp.unlink()

    def _read_file(self, path: Path, spec: TableSpec) -> pd.DataFrame:
        try:
            return from_arrow(pq.read_table(path), spec)
        except (OSError, pa.ArrowInvalid) as exc:
            raise StoreError(f"cannot read {path}: {exc}") from exc

    # ------------------------------------------------------------------ protocol
    def write(self, table: str, df: pd.DataFrame) -> int:
        spec = spec_of(table)
        if df is None or len(df) == 0:
            return 0
        batch = prepare(df, spec)
        groups: dict[Path, pd.DataFrame] = {}
        keys = list(spec.partition_by)
        if spec.partition_year:
            batch["__year"] = batch[spec.time_column].dt.year
            keys.append("__year")
        if keys:
            for vals, part in batch.groupby(keys, sort=True, dropna=False):
                vals = vals if isinstance(vals, tuple) else (vals,)
                pmap = dict(zip(keys, vals))
                year = int(pmap["__year"]) if spec.partition_year else None
                groups[self._file_for(spec, pmap, year)] = part.drop(columns="__year", errors="ignore")
        else:
            groups[self._file_for(spec, {}, None)] = batch
        for path, part in groups.items():
            with self._locked(path):
                if path.exists():
                    old = self._read_file(path, spec)
                    merged = pd.concat([old, part], ignore_index=True)
                    merged = merged.drop_duplicates(list(spec.key), keep="last")
                else:
                    merged = part
                self._atomic_write(to_arrow(finish(merged, spec), spec), path)
        return len(batch)

    def read(self, table: str, where: Filter | None = None, start: Any = None,
             end: Any = None) -> pd.DataFrame:
        spec = spec_of(table)
        where = dict(where or {})
        start, end = as_utc(start), as_utc(end)
        files = self._files(spec, where)
        if spec.partition_year and (start is not None or end is not None):
            def in_range(p: Path) -> bool:
                y = int(p.stem.split("=")[1])
                return (start is None or y >= start.year) and (end is None or y <= end.year)
            files = [f for f in files if in_range(f)]
        if not files:
            return from_arrow(spec.schema.empty_table(), spec)
        df = pd.concat([self._read_file(f, spec) for f in files], ignore_index=True)
        mask = pd.Series(True, index=df.index)
        for col, val in where.items():
            if col not in df.columns:
                raise KeyError(f"{table} has no column {col!r}")
            if isinstance(val, (list, tuple, set)):
                mask &= df[col].isin(list(val))
            else:
                mask &= df[col] == val
        tcol = df[spec.time_column]
        if start is not None:
            mask &= tcol >= start
        if end is not None:
            mask &= tcol < end
        return finish(df[mask.fillna(False).astype(bool)], spec)

    def delete(self, table: str, where: Filter) -> int:
        spec = spec_of(table)
        removed = 0
        for path in self._files(spec, where):
            with self._locked(path):
                df = self._read_file(path, spec)
                mask = pd.Series(True, index=df.index)
                for col, val in where.items():
                    vals = list(val) if isinstance(val, (list, tuple, set)) else [val]
                    mask &= df[col].isin(vals)
                mask = mask.fillna(False).astype(bool)
                if not mask.any():
                    continue
                removed += int(mask.sum())
                rest = df[~mask]
                if rest.empty:
                    path.unlink()
                else:
                    self._atomic_write(to_arrow(rest, spec), path)
        return removed

    def distinct(self, table: str, columns: tuple[str, ...]) -> pd.DataFrame:
        spec = spec_of(table)
        files = self._files(spec, {})
        if not files:
            return pd.DataFrame({c: pd.Series(dtype="string") for c in columns})
        parts = [pq.read_table(f, columns=list(columns)).to_pandas().drop_duplicates() for f in files]
        out = pd.concat(parts, ignore_index=True).drop_duplicates()
        return out.sort_values(list(columns)).reset_index(drop=True)

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"ParquetStore({str(self.root)!r})"
