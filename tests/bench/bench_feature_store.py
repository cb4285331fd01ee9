"""What the feature store costs on real bars: bytes on disk per bar byte (Parquet encodings side by
side, float64, float32 and float32 rounded to N mantissa bits), the universe build's full wall, a rerun with nothing new (and its ratio
to the full build), a one-day append, and peak RSS of the driver and of the Ray workers (each task
reports its worker's).

    python tests/bench/bench_feature_store.py            # 10 pairs, the full set, 2 CPUs
    BENCH_DATA=/work/shared/data/crypto_binance_spot_1h_universe BENCH_PAIRS=35 BENCH_SET=core \
        BENCH_CPUS=2 BENCH_DTYPE=float64 BENCH_ONLY=build python tests/bench/bench_feature_store.py

``BENCH_ONLY=build`` leaves out the encoding comparison (one symbol's float64 features written with
each candidate encoding); ``BENCH_DTYPE`` sets ``features.store_dtype`` for the build.

The bars are read in place from the dev data set, imported into a temporary Parquet lake (the last
day of each pair held back for the append), and built through
:func:`pipelines.jobs.features.build_from_config`, so the figures are the job's own. One JSON object
per line per figure; baselines are the issue's targets (store <= 15x the bars, rerun <= 5% of a full
build, peak RSS <= 1.5 GB)."""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pandas as pd  # noqa: E402

from pipelines.features.universe import RANKED_COLUMNS  # noqa: E402

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# one or more folders of <SYMBOL>_1h.csv.gz files, ':'-separated (all 35 pairs: both folders)
DATA = [Path(d) for d in os.environ.get("BENCH_DATA", "/work/shared/data/crypto_binance_spot_1h_universe:"
                                                      "/work/shared/data/crypto_binance_spot_1h").split(":")]
HELD_BACK = pd.Timedelta(days=1)  # the last calendar day of bars, appended after the full build


def universe_side_by_side(cfg, full, home: Path) -> dict[bool, float]:
    """The universe stage alone over the whole history, from the stored per-symbol columns, into two
    fresh roots: in the driver (``parallel=False``) and as Ray tasks by date chunk (what the job runs)."""
    from pipelines.features.store import FeatureStore
    from pipelines.jobs.features import build_universe
    from pipelines.store import ParquetStore

    version = next(iter(full.symbols.values()))["version"]
    fs = FeatureStore(cfg.features.store_path, dtype=cfg.features.store_dtype)
    lake = ParquetStore(cfg.store.path)
    bars = {s: lake.read_bars(s, "1h") for s in full.symbols}
    lake.close()
    rec = fs.record(next(iter(bars)), "1h", version)
    stored = set(rec.get("columns") or rec.get("layout") or [])
    wanted = [c for c in RANKED_COLUMNS if c in stored]
    ranked = {s: fs.read(s, "1h", version, columns=wanted)[0] for s in bars}
    out = {}
    for parallel in (False, True):
        t0 = time.perf_counter()
        build_universe(bars, ranked, str(home / f"xs-{parallel}"), "1h", version, cfg.features.store_dtype,
                       parallel=parallel)
        out[parallel] = time.perf_counter() - t0
    return out


def emit(bench: str, value: float, unit: str, baseline=None, ratio=None, **extra) -> None:
    print(json.dumps({"bench": bench, "value": round(float(value), 4), "unit": unit, "baseline": baseline,
                      "ratio": None if ratio is None else round(float(ratio), 4), **extra}), flush=True)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def peak_rss_mib(pid: int | str = "self") -> float:
    """The process's peak resident set (VmHWM), MiB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def load_pairs(n: int):
    from pipelines.sources.files import import_bars
    files = [f for d in DATA for f in sorted(d.glob("*_1h.csv.gz"))][:n]
    if len(files) < n:
        raise SystemExit(f"{':'.join(map(str, DATA))}: {len(files)} bar files, {n} wanted")
    return {f.name.split("_")[0]: import_bars(f, asset_class="crypto", tz="UTC").bars.reset_index(drop=True)
            for f in files}


def encodings(frame, bar_bytes_per_row: float) -> None:
    """One symbol's stored feature frame written with each candidate encoding: bytes per bar byte,
    write and read seconds (one part, as a full build writes it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.features.store import parse_dtype, round_mantissa

    def table(dtype):
        base, bits = parse_dtype(dtype)
        arrays = {"ts": pa.array(frame.index)}
        for c in frame.columns:
            a = frame[c].to_numpy(dtype=base)
            arrays[c] = pa.array(a if bits is None else round_mantissa(a, bits))
        return pa.table(arrays)

    candidates = [
        ("float64", "snappy", None, False),
        ("float64", "zstd", 3, False),
        ("float64", "zstd", 3, True),
        ("float32", "snappy", None, False),
        ("float32", "zstd", 1, False),
        ("float32", "zstd", 1, True),
        ("float32", "zstd", 3, True),
        ("float32", "zstd", 9, True),
        ("float32", "lz4", None, True),
        ("float32:18", "zstd", 3, True),
        ("float32:16", "zstd", 3, True),   # the default
        ("float32:14", "zstd", 3, True),
    ]
    for dtype, codec, level, bss in candidates:
        t = table(dtype)
        floats = [c for c in t.column_names if c != "ts"]
        buf = io.BytesIO()
        t0 = time.perf_counter()
        pq.write_table(t, buf, compression=codec, compression_level=level, use_dictionary=False,
                       use_byte_stream_split=floats if bss else False)
        w = time.perf_counter() - t0
        t0 = time.perf_counter()
        pq.read_table(io.BytesIO(buf.getvalue()))
        r = time.perf_counter() - t0
        per_bar = buf.tell() / len(frame) / bar_bytes_per_row
        emit(f"feature_store.encoding.{dtype}.{codec}{level or ''}{'.bss' if bss else ''}.bytes_per_bar_byte",
             per_bar, "x", 15, per_bar / 15, columns=frame.shape[1], rows=len(frame), bytes=buf.tell(),
             write_s=round(w, 3), read_s=round(r, 3))


def build(pairs: int, set_name: str, cpus: int, dtype: str, do_encodings: bool) -> None:
    import ray

    from cluster.runtime import init_ray
    from pipelines.config import load_config
    from pipelines.jobs.features import build_from_config
    from pipelines.store import ParquetStore

    bars = load_pairs(pairs)
    rss_loaded = peak_rss_mib()
    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        env = {"MERIDIAN__HOME": str(home), "MERIDIAN__RAY__NUM_CPUS": str(cpus)}
        if dtype:
            env["MERIDIAN__FEATURES__STORE_DTYPE"] = dtype
        cfg = load_config(environ=env)
        cut = max(b["ts"].iloc[-1] for b in bars.values()) - HELD_BACK
        lake = ParquetStore(cfg.store.path)
        for b in bars.values():
            lake.write("bars", b[b["ts"] <= cut])
        lake.close()
        bar_bytes = dir_bytes(Path(cfg.store.path))
        rows = sum(int((b["ts"] <= cut).sum()) for b in bars.values())
        new_rows = sum(int((b["ts"] > cut).sum()) for b in bars.values())
        syms = ",".join(bars)
        init_ray(cfg.ray)
        try:
            def timed(label):
                t0 = time.perf_counter()
                res = build_from_config(cfg, syms, "1h", set_name, None, progress=False)
                return time.perf_counter() - t0, res

            t_full, full = timed("full")
            store_bytes = dir_bytes(Path(cfg.features.store_path))
            t_rerun, rerun = timed("rerun")
            lake = ParquetStore(cfg.store.path)
            for b in bars.values():
                if (b["ts"] > cut).any():
                    lake.write("bars", b[b["ts"] > cut])
            lake.close()
            t_append, append = timed("append")
            t_xs = universe_side_by_side(cfg, full, home) if full.universe else None
        finally:
            ray.shutdown()
        common = {"pairs": pairs, "set": set_name, "bars": rows, "cpus": cpus, "store_dtype": dtype or "default"}
        per_bar = store_bytes / bar_bytes
        emit("feature_store.bytes_per_bar_byte", per_bar, "x", 15, per_bar / 15, store_bytes=store_bytes,
             bar_bytes=bar_bytes, columns=next(iter(full.symbols.values()))["columns"], **common)
        emit("feature_store.full_build_seconds", t_full, "s", None, None,
             actions=sorted({v["action"] for v in full.symbols.values()}), **common)
        emit("feature_store.rerun_seconds", t_rerun, "s", round(0.05 * t_full, 3), t_rerun / t_full,
             actions=sorted({v["action"] for v in rerun.symbols.values()}),
             bars_computed=sum(v["bars_computed"] for v in rerun.symbols.values()),
             universe=(rerun.universe or {}).get("action"),
             universe_dates_computed=(rerun.universe or {}).get("dates_computed"), **common)
        emit("feature_store.append_one_day_seconds", t_append, "s", round(t_full, 3), t_append / t_full,
             new_bars=new_rows, actions=sorted({v["action"] for v in append.symbols.values()}),
             bars_computed=sum(v["bars_computed"] for v in append.symbols.values()),
             universe=(append.universe or {}).get("action"),
             universe_dates_computed=(append.universe or {}).get("dates_computed"), **common)
        if t_xs:
            emit("feature_store.universe_stage_seconds", t_xs[True], "s", round(t_xs[False], 3),
                 t_xs[True] / t_xs[False], mode="date chunks as Ray tasks; baseline: the same chunks in the driver",
                 **common)
        driver = peak_rss_mib()
        emit("feature_store.peak_rss.driver", driver, "MiB", 1536, driver / 1536,
             after_loading_bars_mib=round(rss_loaded, 1), **common)
        workers = [v.get("worker_peak_rss_mib", 0.0) for r in (full, rerun, append) for v in r.symbols.values()]
        emit("feature_store.peak_rss.worker_max", max(workers), "MiB", 1536, max(workers) / 1536, **common)
        if do_encodings:
            # the float64 computation itself, not the stored values: the float64 rows are then honest
            from pipelines.features.catalog import feature_set
            from pipelines.features.engine import compute_features
            from pipelines.features.spec import FeatureContext
            sym, b = next(iter(bars.items()))
            frame = compute_features(b[b["ts"] <= cut], feature_set(set_name),
                                     FeatureContext(symbol=sym, asset_class="crypto", timeframe="1h"), drop_warmup=False)
            encodings(frame, bar_bytes / rows)


def main() -> int:
    pairs = int(os.environ.get("BENCH_PAIRS", 10))
    set_name = os.environ.get("BENCH_SET", "full")
    cpus = int(os.environ.get("BENCH_CPUS", 2))
    dtype = os.environ.get("BENCH_DTYPE", "")
    only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
    build(pairs, set_name, cpus, dtype, do_encodings=not only or "encodings" in only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
