"""Checkpoints in the store's ``checkpoints`` table: the last complete record per stream.

A stream is e.g. ``bars/BTCUSDT/1h``; its checkpoint ``ts`` is the open time of the last closed
bar written. Rows are written before the checkpoint moves, so a crash between the two only
replays an idempotent write."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from pipelines.times import utc_now
from pipelines.store.base import Store


def bar_stream(symbol: str, timeframe: str) -> str:
    return f"bars/{symbol}/{timeframe}"


@dataclass(frozen=True)
class Checkpoint:
    source: str
    stream: str
    ts: pd.Timestamp
    updated_at: pd.Timestamp
    state: dict = field(default_factory=dict)


class Checkpoints:
    """Read and move checkpoints of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, source: str, stream: str) -> Checkpoint | None:
        df = self.store.read("checkpoints", {"source": source, "stream": stream})
        if df.empty:
            return None
        row = df.iloc[-1]
        state = row["state"]
        return Checkpoint(source, stream, row["ts"], row["updated_at"],
                          json.loads(state) if isinstance(state, str) and state else {})

    def set(self, source: str, stream: str, ts: pd.Timestamp, state: dict | None = None, *,
            previous: pd.Timestamp | None = None) -> Checkpoint:
        """Move the checkpoint forward (never back: an older ts is ignored). A caller that holds
        the current checkpoint passes it as ``previous`` and saves the read."""
        if previous is None:
            cur = self.get(source, stream)
            if cur is not None and cur.ts >= ts:
                return cur
        elif previous >= ts:
            return Checkpoint(source, stream, previous, utc_now(), state or {})
        now = utc_now()
        self.store.write("checkpoints", pd.DataFrame([{
            "source": source, "stream": stream, "ts": ts, "updated_at": now,
            "state": json.dumps(state or {}, sort_keys=True, default=str)}]))
        return Checkpoint(source, stream, ts, now, state or {})

    def all(self, source: str | None = None) -> pd.DataFrame:
        return self.store.read("checkpoints", {"source": source} if source else None)
