"""WS /stream: a snapshot of the latest bar and prediction per symbol, then every new bar and
the prediction made from it. With the live feed (serving.live) a bar is pushed with its
prediction the moment the feed made it; the store is still looked at every
``stream_fallback_s`` (every ``stream_poll_s`` without a feed) for bars that reach it another
way. A client may send ``{"symbols": ["EURUSD", ...]}`` at any time to change what it follows."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pandas as pd
from fastapi import WebSocket

from serving.errors import BadParameter, ServingError


def bar_dict(row: pd.Series) -> dict[str, Any]:
    out = {k: row[k] for k in ("open", "high", "low", "close", "volume")}
    out = {k: (None if pd.isna(v) else float(v)) for k, v in out.items()}
    return {"ts": pd.Timestamp(row["ts"]).isoformat(), "known_at": pd.Timestamp(row["known_at"]).isoformat(),
            "timeframe": str(row["timeframe"]), **out}


SUBSCRIBE = 'send {"symbols": ["EURUSD", ...]} to change the subscription'


def _symbols(service, text: str | list[str] | None) -> list[str]:
    if text is None or text == "" or text == []:
        return service.market.symbols()
    if not isinstance(text, (str, list)) or not all(isinstance(s, str) for s in text):
        raise BadParameter(f"symbols must be a list of names, not {type(text).__name__}: {SUBSCRIBE}",
                           ("body", "symbols"))
    items = text.split(",") if isinstance(text, str) else list(text)
    syms = [s.strip() for s in items if s.strip()]
    for s in syms:
        service.market.timeframes(s)  # NotFound
    return syms


SAID_KEPT = 256   # bars per symbol whose prediction /stream remembers having sent


async def stream_updates(service, ws: WebSocket, symbols: str | None) -> None:
    feed = service.live
    poll = service.cfg.options.stream_poll_s if feed is None else service.cfg.options.stream_fallback_s
    try:
        syms = _symbols(service, symbols)
    except ServingError as exc:
        await ws.send_json({"type": "error", "status": exc.status_code, "reason": str(exc)})
        await ws.close(code=1008)
        return
    await ws.send_json({"type": "subscribed", "symbols": syms})
    last: dict[str, pd.Timestamp] = {}   # symbol -> the newest bar sent
    said: dict[str, set[pd.Timestamp]] = {}   # symbol -> the bars whose prediction was sent (recent)
    queue = None
    if feed is not None:
        feed.start()
        queue = feed.listen()
    recv = asyncio.ensure_future(ws.receive_text())
    get = None
    try:
        for sym in syms:
            await _push(service, ws, sym, last, said)
        while True:
            if queue is not None and get is None:
                get = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({recv} | ({get} if get else set()), timeout=poll,
                                         return_when=asyncio.FIRST_COMPLETED)
            if get is not None and get in done:
                await _push_event(ws, get.result(), syms, last, said)
                get = None
            if not done:   # the fallback: bars that reached the store another way
                for sym in syms:
                    await _push(service, ws, sym, last, said)
                    await asyncio.sleep(0)   # a store read per symbol: the live feed runs in between
            if recv not in done:
                continue
            msg = recv.result()   # raises WebSocketDisconnect when the client left
            recv = asyncio.ensure_future(ws.receive_text())
            try:
                want = json.loads(msg).get("symbols")
                syms = _symbols(service, want)
                await ws.send_json({"type": "subscribed", "symbols": syms})
            except ServingError as exc:
                await ws.send_json({"type": "error", "status": exc.status_code, "reason": str(exc)})
            except (ValueError, AttributeError):
                await ws.send_json({"type": "error", "status": 422, "reason": SUBSCRIBE})
    finally:
        for fut in (recv, get):
            if fut is not None and not fut.done():
                fut.cancel()
        if queue is not None:
            feed.unlisten(queue)


def _said(said: dict[str, set[pd.Timestamp]], sym: str, ts: pd.Timestamp) -> bool:
    """Record that the prediction of ``sym``'s bar ``ts`` is sent; False when it already was."""
    done = said.setdefault(sym, set())
    if ts in done:
        return False
    done.add(ts)
    if len(done) > SAID_KEPT:
        done.discard(min(done))
    return True


async def _push_event(ws: WebSocket, event: dict, syms: list[str], last: dict[str, pd.Timestamp],
                      said: dict[str, set[pd.Timestamp]]) -> None:
    """One batch of the live feed: each followed symbol's new bars, then its prediction (unless
    the store fallback already sent the prediction of that bar: it reads the store, which can be
    ahead of the feed)."""
    bars: pd.DataFrame = event["bars"]
    for sym, grp in bars[bars["symbol"].isin(syms)].groupby("symbol", sort=False):
        sym = str(sym)
        seen = last.get(sym)
        new = grp.sort_values("ts")
        newest = new["ts"].iloc[-1]
        if seen is not None:
            new = new[new["ts"] > seen]
        for _, row in new.iterrows():
            await ws.send_json({"type": "bar", "symbol": sym, "snapshot": False, "bar": bar_dict(row)})
        if not new.empty:
            last[sym] = new["ts"].iloc[-1]
        res = event["predictions"].get(sym)
        if res is None or not _said(said, sym, newest):
            continue
        if "ok" in res:
            await ws.send_json({"type": "prediction", "symbol": sym, "snapshot": False, "prediction": res["ok"]})
        else:
            await ws.send_json({"type": "error", "symbol": sym, "status": res["status"], "reason": res["reason"]})


async def _push(service, ws: WebSocket, sym: str, last: dict[str, pd.Timestamp],
                said: dict[str, set[pd.Timestamp]]) -> None:
    try:
        bars = service.market.bars(sym)
    except ServingError as exc:
        await ws.send_json({"type": "error", "symbol": sym, "status": exc.status_code, "reason": str(exc)})
        return
    newest = bars["ts"].iloc[-1]
    seen = last.get(sym)
    if seen is not None and newest <= seen:
        return
    snapshot = seen is None
    new = bars.iloc[-1:] if snapshot else bars[bars["ts"] > seen]
    for _, row in new.iterrows():
        await ws.send_json({"type": "bar", "symbol": sym, "snapshot": snapshot, "bar": bar_dict(row)})
    last[sym] = newest
    _said(said, sym, newest)
    res = await service.predict_at_least(sym, str(bars["timeframe"].iloc[-1]), newest)
    if "ok" in res:
        await ws.send_json({"type": "prediction", "symbol": sym, "snapshot": snapshot, "prediction": res["ok"]})
    else:
        await ws.send_json({"type": "error", "symbol": sym, "status": res["status"], "reason": res["reason"]})
