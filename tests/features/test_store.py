"""The Parquet feature store: versioned keys, reuse, incremental append equal to a full
recompute, recompute on changed history, interrupted writes, float32 values within their
documented precision.

Tolerances: a stored value is the float64 computation rounded as the default dtype keeps it
(:func:`as_stored`: float32, then 16 mantissa bits), within a relative ``precision_of`` the dtype
(2**-24 + 2**-17) of it. An appended row is compared with a full recompute rounded the same way:
the trailing recompute differs from the full one by far less than 1e-7 in float64, but the two may
round to neighbouring stored values, one step apart (2**-16 relative), hence ``TOL``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipelines.features.engine import compute_features
from pipelines.features.catalog import feature_set
from pipelines.features.store import (DEFAULT_STORE_DTYPE, PRECISION, FeatureStore, as_stored, materialize,
                                      precision_of, round_mantissa, set_version)
from tests.synthetic.bars import synthetic_bars, synthetic_context

SPECS = feature_set("core") + tuple(s for s in feature_set("full") if s.name in
                                   ("garch_1_1", "session_previous", "macd_8_17_9", "supertrend_10_3",
                                    "sar_0p02_0p2", "cross_spy", "macro_vixcls", "rsi_50"))


TOL = 1e-7 + 2 * precision_of(DEFAULT_STORE_DTYPE)


def max_abs_diff(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Largest |a - b| relative to max(1, |b|) over cells where both have a value; inf when
    one has a value and the other not."""
    x, y = a.to_numpy(dtype="float64"), b.to_numpy(dtype="float64")
    if (np.isnan(x) != np.isnan(y)).any():
        return float("inf")
    m = ~np.isnan(x)
    return float((np.abs(x[m] - y[m]) / np.maximum(1.0, np.abs(y[m]))).max()) if m.any() else 0.0


@pytest.fixture(scope="module")
def market():
    bars = synthetic_bars(4200, seed=21)
    return bars, synthetic_context(bars, seed=21)


def test_reuse_then_incremental_matches_full(tmp_path, market):
    bars, ctx = market
    store = FeatureStore(tmp_path)
    first = materialize(store, bars.iloc[:4000], SPECS, ctx, symbol="SYN", timeframe="1h", memory=2600)
    assert first.action == "full" and first.rows_computed == 4000
    again = materialize(store, bars.iloc[:4000], SPECS, ctx, symbol="SYN", timeframe="1h", memory=2600)
    assert again.action == "reused" and again.rows_computed == 0
    assert max_abs_diff(again.features, first.features) == 0.0

    inc = materialize(store, bars, SPECS, ctx, symbol="SYN", timeframe="1h", memory=2600)
    assert inc.action == "incremental" and inc.rows_computed == 2600 + 200
    stored, info = store.read("SYN", "1h", inc.version)
    assert len(info["parts"]) == 2 and len(stored) == 4200  # the history was not rewritten
    assert max_abs_diff(stored.iloc[-200:], inc.features.iloc[-200:]) == 0.0
    full = as_stored(compute_features(bars, SPECS, ctx))
    assert list(inc.features.columns) == list(full.columns)
    assert inc.features.index.equals(full.index)
    # the appended rows agree with a recompute over the whole history
    assert max_abs_diff(inc.features.iloc[-200:], full.iloc[-200:]) < TOL
    assert np.isfinite(inc.features["garch_vol"].iloc[-200:]).all()


def test_changed_history_recomputes_and_versions_separate(tmp_path, market):
    bars, ctx = market
    store = FeatureStore(tmp_path)
    materialize(store, bars.iloc[:3000], SPECS, ctx, symbol="SYN", timeframe="1h")
    edited = bars.copy()
    edited.loc[100, "close"] *= 1.01
    edited.loc[100, "high"] = max(edited.loc[100, "high"], edited.loc[100, "close"])
    m = materialize(store, edited.iloc[:3100], SPECS, ctx, symbol="SYN", timeframe="1h")
    assert m.action == "full"
    # a different feature set lives under its own version
    core = materialize(store, bars.iloc[:3000], feature_set("core"), ctx, symbol="SYN", timeframe="1h")
    assert core.action == "full" and core.version != m.version == set_version(SPECS)
    assert set(store.versions()) == {m.version, core.version}
    # changed peer history (known before the stored end) also forces a recompute
    peers = dict(ctx.peers)
    spy = peers["spy"].copy()
    spy.loc[50, "close"] *= 1.02
    spy.loc[50, "high"] = max(spy.loc[50, "high"], spy.loc[50, "close"])
    ctx2 = type(ctx)(**{**ctx.__dict__, "peers": {**peers, "spy": spy}})
    assert materialize(store, edited.iloc[:3100], SPECS, ctx2, symbol="SYN", timeframe="1h").action == "full"


def test_interrupted_write_is_not_read_as_complete(tmp_path, market):
    bars, ctx = market
    store = FeatureStore(tmp_path)
    m = materialize(store, bars.iloc[:1500], feature_set("core"), ctx, symbol="SYN", timeframe="1h")
    meta = next(tmp_path.rglob("SYN.json"))
    info = json.loads(meta.read_text())
    assert len(info["parts"]) == 1
    info["rows"] += 7  # the record of a larger write whose data never landed
    meta.write_text(json.dumps(info))
    assert store.read("SYN", "1h", m.version) is None
    info["rows"] -= 7
    info["parts"].append("part-missing.parquet")  # a part named but never written
    meta.write_text(json.dumps(info))
    assert store.read("SYN", "1h", m.version) is None
    again = materialize(store, bars.iloc[:1500], feature_set("core"), ctx, symbol="SYN", timeframe="1h")
    assert again.action == "full" and max_abs_diff(again.features, m.features) == 0.0


def test_empty_bars_are_refused(tmp_path, market):
    bars, ctx = market
    with pytest.raises(ValueError, match="no bars"):
        materialize(FeatureStore(tmp_path), bars.iloc[:0], SPECS, ctx, symbol="SYN", timeframe="1h")


def test_a_full_width_frame_is_stored_without_consolidating_it(tmp_path):
    import warnings

    import pandas as pd
    bars = synthetic_bars(1500, seed=22)
    ctx = synthetic_context(bars, seed=22)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)  # the engine's frame: a block per column
        m = materialize(FeatureStore(tmp_path), bars, feature_set("full"), ctx, symbol="W", timeframe="1h",
                        drop_warmup=False)
    stored, _ = FeatureStore(tmp_path).read("W", "1h", m.version)
    assert stored.shape[1] > 400 and stored.index.equals(m.features.index) and str(stored.index.tz) == "UTC"
    assert max_abs_diff(stored, m.features) == 0.0


def test_columns_are_read_alone_through_reuse_and_append(tmp_path, market):
    bars, ctx = market
    store = FeatureStore(tmp_path)
    want = ["rsi_50", "garch_vol", "vol_20"]
    first = materialize(store, bars.iloc[:4000], SPECS, ctx, symbol="SYN", timeframe="1h", memory=2600,
                        columns=want)
    assert first.action == "full" and list(first.features.columns) == want
    assert first.width == len(compute_features(bars.iloc[:300], SPECS, ctx, drop_warmup=False).columns)
    # what was stored is the whole set, not the requested columns
    whole, info = store.read("SYN", "1h", first.version)
    assert whole.shape[1] == first.width == len(info["columns"])
    again = materialize(store, bars.iloc[:4000], SPECS, ctx, symbol="SYN", timeframe="1h", columns=want)
    assert again.action == "reused" and list(again.features.columns) == want
    assert max_abs_diff(again.features, first.features) == 0.0
    inc = materialize(store, bars, SPECS, ctx, symbol="SYN", timeframe="1h", memory=2600, columns=want[::-1])
    assert inc.action == "incremental" and list(inc.features.columns) == want[::-1]
    full = as_stored(compute_features(bars, SPECS, ctx))
    assert inc.features.index.equals(full.index)
    assert max_abs_diff(inc.features.iloc[-200:], full[want[::-1]].iloc[-200:]) < TOL
    # every column of the appended part was stored, not only the requested ones
    whole, info = store.read("SYN", "1h", inc.version)
    assert len(whole) == 4200 and whole.shape[1] == inc.width and len(info["parts"]) == 2
    assert max_abs_diff(whole.iloc[-200:], full.iloc[-200:]) < TOL
    with pytest.raises(ValueError, match="no spec in the set declares"):
        materialize(store, bars, SPECS, ctx, symbol="SYN", timeframe="1h", columns=["rsi_51"])
    with pytest.raises(KeyError, match="no stored feature columns"):
        store.read("SYN", "1h", inc.version, columns=["rsi_51"])


def test_a_column_whose_spec_cannot_run_is_left_out(tmp_path, market):
    bars, ctx = market
    quiet = bars.assign(volume=0.0)  # no volume: volume specs do not run
    m = materialize(FeatureStore(tmp_path), quiet.iloc[:1500], feature_set("core"), ctx, symbol="Q",
                    timeframe="1h", columns=["volume_z_20", "rsi_14"])
    assert list(m.features.columns) == ["rsi_14"]


def test_appends_compact_into_one_part(tmp_path, market):
    bars, ctx = market
    store = FeatureStore(tmp_path, max_parts=3)
    core = feature_set("core")
    materialize(store, bars.iloc[:3000], core, ctx, symbol="SYN", timeframe="1h")
    parts = []
    for end in (3010, 3020, 3030, 3040):
        m = materialize(store, bars.iloc[:end], core, ctx, symbol="SYN", timeframe="1h")
        assert m.action == "incremental"
        parts.append(len(store.read("SYN", "1h", m.version)[1]["parts"]))
    assert parts == [2, 3, 1, 2]  # the fourth part would pass max_parts: all rewritten as one
    assert len(list(next(tmp_path.rglob("SYN")).glob("part-*"))) == 2  # the replaced parts are gone
    stored, info = store.read("SYN", "1h", m.version)
    assert len(stored) == info["rows"] == 3040
    full = as_stored(compute_features(bars.iloc[:3040], core, ctx, drop_warmup=False))
    assert stored.index.equals(full.index) and max_abs_diff(stored, full) < TOL


def test_parts_share_one_ts_type_whatever_unit_the_rows_come_in(tmp_path, market):
    bars, ctx = market
    store = FeatureStore(tmp_path, max_parts=2)
    frame = compute_features(bars.iloc[:600], feature_set("core"), ctx, drop_warmup=False)
    us = frame.set_axis(frame.index.as_unit("us"))
    store.write("U", "1h", "v", us.iloc[:500], {"bars": 500, "columns": list(frame.columns)})
    store.append("U", "1h", "v", frame.iloc[500:550], {"bars": 550, "columns": list(frame.columns)})
    store.append("U", "1h", "v", us.iloc[550:], {"bars": 600, "columns": list(frame.columns)})  # compacts
    stored, info = store.read("U", "1h", "v")
    assert len(info["parts"]) == 1 and stored.index.equals(frame.index)
    assert str(stored.index.dtype) == "datetime64[ns, UTC]" and max_abs_diff(stored, as_stored(frame)) == 0.0


def test_frames_from_the_store_can_be_written_like_computed_ones(tmp_path, market):
    bars, ctx = market
    store = FeatureStore(tmp_path)
    core = feature_set("core")
    first = materialize(store, bars.iloc[:800], core, ctx, symbol="RW", timeframe="1h")
    for m in (materialize(store, bars.iloc[:800], core, ctx, symbol="RW", timeframe="1h"),  # one part
              materialize(store, bars.iloc[:820], core, ctx, symbol="RW", timeframe="1h")):  # two parts
        f = m.features
        assert m.action in ("reused", "incremental") and str(f.index.dtype) == str(first.features.index.dtype)
        f.loc[f.index[:3], "rsi_14"] = -1.0   # in-place writes: Arrow's read-only buffers would refuse them
        f.fillna(0.0, inplace=True)
        assert (f["rsi_14"].iloc[:3] == -1.0).all() and not f.isna().any().any()
    stored, _ = store.read("RW", "1h", first.version, columns=["rsi_14"])
    stored.clip(-0.5, 0.5, inplace=True)
    assert stored["rsi_14"].max() <= 0.5


WRITER = """
import sys
import numpy as np
import pandas as pd
from pipelines.features.store import FeatureStore
root, n = sys.argv[1], int(sys.argv[2])
st = FeatureStore(root, max_parts=2)
cols = ["a", "b", "c"]
ts = pd.date_range("2024-01-01", periods=5 * (n + 1), freq="h", tz="UTC")
def rows(i):
    return pd.DataFrame({c: np.arange(5 * i, 5 * i + 5, dtype="float64") for c in cols}, index=ts[5 * i:5 * i + 5])
st.write("RC", "1h", "v", rows(0), {"bars": 5, "columns": cols})
print("ready", flush=True)
for i in range(1, n + 1):  # max_parts=2: every other append rewrites the parts as one
    st.append("RC", "1h", "v", rows(i), {"bars": 5 * (i + 1), "columns": cols})
"""


def test_reads_while_another_process_appends_and_compacts(tmp_path):
    """A reader that loaded a record whose parts a compaction then deleted reads the new record
    instead of failing; every read is a whole, consistent frame."""
    import subprocess
    import sys
    n = 400
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(n)],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    st = FeatureStore(tmp_path)
    seen = set()
    while writer.poll() is None:
        got = st.read("RC", "1h", "v", columns=["b"])
        assert got is not None
        frame, info = got
        assert len(frame) == info["rows"] and len(info["parts"]) <= 2
        np.testing.assert_array_equal(frame["b"].to_numpy(), np.arange(len(frame), dtype="float64"))
        seen.add(len(frame))
    assert writer.wait() == 0
    frame, info = st.read("RC", "1h", "v")
    assert len(frame) == info["rows"] == 5 * (n + 1)
    assert len(seen) > 10  # the reads overlapped many appends and compactions


def test_every_path_returns_the_stored_index_whatever_unit_the_bars_carry(tmp_path, market):
    bars, ctx = market
    us = bars.assign(ts=bars["ts"].dt.as_unit("us"))
    store = FeatureStore(tmp_path)
    core = feature_set("core")
    paths = [materialize(store, us.iloc[:1000], core, ctx, symbol="US", timeframe="1h"),
             materialize(store, us.iloc[:1000], core, ctx, symbol="US", timeframe="1h"),
             materialize(store, us.iloc[:1010], core, ctx, symbol="US", timeframe="1h", columns=["rsi_14"])]
    assert [m.action for m in paths] == ["full", "reused", "incremental"]
    for m in paths:
        assert str(m.features.index.dtype) == "datetime64[ns, UTC]" and m.features.index.name == "ts"
    assert paths[2].features.index.equals(pd.DatetimeIndex(bars["ts"].iloc[:1010]).as_unit("ns")[-len(paths[2].features):])


def _digest_of_cut(ctx, until) -> str:
    """The context digest by its definition: hash the frames :func:`cut_context` leaves."""
    import hashlib

    from pipelines.features.causality import cut_context
    from pipelines.features.store import UNHASHED
    c = cut_context(ctx, until)
    frames = [c.peers[k] for k in sorted(c.peers)] + [c.macro, c.news]
    frames += [c.extra[k] for k in sorted(c.extra) if isinstance(c.extra[k], pd.DataFrame)]
    h = hashlib.sha256()
    for f in frames:
        if f is not None:
            f = f.drop(columns=[x for x in UNHASHED if x in f.columns])
        if f is None or len(f) == 0:
            h.update(b"-")
            continue
        h.update(",".join(map(str, f.columns)).encode())
        h.update(pd.util.hash_pandas_object(f, index=False).to_numpy().tobytes())
    return h.hexdigest()[:24]


def test_context_digest_hashes_exactly_what_was_known_at_the_cut(market):
    from pipelines.features.store import _Digests, context_digest
    bars, ctx = market
    assert {"trades", "orderbook"} <= set(ctx.extra) and ctx.news is not None and ctx.macro is not None
    dig = _Digests(bars, ctx)
    cuts = [bars["ts"].iloc[0] - pd.Timedelta(days=400)] + [bars["known_at"].iloc[i] for i in (0, 999, 2500, -1)]
    digests = [dig.context(t) for t in cuts]
    for t, d in zip(cuts, digests):
        assert d == _digest_of_cut(ctx, t) == context_digest(ctx, t)
    assert len(set(digests)) == len(digests)  # each cut sees more rows
    # a row released after the cut leaves the digest alone; one released before changes it
    news = ctx.news.copy()
    late = news["known_at"] > cuts[2]
    news.loc[late.idxmax(), "score"] = news.loc[late.idxmax(), "score"] + 0.5
    later = _Digests(bars, ctx.__class__(**{**ctx.__dict__, "news": news}))
    assert later.context(cuts[2]) == digests[2] and later.context(cuts[-1]) != digests[-1]
    # the bars' digest of a prefix is that of the prefix alone
    assert dig.bars(1000) == _Digests(bars.iloc[:1000], ctx).bars(1000) != dig.bars(1001)


def test_rounded_float32_by_default_within_its_precision_and_float32_or_float64_on_request(tmp_path, market):
    import pyarrow.parquet as pq
    bars, ctx = market
    core = feature_set("core")
    exact = compute_features(bars.iloc[:1500], core, ctx, drop_warmup=False)
    stores = {d: FeatureStore(tmp_path / d.replace(":", "_"), **({} if d == DEFAULT_STORE_DTYPE else {"dtype": d}))
              for d in (DEFAULT_STORE_DTYPE, "float32", "float64")}
    made = {d: materialize(st, bars.iloc[:1500], core, ctx, symbol="P", timeframe="1h", drop_warmup=False)
            for d, st in stores.items()}
    assert DEFAULT_STORE_DTYPE == "float32:16" and made["float32:16"].version == set_version(core)
    assert len({m.version for m in made.values()}) == 3 and made["float64"].version == set_version(core, "float64")
    # float64 keeps the computation exactly; float32 within a relative 2**-24 of it; float32:16 within
    # 2**-24 + 2**-17, and it does drop bits (its error is beyond plain float32's)
    assert max_abs_diff(made["float64"].features, exact) == 0.0
    y = exact.to_numpy()
    m = ~np.isnan(y)
    for d in ("float32", "float32:16"):
        x = made[d].features.to_numpy()
        rel = np.abs(x[m] - y[m]) / np.abs(y[m]).clip(min=np.finfo("float64").tiny)
        assert (np.isnan(x) == np.isnan(y)).all() and 0 < rel.max() <= precision_of(d), d
    assert precision_of("float32") == PRECISION["float32"] < 5e-6 < precision_of("float32:16") < 8e-6
    x16 = made["float32:16"].features.to_numpy()
    assert (np.abs(x16[m] - y[m]) / np.abs(y[m]).clip(min=np.finfo("float64").tiny)).max() > 1e-6
    # every path returns what the store holds, as float64, equal to as_stored of the computation
    for d, st in stores.items():
        again = materialize(st, bars.iloc[:1500], core, ctx, symbol="P", timeframe="1h", drop_warmup=False)
        assert again.action == "reused"
        for m_ in (made[d], again):
            assert (m_.features.dtypes == "float64").all() and max_abs_diff(m_.features, as_stored(exact, d)) == 0.0
        stored, _ = st.read("P", "1h", made[d].version)
        assert (stored.dtypes == "float64").all() and max_abs_diff(stored, as_stored(exact, d)) == 0.0
    # on disk: float32 columns, zstd, byte-stream-split, no dictionaries; at 16 bits the 7 lowest mantissa
    # bits of every value are zero (what makes the parts smaller); float64 parts hold doubles
    part = next((tmp_path / "float32_16").rglob("part-*.parquet"))
    pf = pq.ParquetFile(part)
    assert str(pf.schema_arrow.field("rsi_14").type) == "float"
    col = pf.metadata.row_group(0).column(pf.schema_arrow.get_field_index("rsi_14"))
    assert col.compression == "ZSTD" and "BYTE_STREAM_SPLIT" in col.encodings
    assert not any("DICTIONARY" in e for e in col.encodings)
    raw = pf.read(columns=["rsi_14"]).column("rsi_14").to_numpy().view(np.uint32)
    assert (raw & np.uint32(0x7F) == 0).all() and (pq.read_table(next((tmp_path / "float32").rglob("part-*.parquet")),
        columns=["rsi_14"]).column("rsi_14").to_numpy().view(np.uint32) & np.uint32(0x7F) != 0).any()
    part64 = next((tmp_path / "float64").rglob("part-*.parquet"))
    assert str(pq.read_schema(part64).field("rsi_14").type) == "double"


def test_round_mantissa_rounds_to_nearest_even_and_keeps_nan_and_inf():
    a = np.array([1.0, 1.0 + 2 ** -23, 1.0 + 2 ** -17, 1.0 + 3 * 2 ** -17, 1.0 + 2 ** -17 + 2 ** -23, -(1.0 + 3 * 2 ** -17),
                  np.nan, np.inf, -np.inf, 0.0, -0.0, 2.0 - 2 ** -23], dtype=np.float32)
    r = round_mantissa(a, 16).astype("float64")
    want = [1.0, 1.0, 1.0, 1.0 + 4 * 2 ** -17, 1.0 + 2 ** -16, -(1.0 + 4 * 2 ** -17), np.nan, np.inf, -np.inf, 0.0, -0.0, 2.0]
    np.testing.assert_array_equal(r, want)   # ties go to the even step (1.0, 1 + 2**-15), above a tie rounds up
    assert np.signbit(r[10]) and np.isnan(round_mantissa(np.array([np.nan], dtype=np.float32), 1)[0])
    x = np.random.default_rng(0).normal(0, 1e3, 100_000).astype(np.float32)
    for bits in (1, 10, 16, 22):
        y = round_mantissa(x, bits)
        assert (np.abs(y.astype("float64") - x) <= 2.0 ** -(bits + 1) * np.abs(x.astype("float64"))).all()
        np.testing.assert_array_equal(round_mantissa(y, bits), y)   # rounding twice changes nothing
        assert (y.view(np.uint32) & np.uint32((1 << (23 - bits)) - 1) == 0).all()
    err = round_mantissa(np.abs(x), 10).astype("float64") - np.abs(x)   # no bias (truncation's would be -mean|err|)
    assert abs(err.mean()) < 0.02 * np.abs(err).mean()


def test_as_stored_rounds_without_touching_its_input_and_refuses_what_float32_cannot_hold():
    frame = pd.DataFrame({"a": [0.1, np.nan, 1 / 3], "b": [1e30, -2.5, 7.0]})
    before = frame.copy()
    out = as_stored(frame)
    assert out.index.equals(frame.index) and list(out.columns) == ["a", "b"] and (out.dtypes == "float64").all()
    np.testing.assert_array_equal(out["a"].to_numpy(), round_mantissa(frame["a"].to_numpy(dtype="float32"), 16))
    np.testing.assert_array_equal(as_stored(frame, "float32")["a"].to_numpy(),
                                  frame["a"].to_numpy(dtype="float32").astype("float64"))
    assert out["a"].iloc[0] != 0.1 and out["b"].iloc[1] == -2.5 and np.isnan(out["a"].iloc[1])
    pd.testing.assert_frame_equal(frame, before)
    assert max_abs_diff(as_stored(out), out) == 0.0  # rounding twice changes nothing
    pd.testing.assert_frame_equal(as_stored(frame, "float64"), frame)
    with pytest.raises(ValueError, match="feature 'b' holds values beyond float32's range"):
        as_stored(frame.assign(b=[1e39, 0.0, 0.0]))
    for bad in ("float16", "float32:23", "float32:0", "float64:8", "float32:x"):
        with pytest.raises(ValueError, match=f"feature store dtype '{bad}': float64, float32, or float32:N"):
            FeatureStore("unused", dtype=bad)


def test_an_append_recomputes_each_spec_over_its_own_memory_only(tmp_path, monkeypatch):
    import pipelines.features.store as store_mod
    from pipelines.features.store import memory_of
    bars = synthetic_bars(4300, seed=23)
    specs = feature_set("core") + tuple(s for s in feature_set("full") if s.name == "rsi_200")
    long = memory_of(specs[-1:])
    assert memory_of(feature_set("core")) == 2500 < long == 4000  # one spec needs more history
    store = FeatureStore(tmp_path)
    materialize(store, bars.iloc[:4200], specs, symbol="M", timeframe="1h")
    calls = []
    compute = store_mod.compute_features

    def counted(b, group, *a, **k):
        calls.append((len(b), sorted(s.name for s in group)))
        return compute(b, group, *a, **k)

    monkeypatch.setattr(store_mod, "compute_features", counted)
    inc = materialize(store, bars, specs, symbol="M", timeframe="1h")
    assert inc.action == "incremental" and inc.rows_computed == long + 100
    assert calls == [(2500 + 100, sorted(s.name for s in feature_set("core"))), (long + 100, ["rsi_200"])]
    monkeypatch.setattr(store_mod, "compute_features", compute)
    full = as_stored(compute_features(bars, specs))
    assert list(inc.features.columns) == list(full.columns) and inc.features.index.equals(full.index)
    assert max_abs_diff(inc.features.iloc[-100:], full.iloc[-100:]) < TOL
    stored, info = store.read("M", "1h", inc.version)
    assert info["columns"] == list(full.columns) and max_abs_diff(stored.iloc[-100:], full.iloc[-100:]) < TOL


def test_lagged_copies_are_stored_once_and_read_back_exactly(tmp_path, market):
    import pyarrow.parquet as pq
    bars, ctx = market
    core = feature_set("core")
    store = FeatureStore(tmp_path, max_parts=3)
    m = materialize(store, bars.iloc[:1500], core, ctx, symbol="L", timeframe="1h", drop_warmup=False)
    info = store.record("L", "1h", m.version)
    assert info["shifts"] == {f"ret_lag_{k}": ["ret_lag_1", k - 1] for k in range(2, 6)}
    assert info["layout"] == info["columns"] == list(m.features.columns)
    physical = pq.read_schema(next(tmp_path.rglob("part-*.parquet"))).names
    assert "ret_lag_1" in physical and not any(f"ret_lag_{k}" in physical for k in range(2, 6))
    want = as_stored(compute_features(bars.iloc[:1500], core, ctx, drop_warmup=False))
    assert max_abs_diff(store.read("L", "1h", m.version)[0], want) == 0.0
    alone, _ = store.read("L", "1h", m.version, columns=["ret_lag_4", "rsi_14"])
    assert list(alone.columns) == ["ret_lag_4", "rsi_14"] and max_abs_diff(alone, want[["ret_lag_4", "rsi_14"]]) == 0.0
    # appends that continue the shifts keep them (and compact), each appended row read back exactly
    for end in (1510, 1520, 1530):
        m = materialize(store, bars.iloc[:end], core, ctx, symbol="L", timeframe="1h", drop_warmup=False)
        assert m.action == "incremental" and "ret_lag_3" in store.record("L", "1h", m.version)["shifts"]
    whole, info = store.read("L", "1h", m.version)
    full = as_stored(compute_features(bars.iloc[:1530], core, ctx, drop_warmup=False))
    assert len(info["parts"]) == 1 and whole.index.equals(full.index) and max_abs_diff(whole, full) < TOL
    assert max_abs_diff(whole["ret_lag_5"].iloc[5:].to_frame(),
                        whole["ret_lag_1"].shift(4).iloc[5:].to_frame()) == 0.0


def test_rows_that_break_a_shift_rewrite_the_frame_with_their_values(tmp_path):
    ts = pd.date_range("2024-01-01", periods=12, freq="h", tz="UTC")
    x = np.arange(12, dtype="float64") + 0.5
    frame = pd.DataFrame({"x": x, "x_lag_2": np.r_[np.nan, np.nan, x[:-2]], "y_lag_1": x}, index=ts)
    store = FeatureStore(tmp_path)
    store.write("B", "1h", "v", frame.iloc[:8], {"bars": 8})
    assert store.record("B", "1h", "v")["shifts"] == {"x_lag_2": ["x", 2]}  # y_lag_1 has no y to follow
    odd = frame.iloc[8:].copy()
    odd.iloc[1, 1] = -1.0  # not x two rows before
    store.append("B", "1h", "v", odd, {"bars": 12})
    got, info = store.read("B", "1h", "v")
    assert info["rows"] == 12 and len(info["parts"]) == 1 and "shifts" not in info
    assert max_abs_diff(got, pd.concat([frame.iloc[:8], odd])) == 0.0 and got["x_lag_2"].iloc[9] == -1.0


def test_the_configuration_takes_exactly_the_store_dtypes_the_store_takes(tmp_path):
    from pydantic import ValidationError

    from pipelines.config import load_config
    for ok in ("float32:16", "float32:1", "float32:9", "float32:22", "float32", "float64"):
        cfg = load_config(overrides={"features": {"store_dtype": ok}}, environ={})
        assert FeatureStore(tmp_path, dtype=cfg.features.store_dtype).dtype == ok
    assert load_config(environ={}).features.store_dtype == DEFAULT_STORE_DTYPE
    for bad in ("float16", "float32:23", "float32:0", "float32:", "float64:8", "float32:x"):
        with pytest.raises(ValidationError, match="store_dtype"):
            load_config(overrides={"features": {"store_dtype": bad}}, environ={})
        with pytest.raises(ValueError, match="feature store dtype"):
            FeatureStore(tmp_path, dtype=bad)


def test_as_stored_rounds_a_few_live_rows_as_it_rounds_a_whole_frame(market):
    """Small frames (the rows served live) are rounded as one array, large ones column by column:
    the same values either way, and the same refusal naming the column."""
    from pipelines.features.store import SMALL_FRAME
    bars, ctx = market
    frame = compute_features(bars.iloc[:400], feature_set("core"), ctx)
    assert len(frame) > SMALL_FRAME
    whole = as_stored(frame)
    for d in (DEFAULT_STORE_DTYPE, "float32", "float32:7"):
        whole = as_stored(frame, d)
        parts = pd.concat([as_stored(frame.iloc[i:i + 3], d) for i in range(0, len(frame), 3)])
        pd.testing.assert_frame_equal(parts, whole)
    small = frame.iloc[:2].copy()
    small.iloc[1, 3] = 1e39
    with pytest.raises(ValueError, match=f"feature {frame.columns[3]!r} holds values beyond float32's range"):
        as_stored(small)
