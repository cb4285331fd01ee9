"""The Parquet feature store: rows keyed by (symbol, timeframe, ts, feature-set version).

Layout: ``<root>/<version>/<timeframe>/<symbol>/part-*.parquet`` (a ``ts`` column and one column
per feature, warm-up rows included) beside ``<symbol>.json`` (its parts and what it was computed
from). The version
hashes the feature columns, their look-backs and ``CODE_VERSION``, so a changed definition never
reads old values. :func:`materialize` reuses stored rows when the inputs have not changed and,
when new bars were appended, computes each spec over only a trailing slice long enough for it to
have forgotten where it started (its own ``memory``) and appends the new rows.

Values are stored as float32 rounded to 16 of its 23 mantissa bits by default
(``features.store_dtype: float32:16``): about 5 significant digits, each value within a relative
2**-17 (7.6e-6) of the float64 it was computed as. ``float32`` keeps all of float32's bits (2**-24,
6e-8), ``float32:N`` keeps N (1..22), ``float64`` is exact. The bits dropped are float noise that does
not compress: at 16 bits a part is about 0.77 of the full float32 one, which is what brings the store
under 15x the bars (measured by ``tests/bench/bench_feature_store.py``). Reads return float64 (the
stored values, exactly). Models must see the values the store keeps whether their features came
from the store or were computed fresh: :func:`as_stored` is that rounding, applied wherever
features are computed for a model outside the store (training, the served rows), so train and
serve see the same numbers. Parts are written with zstd (level 3), the float columns
byte-stream-split and without dictionaries: chosen by the same bench (float32 zstd-3
byte-stream-split is about half the bytes of float32 snappy and a fifth of the former float64
snappy parts, at the same write and read speed)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.times import utc_index
from pipelines.features.engine import compute_features, usable
from pipelines.features.catalog import columns_of, feature_hash
from pipelines.features.shifted import find_shifts, shifted, shifts_continue
from pipelines.features.spec import FeatureContext, FeatureSpec

# raise whenever a feature's values change (not only its name or look-back): stored frames of
# the old definitions then stay under their own version instead of being reused or appended to.
# 2: GARCH fits by the compiled MLE (changed under 1); FFT features NaN on flat windows
CODE_VERSION = "2"
STORE_DTYPES = ("float32:16", "float32", "float64")   # the usual ones; any float32:N (1 <= N <= 22) is valid
DEFAULT_STORE_DTYPE = "float32:16"
# the largest relative error of a value as stored (unit round-off of the dtype); see precision_of
PRECISION = {"float32": 2.0 ** -24, "float64": 2.0 ** -53}
# how parts are written (see the module docstring); float columns are also byte-stream-split
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "use_dictionary": False}
BAR_FIELDS = ("ts", "open", "high", "low", "close", "volume", "known_at")
# identifiers and free text no feature reads: left out of the context digest (hashing strings is slow)
UNHASHED = ("bids", "asks", "trade_id", "item_id", "symbol", "venue", "source", "headline", "summary", "url")


def parse_dtype(dtype: str) -> tuple[str, int | None]:
    """``float64`` / ``float32`` / ``float32:N`` -> (the array dtype, mantissa bits kept or None for
    all of them); anything else is a ValueError naming what is accepted."""
    base, colon, bits = str(dtype).partition(":")
    if base in ("float32", "float64") and not colon:
        return base, None
    if base == "float32" and bits.isdigit() and 1 <= int(bits) <= 22:
        return base, int(bits)
    raise ValueError(f"feature store dtype {dtype!r}: float64, float32, or float32:N to keep N of "
                     f"float32's 23 mantissa bits (1 <= N <= 22; the default is {DEFAULT_STORE_DTYPE})")


def _check_dtype(dtype: str) -> str:
    parse_dtype(dtype)
    return dtype


def precision_of(dtype: str) -> float:
    """The largest relative error of a stored value against the float64 it was computed as: the
    dtype's unit round-off, plus (``float32:N``) half a unit in the N-th mantissa bit."""
    base, bits = parse_dtype(dtype)
    return PRECISION[base] + (0.0 if bits is None else 2.0 ** -(bits + 1))


def round_mantissa(a: np.ndarray, bits: int) -> np.ndarray:
    """float32 values rounded to ``bits`` mantissa bits, to nearest with ties to even (the rounding
    of IEEE arithmetic; no bias), the dropped bits zero so they compress to nothing. NaN and inf
    are kept; rounding twice changes nothing. A new array."""
    drop = 23 - bits
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    odd = (u >> np.uint32(drop)) & np.uint32(1)
    r = (u + np.uint32((1 << (drop - 1)) - 1) + odd) & np.uint32((0xFFFFFFFF << drop) & 0xFFFFFFFF)
    # exponent all ones (NaN, inf) left alone: a carry there would turn a NaN into an inf
    return np.where((u & np.uint32(0x7F800000)) == np.uint32(0x7F800000), u, r).view(np.float32)


def set_version(specs: tuple[FeatureSpec, ...], dtype: str = DEFAULT_STORE_DTYPE) -> str:
    """Names a feature set's stored frames; float32 and float64 stores never share parts."""
    desc = [f"{s.name}:{s.lookback}:{','.join(s.columns)}" for s in specs]
    return f"v{CODE_VERSION}-" + feature_hash([*desc, *columns_of(specs), f"dtype:{_check_dtype(dtype)}"])


def as_stored(frame: pd.DataFrame, dtype: str = DEFAULT_STORE_DTYPE) -> pd.DataFrame:
    """``frame`` as the feature store keeps it: every column rounded to ``dtype`` (float32, and to
    its mantissa bits for ``float32:N``) and back to float64 (a new frame; the input is left alone).
    Training on features computed without the store, and serving live rows, go through here so a
    model sees the values the store holds. A finite value beyond float32's range is an error (set
    ``features.store_dtype: float64``)."""
    base, bits = parse_dtype(dtype)
    if base == "float64":
        return frame.astype("float64")

    def rounded(a: np.ndarray, name=None) -> np.ndarray:
        with np.errstate(over="ignore"):  # reported below, naming the column
            r = a.astype("float32")
            if bits is not None:
                r = round_mantissa(r, bits)
        bad = np.isinf(r) & np.isfinite(a)
        if bad.any():
            c = frame.columns[int(bad.any(axis=0).argmax())] if name is None else name
            raise ValueError(f"feature {c!r} holds values beyond float32's range (|x| > 3.4e38): "
                             f"set features.store_dtype: float64")
        return r.astype("float64")

    if len(frame) <= SMALL_FRAME:   # a few live rows: one array for all columns (a column costs more than its rows)
        return pd.DataFrame(rounded(frame.to_numpy(dtype="float64")), index=frame.index, columns=frame.columns)
    data = {}
    for col in frame.columns:   # column by column: no consolidated copy of a wide frame
        data[col] = rounded(frame[col].to_numpy(dtype="float64"), col)
    return pd.DataFrame(data, index=frame.index, columns=frame.columns, copy=False)


SMALL_FRAME = 64   # rows up to which as_stored rounds the frame as one array


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 per row, each from that row's values alone, so the hashes of any subset of
    rows are the subset of these."""
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def _sha(parts: list[tuple[pd.Index, np.ndarray] | None]) -> str:
    h = hashlib.sha256()
    for part in parts:
        if part is None or len(part[1]) == 0:
            h.update(b"-")
            continue
        h.update(",".join(map(str, part[0])).encode())
        h.update(part[1].tobytes())
    return h.hexdigest()[:24]


class _Digests:
    """Digests of one symbol's bars and context at any cut, hashing each row once: what
    ``materialize`` checks a stored frame against (bars up to n, context known by bar n's close)
    and what it records after an append, without hashing the same rows twice or copying the
    context to cut it."""

    def __init__(self, bars: pd.DataFrame, ctx: FeatureContext):
        b = bars[list(BAR_FIELDS)].reset_index(drop=True)
        self._bar_columns, self._bar_hashes = b.columns, _row_hashes(b)
        frames = [ctx.peers[k] for k in sorted(ctx.peers)] + [ctx.macro, ctx.news]
        frames += [ctx.extra[k] for k in sorted(ctx.extra) if isinstance(ctx.extra[k], pd.DataFrame)]
        # per context table: hashed columns, row hashes, and when each row became known
        self._tables: list[tuple[pd.Index, np.ndarray, pd.Series | None] | None] = []
        for f in frames:
            if f is None:
                self._tables.append(None)
                continue
            known = f["known_at"].reset_index(drop=True) if "known_at" in f.columns else None
            f = f.drop(columns=[x for x in UNHASHED if x in f.columns])
            self._tables.append((f.columns, _row_hashes(f), known))

    def bars(self, n: int) -> str:
        return _sha([(self._bar_columns, self._bar_hashes[:n])])

    def context(self, until: pd.Timestamp) -> str:
        """The digest of every context row known by ``until`` (rows without ``known_at`` count
        always), equal to hashing the context as
        :func:`pipelines.features.causality.cut_context` leaves it."""
        parts = []
        for t in self._tables:
            if t is None:
                parts.append(None)
                continue
            cols, hashes, known = t
            parts.append((cols, hashes if known is None else hashes[(known <= until).to_numpy(dtype=bool)]))
        return _sha(parts)


def bars_digest(bars: pd.DataFrame, n: int | None = None) -> str:
    """Digest of the first ``n`` bars (all by default), as :func:`materialize` records it."""
    b = bars[list(BAR_FIELDS)].reset_index(drop=True)
    return _sha([(b.columns, _row_hashes(b.iloc[:len(b) if n is None else n]))])


def context_digest(ctx: FeatureContext, until: pd.Timestamp) -> str:
    """Digest of everything in the context known by ``until`` (peers, macro, news, extra tables)."""
    return _Digests(pd.DataFrame(columns=list(BAR_FIELDS)), ctx).context(until)


@dataclass(frozen=True)
class Materialized:
    features: pd.DataFrame   # indexed by ts, warm-up rows dropped when asked
    action: str              # "reused", "incremental" or "full"
    version: str
    rows_computed: int       # bars the engine ran over
    width: int               # feature columns stored under the version (``features`` may hold fewer)


class FeatureStore:
    """Feature frames on disk as a list of Parquet parts per (version, timeframe, symbol) and a
    JSON record naming them. Parts are written first, the record replaced atomically after, so
    an interrupted write leaves the previous state readable; appends add one part (or, past
    ``max_parts``, rewrite them as one)."""

    def __init__(self, root: str | Path, max_parts: int = 32, dtype: str = DEFAULT_STORE_DTYPE):
        self.root = Path(root)
        self.max_parts = max_parts
        self.dtype = _check_dtype(dtype)
        # what the parts hold, and the mantissa bits kept (None: all)
        self.array_dtype, self.bits = parse_dtype(dtype)

    def _dir(self, version: str, timeframe: str, symbol: str) -> tuple[Path, Path]:
        d = self.root / version / timeframe
        safe = symbol.replace("/", "_")
        return d / safe, d / f"{safe}.json"

    def read(self, symbol: str, timeframe: str, version: str,
             columns: list[str] | None = None) -> tuple[pd.DataFrame, dict] | None:
        """The stored frame (only ``columns`` when given, read from Parquet without the others)
        and its record; None when absent or incomplete. The frame's arrays are its own
        (writable), float64, one per column, indexed by ts in ns UTC."""
        folder, meta = self._dir(version, timeframe, symbol)
        for _ in range(10):  # each retry needs yet another compaction to land mid-read
            if not meta.exists():
                return None
            text = meta.read_text()
            info = json.loads(text)
            paths = [folder / p for p in info.get("parts", [])]
            if not paths:
                return None
            shifts = {c: (src, int(k)) for c, (src, k) in info.get("shifts", {}).items()}
            if columns is not None:
                known = info.get("layout") or info.get("columns") or pq.read_schema(paths[0]).names
                unknown = [c for c in columns if c not in known]
                if unknown:
                    raise KeyError(f"{symbol} {timeframe} {version}: no stored feature columns {unknown}")
            # shifted columns are read as their source's values (see pipelines.features.shifted)
            want = None if columns is None else \
                ["ts", *dict.fromkeys(shifts[c][0] if c in shifts else c for c in columns)]
            try:
                tables = [pq.read_table(p, columns=want) for p in paths]
            except FileNotFoundError:
                if meta.exists() and meta.read_text() != text:
                    continue  # an append compacted the parts meanwhile: read the new record
                return None   # a part the record names was never written
            break
        else:
            return None
        table = pa.concat_tables(tables)
        del tables
        if table.num_rows != info.get("rows"):
            return None  # parts and record disagree: treat as absent, the caller recomputes
        chunked = dict(zip(table.column_names, table.columns))
        del table
        ts = utc_index(pd.DatetimeIndex(chunked.pop("ts").to_pandas()))
        data = {}
        for c in list(chunked):
            arr = chunked.pop(c).to_numpy()  # one chunk: a read-only view of Arrow's buffer
            if arr.dtype != np.float64:
                arr = arr.astype("float64")  # float32 parts: exact, and a fresh writable array
            data[c] = arr if arr.flags.writeable else arr.copy()
        if shifts:
            order = columns if columns is not None else info["layout"]
            data = {c: shifted(data[shifts[c][0]], shifts[c][1]) if c in shifts else data[c] for c in order}
        return pd.DataFrame(data, index=ts.rename("ts"), copy=False), info

    def record(self, symbol: str, timeframe: str, version: str) -> dict | None:
        """The stored frame's record alone (what it was computed from), None when absent."""
        meta = self._dir(version, timeframe, symbol)[1]
        try:
            return json.loads(meta.read_text())
        except FileNotFoundError:
            return None

    def _table(self, frame: pd.DataFrame, skip=()) -> pa.Table:
        # column by column: the engine's frames hold one block per column, which reset_index
        # would consolidate (a full copy) and warn about
        arrays = {"ts": pa.array(utc_index(frame.index))}  # one ts type in every part
        for c in frame.columns:
            if c not in skip:
                a = frame[c].to_numpy(dtype=self.array_dtype)
                arrays[str(c)] = pa.array(a if self.bits is None else round_mantissa(a, self.bits))  # as_stored's: a no-op on its output
        return pa.table(arrays)

    def _write_part(self, folder: Path, table: pa.Table) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{uuid.uuid4().hex[:12]}.parquet"
        tmp = folder / (name + ".tmp")
        floats = [f.name for f in table.schema if pa.types.is_floating(f.type)]
        pq.write_table(table, tmp, use_byte_stream_split=floats or False, **PARQUET_OPTIONS)
        os.replace(tmp, folder / name)
        return name

    def _commit(self, meta: Path, folder: Path, info: dict) -> None:
        tmp = meta.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info, sort_keys=True))
        os.replace(tmp, meta)
        keep = set(info["parts"])
        for p in folder.glob("part-*"):
            if p.name not in keep:
                p.unlink(missing_ok=True)

    def write(self, symbol: str, timeframe: str, version: str, frame: pd.DataFrame, info: dict) -> None:
        """Replace the stored frame. Columns that are exact shifts of another are kept as a
        reference to it (:mod:`pipelines.features.shifted`)."""
        folder, meta = self._dir(version, timeframe, symbol)
        shifts = find_shifts(frame, self.array_dtype)
        part = self._write_part(folder, self._table(frame, skip=shifts))
        layout = {"shifts": {c: list(v) for c, v in shifts.items()}, "layout": [str(c) for c in frame.columns]} \
            if shifts else {}
        info = {k: v for k, v in info.items() if k not in ("shifts", "layout")}
        self._commit(meta, folder, {**info, **layout, "rows": len(frame), "parts": [part], "symbol": symbol,
                                    "timeframe": timeframe, "version": version})

    def append(self, symbol: str, timeframe: str, version: str, rows: pd.DataFrame, info: dict) -> None:
        """Add rows after the stored ones (one new part). Once a frame has ``max_parts`` parts,
        the append rewrites it as one part, so hourly updates do not pile up small files."""
        folder, meta = self._dir(version, timeframe, symbol)
        old = json.loads(meta.read_text())
        if self.bits is not None:
            rows = as_stored(rows, self.dtype)   # shifts are checked on the values as stored (a no-op on materialize's rows)
        shifts = {c: (src, int(k)) for c, (src, k) in old.get("shifts", {}).items()}
        if shifts:
            sources = sorted({src for src, _ in shifts.values()})
            got = self.read(symbol, timeframe, version, columns=sources)
            if got is None or not shifts_continue(got[0], rows, shifts, self.array_dtype):
                # the new rows break a shift: the frame is written again, its shifts found anew
                whole = self.read(symbol, timeframe, version)
                if whole is None:
                    raise ValueError(f"{symbol} {timeframe} {version}: the stored frame cannot be read to append to")
                self.write(symbol, timeframe, version, pd.concat([whole[0], rows[whole[0].columns]]), info)
                return
            info = {**info, "shifts": old["shifts"], "layout": old["layout"]}
        new = self._table(rows, skip=shifts)
        if len(old["parts"]) + 1 > self.max_parts:
            new = pa.concat_tables([*(pq.read_table(folder / p) for p in old["parts"]), new])
            parts = [self._write_part(folder, new)]
        else:
            parts = old["parts"] + [self._write_part(folder, new)]
        self._commit(meta, folder, {**info, "rows": old["rows"] + len(rows), "parts": parts,
                                    "symbol": symbol, "timeframe": timeframe, "version": version})

    def versions(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.exists() else []


def memory_of(specs: tuple[FeatureSpec, ...], factor: int = 20, minimum: int = 2500) -> int:
    """Bars of history an incremental update recomputes: long enough for recursive (EMA-type)
    features to forget their start (``factor`` x the longest look-back) and for the GARCH
    schedule to refit on a full window."""
    return max(minimum, factor * max((s.lookback for s in specs), default=0))


def materialize(store: FeatureStore, bars: pd.DataFrame, specs: tuple[FeatureSpec, ...],
                ctx: FeatureContext | None = None, *, symbol: str, timeframe: str,
                drop_warmup: bool = True, memory: int | None = None,
                columns: list[str] | None = None) -> Materialized:
    """Features for ``bars`` through the store: reuse, append, or compute from scratch. Every
path returns the values as stored (:func:`as_stored` with the store's dtype).

    ``columns`` narrows what is returned (every column is still computed and stored): only those
    are read back from Parquet, so reusing or appending to a wide frame costs a few columns'
    read instead of the whole history. Names no spec in ``specs`` declares are an error; names
    whose spec cannot run on these bars (no volume, no peer) are left out."""
    ctx = ctx or FeatureContext(symbol=symbol, timeframe=timeframe)
    b = bars.reset_index(drop=True)
    if len(b) == 0:
        raise ValueError(f"{symbol} {timeframe}: no bars to compute features on")
    b["ts"] = utc_index(b["ts"])  # every path (full, reused, incremental) then carries the stored index
    active = tuple(s for s in specs if usable(s, b, ctx))
    version = set_version(active, store.dtype)
    names = columns_of(active)
    want = None
    if columns is not None:
        declared = set(columns_of(specs))
        unknown = [c for c in columns if c not in declared]
        if unknown:
            raise ValueError(f"no spec in the set declares columns {unknown}")
        have = set(names)
        want = [c for c in columns if c in have]
    max_lb = max((s.lookback for s in active), default=0)
    mem = memory if memory is not None else memory_of(active)
    dig = _Digests(b, ctx)
    stored = store.read(symbol, timeframe, version, columns=want)

    def finish(frame: pd.DataFrame, action: str, rows: int) -> Materialized:
        out = frame.iloc[max_lb:] if drop_warmup else frame
        return Materialized(out, action, version, rows, len(names))

    if stored is not None:
        frame, info = stored
        n = int(info["bars"])
        if n <= len(b) and info["bars_digest"] == dig.bars(n) and \
                info["context_digest"] == dig.context(b["known_at"].iloc[n - 1]):
            if n == len(b):
                return finish(frame, "reused", 0)
            new, start = _append_rows(b, n, active, ctx, memory)
            if sorted(new.columns) == sorted(info.get("columns") or []):
                new = as_stored(new[info["columns"]], store.dtype)
                store.append(symbol, timeframe, version, new, _info(new, b, dig, mem))
                return finish(pd.concat([frame, new if want is None else new[want]]), "incremental",
                              len(b) - start)
    frame = as_stored(compute_features(b, active, ctx, drop_warmup=False), store.dtype)
    _save(store, symbol, timeframe, version, frame, b, dig, mem)
    return finish(frame if want is None else frame[want], "full", len(b))


def _append_rows(b: pd.DataFrame, n: int, active: tuple[FeatureSpec, ...], ctx: FeatureContext,
                 memory: int | None) -> tuple[pd.DataFrame, int]:
    """The rows of bars ``n:`` for every spec, each spec computed over the trailing slice its own
    memory needs (:func:`memory_of` of that spec alone; ``memory`` for all when given), so one
    long look-back does not make every other spec recompute its history. Returns the rows and
    the first bar of the longest slice."""
    groups: dict[int, list[FeatureSpec]] = {}
    for s in active:
        groups.setdefault(memory if memory is not None else memory_of((s,)), []).append(s)
    parts, first = [], n
    for mem, group in sorted(groups.items()):
        start = max(0, n - mem)
        first = min(first, start)
        parts.append(compute_features(b.iloc[start:], tuple(group), ctx, drop_warmup=False).iloc[n - start:])
    return pd.concat(parts, axis=1), first


def _info(frame: pd.DataFrame, b: pd.DataFrame, dig: _Digests, mem: int) -> dict:
    return {"bars": len(b), "bars_digest": dig.bars(len(b)),
            "context_digest": dig.context(b["known_at"].iloc[-1]),
            "first_ts": str(b["ts"].iloc[0]), "last_ts": str(b["ts"].iloc[-1]), "memory": int(mem),
            "columns": list(frame.columns)}


def _save(store, symbol, timeframe, version, frame, b, dig, mem) -> None:
    info = _info(frame, b, dig, mem)
    frame.index = pd.DatetimeIndex(frame.index, name="ts")
    store.write(symbol, timeframe, version, frame, info)
