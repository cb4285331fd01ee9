"""The Fear & Greed collector against a loopback server speaking alternative.me's format: parse,
store once (both stores), incremental polls from the checkpoint, retries, in-band errors; then the
feature reads what was stored."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipelines.errors import SourceError  # noqa: E402
from pipelines.ingest.collectors import collect_feargreed
from pipelines.features.engine import compute_features  # noqa: E402
from pipelines.features.spec import FeatureContext  # noqa: E402
from tests.synthetic.bars import synthetic_bars  # noqa: E402
from pipelines.sentiment.features import FEATURES  # noqa: E402
from pipelines.config.sources import ProviderConfig  # noqa: E402
from pipelines.sources.feargreed import SERIES_ID, FearGreedConfig, FearGreedSource  # noqa: E402
from tests.replay.fixtures import FAST_RETRY  # noqa: E402
from tests.replay.server import ReplayServer  # noqa: E402

DAY0 = pd.Timestamp("2024-03-01", tz="UTC")


def body(days: int, bad: bool = False) -> dict:
    data = [{"value": str(20 + (i * 7) % 60), "value_classification": "Fear",
             "timestamp": str(int((DAY0 + pd.Timedelta(days=i)).timestamp()))} for i in range(days)][::-1]
    data[0]["time_until_update"] = "3600"
    if bad:
        data.append({"value": "", "value_classification": "", "timestamp": "1700000000"})
    return {"name": "Fear and Greed Index", "data": data, "metadata": {"error": None}}


@pytest.fixture
def server():
    with ReplayServer() as srv:
        yield srv


def source(srv) -> FearGreedSource:
    return FearGreedSource(FearGreedConfig(provider=ProviderConfig(base_url=srv.url, per_minute=1000,
                                                                   retry=FAST_RETRY, max_wait=5.0)))


def test_collects_once_and_polls_incrementally(server, store):
    src = source(server)
    server.override("/fng/", body(30, bad=True))
    now = DAY0 + pd.Timedelta(days=29, minutes=20)  # today's value is out, its lag not yet over
    r1 = collect_feargreed(src, store, now=now)
    assert (r1.fetched, r1.written, r1.rejected) == (30, 30, 1)
    assert server.requests[-1][1]["limit"] == "0"  # first run: whole history
    m = store.read("macro", {"series_id": SERIES_ID})
    assert len(m) == 30 and m["value"].between(0, 100).all()
    assert m["known_at"].iloc[0] == DAY0 + pd.Timedelta(hours=1)
    assert m["known_at"].iloc[-1] == now  # seen before the lag was over: known when seen
    r2 = collect_feargreed(src, store, now=now + pd.Timedelta(hours=2))
    assert r2.written == 0 and server.requests[-1][1]["limit"] == "2"
    server.override("/fng/", body(31))
    r3 = collect_feargreed(src, store, now=now + pd.Timedelta(days=1))
    assert r3.written == 1
    m2 = store.read("macro", {"series_id": SERIES_ID})
    assert len(m2) == 31 and m2["known_at"].iloc[29] == now  # first-seen time kept
    # the feature reads what the store holds, as released
    bars = synthetic_bars(48, seed=1, symbol="BTCUSDT", start="2024-03-20")
    f = compute_features(bars, tuple(s for s in FEATURES if s.name == "fear_greed"),
                         FeatureContext(symbol="BTCUSDT", macro=m2))
    day = m2.set_index("ts")["value"]
    assert f["fear_greed"].iloc[0] == day[pd.Timestamp("2024-03-20", tz="UTC")]
    assert f["fear_greed_chg_7"].notna().all()
    src.close()


def test_retries_then_errors_readably(server):
    src = source(server)
    server.override("/fng/", body(3))
    server.fail("/fng/", 503, "<html>busy</html>", times=2)
    df, bad = src.fetch(3)
    assert len(df) == 3 and bad == 0 and src.http.retries == 2
    server.override("/fng/", {"name": "Fear and Greed Index", "data": [], "metadata": {"error": "Limit exceeded"}})
    with pytest.raises(SourceError, match="Limit exceeded"):
        src.fetch(3)
    src.close()
