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

    def set_many(self, source: str, moves: dict[str, tuple[pd.Timestamp, pd.Timestamp | None]]) -> int:
        """Move several checkpoints of ``source`` forward in one store write (one commit):
        ``moves`` is stream -> (ts, previous), ``previous`` being the checkpoint the caller holds
        (None: read it). A move that would not go forward is left out; returns how many moved."""
        now = utc_now()
        rows = []
        for stream, (ts, previous) in moves.items():
            if previous is None:
                cur = self.get(source, stream)
                previous = None if cur is None else cur.ts
            if previous is not None and previous >= ts:
                continue
            rows.append({"source": source, "stream": stream, "ts": ts, "updated_at": now, "state": "{}"})
        if rows:
            self.store.write("checkpoints", pd.DataFrame(rows))
        return len(rows)

    def all(self, source: str | None = None) -> pd.DataFrame:
        return self.store.read("checkpoints", {"source": source} if source else None)
