"""blockchain.info basic Bitcoin on-chain metrics (no key): ``/stats`` snapshots and
``/charts/<name>`` daily history, as MACRO rows ``blockchain/<field>``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipelines.sources.base import macro_frame as _macro, require
from pipelines.times import utc_now
from pipelines.config.sources import ProviderConfig
from pipelines.sources.http import HttpClient

ONCHAIN_FIELDS = ("hash_rate", "difficulty", "n_tx", "n_blocks_mined", "minutes_between_blocks",
                  "total_fees_btc", "estimated_transaction_volume_usd", "miners_revenue_usd",
                  "market_price_usd", "totalbc")


def parse_blockchain_stats(body: Any, seen_at: pd.Timestamp) -> pd.DataFrame:
    require(isinstance(body, dict) and isinstance(body.get("timestamp"), (int, float)), "blockchain.info",
            "stats need a numeric 'timestamp'")
    ts = pd.Timestamp(int(body["timestamp"]), unit="ms", tz="UTC")
    rows = [{"series_id": f"blockchain/{f}", "source": "blockchain.info", "ts": ts,
             "known_at": max(ts, seen_at), "value": float(body[f])}
            for f in ONCHAIN_FIELDS if isinstance(body.get(f), (int, float))]
    return _macro(rows)


def parse_blockchain_chart(body: Any, chart: str) -> pd.DataFrame:
    """A /charts/<name> history: daily points, each known at the end of its day."""
    require(isinstance(body, dict) and isinstance(body.get("values"), list), "blockchain.info",
            "charts need a 'values' array")
    rows = []
    for i, p in enumerate(body["values"]):
        require(isinstance(p, dict) and isinstance(p.get("x"), (int, float)) and isinstance(p.get("y"), (int, float)),
                "blockchain.info", f"chart point {i} is not {{x, y}} numbers")
        ts = pd.Timestamp(int(p["x"]), unit="s", tz="UTC")
        rows.append({"series_id": f"blockchain/chart/{chart}", "source": "blockchain.info", "ts": ts,
                     "known_at": ts + pd.Timedelta(days=1), "value": float(p["y"])})
    return _macro(rows)


class BlockchainSource:
    name = "blockchain"

    def __init__(self, cfg: ProviderConfig) -> None:
        self.http = HttpClient("blockchain.info", cfg)

    def stats(self) -> pd.DataFrame:
        return parse_blockchain_stats(self.http.get_json("/stats"), utc_now())

    def chart(self, name: str, timespan: str = "1year") -> pd.DataFrame:
        body = self.http.get_json(f"/charts/{name}", {"timespan": timespan, "format": "json"})
        return parse_blockchain_chart(body, name)

    def close(self) -> None:
        self.http.close()
