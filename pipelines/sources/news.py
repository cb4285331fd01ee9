"""News items at the edge: provider items -> canonical NEWS rows, first-seen time kept."""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from pipelines.schema import NEWS, conform, empty_frame
from pipelines.store.base import Store


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
    df["tickers"] = df["tickers"].map(lambda t: json.dumps(sorted(set(t))))
    return conform(df, NEWS).drop_duplicates("item_id", keep="first").reset_index(drop=True)


def write_new_items(store: Store, news: pd.DataFrame) -> int:
    """Write only items never seen before, so ``known_at`` stays the first time we saw each."""
    if news.empty:
        return 0
    seen = store.read("news", {"item_id": list(news["item_id"])})
    fresh = news[~news["item_id"].isin(set(seen["item_id"]))]
    return store.write("news", fresh) if len(fresh) else 0
