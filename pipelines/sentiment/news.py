"""Tickers named in free text (posts, headlines). Items are identified and stored once by
:mod:`pipelines.sources.news` (``news_id``, ``news_frame``, ``write_new_items``)."""

from __future__ import annotations

import re

CASHTAG = re.compile(r"\$([A-Za-z]{1,6})\b")


def extract_tickers(text: str, watch: tuple[str, ...] | frozenset[str] = ()) -> list[str]:
    """Cashtags ($TSLA) and watched symbols named as whole upper-case words, in order, unique."""
    found = [m.upper() for m in CASHTAG.findall(text or "")]
    if watch:
        words = set(re.findall(r"\b[A-Z][A-Z0-9]{1,9}\b", text or ""))
        found += [w for w in watch if w.upper() in words]
    return list(dict.fromkeys(found))
