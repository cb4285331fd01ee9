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
from dataclasses import dataclass

import pandas as pd
from pipelines.errors import DataError, SourceError
from pipelines.ingest.checkpoints import Checkpoints
from pipelines.sentiment.sources_config import FearGreedConfig
from pipelines.sources.base import utc_now
from pipelines.sources.http import HttpClient
from pipelines.store.base import Store

log = logging.getLogger(__name__)
SERIES_ID = "CRYPTO_FEAR_GREED"
SOURCE = "alternative.me"


@dataclass
class FearGreedResult:
    fetched: int
    written: int
    first_ts: pd.Timestamp | None
    last_ts: pd.Timestamp | None
    rejected: int = 0

    def as_dict(self) -> dict:
        iso = lambda t: None if t is None else t.isoformat()  # noqa: E731
        return {"source": SOURCE, "series_id": SERIES_ID, "fetched": self.fetched, "written": self.written,
                "rejected": self.rejected, "first_ts": iso(self.first_ts), "last_ts": iso(self.last_ts)}


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
    """Fetch the index and store new days once."""

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

    def collect(self, store: Store, full: bool = False, now: pd.Timestamp | None = None) -> FearGreedResult:
        """New days since the checkpoint (the whole history on the first run or with ``full``)."""
        now = now or utc_now()
        cps = Checkpoints(store)
        cp = None if full else cps.get(self.name, SERIES_ID)
        limit = 0 if cp is None else max(2, (now.normalize() - cp.ts).days + 2)
        df, bad = self.fetch(limit, now)
        if df.empty:
            return FearGreedResult(0, 0, None, None, bad)
        have = store.read("macro", {"series_id": SERIES_ID}, start=df["ts"].min())
        new = df[~df["ts"].isin(set(have["ts"]))] if not have.empty else df
        written = store.write("macro", new) if len(new) else 0
        cps.set(self.name, SERIES_ID, df["ts"].max(), {"rows": int(written)})
        return FearGreedResult(len(df), int(written), df["ts"].min(), df["ts"].max(), bad)
