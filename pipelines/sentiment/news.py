"""News and social items into the NEWS table, once: an item already stored keeps its row (and so
the time Meridian first saw it); ids come from the provider or, without one, from url + headline."""

from __future__ import annotations

import hashlib
import json
import re

import pandas as pd

from pipelines.schema import NEWS
from pipelines.store.base import Store, prepare

CASHTAG = re.compile(r"\$([A-Za-z]{1,6})\b")


def item_id(provider: str, provider_id: str | None = None, url: str | None = None,
            headline: str | None = None) -> str:
    """``provider:id`` when the provider has ids, else ``provider:sha256(url|headline)``."""
    if provider_id:
        return f"{provider}:{provider_id}"
    if not (url or headline):
        raise ValueError("a news item needs a provider id, a url or a headline to be identified")
    digest = hashlib.sha256(f"{url or ''}|{(headline or '').strip()}".encode()).hexdigest()[:32]
    return f"{provider}:{digest}"


def extract_tickers(text: str, watch: tuple[str, ...] | frozenset[str] = ()) -> list[str]:
    """Cashtags ($TSLA) and watched symbols named as whole upper-case words, in order, unique."""
    found = [m.upper() for m in CASHTAG.findall(text or "")]
    if watch:
        words = set(re.findall(r"\b[A-Z][A-Z0-9]{1,9}\b", text or ""))
        found += [w for w in watch if w.upper() in words]
    return list(dict.fromkeys(found))


def store_news(store: Store, items: pd.DataFrame) -> int:
    """Write the items not stored yet; returns how many were new. Replaying a batch writes nothing."""
    if items.empty:
        return 0
    rows = prepare(items.assign(tickers=[t if isinstance(t, str) else json.dumps(list(t or []))
                                         for t in items.get("tickers", [[]] * len(items))]), NEWS)
    have = store.read("news", {"item_id": rows["item_id"].tolist()})
    new = rows[~rows["item_id"].isin(set(have["item_id"]))] if not have.empty else rows
    return store.write("news", new) if len(new) else 0


def read_news(store: Store, start=None, end=None) -> pd.DataFrame:
    """NEWS rows first seen in [start, end) (the table's time column is known_at)."""
    return store.read("news", start=start, end=end)
