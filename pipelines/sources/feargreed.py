"""The Crypto Fear & Greed index from alternative.me's public JSON API (no key).

``GET /fng/?limit=N&format=json`` answers ``{"name": ..., "data": [{"value": "40",
"value_classification": "Fear", "timestamp": "1551157200", "time_until_update": "68499"}, ...],
"metadata": {"error": null}}``, newest first, one value per UTC day. Values go to the MACRO table
as the series ``CRYPTO_FEAR_GREED``: ``ts`` is the day, ``known_at`` the day plus the publication
lag (or the moment we saw it, if that is earlier). A day already stored keeps its first
``known_at``; a checkpoint remembers the last day written so a poll asks only for what is new.
"""

from __future__ import annotations

import logging

import pandas as pd
from pipelines.errors import DataError, SourceError
from pipelines.config.collectors import FearGreedConfig
from pipelines.times import utc_now
from pipelines.sources.http import HttpClient

log = logging.getLogger(__name__)
SERIES_ID = "CRYPTO_FEAR_GREED"
SOURCE = "alternative.me"


def parse(body, seen_at: pd.Timestamp, lag: pd.Timedelta) -> tuple[pd.DataFrame, int]:
    """The API body -> MACRO rows; entries with a bad value or time are dropped and counted."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise DataError(f"{SOURCE}: malformed payload: no 'data' list")
    err = (body.get("metadata") or {}).get("error")
    if err:
        raise SourceError(f"{SOURCE} answered with an error: {err}")
    rows, bad = [], 0
    for e in body["data"]:
        try:
            value = float(e["value"])
            ts = pd.Timestamp(int(e["timestamp"]), unit="s", tz="UTC").normalize()
        except (KeyError, TypeError, ValueError):
            bad += 1
            continue
        if not 0 <= value <= 100:
            bad += 1
            continue
        rows.append({"series_id": SERIES_ID, "source": SOURCE, "ts": ts,
                     "known_at": min(ts + lag, seen_at), "value": value})
    if bad:
        log.warning("%s: %d index entries rejected (missing or out-of-range value or timestamp)", SOURCE, bad)
    df = pd.DataFrame(rows, columns=["series_id", "source", "ts", "known_at", "value"])
    return df.drop_duplicates("ts", keep="first").sort_values("ts").reset_index(drop=True), bad


class FearGreedSource:
    """Fetch the index as MACRO rows (collected by :mod:`pipelines.ingest.collectors`)."""

    name = "feargreed"

    def __init__(self, cfg: FearGreedConfig | None = None, http: HttpClient | None = None) -> None:
        self.cfg = cfg or FearGreedConfig()
        self.http = http or HttpClient("alternative.me Fear & Greed", self.cfg.provider)

    def close(self) -> None:
        self.http.close()

    def fetch(self, limit: int = 0, seen_at: pd.Timestamp | None = None) -> tuple[pd.DataFrame, int]:
        """The last ``limit`` days (0 = the whole history)."""
        body = self.http.get_json("/fng/", {"limit": int(limit), "format": "json"})
        return parse(body, seen_at or utc_now(), pd.Timedelta(minutes=self.cfg.publication_lag_minutes))
