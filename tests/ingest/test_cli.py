"""``meridian ingest`` end to end in-process: backfill, checkpoints, poll, live, all with --json."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipelines.cli import main
from tests.replay.fixtures import store_env


@pytest.fixture
def env(replay, store, monkeypatch, tmp_path):
    monkeypatch.delenv("MERIDIAN_CONFIG", raising=False)
    for k, v in store_env(store).items():
        monkeypatch.setenv(k, v)
    base = "MERIDIAN__INGEST__SOURCES__"
    monkeypatch.setenv(base + "BINANCE__BASE_URL", replay.url)
    monkeypatch.setenv(base + "BINANCE__WS_URL", replay.ws_url)
    monkeypatch.setenv(base + "COINGECKO__BASE_URL", replay.url + "/coingecko/api/v3")
    monkeypatch.setenv(base + "BLOCKCHAIN__BASE_URL", replay.url + "/blockchain")
    cfg = tmp_path / "ingest.yaml"
    cfg.write_text("ingest:\n  schedule:\n"
                   "    - {name: markets, kind: markets, source: coingecko, every_s: 60, symbols: [bitcoin]}\n"
                   "    - {name: onchain, kind: onchain, source: blockchain, every_s: 60}\n")
    return cfg


def test_backfill_checkpoints_and_poll_commands(env, store, capsys):
    rc = main(["ingest", "backfill", "--local", "--source", "binance", "--symbols", "BTCUSDT,ETHUSDT",
               "--timeframe", "1h", "--since", "2024-01-01", "--until", "2024-01-03", "--json", "--no-progress"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["symbol"] for r in out] == ["BTCUSDT", "ETHUSDT"] and all(r["rows"] == 48 for r in out)
    assert len(store.read_bars("ETHUSDT", "1h")) == 48
    assert main(["ingest", "checkpoints", "--json"]) == 0
    cps = json.loads(capsys.readouterr().out)
    assert {c["stream"] for c in cps} == {"bars/BTCUSDT/1h", "bars/ETHUSDT/1h"}
    assert all(c["ts"] == "2024-01-02T23:00:00+00:00" for c in cps)
    assert main(["ingest", "poll", "--config", str(env), "--json"]) == 0
    polls = json.loads(capsys.readouterr().out)
    assert {p["job"]: p["rows"] > 0 for p in polls} == {"markets": True, "onchain": True}


def test_unknown_source_is_a_readable_error(env, capsys):
    rc = main(["ingest", "backfill", "--local", "--source", "nasdaq", "--symbols", "X", "--since", "2024-01-01"])
    assert rc == 1 and "unknown bar source 'nasdaq'" in capsys.readouterr().err


@pytest.mark.parametrize("store", ["parquet"], indirect=True)
def test_live_command_catches_up_and_follows_the_stream(env, replay, store, capsys, monkeypatch):
    start = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=5)).floor("1min")
    monkeypatch.setenv("MERIDIAN__INGEST__LIVE__CATCHUP_SINCE", start.isoformat())
    rc = main(["ingest", "live", "--local", "--symbols", "BTCUSDT", "--timeframe", "1m",
               "--duration", "1.5", "--with-schedule", "--config", str(env), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    stats = out["live"]
    assert {n: j["runs"] for n, j in out["schedule"]["jobs"].items()} == {"markets": 1, "onchain": 1}
    assert len(store.read("macro")) > 0
    assert stats["connects"] == 1 and replay.ws_connects == 1
    bars = store.read_bars("BTCUSDT", "1m")
    assert stats["gap_bars"] == len(bars) >= 5 and bars["ts"].iloc[0] == start
    assert (bars["ts"].diff().dropna() == pd.Timedelta(minutes=1)).all()
    assert (bars["known_at"] <= pd.Timestamp.now(tz="UTC")).all()  # closed bars only


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_backfill_through_the_ingestion_actor(ray_session, env, store, capsys):
    rc = main(["ingest", "backfill", "--source", "binance", "--symbols", "XRPUSDT", "--timeframe", "4h",
               "--since", "2024-01-01", "--until", "2024-02-01", "--json", "--no-progress"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["rows"] == 31 * 6 == len(store.read_bars("XRPUSDT", "4h"))


@pytest.mark.parametrize("store", ["parquet"], indirect=True)
def test_live_without_a_websocket_url_is_an_error_not_zeros(env, monkeypatch, capsys):
    monkeypatch.setenv("MERIDIAN__INGEST__SOURCES__BINANCE__WS_URL", "null")
    rc = main(["ingest", "live", "--local", "--symbols", "BTCUSDT", "--duration", "1", "--json"])
    err = capsys.readouterr().err
    assert rc == 1 and "ws_url" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("store", ["parquet"], indirect=True)
def test_a_failing_poll_is_reported_and_the_others_run(env, replay, capsys):
    replay.fail("/coingecko/api/v3/coins/markets", 503, "down", times=20)
    env.write_text(env.read_text().replace("every_s: 60, symbols: [bitcoin]}",
                                           "every_s: 60, symbols: [bitcoin]}").replace(
        "ingest:\n", "ingest:\n  sources:\n    coingecko: {base_url: '" + replay.url + "/coingecko/api/v3', "
        "per_minute: 1000, retry: {attempts: 1}}\n", 1))
    rc = main(["ingest", "poll", "--config", str(env), "--json"])
    polls = {p["job"]: p for p in json.loads(capsys.readouterr().out)}
    assert rc == 1 and "HTTP 503" in polls["markets"]["error"] and polls["onchain"]["rows"] > 0


def test_poll_takes_no_local_flag(env, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ingest", "poll", "--local"])
    assert exc.value.code == 2 and "--local" in capsys.readouterr().err


@pytest.mark.parametrize("store", ["parquet"], indirect=True)
def test_an_error_inside_the_ingestion_actor_is_one_line(ray_session, env, store, capsys):
    rc = main(["ingest", "backfill", "--source", "binance", "--symbols", "BTCUSDT", "--timeframe", "7x",
               "--since", "2024-01-01", "--until", "2024-01-02", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "unknown timeframe '7x'" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
