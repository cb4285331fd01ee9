"""Binance public market data: REST klines (paginated), depth and aggTrades; WebSocket kline
and partial-depth streams. No key needed. Vendor rows become canonical records here.

REST: ``GET /api/v3/klines?symbol=&interval=&startTime=&endTime=&limit=`` answers arrays of
``[open_ms, "o", "h", "l", "c", "v", close_ms, "quote_vol", trades, "taker_base", "taker_quote",
"0"]``. Streams: ``/stream?streams=btcusdt@kline_1m/btcusdt@depth20@100ms`` wraps each message
as ``{"stream": ..., "data": ...}``; a kline message carries ``k.x = true`` once the bar closed.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from binance import Client

from pipelines.errors import DataError, SourceError
from pipelines.schema import ORDERBOOK, TRADES, conform
from pipelines.times import timeframe_offset
from pipelines.sources.base import BarPage, require
from pipelines.times import as_utc, utc_now
from pipelines.config.sources import ProviderConfig
from pipelines.sources.http import HttpClient
from pipelines.sources.library_session import LibrarySession
from pipelines.validation import validate_bars

INTERVALS = {"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"}
PAGE_LIMIT = 1000
VENUE = "binance"


def _ms(ts: pd.Timestamp) -> int:
    return int(as_utc(ts).value // 1_000_000)


def _check_error(body: Any) -> None:
    if isinstance(body, dict) and "code" in body and "msg" in body:
        raise SourceError(f"Binance error {body['code']}: {body['msg']}")


def parse_klines(payload: Any, symbol: str, timeframe: str, *, what: str = "") -> BarPage:
    """Kline arrays -> canonical bars. Structurally malformed payloads raise DataError."""
    _check_error(payload)
    require(isinstance(payload, list), "Binance", f"klines must be a JSON array, got {type(payload).__name__}")
    if not payload:
        return BarPage.empty()
    for i, row in enumerate(payload):
        require(isinstance(row, list) and len(row) >= 7, "Binance",
                f"kline {i} is not a 12-field array: {str(row)[:80]}")
        require(isinstance(row[0], int) and isinstance(row[6], int), "Binance",
                f"kline {i} has non-integer open/close time: {row[0]!r}, {row[6]!r}")
        for j in range(1, 6):
            v = row[j]
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            if isinstance(v, str):
                try:
                    float(v)
                    ok = True
                except ValueError:
                    ok = False
            require(ok, "Binance", f"kline {i} field {j} is not a number: {v!r}")
    arr = np.array([r[:6] for r in payload], dtype=object)
    raw = pd.DataFrame({
        "ts": pd.to_datetime(arr[:, 0].astype("int64"), unit="ms", utc=True),
        "open": arr[:, 1].astype(float), "high": arr[:, 2].astype(float),
        "low": arr[:, 3].astype(float), "close": arr[:, 4].astype(float),
        "volume": arr[:, 5].astype(float),
    })
    bars, rep = validate_bars(raw, symbol=symbol, asset_class="crypto", timeframe=timeframe,
                              venue=VENUE, tz="UTC", what=what or f"binance {symbol} {timeframe}")
    nxt = raw["ts"].max() + timeframe_offset(timeframe)
    return BarPage(bars, rep, nxt)


def parse_depth(payload: Any, symbol: str, ts: pd.Timestamp, known_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """A depth snapshot (REST /depth or the depthN stream) -> one canonical order-book row."""
    _check_error(payload)
    require(isinstance(payload, dict) and isinstance(payload.get("bids"), list)
            and isinstance(payload.get("asks"), list), "Binance", "depth needs 'bids' and 'asks' arrays")
    try:
        bids = [[float(p), float(q)] for p, q in payload["bids"]]
        asks = [[float(p), float(q)] for p, q in payload["asks"]]
    except (TypeError, ValueError) as exc:
        raise DataError(f"Binance: malformed payload: depth level is not [price, qty]: {exc}") from None
    require(bool(bids) and bool(asks), "Binance", "depth snapshot has an empty side")
    require(bids[0][0] < asks[0][0], "Binance", f"crossed book: bid {bids[0][0]} >= ask {asks[0][0]}")
    row = {"symbol": symbol, "venue": VENUE, "ts": ts, "known_at": known_at or ts,
           "best_bid": bids[0][0], "best_ask": asks[0][0], "bid_size": bids[0][1], "ask_size": asks[0][1],
           "bid_depth": sum(q for _, q in bids), "ask_depth": sum(q for _, q in asks),
           "bids": json.dumps(bids), "asks": json.dumps(asks)}
    return conform(pd.DataFrame([row]), ORDERBOOK)


def parse_agg_trades(payload: Any, symbol: str, known_at: pd.Timestamp) -> pd.DataFrame:
    _check_error(payload)
    require(isinstance(payload, list), "Binance", "aggTrades must be a JSON array")
    rows = []
    for i, t in enumerate(payload):
        require(isinstance(t, dict) and all(k in t for k in ("a", "p", "q", "T", "m")), "Binance",
                f"aggTrade {i} lacks a/p/q/T/m: {str(t)[:80]}")
        try:
            price, qty = float(t["p"]), float(t["q"])
        except (TypeError, ValueError):
            raise DataError(f"Binance: malformed payload: aggTrade {i} price/qty not numeric") from None
        require(price > 0 and qty > 0, "Binance", f"aggTrade {i} has non-positive price or qty")
        rows.append({"symbol": symbol, "venue": VENUE, "trade_id": str(t["a"]),
                     "ts": pd.Timestamp(int(t["T"]), unit="ms", tz="UTC"), "known_at": known_at,
                     "price": price, "qty": qty, "is_buyer_maker": bool(t["m"])})
    return conform(pd.DataFrame(rows, columns=TRADES.columns), TRADES)


def stream_kline(msg: dict) -> dict | None:
    """A kline stream message -> {symbol, timeframe, closed, event_ts, row} (its values not yet
    checked: :func:`check_stream_klines`) or None when it is not a kline."""
    data = msg.get("data", msg)
    if not isinstance(data, dict) or data.get("e") != "kline":
        return None
    k = data.get("k")
    require(isinstance(k, dict) and all(f in k for f in ("t", "s", "i", "o", "h", "l", "c", "v", "x")),
            "Binance", f"kline event lacks fields: {str(data)[:120]}")
    ts = pd.Timestamp(int(k["t"]), unit="ms", tz="UTC")
    return {"symbol": str(k["s"]).upper(), "timeframe": k["i"], "closed": bool(k["x"]),
            "event_ts": pd.Timestamp(int(data.get("E", k["t"])), unit="ms", tz="UTC"),
            "row": {"ts": ts, "open": k["o"], "high": k["h"], "low": k["l"], "close": k["c"], "volume": k["v"]}}


def check_stream_klines(events: list[dict]) -> list[dict]:
    """Each event of :func:`stream_kline` with its ``bars`` (one canonical row, or none when its
    values failed validation) and the batch's ``report``: the events of a batch are validated
    together, one :func:`validate_bars` call per timeframe (a bar repeated in the batch gets a
    call of its own, so every event keeps its own row)."""
    layers: dict[tuple[str, int], list[int]] = {}
    seen: dict[tuple[str, str, pd.Timestamp], int] = {}
    for i, ev in enumerate(events):
        key = (ev["timeframe"], ev["symbol"], ev["row"]["ts"])
        n = seen[key] = seen.get(key, -1) + 1
        layers.setdefault((ev["timeframe"], n), []).append(i)
    out = [dict(ev) for ev in events]
    for (timeframe, _), idx in layers.items():
        raw = pd.DataFrame([{**events[i]["row"], "symbol": events[i]["symbol"]} for i in idx])
        bars, rep = validate_bars(raw, symbol=None, asset_class="crypto", timeframe=timeframe, venue=VENUE,
                                  tz="UTC", what=f"binance stream ({len(idx)} klines)")
        pos = {(s, t): j for j, (s, t) in enumerate(zip(bars["symbol"], bars["ts"]))}
        for i in idx:
            j = pos.get((events[i]["symbol"], events[i]["row"]["ts"]))
            out[i]["bars"] = bars.iloc[0:0] if j is None else bars.iloc[j:j + 1].reset_index(drop=True)
            out[i]["report"] = rep
    return out


def parse_stream_kline(msg: dict) -> dict | None:
    """A kline stream message -> {symbol, timeframe, closed, bars(1 row), event_ts} or None."""
    ev = stream_kline(msg)
    return None if ev is None else check_stream_klines([ev])[0]


def stream_names(symbols: list[str], timeframe: str, depth: bool = True) -> list[str]:
    names = [f"{s.lower()}@kline_{timeframe}" for s in symbols]
    if depth:
        names += [f"{s.lower()}@depth20@100ms" for s in symbols]
    return names


def binance_client(http: HttpClient) -> Client:
    """python-binance's client on the configured base URL, its requests through ``http``
    (no ping at construction: the first real call is the first request)."""
    client = Client(ping=False)
    client.API_URL = http.base_url + "/api"
    client.session.close()
    client.session = LibrarySession(http)
    return client


class BinanceSource:
    """Binance spot REST client (public endpoints only)."""

    name = "binance"

    def __init__(self, cfg: ProviderConfig, http: HttpClient | None = None) -> None:
        self.cfg = cfg
        self.http = http or HttpClient("Binance", cfg)
        self.client = binance_client(self.http)
        self.page_limit = cfg.page_limit or PAGE_LIMIT

    def close(self) -> None:
        self.http.close()

    def stream_url(self, symbols: list[str], timeframe: str, depth: bool = True) -> str:
        if not self.cfg.ws_url:
            raise SourceError("Binance ws_url is not configured")
        return f"{self.cfg.ws_url.rstrip('/')}/stream?streams=" + "/".join(stream_names(symbols, timeframe, depth))

    def bar_page(self, symbol: str, timeframe: str, start: pd.Timestamp,
                 end: pd.Timestamp | None = None) -> BarPage:
        if timeframe not in INTERVALS:
            raise DataError(f"Binance has no {timeframe!r} klines: one of {sorted(INTERVALS)}")
        params: dict[str, Any] = {"symbol": symbol.upper(), "interval": timeframe,
                                  "startTime": _ms(start), "limit": self.page_limit}
        if end is not None:
            params["endTime"] = _ms(end) - 1
        payload = self.client.get_klines(**params)
        page = parse_klines(payload, symbol.upper(), timeframe)
        if len(payload) < self.page_limit:
            page.next_start = None
        return page

    def depth(self, symbol: str, limit: int = 20) -> pd.DataFrame:
        now = utc_now()
        payload = self.client.get_order_book(symbol=symbol.upper(), limit=limit)
        return parse_depth(payload, symbol.upper(), now)

    def agg_trades(self, symbol: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                   limit: int = 1000, from_id: int | None = None) -> pd.DataFrame:
        """Aggregate trades by time window (at most one hour when both ends are given) or from
        an aggregate-trade id onwards."""
        params: dict[str, Any] = {"symbol": symbol.upper(), "limit": limit}
        if from_id is not None:
            params["fromId"] = int(from_id)
        else:
            if start is None:
                raise DataError("aggTrades needs a start time or a trade id to start from")
            params["startTime"] = _ms(start)
            if end is not None:
                params["endTime"] = _ms(end) - 1
        return parse_agg_trades(self.client.get_aggregate_trades(**params), symbol.upper(), utc_now())
