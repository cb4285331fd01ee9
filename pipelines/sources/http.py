"""The one HTTP client every REST source goes through: rate limit, retries, readable errors.

- 429: wait ``Retry-After`` (seconds or an HTTP date) when the provider sends it, else back off;
  a Retry-After longer than ``retry_after_max`` is a RateLimitError, not a long silent wait.
- 5xx, timeouts and dropped connections: exponential backoff with jitter, ``attempts`` tries.
- Anything that is not JSON (an HTML error page, a truncated body) is a SourceError that
  names the provider and the status, never the key.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from pipelines.errors import RateLimitError, SourceError
from pipelines.config.sources import ProviderConfig
from pipelines.sources.ratelimit import RateLimiter, provider_limiter

log = logging.getLogger(__name__)

SECRET_PARAMS = ("apikey", "api_key", "token", "key")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def redact(params: dict[str, Any] | None) -> dict[str, Any]:
    """Request parameters safe to log: every key-like value replaced."""
    return {k: ("***" if k.lower() in SECRET_PARAMS else v) for k, v in (params or {}).items()}


class HttpClient:
    """GET JSON from one provider, within its limits."""

    def __init__(self, provider: str, cfg: ProviderConfig, *, limiter: RateLimiter | None = None,
                 session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, seed: int | None = None) -> None:
        self.provider = provider
        self.cfg = cfg
        self.base_url = cfg.base_url.rstrip("/")
        self.limiter = limiter or provider_limiter(provider, cfg)
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", "meridian/0.1")
        self._sleep = sleep
        self._rng = random.Random(seed)
        self.retries = 0
        self.calls = 0

    def close(self) -> None:
        self.session.close()

    def backoff(self, attempt: int) -> float:
        r = self.cfg.retry
        base = min(r.backoff_max, r.backoff_base * (2 ** attempt))
        return base * (1 - r.jitter) + base * r.jitter * self._rng.random()

    def get_json(self, path: str, params: dict[str, Any] | None = None,
                 check: Callable[[Any], None] | None = None) -> Any:
        """GET ``base_url + path`` and return the decoded JSON.

        ``check`` inspects a decoded 200 body for in-band errors (Alpha Vantage's "Note") and
        raises; a RateLimitError from it is retried like a 429 when the limit is short."""
        body = self.get(path, params, decode=True)
        if check is not None:
            check(body)
        return body

    def scrub(self, text: str, params: dict[str, Any] | None = None) -> str:
        """``text`` with every secret this client knows (key-like parameters, the provider's key
        from the environment) replaced, so a body that echoes the request never leaks it."""
        secrets = [str(v) for k, v in (params or {}).items() if k.lower() in SECRET_PARAMS and v]
        key = os.environ.get(self.cfg.api_key_env) if self.cfg.api_key_env else None
        for secret in [*secrets, *([key] if key else [])]:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def get_text(self, path: str, params: dict[str, Any] | None = None) -> str:
        return self.get(path, params).text

    def url(self, path: str) -> tuple[str, str]:
        """The URL of ``path`` (relative to the base URL, or already absolute, as a provider's own
        library gives it) and the part of it that errors name."""
        if path.startswith(("http://", "https://")):
            shown = path[len(self.base_url):] if path.startswith(self.base_url) else urlsplit(path).path
            return path, shown or "/"
        return self.base_url + ("" if path.startswith("/") or not path else "/") + path, path

    def get(self, path: str, params: dict[str, Any] | None = None, decode: bool = False,
            json_response: bool = False) -> Any:
        """The response (``decode``: its JSON body; ``json_response``: the response once its body
        is known to be JSON). A 200 whose body is not JSON (a maintenance page, a truncated body)
        is retried like a 5xx, then a SourceError."""
        url, path = self.url(path)
        retry = self.cfg.retry
        last: str = ""
        for attempt in range(retry.attempts):
            self.limiter.acquire()
            self.calls += 1
            try:
                resp = self.session.get(url, params=params, timeout=retry.timeout)
            except (requests.Timeout, requests.ConnectionError) as exc:
                last = f"{type(exc).__name__}"
                wait = self.backoff(attempt)
            else:
                if resp.status_code == 429 or resp.status_code == 418:
                    after = _retry_after(resp.headers.get("Retry-After"))
                    if after is not None and after > retry.retry_after_max:
                        raise RateLimitError(
                            f"{self.provider} rate limit reached (HTTP {resp.status_code}); "
                            f"the provider asks to wait {after:.0f} s, longer than the "
                            f"{retry.retry_after_max:.0f} s allowed: try again later")
                    wait = after if after is not None else self.backoff(attempt)
                    self.limiter.block_for(wait)
                    last = f"HTTP {resp.status_code}"
                    log.warning("%s rate limit reached (HTTP %d); retrying in %.2f s",
                                self.provider, resp.status_code, wait)
                    self.retries += 1
                    continue
                if resp.status_code >= 500:
                    last = f"HTTP {resp.status_code}"
                    wait = self.backoff(attempt)
                elif resp.status_code >= 400:
                    snippet = self.scrub(" ".join(resp.text[:200].split()), params)
                    raise SourceError(f"{self.provider} rejected {path} {redact(params)}: HTTP "
                                      f"{resp.status_code} {snippet}")
                elif not (decode or json_response):
                    return resp
                else:
                    try:
                        body = resp.json()
                        return resp if json_response else body
                    except ValueError:
                        kind = resp.headers.get("Content-Type", "unknown content type")
                        last = f"a non-JSON body ({kind}): {self.scrub(' '.join(resp.text[:80].split()), params)!r}"
                        wait = self.backoff(attempt)
            if attempt + 1 < retry.attempts:
                log.warning("%s %s failed (%s); retry %d/%d in %.2f s", self.provider, path, last,
                            attempt + 1, retry.attempts - 1, wait)
                self.retries += 1
                self._sleep(wait)
        if last.startswith("HTTP 429") or last.startswith("HTTP 418"):
            raise RateLimitError(f"{self.provider} kept answering {last} after {retry.attempts} tries; "
                                 "the rate limit is exhausted: try again later")
        raise SourceError(f"{self.provider} {path} failed after {retry.attempts} tries (last: {last})")
