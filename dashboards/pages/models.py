"""Model monitor: accuracy over time, comparison table, training status from Ray."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboards.common import EMPTY_MODELS, config, fetch, header

header("Model monitor")
data = fetch("/models")
if data is not None:
    models = data["models"]
    if not models:
        st.info(EMPTY_MODELS)
    else:
        st.subheader("Comparison")
        table = pd.DataFrame([{
            "model": m["name"], "id": m["model_id"], "status": m["status"], "symbols": ", ".join(m["symbols"]),
            "horizon": m["horizon"], "accuracy": m["accuracy"], "sharpe": m["sharpe"],
            "trained to": m["train_end"][:10], "last update": m["created_at"][:19],
            "loaded": {True: "yes", False: "no", None: ""}[m["loaded"]]} for m in models])
        st.dataframe(table, hide_index=True, width="stretch")
        for m in models:
            if m.get("load_error"):
                st.warning(f"{m['model_id']} failed to load: {m['load_error']}")
        st.subheader("Out-of-sample accuracy over time")
        fig = go.Figure()
        for m in models:
            pts = m["accuracy_over_time"]
            if pts:
                fig.add_trace(go.Scatter(x=[p["period"] for p in pts], y=[p["accuracy"] for p in pts],
                                         mode="lines+markers", name=m["model_id"]))
        if fig.data:
            fig.add_hline(y=0.5, line_dash="dot", annotation_text="coin flip")
            fig.update_layout(height=360, yaxis_title="directional accuracy", margin=dict(l=30, r=10, t=10, b=20))
            st.plotly_chart(fig, width="stretch")
        else:
            st.caption("No out-of-sample predictions stored yet.")

st.subheader("Training status")
tr = fetch("/training")
if tr is not None:
    st.caption(f"Source: {tr['source']}")
    if not tr["runs"]:
        st.info("No training jobs or trials running.")
    else:
        st.dataframe(pd.DataFrame([{**{k: r[k] for k in ("run_id", "kind", "state", "started_at", "finished_at")},
                                    "detail": ", ".join(f"{k}={v}" for k, v in r["detail"].items())}
                                   for r in tr["runs"]]), hide_index=True, width="stretch")
st.link_button("Open the Ray dashboard", config().ray_dashboard_url)
