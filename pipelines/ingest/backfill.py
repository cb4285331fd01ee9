"""Backfill: history in provider pages, each page written idempotently, then checkpointed.

Restarting resumes after the checkpoint, so a killed backfill loses and duplicates nothing.
Only closed bars are written: a bar whose close is after ``now`` is not final yet."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
from tqdm import tqdm

from pipelines.ingest.checkpoints import Checkpoints, bar_stream
from pipelines.times import timeframe_offset, timeframe_seconds
from pipelines.sources.base import BarSource, closed_only
from pipelines.times import as_utc, utc_now
from pipelines.store.base import Store

log = logging.getLogger(__name__)


@dataclass
class BackfillResult:
    source: str
    symbol: str
    timeframe: str
    start: pd.Timestamp | None = None
    resumed_from: pd.Timestamp | None = None
    last_ts: pd.Timestamp | None = None
    pages: int = 0
    rows: int = 0
    rejected: dict = field(default_factory=dict)
    repaired: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        iso = lambda t: None if t is None else t.isoformat()  # noqa: E731
        return {"source": self.source, "symbol": self.symbol, "timeframe": self.timeframe,
                "start": iso(self.start), "resumed_from": iso(self.resumed_from),
                "last_ts": iso(self.last_ts), "pages": self.pages, "rows": self.rows,
                "rejected": self.rejected, "repaired": self.repaired}


def backfill_bars(source: BarSource, store: Store, symbol: str, timeframe: str, since,
                  until=None, *, now: Callable[[], pd.Timestamp] = utc_now, progress: bool = True,
                  on_page: Callable[[pd.DataFrame], None] | None = None) -> BackfillResult:
    """Collect bars of ``symbol`` from ``since`` (or the checkpoint) up to ``until``/now."""
    cps = Checkpoints(store)
    stream = bar_stream(symbol, timeframe)
    step = timeframe_offset(timeframe)
    res = BackfillResult(source.name, symbol, timeframe)
    start = as_utc(since)
    cp = cps.get(source.name, stream)
    if cp is not None and cp.ts + step > start:
        start = cp.ts + step
        res.resumed_from = cp.ts
        res.last_ts = cp.ts
    res.start = start
    end = now() if until is None else min(as_utc(until), now())
    expected = max(0, int((end - start).total_seconds() // timeframe_seconds(timeframe)))
    bar = tqdm(total=expected, unit="bar", desc=f"{source.name} {symbol} {timeframe}",
               disable=not progress, leave=False)
    try:
        while start < end:
            page = source.bar_page(symbol, timeframe, start, end)
            res.pages += 1
            for k, v in page.report.rejected.items():
                res.rejected[k] = res.rejected.get(k, 0) + v
            for k, v in page.report.repaired.items():
                res.repaired[k] = res.repaired.get(k, 0) + v
            bars = closed_only(page.bars, now())
            bars = bars[(bars["ts"] >= start) & (bars["ts"] < end)]
            if not bars.empty:
                written = store.write("bars", bars)
                last = bars["ts"].iloc[-1]
                cps.set(source.name, stream, last, {"rows": res.rows + written}, previous=res.last_ts)
                res.rows += written
                res.last_ts = last
                bar.update(len(bars))
                bar.set_postfix(pages=res.pages, last=str(last)[:16])
                if on_page is not None:
                    on_page(bars)
            nxt = page.next_start
            if nxt is None or nxt <= start:
                break
            start = nxt
    finally:
        bar.close()
    log.info("backfill %s %s %s: %d rows in %d pages, last %s", source.name, symbol, timeframe,
             res.rows, res.pages, res.last_ts)
    return res
