"""News items at the edge: provider items -> canonical NEWS rows, first-seen time kept."""

from __future__ import annotations

import hashlib

import pandas as pd

from pipelines.schema import NEWS, conform, empty_frame
from pipelines.tickers import encode_tickers


def news_id(provider: str, provider_id: object | None, url: str | None, headline: str | None) -> str:
    """The provider's id when it has one, else a hash of url + headline."""
    if provider_id not in (None, "", 0):
        return f"{provider}:{provider_id}"
    digest = hashlib.sha256(f"{url or ''}\n{headline or ''}".encode()).hexdigest()[:24]
    return f"{provider}:{digest}"


def news_frame(rows: list[dict]) -> pd.DataFrame:
    if not rows:
        return empty_frame(NEWS)
    df = pd.DataFrame(rows)
    df["tickers"] = df["tickers"].map(encode_tickers)
    return conform(df, NEWS).drop_duplicates("item_id", keep="first").reset_index(drop=True)
