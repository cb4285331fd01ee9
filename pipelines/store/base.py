"""The store protocol both implementations follow, and what they share."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import pandas as pd

from pipelines.times import as_utc
from pipelines.schema import BARS, TABLES, TableSpec, conform

Filter = dict[str, Any]


@runtime_checkable
class Store(Protocol):
    """Idempotent upserts keyed by each table's key; sorted, typed reads."""

    def write(self, table: str, df: pd.DataFrame) -> int:
        """Upsert rows; returns how many rows were written. Same rows twice -> one copy."""

    def read(self, table: str, where: Filter | None = None, start: Any = None,
             end: Any = None) -> pd.DataFrame:
        """Rows matching ``where`` (column -> value or list of values) with the table's time
        column in [start, end), sorted by the key."""

    def delete(self, table: str, where: Filter) -> int:
        """Remove the rows matching ``where``; returns how many."""

    def distinct(self, table: str, columns: tuple[str, ...]) -> pd.DataFrame:
        """Distinct combinations of ``columns`` (e.g. symbol/timeframe pairs of the bars)."""

    def close(self) -> None: ...


def spec_of(table: str) -> TableSpec:
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}: one of {sorted(TABLES)}") from None


def prepare(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Conform to the schema and drop duplicate keys inside the batch (last one wins)."""
    out = conform(df, spec)
    if out[list(spec.key)].isna().any().any():
        raise ValueError(f"{spec.name}: null values in key columns {spec.key}")
    return out.drop_duplicates(list(spec.key), keep="last").reset_index(drop=True)


def finish(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Sort by key (time last so a single series reads in time order)."""
    key = [k for k in spec.key if k != spec.time_column] + [spec.time_column]
    key = list(dict.fromkeys(k for k in key if k in df.columns))
    return df.sort_values(key, kind="stable").reset_index(drop=True)


class StoreHelpers:
    """Convenience methods written once over the protocol."""

    def write_bars(self, df: pd.DataFrame) -> int:
        return self.write("bars", df)  # type: ignore[attr-defined]

    def read_bars(self, symbol: str, timeframe: str, start: Any = None, end: Any = None) -> pd.DataFrame:
        return self.read("bars", {"symbol": symbol, "timeframe": timeframe}, start, end)  # type: ignore[attr-defined]

    def bar_series(self) -> pd.DataFrame:
        """Symbol/timeframe/asset_class combinations present in the bars table."""
        return self.distinct("bars", ("symbol", "timeframe", "asset_class"))  # type: ignore[attr-defined]

    def last_ts(self, symbol: str, timeframe: str) -> pd.Timestamp | None:
        bars = self.read_bars(symbol, timeframe)
        return None if bars.empty else bars["ts"].iloc[-1]


__all__ = ["Store", "StoreHelpers", "spec_of", "prepare", "finish", "as_utc", "BARS"]
