"""FRED (St. Louis Fed) macro series: rates, CPI, GDP, unemployment and the broad dollar index
(DTWEXBGS, a DXY proxy), as canonical MACRO rows. Key from ``FRED_API_KEY``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipelines.errors import SourceError
from pipelines.sources.base import macro_frame as _macro, require
from pipelines.times import as_utc
from pipelines.config.sources import ProviderConfig
from pipelines.sources.http import HttpClient

# rates, inflation, growth, labour and the dollar (DTWEXBGS: broad trade-weighted dollar index)
FRED_DEFAULT = ("DFF", "DGS10", "DGS2", "CPIAUCSL", "GDP", "UNRATE", "DTWEXBGS")


def parse_fred(body: Any, series_id: str) -> pd.DataFrame:
    """FRED observations; '.' (no value) rows are dropped. Each value is known from the end of
    its real-time start day (the day that vintage was published)."""
    if isinstance(body, dict) and "error_message" in body:
        raise SourceError(f"FRED {series_id}: {body['error_message']}")
    require(isinstance(body, dict) and isinstance(body.get("observations"), list), "FRED",
            "needs an 'observations' array")
    rows = []
    for i, ob in enumerate(body["observations"]):
        require(isinstance(ob, dict) and "date" in ob and "value" in ob, "FRED", f"observation {i} lacks date/value")
        if ob["value"] in (".", "", None):
            continue
        try:
            value = float(ob["value"])
        except (TypeError, ValueError):
            raise SourceError(f"FRED {series_id}: observation {ob['date']} value {ob['value']!r} is not a number") from None
        ts = as_utc(ob["date"])
        published = as_utc(ob.get("realtime_start") or ob["date"])
        rows.append({"series_id": series_id, "source": "fred", "ts": ts,
                     "known_at": max(published, ts) + pd.Timedelta(days=1), "value": value})
    return _macro(rows)


class FredSource:
    name = "fred"

    def __init__(self, cfg: ProviderConfig) -> None:
        self.http = HttpClient("FRED", cfg)
        self._key = cfg.api_key("FRED")

    def observations(self, series_id: str, since: Any = None) -> pd.DataFrame:
        params = {"series_id": series_id, "api_key": self._key, "file_type": "json"}
        if since is not None:
            params["observation_start"] = as_utc(since).strftime("%Y-%m-%d")
        return parse_fred(self.http.get_json("/fred/series/observations", params), series_id)

    def close(self) -> None:
        self.http.close()
