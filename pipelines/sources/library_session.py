"""The ``requests.Session`` handed to a provider's own Python library (python-binance, yfinance).

The libraries accept a session (python-binance's ``client.session``, yfinance's ``session=``);
this one sends each GET through the project's :class:`HttpClient`, so a library call has the
same rate limit, retries on 429/5xx/non-JSON pages, readable errors and secret scrubbing as
every other source. ``hosts`` maps the vendor's hosts (``https://query2.finance.yahoo.com``) to
the configured base URL, which is how a library with fixed hosts is pointed at a mirror or at
the loopback replay in tests."""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import parse_qsl

import requests

from pipelines.errors import SourceError
from pipelines.sources.http import HttpClient


class LibrarySession(requests.Session):
    """GETs through ``http``; ``passthrough(url)`` names requests sent as they are (a library's
    own bootstrap calls, such as Yahoo's cookie and crumb, whose failures it handles itself);
    ``check(url, body)`` may reject a decoded body before the library reads it."""

    def __init__(self, http: HttpClient, *, hosts: tuple[str, ...] = (),
                 passthrough: Callable[[str], bool] = lambda url: False,
                 check: Callable[[str, Any], None] | None = None) -> None:
        super().__init__()
        self.http = http
        self.hosts = tuple(h.rstrip("/") for h in hosts)
        self.passthrough = passthrough
        self.check = check
        self.headers.update(http.session.headers)

    def target(self, url: str) -> str:
        """``url`` with a vendor host replaced by the configured base URL."""
        for host in self.hosts:
            if url == host or url.startswith(host + "/"):
                return self.http.base_url + url[len(host):]
        return url

    def request(self, method: str, url: str, params: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = self.target(str(url))
        if self.passthrough(url):
            kwargs.setdefault("timeout", self.http.cfg.retry.timeout)
            return super().request(method, url, params=params, **kwargs)
        if method.upper() != "GET":
            raise SourceError(f"{self.http.provider}: only public GET endpoints are used, not {method.upper()}")
        if isinstance(params, (str, bytes)):
            text = params.decode() if isinstance(params, bytes) else params
            params = dict(parse_qsl(text, keep_blank_values=True))
        resp = self.http.get(url, dict(params or {}), json_response=True)
        if self.check is not None:
            self.check(url, resp.json())
        return resp
