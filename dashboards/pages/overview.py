"""Overview: a card per asset class, the live session indicator, top predictions for 24 h."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards.common import EMPTY_MODELS, config, fetch, header, pct, signal_badge

CLASS_TITLES = {"crypto": "Crypto", "stock": "Stocks", "forex": "Forex", "index": "Indices",
                "commodity": "Commodities"}
SESSION_TITLES = {"sydney": "Sydney", "tokyo": "Tokyo", "london": "London", "new_york": "New York"}


def session_line(name: str, state: dict) -> str:
    mins = state.get("minutes_to_next", 0.0)
    hours = mins / 60
    when = f"{hours:.0f}h" if hours >= 1 else f"{mins:.0f}m"
    if state.get("open"):
        return f":green[**{SESSION_TITLES.get(name, name)}**: open] (closes in {when})"
    return f"{SESSION_TITLES.get(name, name)}: closed (opening in {when})"


def sessions_panel(s: dict) -> None:
    st.subheader("Trading sessions (UTC)")
    cols = st.columns(len(s["sessions"]))
    for col, (name, state) in zip(cols, s["sessions"].items()):
        col.markdown(session_line(name, state))
    overlaps = s.get("active_overlaps") or []
    if overlaps:
        st.success("Overlap now: " + ", ".join(o.replace("_", "-").title() for o in overlaps)
                   + f" (liquidity score {s['liquidity']:.2f})")
    else:
        st.caption(f"No session overlap now; liquidity score {s['liquidity']:.2f}")


def cards_panel(cards: list[dict]) -> None:
    st.subheader("Markets")
    if not cards:
        st.info("No assets in the store yet: run `make demo` or `meridian import`.")
        return
    cols = st.columns(min(4, len(cards)))
    for i, card in enumerate(cards):
        with cols[i % len(cols)].container(border=True):
            lead = card["assets"][0] if card["assets"] else None
            st.markdown(f"**{CLASS_TITLES.get(card['asset_class'], card['asset_class'])}** "
                        f"({card['n_assets']} assets)")
            if lead:
                st.metric(lead["symbol"], f"{lead['last_close']:,.4g}" if lead["last_close"] else "n/a",
                          pct(lead["change_pct"] / 100 if lead["change_pct"] is not None else None))
                st.markdown(f"Signal: {signal_badge(lead['signal'])}")
            st.caption(f"BUY {card['buy']} · SELL {card['sell']} · HOLD {card['hold']}")


def top_panel(top: list[dict]) -> None:
    st.subheader("Top predictions")
    if not top:
        st.info(EMPTY_MODELS)
        return
    df = pd.DataFrame(top)
    df["expected_return"] = df["expected_return"].map(lambda v: pct(v))
    df["confidence"] = df["confidence"].map(lambda v: f"{v:.0%}")
    st.dataframe(df[["symbol", "horizon", "signal", "expected_return", "confidence"]],
                 hide_index=True, width="stretch")


def panels_panel(panels: list[dict], missing: list[dict]) -> None:
    """Each promoted panel model's latest cross-section: its leaders and laggards by rank."""
    if not panels and not missing:
        return
    st.subheader("Panel models")
    for p in panels:
        st.caption(f"{p['name']} ({p['label']} label, {p['horizon']} horizon): {p['cross_section']} symbols "
                   f"ranked on {p['ts']}")
        rows = [{"side": side, "symbol": m["symbol"], "score": f"{m['score']:+.4g}", "rank": f"{m['rank']:+.2f}"}
                for side, members in (("leader", p["leaders"]), ("laggard", p["laggards"])) for m in members]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    for m in missing:
        st.warning(f"Panel model {m['name']} cannot answer: {m['reason']}")


@st.fragment(run_every=config().refresh_s)
def live() -> None:
    data = fetch("/overview", top=10)
    if data is None:
        return
    sessions_panel(data["sessions"])
    cards_panel(data["cards"])
    top_panel(data["top_predictions"])
    panels_panel(data.get("panels", []), data.get("panels_missing", []))
    for err in data.get("errors", []):
        st.warning(f"{err['symbol']}: {err['reason']}")
    st.caption(f"Updated {data['generated_at']}; refreshes every {config().refresh_s} s.")


header("Overview")
live()
