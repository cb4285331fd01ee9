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
    """A synthetic tape: aggregate trade id ``a`` happens at ``a * 100`` ms since the epoch."""
    limit = min(int(p.get("limit", 500)), 1000)
    now = srv.now()
    if "fromId" in p:
        first, last_t = int(p["fromId"]), now
    else:
        start = int(p.get("startTime", now - 3_600_000))
        end = min(int(p.get("endTime", start + 3_600_000 - 1)), now)
        if end - start >= 3_600_000:
            return {"code": -1127, "msg": "More than 1 hours between startTime and endTime."}
        first, last_t = -(-start // 100), end
    out = []
    a = first
    while len(out) < limit and a * 100 <= last_t:
        out.append({"a": a, "p": f"{100 + (a % 7) * 0.01:.2f}", "q": f"{0.5 + a % 3:.3f}",
                    "f": a * 2, "l": a * 2 + 1, "T": a * 100, "m": a % 2 == 0, "M": True})
        a += 1
    return out


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
    body = json.loads(f.read_text())
    if provider == "yahoo" and rest.startswith("v8/finance/chart/") and params.get("interval", "1d")[-1] in "mh":
        _yahoo_trading_periods(body)
    return body


def _yahoo_trading_periods(body: dict) -> None:
    """Yahoo's intraday answers carry each day's regular session (meta.tradingPeriods)."""
    for res in (body.get("chart") or {}).get("result") or []:
        days = sorted({int(t) // 86400 * 86400 for t in res.get("timestamp") or []})
        res.setdefault("meta", {})["tradingPeriods"] = [
            [{"timezone": "EST", "gmtoffset": -18000, "start": d + 14 * 3600 + 1800, "end": d + 21 * 3600}]
            for d in days]
