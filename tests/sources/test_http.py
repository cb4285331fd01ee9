"""The shared HTTP client against the loopback server: 429 + Retry-After, 5xx, HTML, quotas."""

from __future__ import annotations

import time

import pytest

from pipelines.errors import RateLimitError, SourceError
from pipelines.sources.http import HttpClient, redact
from pipelines.sources.ratelimit import RateLimiter, Window


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def test_limiter_waits_for_a_slot_in_a_short_window():
    clock = FakeClock()
    lim = RateLimiter("Finnhub", [Window(3, 60)], clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert lim.acquire() == 0
    waited = lim.acquire()
    assert waited == pytest.approx(60.0)
    assert clock.slept == [pytest.approx(60.0)]


def test_daily_quota_is_a_readable_error():
    clock = FakeClock()
    lim = RateLimiter("Alpha Vantage", [Window(5, 60), Window(500, 86400)], max_wait=120,
                      clock=clock, sleep=clock.sleep)
    lim.exhaust(86400)
    with pytest.raises(RateLimitError, match=r"Alpha Vantage daily quota of 500 reached; next window at 2023-11-"):
        lim.acquire()


def test_429_with_retry_after_is_honoured_then_succeeds(replay, sources_cfg):
    replay.fail("/api/v3/depth", 429, {"code": -1003, "msg": "Too many requests"},
                headers={"Retry-After": "0.2"}, times=2)
    http = HttpClient("Binance", sources_cfg.binance)
    t0 = time.monotonic()
    body = http.get_json("/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5})
    elapsed = time.monotonic() - t0
    assert body["bids"] and replay.hits["/api/v3/depth"] == 3
    assert http.retries == 2
    assert elapsed >= 0.4 and http.limiter.waited > 0  # two Retry-After waits of 0.2 s


def test_retry_after_beyond_the_allowed_wait_raises(replay, sources_cfg):
    replay.fail("/api/v3/depth", 429, "", headers={"Retry-After": "3600"})
    http = HttpClient("Binance", sources_cfg.binance)
    with pytest.raises(RateLimitError, match="asks to wait 3600 s"):
        http.get_json("/api/v3/depth", {"symbol": "BTCUSDT"})


def test_5xx_backs_off_and_recovers(replay, sources_cfg):
    replay.fail("/api/v3/depth", 503, "<html><body>Service Unavailable</body></html>", times=3)
    slept: list[float] = []
    http = HttpClient("Binance", sources_cfg.binance, sleep=slept.append, seed=1)
    assert http.get_json("/api/v3/depth", {"symbol": "BTCUSDT"})["asks"]
    assert len(slept) == 3
    assert slept[0] < slept[2]  # exponential: 1, 2, 4 x base (jitter at most halves one)


def test_5xx_forever_gives_up_with_the_reason(replay, sources_cfg):
    replay.fail("/api/v3/depth", 502, "bad gateway", times=10)
    http = HttpClient("Binance", sources_cfg.binance)
    with pytest.raises(SourceError, match=r"failed after 4 tries \(last: HTTP 502\)"):
        http.get_json("/api/v3/depth", {"symbol": "BTCUSDT"})


def test_html_error_page_with_200_is_retried_then_rejected(replay, sources_cfg):
    replay.override("/api/v3/depth", "<!DOCTYPE html><html><title>Maintenance</title></html>")
    http = HttpClient("Binance", sources_cfg.binance, sleep=lambda s: None)
    with pytest.raises(SourceError, match="after 4 tries .*non-JSON body .*text/html.*Maintenance"):
        http.get_json("/api/v3/depth", {"symbol": "BTCUSDT"})
    assert replay.hits["/api/v3/depth"] == sources_cfg.binance.retry.attempts == 4


def test_one_maintenance_page_is_retried_and_the_answer_comes(replay, sources_cfg):
    replay.fail("/api/v3/depth", 200, "<!DOCTYPE html><html><title>Maintenance</title></html>", times=1)
    http = HttpClient("Binance", sources_cfg.binance, sleep=lambda s: None)
    body = http.get_json("/api/v3/depth", {"symbol": "BTCUSDT"})
    assert isinstance(body, dict) and "bids" in body
    assert replay.hits["/api/v3/depth"] == 2 and http.retries == 1


def test_timeouts_are_retried(replay, sources_cfg):
    replay.delay = 0.5
    cfg = sources_cfg.binance.model_copy(update={"retry": sources_cfg.binance.retry.model_copy(
        update={"timeout": 0.1, "attempts": 2})})
    http = HttpClient("Binance", cfg)
    with pytest.raises(SourceError, match="after 2 tries .*Timeout"):
        http.get_json("/api/v3/depth", {"symbol": "BTCUSDT"})
    assert replay.hits["/api/v3/depth"] == 2


def test_keys_never_appear_in_errors(replay, sources_cfg):
    replay.fail("/finnhub/api/v1/quote", 403, "forbidden")
    http = HttpClient("Finnhub", sources_cfg.finnhub)
    with pytest.raises(SourceError) as err:
        http.get_json("/quote", {"symbol": "AAPL", "token": "test-secret-key"})
    assert "test-secret-key" not in str(err.value) and "***" in str(err.value)
    assert redact({"apikey": "x", "symbol": "A"}) == {"apikey": "***", "symbol": "A"}


def test_a_body_that_echoes_the_key_is_scrubbed(replay, sources_cfg, monkeypatch):
    """A provider whose error body repeats the request (token included) never leaks it."""
    monkeypatch.setenv("MERIDIAN_TEST_FINNHUB_KEY", "planted-secret-4c1d")
    replay.fail("/finnhub/api/v1/quote", 401, "invalid token planted-secret-4c1d for /quote?token=planted-secret-4c1d")
    http = HttpClient("Finnhub", sources_cfg.finnhub)
    with pytest.raises(SourceError) as err:
        http.get_json("/quote", {"symbol": "AAPL", "token": "planted-secret-4c1d"})
    assert "planted-secret-4c1d" not in str(err.value) and "invalid token ***" in str(err.value)


def test_429_forever_is_a_rate_limit_error(replay, sources_cfg):
    replay.fail("/api/v3/depth", 429, "", headers={"Retry-After": "0"}, times=10)
    http = HttpClient("Binance", sources_cfg.binance)
    with pytest.raises(RateLimitError, match="kept answering HTTP 429 after 4 tries"):
        http.get_json("/api/v3/depth", {"symbol": "BTCUSDT"})
    assert replay.hits["/api/v3/depth"] == 4


def test_retry_after_as_an_http_date():
    import email.utils

    from pipelines.sources.http import _retry_after
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= _retry_after(when) <= 30
    assert _retry_after("7") == 7.0 and _retry_after(None) is None and _retry_after("soon") is None
