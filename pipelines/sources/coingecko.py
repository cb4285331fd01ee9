"""CoinGecko market data (no key): price, market cap and volume per coin, as MACRO rows
``coingecko/<id>/<field>``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipelines.sources.base import macro_frame as _macro, require
from pipelines.times import as_utc, utc_now
from pipelines.config.sources import ProviderConfig
from pipelines.sources.http import HttpClient

MARKET_FIELDS = ("current_price", "market_cap", "total_volume")


def parse_coingecko_markets(body: Any, seen_at: pd.Timestamp) -> pd.DataFrame:
    require(isinstance(body, list), "CoinGecko", "coins/markets must be a JSON array")
    rows = []
    for i, c in enumerate(body):
        require(isinstance(c, dict) and "id" in c and "last_updated" in c, "CoinGecko",
                f"market {i} lacks id/last_updated")
        ts = as_utc(c["last_updated"])
        for f in MARKET_FIELDS:
            if isinstance(c.get(f), (int, float)) and not isinstance(c.get(f), bool):
                rows.append({"series_id": f"coingecko/{c['id']}/{f}", "source": "coingecko", "ts": ts,
                             "known_at": max(ts, seen_at), "value": float(c[f])})
    return _macro(rows)


class CoinGeckoSource:
    name = "coingecko"

    def __init__(self, cfg: ProviderConfig) -> None:
        self.http = HttpClient("CoinGecko", cfg)

    def markets(self, ids: list[str], vs: str = "usd") -> pd.DataFrame:
        body = self.http.get_json("/coins/markets", {"vs_currency": vs, "ids": ",".join(ids)})
        return parse_coingecko_markets(body, utc_now())

    def close(self) -> None:
        self.http.close()
