"""The canonical records: one place that says what every table looks like.

Every timestamp is tz-aware UTC with nanosecond resolution. A bar's ``ts`` is its open; it is
known at ``known_at = ts + timeframe``. Sources convert vendor formats to these records at the
edge (see :mod:`pipelines.validation`); nothing downstream sees a vendor's format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

UTC_NS = pa.timestamp("ns", tz="UTC")
ASSET_CLASSES = ("crypto", "stock", "forex", "index", "commodity", "macro")

@dataclass(frozen=True)
class TableSpec:
    """A table: its Arrow schema, the key that makes writes idempotent, its time column and how
    the Parquet lake partitions it."""

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    time_column: str
    partition_by: tuple[str, ...] = ()
    partition_year: bool = True
    json_columns: tuple[str, ...] = field(default=())

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


BARS = TableSpec(
    name="bars",
    schema=pa.schema([
        ("symbol", pa.string()), ("asset_class", pa.string()), ("venue", pa.string()),
        ("timeframe", pa.string()), ("ts", UTC_NS),
        ("open", pa.float64()), ("high", pa.float64()), ("low", pa.float64()),
        ("close", pa.float64()), ("volume", pa.float64()), ("known_at", UTC_NS),
    ]),
    key=("symbol", "timeframe", "ts"),
    time_column="ts",
    partition_by=("timeframe", "symbol"),
)

ORDERBOOK = TableSpec(
    name="orderbook",
    schema=pa.schema([
        ("symbol", pa.string()), ("venue", pa.string()), ("ts", UTC_NS), ("known_at", UTC_NS),
        ("best_bid", pa.float64()), ("best_ask", pa.float64()),
        ("bid_size", pa.float64()), ("ask_size", pa.float64()),
        ("bid_depth", pa.float64()), ("ask_depth", pa.float64()),
        ("bids", pa.string()), ("asks", pa.string()),
    ]),
    key=("symbol", "venue", "ts"),
    time_column="ts",
    partition_by=("symbol",),
    json_columns=("bids", "asks"),
)

TRADES = TableSpec(
    name="trades",
    schema=pa.schema([
        ("symbol", pa.string()), ("venue", pa.string()), ("trade_id", pa.string()),
        ("ts", UTC_NS), ("known_at", UTC_NS), ("price", pa.float64()), ("qty", pa.float64()),
        ("is_buyer_maker", pa.bool_()),
    ]),
    key=("symbol", "venue", "trade_id"),
    time_column="ts",
    partition_by=("symbol",),
)

NEWS = TableSpec(
    name="news",
    schema=pa.schema([
        ("item_id", pa.string()), ("provider", pa.string()), ("published_at", UTC_NS),
        ("known_at", UTC_NS), ("headline", pa.string()), ("summary", pa.string()),
        ("url", pa.string()), ("source", pa.string()), ("tickers", pa.string()),
        ("kind", pa.string()),
        # the provider's own sentiment, when it sends one (Alpha Vantage): overall score in [-1, 1]
        # and label, and per ticker a JSON list of {ticker, score, label, relevance}; topics as
        # a JSON list of {topic, relevance}
        ("provider_score", pa.float64()), ("provider_label", pa.string()),
        ("provider_tickers", pa.string()), ("topics", pa.string()),
    ]),
    key=("item_id",),
    time_column="known_at",
    partition_by=("provider",),
    json_columns=("tickers", "provider_tickers", "topics"),
)

SENTIMENT_SCORES = TableSpec(
    name="sentiment_scores",
    schema=pa.schema([
        ("item_id", pa.string()), ("scorer_id", pa.string()), ("scorer", pa.string()),
        ("known_at", UTC_NS), ("scored_at", UTC_NS), ("score", pa.float64()), ("label", pa.string()),
        ("vader", pa.float64()), ("finance", pa.float64()), ("finbert", pa.float64()),
        ("p_positive", pa.float64()), ("p_negative", pa.float64()), ("p_neutral", pa.float64()),
    ]),
    key=("item_id", "scorer_id"),
    time_column="known_at",
    partition_by=("scorer_id",),
)

MACRO = TableSpec(
    name="macro",
    schema=pa.schema([
        ("series_id", pa.string()), ("source", pa.string()), ("ts", UTC_NS),
        ("known_at", UTC_NS), ("value", pa.float64()),
    ]),
    key=("series_id", "ts"),
    time_column="ts",
    partition_by=("series_id",),
)

PREDICTIONS = TableSpec(
    name="predictions",
    schema=pa.schema([
        ("model_id", pa.string()), ("symbol", pa.string()), ("timeframe", pa.string()),
        ("ts", UTC_NS), ("known_at", UTC_NS), ("horizon", pa.int64()), ("fold", pa.int64()),
        ("expected_return", pa.float64()), ("prob_up", pa.float64()),
        ("confidence", pa.float64()), ("realized_return", pa.float64()),
        ("config_hash", pa.string()),
    ]),
    key=("model_id", "symbol", "timeframe", "horizon", "ts"),
    time_column="ts",
    partition_by=("model_id", "symbol"),
)

FILLS = TableSpec(
    name="fills",
    schema=pa.schema([
        ("fill_id", pa.string()), ("account", pa.string()), ("symbol", pa.string()),
        ("ts", UTC_NS), ("side", pa.string()), ("qty", pa.float64()), ("price", pa.float64()),
        ("fee", pa.float64()), ("order_id", pa.string()), ("reason", pa.string()),
        ("position_qty", pa.float64()), ("avg_price", pa.float64()),
        ("realized_pnl", pa.float64()), ("cash", pa.float64()),
    ]),
    key=("fill_id",),
    time_column="ts",
    partition_by=("account",),
)

POSITIONS = TableSpec(
    name="positions",
    schema=pa.schema([
        ("account", pa.string()), ("symbol", pa.string()), ("ts", UTC_NS),
        ("qty", pa.float64()), ("avg_price", pa.float64()), ("realized_pnl", pa.float64()),
        ("cash", pa.float64()),
    ]),
    key=("account", "symbol", "ts"),
    time_column="ts",
    partition_by=("account",),
)

MODELS = TableSpec(
    name="models",
    schema=pa.schema([
        ("model_id", pa.string()), ("name", pa.string()), ("kind", pa.string()),
        ("created_at", UTC_NS), ("status", pa.string()), ("config", pa.string()),
        ("config_hash", pa.string()), ("features", pa.string()), ("feature_hash", pa.string()),
        ("symbols", pa.string()), ("timeframe", pa.string()), ("horizon", pa.int64()),
        ("train_start", UTC_NS), ("train_end", UTC_NS), ("metrics", pa.string()),
        ("artifact_path", pa.string()),
    ]),
    key=("model_id",),
    time_column="created_at",
    partition_year=False,
    json_columns=("config", "features", "symbols", "metrics"),
)

CHECKPOINTS = TableSpec(
    name="checkpoints",
    schema=pa.schema([
        ("source", pa.string()), ("stream", pa.string()), ("ts", UTC_NS),
        ("updated_at", UTC_NS), ("state", pa.string()),
    ]),
    key=("source", "stream"),
    time_column="ts",
    partition_year=False,
    json_columns=("state",),
)

RUNS = TableSpec(
    name="runs",
    schema=pa.schema([
        ("run_id", pa.string()), ("kind", pa.string()), ("status", pa.string()), ("reason", pa.string()),
        ("created_at", UTC_NS), ("finished_at", UTC_NS), ("config", pa.string()), ("config_hash", pa.string()),
        ("code_version", pa.string()), ("digests", pa.string()), ("symbols", pa.string()),
        ("models", pa.string()), ("horizons", pa.string()), ("report", pa.string()),
    ]),
    key=("run_id",),
    time_column="created_at",
    partition_year=False,
    json_columns=("config", "digests", "symbols", "models", "horizons", "report"),
)

RUN_PREDICTIONS = TableSpec(
    name="run_predictions",
    schema=pa.schema([
        ("run_id", pa.string()), ("model", pa.string()), ("horizon", pa.int64()), ("symbol", pa.string()),
        ("ts", UTC_NS), ("timeframe", pa.string()), ("fold", pa.int64()), ("prediction", pa.float64()),
        ("prob_up", pa.float64()), ("realized", pa.float64()),
    ]),
    key=("run_id", "model", "horizon", "symbol", "ts"),
    time_column="ts",
    partition_by=("run_id",),
    partition_year=False,
)

STRATEGIES = TableSpec(
    name="strategies",
    schema=pa.schema([
        ("strategy_id", pa.string()), ("name", pa.string()), ("version", pa.int64()), ("status", pa.string()),
        ("run_id", pa.string()), ("created_at", UTC_NS), ("record", pa.string()),
    ]),
    key=("strategy_id",),
    time_column="created_at",
    partition_year=False,
    json_columns=("record",),
)

# what a strategy's paper account decided at each bar's close: the account is the backtest
# engine applied to these decisions, so a restart rebuilds it exactly
STRATEGY_DECISIONS = TableSpec(
    name="strategy_decisions",
    schema=pa.schema([
        ("account", pa.string()), ("symbol", pa.string()), ("ts", UTC_NS), ("strategy_id", pa.string()),
        ("target", pa.float64()),
    ]),
    key=("account", "symbol", "ts"),
    time_column="ts",
    partition_by=("account",),
    partition_year=False,
)

# what the served models said for bars after a strategy's run (each model of the strategy, at its
# horizon): the strategy's view of those bars, kept so that a restarted account decides them again
# from the same numbers
STRATEGY_LIVE_PREDICTIONS = TableSpec(
    name="strategy_live_predictions",
    schema=pa.schema([
        ("strategy_id", pa.string()), ("model", pa.string()), ("symbol", pa.string()), ("ts", UTC_NS),
        ("expected_return", pa.float64()), ("prob_up", pa.float64()),
    ]),
    key=("strategy_id", "model", "symbol", "ts"),
    time_column="ts",
    partition_by=("strategy_id",),
    partition_year=False,
)

TABLES: dict[str, TableSpec] = {t.name: t for t in (
    BARS, ORDERBOOK, TRADES, NEWS, SENTIMENT_SCORES, MACRO, PREDICTIONS, FILLS, POSITIONS, MODELS, CHECKPOINTS,
    RUNS, RUN_PREDICTIONS, STRATEGIES, STRATEGY_DECISIONS, STRATEGY_LIVE_PREDICTIONS)}


def empty_frame(spec: TableSpec) -> pd.DataFrame:
    """A zero-row frame with the table's exact dtypes."""
    return spec.schema.empty_table().to_pandas()


def conform(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Return a copy with exactly the spec's columns, in order, cast to the spec's types.

    Missing nullable columns are filled with nulls; a missing key column is an error.
    """
    missing_keys = [k for k in spec.key if k not in df.columns]
    if missing_keys:
        raise ValueError(f"{spec.name}: key column(s) missing: {missing_keys}")
    out = pd.DataFrame(index=df.index)
    for f in spec.schema:
        col = df[f.name] if f.name in df.columns else pd.Series(None, index=df.index, dtype="object")
        if pa.types.is_timestamp(f.type):
            col = pd.to_datetime(col, utc=True).astype("datetime64[ns, UTC]")
        elif pa.types.is_floating(f.type):
            col = pd.to_numeric(col, errors="raise").astype("float64")
        elif pa.types.is_integer(f.type):
            col = pd.to_numeric(col, errors="raise").astype("Int64")
        elif pa.types.is_boolean(f.type):
            col = col.astype("boolean")
        else:
            col = col.astype("string")
        out[f.name] = col
    return out.reset_index(drop=True)


def to_arrow(df: pd.DataFrame, spec: TableSpec) -> pa.Table:
    return pa.Table.from_pandas(conform(df, spec), schema=spec.schema, preserve_index=False)


def from_arrow(table: pa.Table, spec: TableSpec) -> pd.DataFrame:
    """Arrow -> pandas with the canonical dtypes (strings as pandas string dtype). Columns the
    spec gained after a file was written read as nulls."""
    for f in spec.schema:
        if f.name not in table.column_names:
            table = table.append_column(f.name, pa.nulls(len(table), type=f.type))
    table = table.select(spec.schema.names)
    df = table.cast(spec.schema).to_pandas()
    for f in spec.schema:
        if pa.types.is_string(f.type):
            df[f.name] = df[f.name].astype("string")
        elif pa.types.is_integer(f.type):
            df[f.name] = df[f.name].astype("Int64")
        elif pa.types.is_boolean(f.type):
            df[f.name] = df[f.name].astype("boolean")
    return df
