"""A loopback HTTP + WebSocket server that speaks each provider's real wire format.

Binance klines come from a deterministic synthetic market (the same bar for the same open time
on every call, so pagination and resumes can be checked bar by bar); the other providers replay
recorded payloads from ``payloads/`` (or any folder given). Faults are scripted per path: a
queue of (status, headers, body) answered before the normal response.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
import zlib
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

PAYLOADS = Path(__file__).parent / "payloads"

TF_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
         "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "1d": 86_400_000}


def _noise(i: float, seed: int) -> float:
    x = math.sin(i * 12.9898 + seed * 78.233) * 43758.5453
    return x - math.floor(x)


def synthetic_kline(symbol: str, interval: str, open_ms: int) -> list:
    """One Binance kline array for ``symbol`` opening at ``open_ms`` (pure function of its inputs)."""
    tf = TF_MS[interval]
    i = open_ms // tf
    seed = zlib.crc32(symbol.encode()) % 1000
    base = 100.0 + (seed % 50) * 10
    o = base * (1 + 0.05 * math.sin(i / 97.0) + 0.01 * (_noise(i, seed) - 0.5))
    c = base * (1 + 0.05 * math.sin((i + 1) / 97.0) + 0.01 * (_noise(i + 1, seed) - 0.5))
    h = max(o, c) * (1 + 0.002 * _noise(i, seed + 1))
    lo = min(o, c) * (1 - 0.002 * _noise(i, seed + 2))
    v = 10 + 100 * _noise(i, seed + 3)
    f = lambda x: f"{x:.8f}"  # noqa: E731
    return [open_ms, f(o), f(h), f(lo), f(c), f(v), open_ms + tf - 1, f(v * c), int(v * 7),
            f(v / 2), f(v * c / 2), "0"]


def kline_event(symbol: str, interval: str, open_ms: int, closed: bool, event_ms: int | None = None) -> dict:
    k = synthetic_kline(symbol, interval, open_ms)
    return {"e": "kline", "E": event_ms or k[6] + 1, "s": symbol,
            "k": {"t": k[0], "T": k[6], "s": symbol, "i": interval, "f": 1, "L": 2, "o": k[1], "c": k[4],
                  "h": k[2], "l": k[3], "v": k[5], "n": k[8], "x": closed, "q": k[7], "V": k[9],
                  "Q": k[10], "B": "0"}}


def depth_event(symbol: str, update_id: int, mid: float = 100.0) -> dict:
    return {"lastUpdateId": update_id,
            "bids": [[f"{mid - 0.01 * (j + 1):.2f}", f"{1 + j:.3f}"] for j in range(5)],
            "asks": [[f"{mid + 0.01 * (j + 1):.2f}", f"{1 + j:.3f}"] for j in range(5)]}


class ReplayServer:
    """Start with ``with ReplayServer() as srv:``; ``srv.url`` is the HTTP base, ``srv.ws_url``
    the WebSocket base."""

    def __init__(self, payloads: Path = PAYLOADS, now_ms: int | None = None) -> None:
        self.payloads = Path(payloads)
        self.now_ms = now_ms  # None: the real clock
        self.delay = 0.0
        self.faults: dict[str, deque] = defaultdict(deque)
        self.overrides: dict[str, Any] = {}
        self.hits: dict[str, int] = defaultdict(int)
        self.requests: list[tuple[str, dict]] = []
        self._ws_clients: set[web.WebSocketResponse] = set()
        self._ws_queue: asyncio.Queue | None = None
        self.ws_connects = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self.port = self._free_port()

    # --- lifecycle -------------------------------------------------------------------------
    @staticmethod
    def _free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> "ReplayServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("replay server did not start")

    def stop(self) -> None:
        async def _stop():
            for ws in list(self._ws_clients):
                await ws.close()
            await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("GET", "/stream", self._ws)
        app.router.add_route("GET", "/{tail:.*}", self._http)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ws_queue = asyncio.Queue()
        self._ready.set()
        self._loop.run_forever()

    # --- scripting -------------------------------------------------------------------------
    def fail(self, path: str, status: int, body: Any = "", headers: dict | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``path`` with this response."""
        for _ in range(times):
            self.faults[path].append((status, headers or {}, body))

    def override(self, path: str, body: Any) -> None:
        """Answer every request to ``path`` with ``body`` (a JSON value or raw text)."""
        self.overrides[path] = body

    def push(self, message: dict) -> None:
        """Send one message to every connected WebSocket client."""
        asyncio.run_coroutine_threadsafe(self._broadcast(json.dumps(message)), self._loop).result(5)

    def push_many(self, messages: list[dict]) -> None:
        """Send several messages as one burst: corked, so they leave in one TCP segment and the
        client finds them all waiting together."""
        async def _burst():
            socks = [ws._writer.transport.get_extra_info("socket") for ws in list(self._ws_clients)
                     if not ws.closed and ws._writer is not None]
            for sock in socks:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            try:
                for m in messages:
                    await self._broadcast(json.dumps(m))
            finally:
                for sock in socks:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        asyncio.run_coroutine_threadsafe(_burst(), self._loop).result(5)

    def drop_ws(self) -> None:
        """Close every WebSocket connection (the client sees a disconnect)."""
        async def _drop():
            for ws in list(self._ws_clients):
                await ws.close(code=1011, message=b"replay drop")
        asyncio.run_coroutine_threadsafe(_drop(), self._loop).result(5)

    def ws_clients(self) -> int:
        return len(self._ws_clients)

    def now(self) -> int:
        return self.now_ms if self.now_ms is not None else int(time.time() * 1000)

    # --- handlers --------------------------------------------------------------------------
    async def _broadcast(self, text: str) -> None:
        for ws in list(self._ws_clients):
            if not ws.closed:
                await ws.send_str(text)

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self.ws_connects += 1
        self._ws_clients.add(ws)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            self._ws_clients.discard(ws)
        return ws

    async def _http(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        params = dict(request.query)
        self.hits[path] += 1
        self.requests.append((path, params))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.faults.get(path):
            status, headers, body = self.faults[path].popleft()
            return self._respond(body, status, headers)
        if path in self.overrides:
            return self._respond(self.overrides[path])
        from tests.replay.routes import route
        try:
            body = route(self, path, params)
        except KeyError as exc:
            return web.json_response({"error": f"no replay for {exc}"}, status=404)
        if isinstance(body, dict) and isinstance(body.get("code"), int) and body["code"] < 0 and "msg" in body:
            return self._respond(body, 400)  # Binance answers its errors with HTTP 400
        return self._respond(body)

    @staticmethod
    def _respond(body: Any, status: int = 200, headers: dict | None = None) -> web.Response:
        if isinstance(body, (dict, list)):
            return web.json_response(body, status=status, headers=headers)
        text = str(body)
        ctype = "text/html" if text.lstrip().startswith("<") else "text/plain"
        if text.lstrip().startswith("time,") or text.lstrip().startswith("timestamp,"):
            ctype = "text/csv"
        return web.Response(text=text, status=status, headers=headers, content_type=ctype)
