"""Portfolio: a promoted strategy's paper account as the API answers it (the figures `meridian
paper status --strategy ID` prints): equity, P&L, positions, suggested actions, equity chart."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboards.common import fetch, header, num, signal_badge

NO_STRATEGY = ("No strategy is promoted yet, so there is no paper account to show: create one with "
               "`meridian strategy create`, promote it with `meridian strategy promote ID` and replay it "
               "with `meridian paper replay --strategy ID`.")

header("Portfolio")
strategies = fetch("/strategies")
if strategies is not None:
    for why in strategies["missing"]:
        st.warning(f"not served: {why}")
    served = {s["strategy_id"]: s for s in strategies["strategies"]}
    if not served:
        st.info(NO_STRATEGY)
    else:
        ids = sorted(served)
        sid = st.selectbox("Strategy", ids, key="strategy",
                           format_func=lambda i: f"{served[i]['name']} ({i}, {served[i]['rule']})")
        s = served[sid]
        pf = fetch("/portfolio", strategy=sid)
        if pf is not None:
            state = "running" if pf["running"] else "stopped"
            st.caption(f"Account **{pf['account']}** · paper trading {state}"
                       f"{' since ' + pf['switched_at'] if pf['switched_at'] else ''} · "
                       f"as of {pf['as_of'] or 'no bars processed yet'}")
            c = st.columns(5)
            c[0].metric("Equity", num(pf.get("equity")))
            c[1].metric("P&L today", num(pf.get("pnl_today")))
            c[2].metric("P&L total", num(pf.get("pnl_total")))
            c[3].metric("Fills", pf.get("fills", 0))
            c[4].metric("Costs paid (x equity)", num(pf.get("costs_paid"), 6))

            st.subheader("Positions")
            if not pf["as_of"]:
                st.info(f"The account has processed no bars yet: run `meridian paper replay --strategy {sid}` "
                        "(or let the live loop step it).")
            acts = fetch("/portfolio/actions", strategy=sid)
            by_sym = {a["symbol"]: a for a in (acts or {}).get("actions", [])}
            rows = [{"symbol": sym, "held (x equity)": pf["positions"].get(sym, 0.0), "target": d["target"],
                     "signal": d["signal"], "advice": (by_sym.get(sym) or {}).get("position_action"),
                     "decided at": d["ts"]} for sym, d in s["symbols"].items()]
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

            st.subheader("Suggested actions")
            if acts is not None:
                for a in acts["actions"]:
                    badge = signal_badge(a["action"] if a["action"] != "CLOSE" else "SELL")
                    st.markdown(f"**{a['symbol']}** → {badge} `{a['action']}`: {a['reason']}")
                    if a["position_action"] != "NONE":
                        st.caption(f"{a['symbol']} position: `{a['position_action']}`: {a['position_reason']}")

            st.subheader("Equity")
            eq = fetch("/portfolio/equity", strategy=sid)
            points = (eq or {}).get("points") or []
            if len(points) >= 2:
                e = pd.DataFrame(points)
                fig = go.Figure(go.Scatter(x=pd.to_datetime(e["ts"]), y=e["equity"], mode="lines", name="equity"))
                fig.update_layout(height=320, margin=dict(l=30, r=10, t=10, b=20))
                st.plotly_chart(fig, width="stretch")
            else:
                st.caption("The equity curve appears once the account has processed bars.")
