"""The Parquet lake: the embedded default store.

Layout: ``root/<table>/<col>=<value>/.../year=<YYYY>.parquet``, partitioned by each table's
``partition_by`` columns (and the year of its time column). An upsert rewrites only the partition
files it touches: it merges the new rows into each file's rows (new wins on equal keys). All the
files of one write (or delete) are committed together through :mod:`pipelines.store.lake_txn`, so
a crash at any point leaves the old data or the new, in every partition, never a mix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.errors import StoreError
from pipelines.schema import TableSpec, from_arrow, to_arrow
from pipelines.store.base import (Filter, StoreHelpers, conform_summary, empty_summary, finish,
                                  prepare, spec_of)
from pipelines.store.lake_txn import LakeTxn
from pipelines.times import as_utc


def _enc(value: Any) -> str:
    return quote(str(value), safe="")


class ParquetStore(StoreHelpers):
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._txn = LakeTxn(self.root)
        self._txn.recover()

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
                pmap: dict[str, Any] = dict(zip(keys, vals))
                year = int(pmap["__year"]) if spec.partition_year else None
                groups[self._file_for(spec, pmap, year)] = part.drop(columns="__year", errors="ignore")
        else:
            groups[self._file_for(spec, {}, None)] = batch
        with self._txn.writing(list(groups)) as commit:
            for path, part in groups.items():
                if path.exists():
                    old = self._read_file(path, spec)
                    merged = pd.concat([old, part], ignore_index=True)
                    merged = merged.drop_duplicates(list(spec.key), keep="last")
                else:
                    merged = part
                commit.stage(path, to_arrow(finish(merged, spec), spec))
            commit.apply()
        return len(batch)

    def read(self, table: str, where: Filter | None = None, start: Any = None,
             end: Any = None) -> pd.DataFrame:
        spec = spec_of(table)
        where = dict(where or {})
        start, end = as_utc(start), as_utc(end)
        with self._txn.reading():
            return self._read(spec, where, start, end)

    def _read(self, spec: TableSpec, where: Filter, start: pd.Timestamp | None,
              end: pd.Timestamp | None) -> pd.DataFrame:
        table = spec.name
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
        with self._txn.writing(self._files(spec, where)) as commit:
            for path in commit.targets:
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
                commit.stage(path, None if rest.empty else to_arrow(rest, spec))
            commit.apply()
        return removed

    def distinct(self, table: str, columns: tuple[str, ...]) -> pd.DataFrame:
        spec = spec_of(table)
        with self._txn.reading():
            files = self._files(spec, {})
            if not files:
                return pd.DataFrame({c: pd.Series(dtype="string") for c in columns})
            parts = [pq.read_table(f, columns=list(columns)).to_pandas().drop_duplicates() for f in files]
        out = pd.concat(parts, ignore_index=True).drop_duplicates()
        return out.sort_values(list(columns)).reset_index(drop=True)

    # ------------------------------------------------------------------ bar summaries
    def _ts_range(self, path: Path) -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
        """Rows and ts range of one file from its footer (row-group statistics); the ts column
        alone is read when a row group has no statistics."""
        meta = pq.ParquetFile(path).metadata
        idx = meta.schema.to_arrow_schema().get_field_index("ts")
        lo: list[pd.Timestamp] = []
        hi: list[pd.Timestamp] = []
        for i in range(meta.num_row_groups):
            rg = meta.row_group(i)
            if rg.num_rows == 0:
                continue
            st = rg.column(idx).statistics
            if st is None or not st.has_min_max:
                ts = pq.read_table(path, columns=["ts"]).column("ts").to_pandas()
                return meta.num_rows, as_utc(ts.min()), as_utc(ts.max())
            lo.append(pd.Timestamp(st.min))
            hi.append(pd.Timestamp(st.max))
        if not hi:
            return meta.num_rows, None, None
        return meta.num_rows, as_utc(min(lo)), as_utc(max(hi))

    def last_ts(self, symbol: str, timeframe: str) -> pd.Timestamp | None:
        """From the footer of the newest year's file only: no bars are read."""
        spec = spec_of("bars")
        with self._txn.reading():
            files = self._files(spec, {"symbol": symbol, "timeframe": timeframe})
            for path in sorted(files, key=lambda p: p.stem, reverse=True):
                last = self._ts_range(path)[2]
                if last is not None:
                    return last
        return None

    def first_ts(self, symbol: str, timeframe: str) -> pd.Timestamp | None:
        """From the footer of the oldest year's file only: no bars are read."""
        spec = spec_of("bars")
        with self._txn.reading():
            files = self._files(spec, {"symbol": symbol, "timeframe": timeframe})
            for path in sorted(files, key=lambda p: p.stem):
                first = self._ts_range(path)[1]
                if first is not None:
                    return first
        return None

    def series_summary(self) -> pd.DataFrame:
        """From file footers (rows, ts range) and the asset_class column of each series."""
        spec = spec_of("bars")
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        with self._txn.reading():
            for path in self._files(spec, {}):
                symbol = unquote(path.parent.name.split("=", 1)[1])
                timeframe = unquote(path.parent.parent.name.split("=", 1)[1])
                n, first, last = self._ts_range(path)
                if n == 0:
                    continue
                r = rows.setdefault((symbol, timeframe), {"symbol": symbol, "timeframe": timeframe,
                                                          "asset_class": None, "rows": 0,
                                                          "first": first, "last": last})
                r["rows"] += n
                r["first"] = min(r["first"], first) if first is not None else r["first"]
                r["last"] = max(r["last"], last) if last is not None else r["last"]
                if r["asset_class"] is None:
                    ac = pq.read_table(path, columns=["asset_class"]).column("asset_class")
                    r["asset_class"] = str(ac[0])
        if not rows:
            return empty_summary()
        return conform_summary(pd.DataFrame(list(rows.values())))

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"ParquetStore({str(self.root)!r})"
