"""Portfolio: value, P&L, positions, suggested actions with reasons, equity chart."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboards.common import fetch, header, num, signal_badge

header("Portfolio")
strategies = fetch("/strategies")
if strategies is not None and (strategies["strategies"] or strategies["missing"]):
    st.subheader("Strategy accounts")
    for s in strategies["strategies"]:
        acc = fetch(f"/strategies/{s['strategy_id']}/account")
        if acc is None:
            continue
        st.markdown(f"**{s['name']}** (`{s['strategy_id']}`, {s['rule']}) · account `{acc['account']}` · "
                    f"as of {acc['as_of'] or 'no bars processed yet'}")
        if acc["as_of"]:
            c = st.columns(4)
            c[0].metric(f"{s['strategy_id']} equity", num(acc["equity"]))
            c[1].metric(f"{s['strategy_id']} P&L today", num(acc["pnl_today"]))
            c[2].metric(f"{s['strategy_id']} P&L total", num(acc["pnl_total"]))
            c[3].metric(f"{s['strategy_id']} fills", acc["fills"])
        now = pd.DataFrame([{"symbol": sym, "held (x equity)": acc["positions"].get(sym), "target": d["target"],
                             "signal": d["signal"], "decided at": d["ts"]} for sym, d in s["symbols"].items()])
        st.dataframe(now, hide_index=True, width="stretch")
    for why in strategies["missing"]:
        st.warning(f"not served: {why}")
pf = fetch("/portfolio")
if pf is not None:
    paper = pf["paper"]
    st.caption(f"Account **{pf['account']}** · paper trading "
               f"{'running' if paper['running'] else 'stopped'} · as of {pf['as_of'] or 'n/a'}")
    c = st.columns(5)
    c[0].metric("Total value", num(pf["equity"]))
    c[1].metric("Cash", num(pf["cash"]))
    pnl = pf.get("pnl") or {}
    c[2].metric("P&L today", num(pnl.get("today")))
    c[3].metric("P&L this week", num(pnl.get("week")))
    c[4].metric("P&L total", num(pnl.get("total")))
    st.subheader("Positions")
    if not pf["positions"]:
        st.info("No open positions. Start paper trading from the API (POST /paper/start) or run "
                "`meridian paper`.")
    else:
        df = pd.DataFrame(pf["positions"]).rename(columns={
            "qty": "size", "avg_price": "entry", "last_price": "current", "unrealized_pnl": "P&L"})
        st.dataframe(df[["symbol", "size", "entry", "current", "market_value", "P&L", "realized_pnl"]],
                     hide_index=True, width="stretch")
    st.subheader("Suggested actions")
    acts = fetch("/portfolio/actions")
    if acts is not None:
        if not acts["actions"]:
            st.info("No suggestions: no positions and no actionable signals.")
        for a in acts["actions"]:
            st.markdown(f"**{a['symbol']}** → {signal_badge(a['action'] if a['action'] != 'CLOSE' else 'SELL')} "
                        f"`{a['action']}`: {a['reason']}")
        for err in acts.get("errors", []):
            st.warning(f"{err['symbol']}: {err['reason']}")
    st.subheader("Equity")
    eq = fetch("/portfolio/equity", quiet_404=True)
    points = (eq or {}).get("points") or []
    if len(points) >= 2:
        e = pd.DataFrame(points)
        fig = go.Figure(go.Scatter(x=pd.to_datetime(e["ts"]), y=e["equity"], mode="lines", name="equity"))
        fig.update_layout(height=320, margin=dict(l=30, r=10, t=10, b=20))
        st.plotly_chart(fig, width="stretch")
    else:
        st.caption("The equity curve appears once the account has fills.")
