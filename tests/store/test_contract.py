"""One contract suite, run against both stores (the `store` fixture is parametrised)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.schema import BARS, TABLES
from pipelines.validation import validate_bars


def make_bars(symbol="AAA", n=100, start="2021-01-01", tf="1h", seed=0, asset_class="crypto"):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    df = pd.DataFrame({
        "ts": pd.date_range(start, periods=n, freq="h" if tf == "1h" else "D", tz="UTC"),
        "open": open_, "high": np.maximum(open_, close) * 1.001, "low": np.minimum(open_, close) * 0.999,
        "close": close, "volume": rng.uniform(1, 10, n)})
    bars, _ = validate_bars(df, symbol=symbol, asset_class=asset_class, timeframe=tf)
    return bars


def test_roundtrip_is_exact_and_typed(store):
    bars = make_bars()
    assert store.write("bars", bars) == 100
    out = store.read_bars("AAA", "1h")
    pd.testing.assert_frame_equal(out, bars)
    assert str(out["ts"].dtype) == "datetime64[ns, UTC]"
    assert list(out.columns) == BARS.columns


def test_write_twice_leaves_one_copy(store):
    bars = make_bars()
    store.write("bars", bars)
    store.write("bars", bars)
    assert len(store.read_bars("AAA", "1h")) == 100


def test_overlapping_write_replaces_never_duplicates(store):
    bars = make_bars(n=100)
    store.write("bars", bars.iloc[:60])
    changed = bars.iloc[40:].copy()
    changed["close"] = changed["close"] * 1.5
    changed["high"] = changed[["high", "close"]].max(axis=1)
    store.write("bars", changed)
    out = store.read_bars("AAA", "1h")
    assert len(out) == 100
    assert out["ts"].is_unique and out["ts"].is_monotonic_increasing
    np.testing.assert_allclose(out["close"].iloc[40:], changed["close"])
    np.testing.assert_allclose(out["close"].iloc[:40], bars["close"].iloc[:40])


def test_read_filters_by_symbol_timeframe_and_range(store):
    store.write("bars", pd.concat([make_bars("AAA"), make_bars("BBB", seed=1),
                                   make_bars("AAA", n=30, tf="1d")]))
    assert set(store.read("bars", {"symbol": "BBB"})["symbol"]) == {"BBB"}
    assert len(store.read_bars("AAA", "1d")) == 30
    part = store.read_bars("AAA", "1h", "2021-01-02", "2021-01-03")
    assert len(part) == 24
    assert part["ts"].min() == pd.Timestamp("2021-01-02", tz="UTC")
    assert part["ts"].max() < pd.Timestamp("2021-01-03", tz="UTC")
    both = store.read("bars", {"symbol": ["AAA", "BBB"], "timeframe": "1h"})
    assert len(both) == 200
    pairs = store.distinct("bars", ("symbol", "timeframe"))
    assert sorted(map(tuple, pairs.to_numpy().tolist())) == [("AAA", "1d"), ("AAA", "1h"), ("BBB", "1h")]


def test_reads_span_years_sorted(store):
    bars = make_bars(n=24 * 5, start="2021-12-29")
    store.write("bars", bars.sample(frac=1.0, random_state=0))  # shuffled input
    out = store.read_bars("AAA", "1h")
    pd.testing.assert_frame_equal(out, bars)


def test_empty_read_has_schema(store):
    out = store.read_bars("NOPE", "1h")
    assert out.empty and list(out.columns) == BARS.columns


def test_duplicate_keys_inside_a_batch_last_wins(store):
    bars = make_bars(n=10)
    dup = bars.iloc[[3]].copy()
    dup["close"] = 999.0
    dup["high"] = 999.0
    store.write("bars", pd.concat([bars, dup]))
    out = store.read_bars("AAA", "1h")
    assert len(out) == 10 and out["close"].iloc[3] == 999.0


def test_delete(store):
    store.write("bars", pd.concat([make_bars("AAA"), make_bars("BBB", seed=1)]))
    assert store.delete("bars", {"symbol": "AAA"}) == 100
    assert store.read_bars("AAA", "1h").empty
    assert len(store.read_bars("BBB", "1h")) == 100


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_table_roundtrips(store, table):
    spec = TABLES[table]
    row = {}
    for f in spec.schema:
        t = str(f.type)
        if t.startswith("timestamp"):
            row[f.name] = pd.Timestamp("2022-03-04 05:06:07", tz="UTC")
        elif t == "double":
            row[f.name] = 1.25
        elif t == "int64":
            row[f.name] = 7
        elif t == "bool":
            row[f.name] = True
        else:
            row[f.name] = '{"a": [1, 2]}' if f.name in spec.json_columns else f"v-{f.name}"
    df = pd.DataFrame([row])
    store.write(table, df)
    store.write(table, df)
    out = store.read(table)
    assert len(out) == 1
    for k, v in row.items():
        got = out[k].iloc[0]
        assert got == v, (k, got, v)


def test_nulls_roundtrip(store):
    bars = make_bars(n=5)
    bars.loc[2, "volume"] = np.nan
    store.write("bars", bars)
    out = store.read_bars("AAA", "1h")
    assert np.isnan(out["volume"].iloc[2]) and out["volume"].notna().sum() == 4


def test_null_key_is_rejected(store):
    bars = make_bars(n=5).astype({"symbol": "object"})
    bars.loc[1, "symbol"] = None
    with pytest.raises(ValueError, match="null values in key"):
        store.write("bars", bars)


@pytest.mark.postgres
def test_postgres_adds_columns_the_schema_gained(pg_dsn):
    """A table created before a column joined its spec (news before the provider sentiment) gets
    the column when the store opens, and keeps its rows."""
    import uuid

    import psycopg

    from pipelines.store.postgres import PostgresStore

    schema = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".news (item_id text PRIMARY KEY, provider text, '
                     f'published_at timestamptz, known_at timestamptz, headline text, summary text, url text, '
                     f'source text, tickers text, kind text)')
        conn.execute(f"INSERT INTO \"{schema}\".news VALUES ('a:1', 'finnhub', '2024-01-01T00:00:00Z', "
                     f"'2024-01-01T00:05:00Z', 'Old item', '', NULL, NULL, '[]', 'news')")
    s = PostgresStore(pg_dsn, schema=schema)
    try:
        news = s.read("news")
        assert news["item_id"].tolist() == ["a:1"] and news["provider_score"].isna().all()
        s.write("news", news.assign(item_id="a:2", provider_score=0.4))
        assert sorted(s.read("news")["provider_score"].fillna(-9).tolist()) == [-9, 0.4]
    finally:
        s.drop_schema()
        s.close()
