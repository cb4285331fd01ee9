"""Backfill of Binance aggregate trades, resumable by trade id.

The first page is found by time (a window of at most one hour, as Binance requires); after that
pages follow the trade ids (``fromId``), so nothing is skipped or repeated between pages. The
checkpoint (stream ``trades/<SYMBOL>``) holds the last trade's time and id."""

from __future__ import annotations

from typing import Callable

import pandas as pd
from tqdm import tqdm

from pipelines.ingest.checkpoints import Checkpoints
from pipelines.times import as_utc, utc_now
from pipelines.sources.binance import BinanceSource
from pipelines.store.base import Store

HOUR = pd.Timedelta(hours=1)


def backfill_trades(source: BinanceSource, store: Store, symbol: str, since, until=None, *,
                    now: Callable[[], pd.Timestamp] = utc_now, progress: bool = True,
                    limit: int = 1000) -> dict:
    cps = Checkpoints(store)
    stream = f"trades/{symbol}"
    end = now() if until is None else min(as_utc(until), now())
    cp = cps.get(source.name, stream)
    next_id = int(cp.state["last_id"]) + 1 if cp is not None and "last_id" in cp.state else None
    rows = pages = 0
    last_ts = cp.ts if cp is not None else None
    window = as_utc(since)
    bar = tqdm(unit="trade", desc=f"{source.name} {symbol} trades", disable=not progress, leave=False)
    try:
        while next_id is None and window < end:  # find the first trade by time
            first = source.agg_trades(symbol, window, min(window + HOUR, end), limit=1)
            pages += 1
            if len(first):
                next_id = int(first["trade_id"].iloc[0])
            else:
                window += HOUR
        while next_id is not None:
            page = source.agg_trades(symbol, from_id=next_id, limit=limit)
            pages += 1
            keep = page[page["ts"] < end]
            if len(keep):
                rows += store.write("trades", keep)
                last_ts = keep["ts"].iloc[-1]
                last_id = int(keep["trade_id"].iloc[-1])
                cps.set(source.name, stream, last_ts, {"last_id": last_id})
                bar.update(len(keep))
                next_id = last_id + 1
            if len(keep) < limit:
                break
    finally:
        bar.close()
    return {"source": source.name, "symbol": symbol, "rows": rows, "pages": pages,
            "last_ts": None if last_ts is None else last_ts.isoformat(),
            "resumed": cp is not None}
