"""Backfill: history in provider pages, each page written idempotently, then checkpointed.

Restarting resumes after the checkpoint, so a killed backfill loses and duplicates nothing.
Only closed bars are written: a bar whose close is after ``now`` is not final yet."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
from tqdm import tqdm

from pipelines.errors import MeridianError
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
    end = now() if until is None else min(as_utc(until), now())
    cp = cps.get(source.name, stream)
    if cp is not None and cp.ts + step > start:
        # history before what is stored (an earlier --since): fetched first, each such span
        # under its own checkpoint "<stream><<first stored bar>", so a killed run resumes it
        spans = {h.stream: (h.ts + step, pd.Timestamp(h.stream.split("<", 1)[1]))
                 for h in cps.all(source.name).itertuples() if h.stream.startswith(f"{stream}<")}
        first = store.first_ts(symbol, timeframe)
        if first is not None and start < first:
            spans.setdefault(f"{stream}<{first.isoformat()}", (start, first))
        for head_stream, (lo, hi) in sorted(spans.items(), key=lambda kv: kv[1]):
            if lo < min(hi, end):
                _pages(source, store, cps, head_stream, symbol, timeframe, lo, min(hi, end), now, res,
                       progress, on_page, head=True)
        start = cp.ts + step
        res.resumed_from = cp.ts
        res.last_ts = cp.ts
    res.start = start
    return _pages(source, store, cps, stream, symbol, timeframe, start, end, now, res, progress, on_page)


def _pages(source: BarSource, store: Store, cps: Checkpoints, stream: str, symbol: str, timeframe: str,
           start: pd.Timestamp, end: pd.Timestamp, now: Callable[[], pd.Timestamp], res: BackfillResult,
           progress: bool, on_page: Callable[[pd.DataFrame], None] | None, head: bool = False) -> BackfillResult:
    """Pages of ``[start, end)`` written one by one, each then checkpointed under ``stream``
    (``head``: the span before the stored history, whose own checkpoint resumes it)."""
    prev = cps.get(source.name, stream) if head else None
    last_written = prev.ts if prev is not None else res.last_ts
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
                cps.set(source.name, stream, last, {"rows": res.rows + written}, previous=last_written)
                res.rows += written
                last_written = last
                if not head:
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
    if not head:
        log.info("backfill %s %s %s: %d rows in %d pages, last %s", source.name, symbol, timeframe,
                 res.rows, res.pages, res.last_ts)
    return res


def backfill_symbols(source: BarSource, store: Store, symbols: list[str], timeframe: str, since,
                     until=None, *, progress: bool = True) -> list[dict]:
    """Each symbol's backfill as a dict; one that fails (a provider error, a malformed page) is
    reported with its ``error`` and the others still run."""
    out = []
    for s in symbols:
        try:
            out.append(backfill_bars(source, store, s, timeframe, since, until, progress=progress).as_dict())
        except MeridianError as exc:
            log.warning("backfill %s %s %s failed: %s", source.name, s, timeframe, exc)
            out.append({"source": source.name, "symbol": s, "timeframe": timeframe, "error": str(exc)})
    return out
