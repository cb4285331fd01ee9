"""Serving through the strategy: a real Serve application over a store with promoted strategies
answers /predictions/{symbol} and /portfolio/actions with the one decision, the same numbers as
the backtest's last bar of the same strategy; /health lists every promoted strategy as served or
missing with the reason."""

from __future__ import annotations

import pytest
import requests

from pipelines.config import MeridianConfig, load_config
from pipelines.evaluation.study import load, run_study
from pipelines.store import ParquetStore
from pipelines.trading import strategy as strategies
from pipelines.trading.actions import trade_action
from pipelines.trading.decide import targets
from pipelines.trading.replay import StrategyAccount
from serving.config import ServeAppConfig
from tests.helpers import drop_serve_apps, serve_port
from tests.trading.test_backtest_cli import seed_run

PREFIX = "/strategy-parity"


@pytest.fixture(scope="module")
def strategy_app(tmp_path_factory, ray_session):
    from ray import serve
    from serving.app import compose
    root = tmp_path_factory.mktemp("strategy-serving")
    store = ParquetStore(root / "lake")
    run_id = seed_run(store)
    ids = []
    for rule in ("signal", "kelly"):
        st = strategies.save(store, strategies.from_run(store, MeridianConfig(), run_id, ["xgboost", "logistic"], 1,
                                                       rule=rule, name=f"parity-{rule}"))
        ids.append(strategies.set_status(store, st.strategy_id, "promoted").strategy_id)
    StrategyAccount(store, strategies.get(store, ids[0])).replay(max_bars=400)   # a paper account mid-way
    orphan = strategies.from_run(store, MeridianConfig(), run_id, ["xgboost"], 1, name="orphan")
    strategies.save(store, orphan.model_copy(update={"run_id": "run-that-is-gone", "status": "promoted"}))
    cfg = load_config(overrides={"store": {"path": str(root / "lake")}, "report_dir": str(root / "reports")},
                      environ={})
    port = serve_port()
    serve.run(compose(ServeAppConfig(meridian=cfg)), name="strategy-parity", route_prefix=PREFIX)
    yield f"http://127.0.0.1:{port}{PREFIX}", store, ids, orphan.strategy_id
    drop_serve_apps("strategy-parity")


def _backtest_last_bar(store, strategy_id: str) -> dict:
    """The backtest's decision at its last bar: targets over the run's predictions, the engine's
    positions, the combined view."""
    st = strategies.get(store, strategy_id)
    views, market = load(store, st)
    tgt = targets(st, views, market)
    res = run_study(store, st).result
    ts = market.index[-1]
    return {"ts": ts.isoformat(), "allow_short": st.signal.allow_short,
            "symbols": {s: {"target": float(tgt[s].iloc[-1]), "held": float(res.positions[s].iloc[-1]),
                            "expected_return": float(views[s].loc[ts, "expected_return"]),
                            "prob_up": float(views[s].loc[ts, "prob_up"])} for s in market.symbols}}


def test_served_prediction_and_action_equal_the_backtest_at_the_latest_bar(strategy_app):
    url, store, ids, _ = strategy_app
    bt = {sid: _backtest_last_bar(store, sid) for sid in ids}
    for sym in ("BTCUSDT", "EURUSD"):
        r = requests.get(f"{url}/predictions/{sym}", timeout=120)
        assert r.status_code == 200, r.text
        got = {d["strategy_id"]: d for d in r.json()["strategies"]}
        assert set(got) == set(ids)
        for sid in ids:
            want, d = bt[sid]["symbols"][sym], got[sid]
            assert d["ts"] == bt[sid]["ts"] and d["source"] == "run"
            assert d["target"] == pytest.approx(want["target"], rel=1e-12, abs=1e-15)
            assert d["held"] == pytest.approx(want["held"], rel=1e-12, abs=1e-15)
            assert d["expected_return"] == pytest.approx(want["expected_return"], rel=1e-12)
            assert d["prob_up"] == pytest.approx(want["prob_up"], rel=1e-12)
            signal = "BUY" if want["target"] > 0 else "SELL" if want["target"] < 0 else "HOLD"
            assert d["signal"] == signal
            assert d["action"] == trade_action(signal, want["held"], bt[sid]["allow_short"])[0]
    # the kelly strategy sizes: its targets are not all the signal rule's equal shares
    assert {abs(bt[ids[1]]["symbols"][s]["target"]) for s in ("BTCUSDT", "EURUSD")} != {0.5}

    acts = requests.get(f"{url}/portfolio/actions", timeout=120).json()
    by_sym = {a["symbol"]: a for a in acts["actions"]}
    assert set(by_sym) == {"BTCUSDT", "EURUSD"}
    for sym, a in by_sym.items():
        want = bt[a["strategy_id"]]["symbols"][sym]
        assert a["target"] == pytest.approx(want["target"], rel=1e-12, abs=1e-15)
        assert a["current_qty"] == pytest.approx(want["held"], rel=1e-12, abs=1e-15)
        signal = "BUY" if want["target"] > 0 else "SELL" if want["target"] < 0 else "HOLD"
        assert (a["signal"], a["action"]) == (signal, trade_action(signal, want["held"], True)[0])


def test_health_lists_every_promoted_strategy_served_or_missing(strategy_app):
    url, _, ids, orphan = strategy_app
    h = requests.get(f"{url}/health", timeout=120).json()
    assert sorted(h["strategies_served"]) == sorted(ids)
    assert len(h["strategies_missing"]) == 1 and h["strategies_missing"][0].startswith(f"{orphan}: ")
    assert "run-that-is-gone" in h["strategies_missing"][0] and h["status"] == "degraded"
    listed = requests.get(f"{url}/strategies", timeout=120).json()
    assert sorted(s["strategy_id"] for s in listed["strategies"]) == sorted(ids)
    assert listed["missing"] == h["strategies_missing"]


def test_the_cli_the_api_and_the_panel_show_one_strategy_account(strategy_app, capsys, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest
    from tests.dashboards.test_pages import PAGES
    from tests.helpers import cli_json
    url, store, ids, _ = strategy_app
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(store.root))
    cli = cli_json(capsys, "paper", "status", "--strategy", ids[0], "--json")
    api = requests.get(f"{url}/strategies/{ids[0]}/account", timeout=120).json()
    assert cli["bars"] == 400 and api == {k: cli[k] for k in api}
    assert requests.get(f"{url}/strategies/st-nope/account", timeout=30).status_code == 404
    monkeypatch.setenv("MERIDIAN__DASHBOARD__API_URL", url)
    at = AppTest.from_file(str(PAGES / "portfolio.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    shown = {m.label: m.value for m in at.metric}
    assert shown[f"{ids[0]} P&L total"] == f"{cli['pnl_total']:,.2f}"
    assert shown[f"{ids[0]} equity"] == f"{cli['equity']:,.2f}"
    assert any("not served" in w.value and "run-that-is-gone" in w.value for w in at.warning)
