"""The store protocol both implementations follow, and what they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from pipelines.schema import BARS, TABLES, TableSpec, conform

Filter = dict[str, Any]

#: Columns of :meth:`Store.series_summary`, one row per stored bar series.
SERIES_COLUMNS = ("symbol", "timeframe", "asset_class", "rows", "first", "last")


@runtime_checkable
class Store(Protocol):
    """Idempotent upserts keyed by each table's key; sorted, typed reads.

    Every method a caller may use is declared here, so code typed against ``Store`` needs no
    ``type: ignore``. :class:`StoreHelpers` implements the bar conveniences once over the
    primitives; each store implements the primitives and the summaries it can answer cheaply."""

    def write(self, table: str, df: pd.DataFrame) -> int:
        """Upsert rows; returns how many rows were written. Same rows twice -> one copy."""
        ...

    def read(self, table: str, where: Filter | None = None, start: Any = None,
             end: Any = None) -> pd.DataFrame:
        """Rows matching ``where`` (column -> value or list of values) with the table's time
        column in [start, end), sorted by the key."""
        ...

    def delete(self, table: str, where: Filter) -> int:
        """Remove the rows matching ``where``; returns how many."""
        ...

    def compact(self, table: str = "bars", budget_s: float | None = None, *, where: Filter | None = None) -> int:
        """Tidy what many small writes left behind (of the partitions ``where`` names), within
        ``budget_s`` seconds (see :meth:`StoreHelpers.compact`); returns how many pieces were merged."""
        ...

    def distinct(self, table: str, columns: tuple[str, ...]) -> pd.DataFrame:
        """Distinct combinations of ``columns`` (e.g. symbol/timeframe pairs of the bars)."""
        ...

    def close(self) -> None: ...

    def write_bars(self, df: pd.DataFrame) -> int:
        """Upsert canonical bars."""
        ...

    def read_bars(self, symbol: str, timeframe: str, start: Any = None, end: Any = None) -> pd.DataFrame:
        """One bar series with ts in [start, end), in time order."""
        ...

    def bar_series(self) -> pd.DataFrame:
        """Symbol/timeframe/asset_class combinations present in the bars table."""
        ...

    def last_ts(self, symbol: str, timeframe: str) -> pd.Timestamp | None:
        """Open time of the newest stored bar of a series (None if there is none), without
        reading the series."""
        ...

    def first_ts(self, symbol: str, timeframe: str) -> pd.Timestamp | None:
        """Open time of the oldest stored bar of a series (None if there is none), without
        reading the series."""
        ...

    def series_summary(self) -> pd.DataFrame:
        """One row per bar series: symbol, timeframe, asset_class, rows, first, last."""
        ...

    def delete_series(self, symbol: str, timeframe: str | None = None) -> int:
        """Remove a symbol's bars (one timeframe, or all of them); returns how many rows."""
        ...


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


def empty_summary() -> pd.DataFrame:
    return pd.DataFrame({
        "symbol": pd.Series(dtype="string"), "timeframe": pd.Series(dtype="string"),
        "asset_class": pd.Series(dtype="string"), "rows": pd.Series(dtype="int64"),
        "first": pd.Series(dtype="datetime64[ns, UTC]"), "last": pd.Series(dtype="datetime64[ns, UTC]")})


def conform_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Typed, sorted summary frame (the same on both stores)."""
    if df.empty:
        return empty_summary()
    out = pd.DataFrame({
        "symbol": df["symbol"].astype("string"), "timeframe": df["timeframe"].astype("string"),
        "asset_class": df["asset_class"].astype("string"), "rows": df["rows"].astype("int64"),
        "first": pd.to_datetime(df["first"], utc=True).astype("datetime64[ns, UTC]"),
        "last": pd.to_datetime(df["last"], utc=True).astype("datetime64[ns, UTC]")})
    return out.sort_values(["symbol", "timeframe"]).reset_index(drop=True)


class StoreHelpers(ABC):
    """The bar conveniences of the protocol, written once over its primitives."""

    def compact(self, table: str = "bars", budget_s: float | None = None, *, where: Filter | None = None) -> int:
        """Tidy what many small writes left behind, within ``budget_s`` seconds; returns how many
        pieces were merged. Only the Parquet lake has something to do (its appended files); a
        database has nothing."""
        return 0

    @abstractmethod
    def write(self, table: str, df: pd.DataFrame) -> int: ...

    @abstractmethod
    def read(self, table: str, where: Filter | None = None, start: Any = None,
             end: Any = None) -> pd.DataFrame: ...

    @abstractmethod
    def delete(self, table: str, where: Filter) -> int: ...

    @abstractmethod
    def distinct(self, table: str, columns: tuple[str, ...]) -> pd.DataFrame: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def last_ts(self, symbol: str, timeframe: str) -> pd.Timestamp | None: ...

    @abstractmethod
    def first_ts(self, symbol: str, timeframe: str) -> pd.Timestamp | None: ...

    @abstractmethod
    def series_summary(self) -> pd.DataFrame: ...

    def write_bars(self, df: pd.DataFrame) -> int:
        return self.write("bars", df)

    def read_bars(self, symbol: str, timeframe: str, start: Any = None, end: Any = None) -> pd.DataFrame:
        return self.read("bars", {"symbol": symbol, "timeframe": timeframe}, start, end)

    def bar_series(self) -> pd.DataFrame:
        return self.distinct("bars", ("symbol", "timeframe", "asset_class"))

    def delete_series(self, symbol: str, timeframe: str | None = None) -> int:
        where: Filter = {"symbol": symbol}
        if timeframe is not None:
            where["timeframe"] = timeframe
        return self.delete("bars", where)


__all__ = ["Store", "StoreHelpers", "SERIES_COLUMNS", "spec_of", "prepare", "finish",
           "conform_summary", "empty_summary", "BARS"]
