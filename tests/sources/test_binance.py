"""Binance client through real HTTP: klines pages, malformed payloads, depth, aggTrades."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from binance import Client

from pipelines.errors import DataError, SourceError
from pipelines.sources.binance import BinanceSource, parse_klines, parse_stream_kline
from tests.replay.server import kline_event


def test_kline_page_is_canonical(replay, sources_cfg):
    src = BinanceSource(sources_cfg.binance.model_copy(update={"page_limit": 50}))
    start = pd.Timestamp("2024-01-01", tz="UTC")
    page = src.bar_page("BTCUSDT", "1h", start)
    b = page.bars
    assert len(b) == 50 and b["ts"].iloc[0] == start
    assert (b["known_at"] - b["ts"] == pd.Timedelta(hours=1)).all()
    assert set(b["venue"]) == {"binance"} and set(b["asset_class"]) == {"crypto"}
    assert b["close"].dtype == "float64" and (b["high"] >= b["low"]).all()
    assert page.next_start == start + pd.Timedelta(hours=50)
    path, params = replay.requests[-1]
    assert path == "/api/v3/klines" and params["startTime"] == str(int(start.value // 1e6))


def test_recorded_binance_klines_parse(shared_data):
    payload = json.loads((shared_data / "api_fixtures/binance/api_v3_klines_1m_limit500.json").read_text())
    page = parse_klines(payload, "ADAUSDT", "1m")
    assert len(page.bars) == 500
    assert page.bars["ts"].iloc[0] == pd.Timestamp("2024-11-16 09:07", tz="UTC")
    assert page.bars["close"].iloc[0] == pytest.approx(0.7244)


@pytest.mark.parametrize("payload,reason", [
    ({"code": -1121, "msg": "Invalid symbol."}, "Invalid symbol"),
    ([[1700000000000, "1", "2", "0.5"]], "not a 12-field array"),
    ([[1700000000000, "abc", "2", "0.5", "1", "3", 1700000059999]], "field 1 is not a number"),
    ([["1700000000000", "1", "2", "0.5", "1", "3", 1700000059999]], "non-integer open/close"),
    ({"data": []}, "must be a JSON array"),
])
def test_malformed_klines_are_rejected_with_a_reason(payload, reason):
    with pytest.raises((DataError, SourceError), match=reason):
        parse_klines(payload, "BTCUSDT", "1m")


def test_empty_array_is_an_empty_page():
    page = parse_klines([], "BTCUSDT", "1m")
    assert page.bars.empty and page.next_start is None


def test_bad_values_are_counted_not_written():
    rows = [[1700000000000 + i * 60000, "10", "11", "9", "10.5", "1", 1700000059999 + i * 60000]
            for i in range(3)]
    rows[1][2], rows[1][3] = "8", "12"  # high below low
    page = parse_klines(rows, "BTCUSDT", "1m")
    assert len(page.bars) == 2 and page.report.rejected == {"high_below_low": 1}


def test_depth_and_agg_trades(replay, sources_cfg):
    src = BinanceSource(sources_cfg.binance)
    book = src.depth("BTCUSDT")
    assert len(book) == 1 and book["best_bid"].iloc[0] < book["best_ask"].iloc[0]
    assert len(json.loads(book["bids"].iloc[0])) == 5
    trades = src.agg_trades("BTCUSDT", pd.Timestamp("2024-01-01", tz="UTC"))
    assert len(trades) == 1000 and trades["trade_id"].is_unique
    assert trades["ts"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")


def test_stream_kline_message():
    msg = {"stream": "btcusdt@kline_1m", "data": kline_event("BTCUSDT", "1m", 1700000040000, True)}
    ev = parse_stream_kline(msg)
    assert ev["closed"] and ev["symbol"] == "BTCUSDT" and len(ev["bars"]) == 1
    assert ev["bars"]["ts"].iloc[0] == pd.Timestamp(1700000040000, unit="ms", tz="UTC")
    broken = {"data": {"e": "kline", "k": {"t": 1}}}
    with pytest.raises(DataError, match="kline event lacks fields"):
        parse_stream_kline(broken)


def test_python_binance_keeps_the_projects_retries_limits_and_errors(replay, sources_cfg):
    """python-binance's Client makes the calls; its session is the shared HTTP client, so a 429,
    a 5xx and a maintenance page are retried, and a Binance error is one readable line."""
    src = BinanceSource(sources_cfg.binance.model_copy(update={"page_limit": 10}))
    assert isinstance(src.client, Client) and src.client.API_URL == replay.url + "/api"
    replay.fail("/api/v3/klines", 429, {"code": -1003, "msg": "Too many requests"}, headers={"Retry-After": "0.1"})
    replay.fail("/api/v3/klines", 503, "<html>busy</html>")
    replay.fail("/api/v3/klines", 200, "<!DOCTYPE html><html><title>Maintenance</title></html>")
    page = src.bar_page("BTCUSDT", "1h", pd.Timestamp("2024-01-01", tz="UTC"))
    assert len(page.bars) == 10 and replay.hits["/api/v3/klines"] == 4 and src.http.retries == 3
    assert src.http.limiter.waited > 0.05  # the Retry-After was honoured by the limiter
    path, params = replay.requests[-1]
    assert path == "/api/v3/klines" and params["interval"] == "1h" and params["limit"] == "10"
    replay.fail("/api/v3/klines", 400, {"code": -1121, "msg": "Invalid symbol."})
    with pytest.raises(SourceError, match=r"Binance rejected /api/v3/klines .*HTTP 400 .*Invalid symbol"):
        src.bar_page("NOPE", "1h", pd.Timestamp("2024-01-01", tz="UTC"))
    replay.override("/api/v3/depth", "<html>down</html>")
    with pytest.raises(SourceError, match=r"Binance /api/v3/depth failed after 4 tries .*non-JSON"):
        src.depth("BTCUSDT")
