"""The panel's only way to Meridian: HTTP calls to the Serve API. Every failure becomes an
:class:`ApiError` whose message a person can read; pages show it, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from dashboards.config import DashboardConfig


class ApiError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Api:
    cfg: DashboardConfig

    def _headers(self) -> dict[str, str]:
        key = self.cfg.api_key.get_secret_value() if self.cfg.api_key else None
        return {"X-API-Key": key} if key else {}

    def get(self, path: str, **params: Any) -> Any:
        url = self.cfg.api_url.rstrip("/") + path
        try:
            r = requests.get(url, params={k: v for k, v in params.items() if v is not None},
                             headers=self._headers(), timeout=self.cfg.timeout_s)
        except requests.ConnectionError:
            raise ApiError(f"The Meridian API at {self.cfg.api_url} is not reachable. "
                           "Start it with `make serve` (or set MERIDIAN__DASHBOARD__API_URL).") from None
        except requests.Timeout:
            raise ApiError(f"The Meridian API did not answer {path} within {self.cfg.timeout_s:.0f} s.") from None
        if r.status_code >= 400:
            raise ApiError(_reason(r), r.status_code)
        try:
            return r.json()
        except ValueError:
            raise ApiError(f"The API answered {path} with something that is not JSON.", r.status_code) from None


def _reason(r: requests.Response) -> str:
    try:
        detail = r.json().get("detail")
    except ValueError:
        detail = None
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(str(d.get("msg", d)) for d in detail)
    if r.status_code in (401, 403):
        return f"The API refused the request ({r.status_code}): set MERIDIAN__DASHBOARD__API_KEY. {detail or ''}".strip()
    return f"{r.request.path_url if r.request else ''}: {detail or r.reason} (HTTP {r.status_code})"
