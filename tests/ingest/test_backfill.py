"""Backfill through the real Binance client into both stores: pages, checkpoints, resume."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.errors import DataError
from pipelines.ingest.backfill import backfill_bars
from pipelines.ingest.checkpoints import Checkpoints, bar_stream
from pipelines.sources.binance import BinanceSource

NOW = pd.Timestamp("2024-03-01 10:30", tz="UTC")


def _src(cfg, limit=100):
    return BinanceSource(cfg.binance.model_copy(update={"page_limit": limit}))


def _assert_complete(bars: pd.DataFrame, start, end, freq="1h"):
    expected = pd.date_range(start, end, freq=freq, inclusive="left")
    assert bars["ts"].is_unique
    assert list(bars["ts"]) == list(expected)


def test_backfill_pages_only_closed_bars_and_checkpoints(replay, sources_cfg, store):
    replay.now_ms = int(NOW.value // 1e6)
    since = pd.Timestamp("2024-02-20", tz="UTC")
    res = backfill_bars(_src(sources_cfg), store, "BTCUSDT", "1h", since, now=lambda: NOW, progress=False)
    bars = store.read_bars("BTCUSDT", "1h")
    # 2024-02-20 00:00 .. 2024-03-01 09:00 closed; the 10:00 bar closes at 11:00 (not final)
    _assert_complete(bars, since, pd.Timestamp("2024-03-01 10:00", tz="UTC"))
    assert res.rows == len(bars) == 250 and res.pages == 3
    cp = Checkpoints(store).get("binance", bar_stream("BTCUSDT", "1h"))
    assert cp.ts == pd.Timestamp("2024-03-01 09:00", tz="UTC") and cp.state["rows"] == 250
    assert replay.hits["/api/v3/klines"] == 3


def test_resume_continues_after_the_checkpoint(replay, sources_cfg, store):
    since = pd.Timestamp("2024-02-01", tz="UTC")
    first_now = pd.Timestamp("2024-02-03 00:00", tz="UTC")
    replay.now_ms = int(first_now.value // 1e6)
    backfill_bars(_src(sources_cfg), store, "ETHUSDT", "1h", since, now=lambda: first_now, progress=False)
    assert len(store.read_bars("ETHUSDT", "1h")) == 48
    later = pd.Timestamp("2024-02-05 00:00", tz="UTC")
    replay.now_ms = int(later.value // 1e6)
    replay.requests.clear()
    res = backfill_bars(_src(sources_cfg), store, "ETHUSDT", "1h", since, now=lambda: later, progress=False)
    assert res.resumed_from == pd.Timestamp("2024-02-02 23:00", tz="UTC")
    first_start = int(replay.requests[0][1]["startTime"])
    assert first_start == int(pd.Timestamp("2024-02-03", tz="UTC").value // 1e6)
    assert res.rows == 48
    _assert_complete(store.read_bars("ETHUSDT", "1h"), since, later)


def test_malformed_page_writes_nothing_and_keeps_the_checkpoint(replay, sources_cfg, store):
    replay.now_ms = int(NOW.value // 1e6)
    since = pd.Timestamp("2024-02-28", tz="UTC")
    replay.override("/api/v3/klines", [[1709078400000, "1", "2"]])
    with pytest.raises(DataError, match="not a 12-field array"):
        backfill_bars(_src(sources_cfg), store, "BTCUSDT", "1h", since, now=lambda: NOW, progress=False)
    assert store.read_bars("BTCUSDT", "1h").empty
    assert Checkpoints(store).get("binance", bar_stream("BTCUSDT", "1h")) is None
    del replay.overrides["/api/v3/klines"]
    res = backfill_bars(_src(sources_cfg), store, "BTCUSDT", "1h", since, now=lambda: NOW, progress=False)
    assert res.rows == 58


def test_html_page_mid_backfill_is_retried_and_the_backfill_completes(replay, sources_cfg, store):
    replay.now_ms = int(NOW.value // 1e6)
    since = pd.Timestamp("2024-02-20", tz="UTC")

    def break_next_page(bars):
        replay.fail("/api/v3/klines", 200, "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", times=1)

    res = backfill_bars(_src(sources_cfg), store, "BTCUSDT", "1h", since, now=lambda: NOW, progress=False,
                        on_page=break_next_page)
    assert res.rows == 250
    _assert_complete(store.read_bars("BTCUSDT", "1h"), since, pd.Timestamp("2024-03-01 10:00", tz="UTC"))


def test_a_provider_failing_for_one_symbol_leaves_the_others_stored(replay, sources_cfg, store):
    from pipelines.ingest.backfill import backfill_symbols
    replay.now_ms = int(NOW.value // 1e6)
    since = pd.Timestamp("2024-02-28", tz="UTC")
    src = _src(sources_cfg)
    src.http.cfg = src.http.cfg.model_copy(update={"retry": src.http.cfg.retry.model_copy(update={"attempts": 2})})
    src.http._sleep = lambda s: None
    replay.fail("/api/v3/klines", 200, "<html>maintenance</html>", times=2)   # the first symbol's two tries
    out = backfill_symbols(src, store, ["BTCUSDT", "ETHUSDT"], "1h", since, progress=False)
    assert "non-JSON body" in out[0]["error"] and out[0]["symbol"] == "BTCUSDT"
    assert out[1]["symbol"] == "ETHUSDT" and out[1]["rows"] > 0 and "error" not in out[1]
    assert store.read_bars("BTCUSDT", "1h").empty and len(store.read_bars("ETHUSDT", "1h")) == out[1]["rows"]


def test_an_earlier_since_fetches_the_history_before_the_stored_bars(replay, sources_cfg, store):
    """Backfill from Feb, then --since Jan: January is fetched, then the series resumes after its
    checkpoint (it used to report 0 bars in 0 pages and never fetch January)."""
    now = pd.Timestamp("2024-02-10 00:00", tz="UTC")
    replay.now_ms = int(now.value // 1e6)
    feb = pd.Timestamp("2024-02-01", tz="UTC")
    backfill_bars(_src(sources_cfg), store, "BTCUSDT", "1h", feb, now=lambda: now, progress=False)
    jan = pd.Timestamp("2024-01-25", tz="UTC")
    res = backfill_bars(_src(sources_cfg), store, "BTCUSDT", "1h", jan, now=lambda: now, progress=False)
    assert res.rows == 7 * 24 and res.resumed_from == pd.Timestamp("2024-02-09 23:00", tz="UTC")
    _assert_complete(store.read_bars("BTCUSDT", "1h"), jan, now)
    again = backfill_bars(_src(sources_cfg), store, "BTCUSDT", "1h", jan, now=lambda: now, progress=False)
    assert again.rows == 0 and again.pages == 0
