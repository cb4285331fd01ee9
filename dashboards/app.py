"""The Meridian panel: ``streamlit run dashboards/app.py`` (or ``meridian dashboard``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent / "pages"

st.set_page_config(page_title="Meridian", layout="wide")
nav = st.navigation([
    st.Page(HERE / "overview.py", title="Overview", default=True),
    st.Page(HERE / "asset.py", title="Asset detail", url_path="asset"),
    st.Page(HERE / "portfolio.py", title="Portfolio", url_path="portfolio"),
    st.Page(HERE / "models.py", title="Model monitor", url_path="models"),
])
nav.run()
