"""The Parquet lake: the embedded default store.

Layout: ``root/<table>/<col>=<value>/.../year=<YYYY>.parquet``, partitioned by each table's
``partition_by`` columns (and the year of its time column). An upsert rewrites only the partition
files it touches: it merges the new rows into each file's rows (new wins on equal keys). All the
files of one write (or delete) are committed together through :mod:`pipelines.store.lake_txn`, so
a crash at any point leaves the old data or the new, in every partition, never a mix.

Appends: rows that all come after everything a partition holds (its files' footers say so; the
time column is part of the key, so no stored row can share their key) go to a file of their own
beside it, ``year=<YYYY>.t<newest>.parquet``, instead of a rewrite of the partition: a live bar
costs one small file, not the series (the files of one write, one per partition, are written and
synced concurrently). :meth:`ParquetStore.compact` merges a partition's appended files back into it
once it has :data:`MAX_APPENDS` of them, a partition per commit and within a time budget; the live
ingestion calls it after each batch is published, so 100 series that reach the mark together do not
stall one batch with 100 merges. A write merges a partition itself only when it cannot append
(older or repeated rows) or when compaction fell :data:`MAX_APPENDS_HELD` files behind.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.errors import StoreError
from pipelines.schema import TableSpec, from_arrow, to_arrow
from pipelines.store.base import (Filter, StoreHelpers, conform_summary, empty_summary, finish,
                                  prepare, spec_of)
from pipelines.store.lake_txn import LakeTxn
from pipelines.times import as_utc


MAX_APPENDS = 32   # appended files a partition keeps before compact() merges them into it
MAX_APPENDS_HELD = 4 * MAX_APPENDS   # ... and before a write merges them itself (compaction fell behind)


def _enc(value: Any) -> str:
    return quote(str(value), safe="")


def _year_of(path: Path) -> int:
    """``year=2024.parquet`` and its appended ``year=2024.t<newest>.parquet`` -> 2024."""
    return int(path.name.split("=", 1)[1].split(".", 1)[0])


def _appended(base: Path, newest: pd.Timestamp) -> Path:
    """The file of rows appended to ``base`` whose newest row is at ``newest`` (the names sort
    as the times do)."""
    return base.with_name(f"{base.name.removesuffix('.parquet')}.t{newest.value + 2**63:020d}.parquet")


def _newest_of(appended: Path) -> pd.Timestamp:
    """The newest row of an appended file, from its name (see :func:`_appended`)."""
    return pd.Timestamp(int(appended.name.rsplit(".t", 1)[1].removesuffix(".parquet")) - 2**63, tz="UTC")


def _is_appended(path: Path) -> bool:
    """``year=YYYY.t<newest>.parquet`` (not the partition file ``year=YYYY.parquet``)."""
    return len(path.suffixes) == 2 and path.suffixes[0].startswith(".t")


def _appends_of(base: Path) -> list[Path]:
    return sorted(base.parent.glob(f"{base.name.removesuffix('.parquet')}.t*.parquet"))


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
        batch = finish(prepare(df, spec), spec)
        appendable = spec.partition_year and spec.time_column in spec.key
        rows = to_arrow(batch, spec) if appendable else None   # converted once; appends take their rows
        # partition file -> the batch's row positions in it (no sub-frame is built for a row that is appended)
        groups: dict[Path, np.ndarray] = {}
        keys = list(spec.partition_by)
        times = batch[spec.time_column] if spec.time_column in batch.columns else None
        if spec.partition_year:
            years = times.dt.year.to_numpy()
            by = [batch[k] for k in keys] + [pd.Series(years, index=batch.index, name="__year")]
        else:
            by = [batch[k] for k in keys]
        if by:
            for vals, pos in pd.DataFrame({f"k{i}": b.to_numpy() for i, b in enumerate(by)}).groupby(
                    [f"k{i}" for i in range(len(by))], sort=True, dropna=False).indices.items():
                vals = vals if isinstance(vals, tuple) else (vals,)
                pmap: dict[str, Any] = dict(zip(keys, vals))
                year = int(vals[-1]) if spec.partition_year else None
                groups[self._file_for(spec, pmap, year)] = pos
        else:
            groups[self._file_for(spec, {}, None)] = np.arange(len(batch))
        ts = None if not appendable else times.to_numpy(dtype="datetime64[ns]")
        targets = {path: (_appended(path, pd.Timestamp(ts[pos].max(), tz="UTC")) if appendable else None)
                   for path, pos in groups.items()}
        with self._txn.writing([p for pair in targets.items() for p in pair if p is not None]) as commit:
            appended = []   # (file, its rows): staged together, written and synced concurrently
            for path, pos in groups.items():
                appends = _appends_of(path) if appendable else []
                if targets[path] is not None and len(appends) < MAX_APPENDS_HELD and \
                        self._before(path, appends, spec.time_column, pd.Timestamp(ts[pos].min(), tz="UTC")):
                    contiguous = pos[-1] - pos[0] + 1 == len(pos)   # finish() sorts a partition's rows together
                    appended.append((targets[path], rows.slice(pos[0], len(pos)) if contiguous
                                     else rows.take(pa.array(pos))))
                    continue
                self._stage_merged(commit, spec, path, appends, batch.iloc[pos])
            commit.stage_many(appended)
            commit.apply()
        return len(batch)

    def _stage_merged(self, commit, spec: TableSpec, path: Path, appends: list[Path],
                      part: pd.DataFrame | None) -> None:
        """The partition's rows (``path``, its appended files, and ``part``: new wins on equal
        keys) as one file, its appended files removed."""
        old = [self._read_file(f, spec) for f in (path, *appends) if f.exists()]
        frames = [*old, *([] if part is None else [part])]
        merged = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        if len(frames) > 1:
            merged = merged.drop_duplicates(list(spec.key), keep="last")
        commit.stage(path, to_arrow(finish(merged, spec), spec))
        for f in appends:
            commit.stage(f, None)

    def compact(self, table: str = "bars", budget_s: float | None = None, *, where: Filter | None = None,
                min_appends: int = MAX_APPENDS) -> int:
        """Merge the appended files of each partition that holds at least ``min_appends`` back
        into it, the partitions with the most first, one commit each (a writer waits for one
        partition's merge at most); stops once ``budget_s`` seconds have gone. ``where`` (partition
        columns -> value or values) limits it to those partitions (the live ingestion names the
        series it writes: it looks at their folders only, not the whole lake). Returns how many
        partitions were merged. The live ingestion calls it after each batch is published, so a
        merge never holds a bar back; a write merges on its own only past :data:`MAX_APPENDS_HELD`."""
        spec = spec_of(table)
        if not (spec.partition_year and spec.time_column in spec.key):
            return 0
        t0 = time.perf_counter()
        counts: dict[Path, int] = {}
        for f in self._files(spec, dict(where or {})):
            if _is_appended(f):
                b = f.with_name(f.name.split(".", 1)[0] + ".parquet")   # its partition file
                counts[b] = counts.get(b, 0) + 1
        done = 0
        for path, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))):
            if n < min_appends or (budget_s is not None and time.perf_counter() - t0 >= budget_s):
                break
            with self._txn.writing([path]) as commit:
                appends = _appends_of(path)   # under the writer lock: what is there now
                if len(appends) < min_appends:
                    continue
                self._stage_merged(commit, spec, path, appends, None)
                commit.apply()
            done += 1
        return done

    def _before(self, path: Path, appends: list[Path], column: str, first: pd.Timestamp) -> bool:
        """Whether every row of the partition (``path`` and its appended files) is older than
        ``first``; False when it has no rows, so a new file stays one file. The newest appended
        file's name says its newest row; the partition file's footer is read only without one."""
        if appends:
            return _newest_of(appends[-1]) < first
        if not path.exists():
            return False
        last = self._ts_range(path, column)[2]
        return last is not None and last < first

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
                y = _year_of(p)
                return (start is None or y >= start.year) and (end is None or y <= end.year)
            files = [f for f in files if in_range(f)]
        if start is not None and spec.partition_year and spec.time_column in spec.key:
            files = [f for f in files if not self._ends_before(f, spec.time_column, start)]
        if not files:
            return from_arrow(spec.schema.empty_table(), spec)
        df = self._read_files(files, spec)
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

    def _ends_before(self, path: Path, column: str, start: pd.Timestamp) -> bool:
        """Whether every row of ``path`` is older than ``start``: an appended file's name says its
        newest row, a partition file's footer does. A read from ``start`` (the paper step's new
        bars, a live read of the last minutes) then opens only the files that can hold its rows."""
        if _is_appended(path):
            return _newest_of(path) < start
        last = self._ts_range(path, column)[2]
        return last is not None and last < start

    def _read_files(self, files: list[Path], spec: TableSpec) -> pd.DataFrame:
        """The rows of ``files``, joined as Arrow tables where their schemas agree (a partition's
        appended files cost a file read each, not a conversion)."""
        try:
            tables = [pq.read_table(f) for f in files]
        except (OSError, pa.ArrowInvalid) as exc:
            raise StoreError(f"cannot read {files}: {exc}") from exc
        if all(t.schema.equals(tables[0].schema) for t in tables[1:]):
            return from_arrow(pa.concat_tables(tables), spec)
        return pd.concat([from_arrow(t, spec) for t in tables], ignore_index=True)

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
            parts = [self._distinct_in(f, list(columns)) for f in files]
        # one conversion to pandas for all files (converting each file's row costs more than its footer)
        out = pa.concat_tables(parts, promote_options="default").to_pandas().drop_duplicates()
        return out.sort_values(list(columns)).reset_index(drop=True)

    @staticmethod
    def _distinct_in(path: Path, columns: list[str]) -> pa.Table:
        """The distinct values of ``columns`` in one file: from its footer when every row group's
        statistics say each column holds one value (a series' file: symbol, timeframe, asset
        class), else from the columns read."""
        pf = pq.ParquetFile(path)
        meta, schema = pf.metadata, pf.schema_arrow
        idx = [schema.get_field_index(c) for c in columns]
        one: list | None = None
        for i in range(meta.num_row_groups):
            rg = meta.row_group(i)
            if rg.num_rows == 0:
                continue
            stats = [rg.column(j).statistics if j >= 0 else None for j in idx]
            vals = [st.min if st is not None and st.has_min_max and st.null_count == 0 and st.min == st.max
                    else None for st in stats]
            if any(v is None for v in vals) or (one is not None and vals != one):
                one = None
                break
            one = vals
        if one is None:
            return pq.read_table(path, columns=columns)
        sub = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)   # read_table's dtypes
        return pa.table([pa.array([v], type=f.type) for v, f in zip(one, sub)], schema=sub)

    # ------------------------------------------------------------------ bar summaries
    def _ts_range(self, path: Path, column: str = "ts") -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
        """Rows and time range (of ``column``) of one file from its footer (row-group
        statistics); that column alone is read when a row group has no statistics."""
        meta = pq.ParquetFile(path).metadata
        idx = meta.schema.to_arrow_schema().get_field_index(column)
        lo: list[pd.Timestamp] = []
        hi: list[pd.Timestamp] = []
        for i in range(meta.num_row_groups):
            rg = meta.row_group(i)
            if rg.num_rows == 0:
                continue
            st = rg.column(idx).statistics
            if st is None or not st.has_min_max:
                ts = pq.read_table(path, columns=[column]).column(column).to_pandas()
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
