"""Every page through Streamlit's own test harness against the real Serve application:
with data, with an empty store, and with the API down."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGES = Path(__file__).resolve().parents[2] / "dashboards" / "pages"
DEAD = "http://127.0.0.1:9"  # discard port: nothing listens


def run_page(name: str, url: str, monkeypatch, **state) -> AppTest:
    monkeypatch.setenv("MERIDIAN__DASHBOARD__API_URL", url)
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.subheader]
    parts += [e.value for e in at.info] + [e.value for e in at.warning] + [e.value for e in at.error]
    parts += [e.value for e in at.success] + [m.label for m in at.metric] + [str(m.value) for m in at.metric]
    return "\n".join(map(str, parts))


def test_overview_with_data(panel_api, monkeypatch):
    at = run_page("overview", panel_api.url, monkeypatch)
    t = texts(at)
    assert not at.error, [e.value for e in at.error]
    for word in ("Trading sessions", "Sydney", "Tokyo", "London", "New York", "Markets", "Top predictions"):
        assert word in t, word
    labels = {m.label for m in at.metric}
    assert {"EURUSD", "SPX"} <= labels
    assert any(s in t for s in ("**BUY**", "**SELL**", "**HOLD**"))
    top = at.dataframe[0].value
    assert set(top["symbol"]) <= {"EURUSD", "SPX"} and len(top) >= 1


def test_asset_detail_with_data(panel_api, monkeypatch):
    at = run_page("asset", panel_api.url, monkeypatch, symbol="EURUSD", range="1W")
    assert not at.error, [e.value for e in at.error]
    t = texts(at)
    assert "RSI(14) is" in t and "Bollinger" in t and "ATR(14)" in t
    assert "Busiest hour" in t and "No price history" not in t
    chart = at.get("plotly_chart")
    assert chart, "no price chart"
    spec = chart[0].proto.spec
    assert "candlestick" in spec and "forecast" in spec  # candles and the shaded forecast band
    assert "Sharpe (annual)" in t and "Max drawdown" in t
    tables = [d.value for d in at.dataframe]
    assert any("model" in df.columns and "xgboost" in set(df["model"]) for df in tables)
    # and a daily asset, on another range
    at = run_page("asset", panel_api.url, monkeypatch, symbol="SPX", range="1M")
    assert not at.error and "Hourly statistics need intraday bars" in texts(at)


def test_portfolio_and_models_with_data(panel_api, monkeypatch):
    import requests
    at = run_page("portfolio", panel_api.url, monkeypatch)   # the only promoted strategy, by default
    assert not at.error, [e.value for e in at.error]
    t = texts(at)
    assert "Positions" in t and "Suggested actions" in t and f"paper:{panel_api.strategy_id}" in t
    pf = requests.get(f"{panel_api.url}/portfolio", timeout=60).json()
    assert pf["strategy_id"] == panel_api.strategy_id and pf["bars"] == 300 and "running" in t
    shown = {m.label: m.value for m in at.metric}
    assert shown["Equity"] == f"{pf['equity']:,.2f}" and shown["P&L total"] == f"{pf['pnl_total']:,.2f}"
    assert shown["P&L today"] == f"{pf['pnl_today']:,.2f}" and shown["Fills"] == str(pf["fills"])
    positions = at.dataframe[0].value
    assert list(positions["symbol"]) == ["BTCUSDT"]
    assert positions["held (x equity)"].item() == pf["positions"]["BTCUSDT"]
    assert "BTCUSDT" in t and "→" in t  # a suggested action with its reason
    assert at.get("plotly_chart"), "no equity chart"
    at = run_page("models", panel_api.url, monkeypatch)
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert set(table["model"]) == {"xgboost"} and set(table["status"]) == {"promoted"}
    assert table["accuracy"].between(0, 1).all()
    assert "Training status" in texts(at)
    assert at.get("link_button")


@pytest.mark.parametrize("page", ["overview", "asset", "portfolio", "models"])
def test_empty_store_shows_empty_states(panel_api, monkeypatch, page):
    at = run_page(page, panel_api.empty_url, monkeypatch)
    assert not at.error, [e.value for e in at.error]
    t = texts(at)
    expected = {"overview": "No assets in the store yet", "asset": "No assets in the store yet",
                "portfolio": "No strategy is promoted yet", "models": "No models promoted yet"}[page]
    assert expected in t


@pytest.mark.parametrize("page", ["overview", "asset", "portfolio", "models"])
def test_api_down_is_a_message_not_a_traceback(monkeypatch, page):
    at = run_page(page, DEAD, monkeypatch)
    assert at.error and "not reachable" in at.error[0].value
    assert "make serve" in at.error[0].value
