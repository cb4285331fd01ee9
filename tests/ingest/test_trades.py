"""Aggregate-trade backfill: time-found first page, id-chained pages, resume by id; both stores."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.errors import SourceError
from pipelines.ingest.trades import backfill_trades
from pipelines.sources.binance import BinanceSource

START = pd.Timestamp("2024-01-01 00:00", tz="UTC")


def test_trades_backfill_pages_by_id_and_resumes(replay, sources_cfg, store):
    src = BinanceSource(sources_cfg.binance)
    first = backfill_trades(src, store, "BTCUSDT", START, START + pd.Timedelta(minutes=5),
                            progress=False, limit=700)
    assert first["rows"] == 3000  # one trade every 100 ms
    assert [p for p, _ in replay.requests].count("/api/v3/aggTrades") == first["pages"] == 1 + 5
    again = backfill_trades(src, store, "BTCUSDT", START, START + pd.Timedelta(minutes=8),
                            progress=False, limit=700)
    assert again["resumed"] and again["rows"] == 1800
    t = store.read("trades", {"symbol": "BTCUSDT"})
    ids = t["trade_id"].astype("int64").sort_values().to_numpy()
    assert len(t) == 4800 and (ids[1:] - ids[:-1] == 1).all()
    assert t["ts"].min() == START and t["ts"].max() == START + pd.Timedelta(minutes=8) - pd.Timedelta(milliseconds=100)


def test_windows_longer_than_an_hour_are_refused_by_binance(replay, sources_cfg):
    with pytest.raises(SourceError, match="More than 1 hours"):
        BinanceSource(sources_cfg.binance).agg_trades("BTCUSDT", START, START + pd.Timedelta(hours=2))


def test_trades_command(replay, store, monkeypatch, capsys):
    import json

    from pipelines.cli import main
    from tests.replay.fixtures import store_env
    monkeypatch.delenv("MERIDIAN_CONFIG", raising=False)
    for k, v in store_env(store).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("MERIDIAN__INGEST__SOURCES__BINANCE__BASE_URL", replay.url)
    rc = main(["ingest", "trades", "--local", "--symbols", "ETHUSDT", "--since", "2024-01-01 00:00",
               "--until", "2024-01-01 00:01", "--json", "--no-progress"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["rows"] == 600 == len(store.read("trades", {"symbol": "ETHUSDT"}))
