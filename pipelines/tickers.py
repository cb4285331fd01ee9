"""Tickers: the one place that reads them from free text, stores them on a news row and reads
them back, and says which tickers name a traded symbol.

A news row's ``tickers`` column holds a JSON list of upper-case tickers (``["AAPL", "MSFT"]``);
an empty list means the item concerns the whole market.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable

CASHTAG = re.compile(r"\$([A-Za-z]{1,6})\b")
QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "USD", "EUR", "BTC", "ETH")


def extract_tickers(text: str, watch: tuple[str, ...] | frozenset[str] = ()) -> list[str]:
    """Cashtags ($TSLA) and watched symbols named as whole upper-case words, in order, unique."""
    found = [m.upper() for m in CASHTAG.findall(text or "")]
    if watch:
        words = set(re.findall(r"\b[A-Z][A-Z0-9]{1,9}\b", text or ""))
        found += [w for w in watch if w.upper() in words]
    return list(dict.fromkeys(found))


def encode_tickers(tickers: Iterable[str]) -> str:
    """The stored form of a news row's tickers: a sorted JSON list without repeats."""
    return json.dumps(sorted({str(t).strip().upper() for t in tickers if str(t).strip()}))


def parse_tickers(raw: Any) -> list[str]:
    """A stored ``tickers`` value (a JSON list, a comma list, a list, or missing) -> upper-case tickers."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or raw is _NA:
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = raw.split(",")
        if isinstance(raw, str):
            raw = [raw]
    return [str(t).strip().upper() for t in raw if str(t).strip()]


def symbol_aliases(symbol: str) -> set[str]:
    """Tickers that name this symbol: itself and, for a pair, its base (BTCUSDT -> BTC)."""
    s = symbol.upper().replace("/", "").replace("-", "")
    out = {s, symbol.upper()}
    for q in QUOTES:
        if s.endswith(q) and len(s) > len(q):
            out.add(s[: -len(q)])
            break
    return out


try:  # pandas' missing-value marker, without importing pandas for this module alone
    from pandas import NA as _NA
except ImportError:  # pragma: no cover
    _NA = object()
