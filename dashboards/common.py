"""What every page shares: the API client, fetching with readable errors, small formatters."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboards.api import Api, ApiError
from dashboards.config import DashboardConfig, load

SIGNAL_COLOURS = {"BUY": "green", "SELL": "red", "HOLD": "gray"}
EMPTY_MODELS = "No models promoted yet: run `make demo` (or `meridian walkforward` and `meridian models promote`)."


def config() -> DashboardConfig:
    return load()


def api() -> Api:
    return Api(config())


def fetch(path: str, *, quiet_404: bool = False, **params: Any) -> Any | None:
    """GET ``path``; on failure show the reason as a message and return None."""
    try:
        return api().get(path, **params)
    except ApiError as exc:
        if quiet_404 and exc.status == 404:
            return None
        st.error(str(exc))
        return None


def signal_badge(signal: str | None) -> str:
    if not signal:
        return ":gray[n/a]"
    return f":{SIGNAL_COLOURS.get(signal, 'gray')}[**{signal}**]"


def pct(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v * 100:+.{digits}f}%"


def num(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"


def header(title: str) -> None:
    st.title(title)
    cols = st.columns([4, 1])
    cols[0].caption(f"Data from the Meridian API at {config().api_url}")
    if cols[1].button("Refresh", key=f"refresh-{title}"):
        st.rerun()
