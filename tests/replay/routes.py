"""Request -> response body for the replay server, per provider.

Binance is computed (synthetic market); every other provider answers from a recorded payload:
``<payloads>/<provider>/<rest of the path, '/' -> '_'>[__<function>].json`` (Alpha Vantage's
``/query`` picks the file by its ``function`` parameter)."""

from __future__ import annotations

import json
from typing import Any

from tests.replay.server import TF_MS, depth_event, synthetic_kline


def _binance_klines(srv, p: dict) -> Any:
    interval = p["interval"]
    if interval not in TF_MS:
        return {"code": -1120, "msg": "Invalid interval."}
    tf = TF_MS[interval]
    limit = min(int(p.get("limit", 500)), 1000)
    now = srv.now()
    end = min(int(p["endTime"]) if "endTime" in p else now, now)
    if "startTime" in p:
        first = -(-int(p["startTime"]) // tf) * tf
    else:
        first = (end // tf - limit + 1) * tf
    out = []
    t = first
    while t <= end and len(out) < limit:
        out.append(synthetic_kline(p["symbol"], interval, t))
        t += tf
    return out


def _binance_agg_trades(srv, p: dict) -> Any:
    start = int(p.get("startTime", srv.now() - 60_000))
    limit = min(int(p.get("limit", 500)), 1000)
    return [{"a": start // 1000 + i, "p": f"{100 + (i % 7) * 0.01:.2f}", "q": f"{0.5 + i % 3:.3f}",
             "f": i, "l": i, "T": start + i * 100, "m": i % 2 == 0, "M": True} for i in range(min(limit, 50))]


def route(srv, path: str, params: dict) -> Any:
    if path == "/api/v3/klines":
        return _binance_klines(srv, params)
    if path == "/api/v3/depth":
        return depth_event(params["symbol"], 1000)
    if path == "/api/v3/aggTrades":
        return _binance_agg_trades(srv, params)
    parts = path.strip("/").split("/", 1)
    if len(parts) != 2:
        raise KeyError(path)
    provider, rest = parts
    name = rest.replace("/", "_")
    if "function" in params:
        name += "__" + params["function"]
    f = srv.payloads / provider / f"{name}.json"
    if not f.exists():
        raise KeyError(str(f.relative_to(srv.payloads)))
    return json.loads(f.read_text())
