"""Serving through the strategy: a real Serve application over a store with promoted strategies
answers /predictions/{symbol} and /portfolio/actions with the one decision, the same numbers as
the backtest's last bar of the same strategy; /health lists every promoted strategy as served or
missing with the reason."""

from __future__ import annotations

import pandas as pd
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
KEY = {"X-API-Key": "strategy-key"}


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
    cfg = load_config(overrides={"store": {"path": str(root / "lake")}, "report_dir": str(root / "reports"),
                                 "serving": {"api_key": KEY["X-API-Key"]}}, environ={})
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

    # the actions of each strategy's account: its decision against the position the account holds
    for sid in ids:
        status = requests.get(f"{url}/portfolio", params={"strategy": sid}, timeout=120).json()
        acts = requests.get(f"{url}/portfolio/actions", params={"strategy": sid}, timeout=120).json()
        assert acts["strategy_id"] == sid and acts["account"] == f"paper:{sid}"
        by_sym = {a["symbol"]: a for a in acts["actions"]}
        assert set(by_sym) == {"BTCUSDT", "EURUSD"}
        for sym, a in by_sym.items():
            want = bt[sid]["symbols"][sym]
            held = status["positions"].get(sym, 0.0)
            assert a["target"] == pytest.approx(want["target"], rel=1e-12, abs=1e-15)
            assert a["current_qty"] == held
            signal = "BUY" if want["target"] > 0 else "SELL" if want["target"] < 0 else "HOLD"
            assert (a["signal"], a["action"]) == (signal, trade_action(signal, held, bt[sid]["allow_short"])[0])
            assert (a["position_action"] == "NONE") == (held == 0.0), a
    # ids[1]'s account has processed nothing: it holds nothing, whatever the strategy decides
    assert status["bars"] == 0 and all(a["current_qty"] == 0.0 and a["position_action"] == "NONE"
                                       for a in acts["actions"])


def test_health_lists_every_promoted_strategy_served_or_missing(strategy_app):
    url, _, ids, orphan = strategy_app
    h = requests.get(f"{url}/health", timeout=120).json()
    assert sorted(h["strategies_served"]) == sorted(ids)
    assert len(h["strategies_missing"]) == 1 and h["strategies_missing"][0].startswith(f"{orphan}: ")
    assert "run-that-is-gone" in h["strategies_missing"][0] and h["status"] == "degraded"
    listed = requests.get(f"{url}/strategies", timeout=120).json()
    assert sorted(s["strategy_id"] for s in listed["strategies"]) == sorted(ids)
    assert listed["missing"] == h["strategies_missing"]


def test_the_cli_the_api_and_the_panel_show_one_strategy_account(strategy_app, capsys, monkeypatch):
    """After a paper replay, /portfolio is `meridian paper status --json` exactly, /portfolio/equity
    is the account's equity at every bar it processed, and the panel shows those figures."""
    from streamlit.testing.v1 import AppTest
    from tests.dashboards.test_pages import PAGES
    from tests.helpers import cli_json
    url, store, ids, _ = strategy_app
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(store.root))
    cli = cli_json(capsys, "paper", "status", "--strategy", ids[0], "--json")
    pf = requests.get(f"{url}/portfolio", params={"strategy": ids[0]}, timeout=120).json()
    assert cli["bars"] == 400 and pf == cli          # positions, equity, P&L today and total: all of it
    assert requests.get(f"{url}/strategies/{ids[0]}/account", timeout=120).json() == cli
    assert requests.get(f"{url}/portfolio", params={"account": f"paper:{ids[0]}"}, timeout=120).json() == cli
    eq = requests.get(f"{url}/portfolio/equity", params={"strategy": ids[0]}, timeout=120).json()
    acct = StrategyAccount(store, strategies.get(store, ids[0]))
    want = acct.result().equity * MeridianConfig().portfolio.initial_cash
    assert eq["account"] == f"paper:{ids[0]}" and len(eq["points"]) == 400
    assert [p["ts"] for p in eq["points"]] == [t.isoformat() for t in want.index]
    assert [p["equity"] for p in eq["points"]] == [float(v) for v in want]
    assert eq["points"][-1]["equity"] == cli["equity"]
    # a strategy whose account has processed nothing yet
    empty = requests.get(f"{url}/portfolio", params={"strategy": ids[1]}, timeout=120).json()
    assert empty["bars"] == 0 and empty["as_of"] is None and empty["running"] is True
    assert requests.get(f"{url}/portfolio/equity", params={"strategy": ids[1]}, timeout=120).json()["points"] == []

    monkeypatch.setenv("MERIDIAN__DASHBOARD__API_URL", url)
    at = AppTest.from_file(str(PAGES / "portfolio.py"), default_timeout=120)
    at.session_state["strategy"] = ids[0]
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    shown = {m.label: m.value for m in at.metric}
    assert shown["P&L total"] == f"{cli['pnl_total']:,.2f}" and shown["P&L today"] == f"{cli['pnl_today']:,.2f}"
    assert shown["Equity"] == f"{cli['equity']:,.2f}"
    table = at.dataframe[0].value.set_index("symbol")
    assert table["held (x equity)"].to_dict() == cli["positions"]
    assert at.get("plotly_chart"), "no equity chart"
    assert any("not served" in w.value and "run-that-is-gone" in w.value for w in at.warning)


def test_which_strategy_a_portfolio_request_means(strategy_app):
    """Several promoted and none chosen: 422 listing them; an unknown strategy or account: 404
    with the reason; exactly one promoted: that one."""
    url, store, ids, orphan = strategy_app
    for path in ("/portfolio", "/portfolio/equity", "/portfolio/actions"):
        r = requests.get(f"{url}{path}", timeout=120)
        assert r.status_code == 422, r.text
        msg = r.json()["detail"][0]["msg"]
        assert "3 strategies are promoted" in msg and all(i in msg for i in (*ids, orphan)) and "?strategy=" in msg
        r = requests.get(f"{url}{path}", params={"strategy": "st-nope"}, timeout=120)
        assert r.status_code == 404 and "no strategy 'st-nope'" in r.json()["detail"]
        r = requests.get(f"{url}{path}", params={"account": "paper:nobody"}, timeout=120)
        assert r.status_code == 404 and "no paper account 'paper:nobody'" in r.json()["detail"]
    # the strategy whose run is gone: a reason, not a server error
    r = requests.get(f"{url}/portfolio", params={"strategy": orphan}, timeout=120)
    assert r.status_code == 503 and "run-that-is-gone" in r.json()["detail"]
    # an account that trades another strategy
    r = requests.get(f"{url}/portfolio", params={"strategy": ids[1], "account": f"paper:{ids[0]}"}, timeout=120)
    assert r.status_code == 422 and f"trades {ids[0]}" in r.json()["detail"][0]["msg"]
    r = requests.post(f"{url}/paper/stop", headers=KEY, timeout=30)
    assert r.status_code == 422 and "3 strategies are promoted" in r.text
    for other in (ids[1], orphan):
        strategies.set_status(store, other, "candidate")
    try:
        only = requests.get(f"{url}/portfolio", timeout=120)
        assert only.status_code == 200 and only.json() == \
            requests.get(f"{url}/portfolio", params={"strategy": ids[0]}, timeout=120).json()
        assert only.json()["strategy_id"] == ids[0]
    finally:
        for other in (ids[1], orphan):
            strategies.set_status(store, other, "promoted")


def test_stop_and_start_switch_the_account_and_its_stepping(strategy_app, capsys, monkeypatch):
    """POST /paper/stop|start records the account's switch: `meridian paper status` and /portfolio
    show it, and the live loop's step and `meridian paper run` leave a stopped account alone."""
    from pipelines.trading.replay import reset
    from serving.live import StrategyStep
    from tests.helpers import cli_json
    url, store, ids, _ = strategy_app
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(store.root))
    sid, other = ids[1], f"paper:{ids[0]}"

    def decisions(account: str) -> int:
        return len(store.read("strategy_decisions", {"account": account}))

    assert requests.post(f"{url}/paper/stop", json={"strategy": sid}, timeout=30).status_code == 401  # no key
    r = requests.post(f"{url}/paper/stop", json={"strategy": sid}, headers=KEY, timeout=30)
    assert r.status_code == 200, r.text
    stopped = r.json()
    assert stopped["account"] == f"paper:{sid}" and stopped["strategy_id"] == sid and stopped["running"] is False
    r = requests.post(f"{url}/paper/stop", json={"account": other}, headers=KEY, timeout=30)   # by account
    assert r.status_code == 200 and r.json()["strategy_id"] == ids[0] and r.json()["running"] is False
    try:
        cli = cli_json(capsys, "paper", "status", "--strategy", sid, "--json")
        assert (cli["running"], cli["switched_at"]) == (False, stopped["switched_at"])
        assert requests.get(f"{url}/portfolio", params={"strategy": sid}, timeout=120).json() == cli
        # the live loop's step, given an answer for every symbol, leaves stopped accounts alone
        step = StrategyStep(MeridianConfig.model_validate({"store": {"path": str(store.root)}}))
        answers = {s: {"ok": {"horizons": []}} for s in ("BTCUSDT", "EURUSD")}
        assert step._step(None, answers) == 0
        assert (decisions(f"paper:{sid}"), decisions(other)) == (0, 400 * 2)   # one row per bar and symbol
        run = cli_json(capsys, "paper", "run", "--strategy", sid, "--max-cycles", "1", "--json")
        assert run["processed_bars"] == 0 and run["running"] is False and run["bars"] == 0
        # started again: shown the same way, and the step trades it (the other account stays stopped)
        started = requests.post(f"{url}/paper/start", json={"strategy": sid}, headers=KEY, timeout=30).json()
        assert started["running"] is True and started["switched_at"] >= stopped["switched_at"]
        assert cli_json(capsys, "paper", "status", "--strategy", sid, "--json")["running"] is True
        assert requests.get(f"{url}/portfolio", params={"strategy": sid}, timeout=120).json()["running"] is True
        assert step._step(None, answers) > 600
        assert decisions(f"paper:{sid}") > 600 * 2 and decisions(other) == 400 * 2
    finally:
        requests.post(f"{url}/paper/start", json={"account": other}, headers=KEY, timeout=30)
        reset(store, f"paper:{sid}")


def test_a_request_after_a_new_bar_decides_that_bar_only(tmp_path):
    """The service carries each strategy's decision: a repeated request decides nothing, one after a
    new bar decides that bar alone, and its answer is the recomputation over the whole history."""
    import asyncio
    from pipelines.trading.replay import served_decision
    from serving.config import ServeOptions
    from serving.service import MeridianService
    from tests.trading.test_served import assert_same
    store = ParquetStore(tmp_path / "lake")
    run_id = seed_run(store, n=500, horizons=(1,))
    saved = strategies.save(store, strategies.from_run(store, MeridianConfig(), run_id, ["xgboost", "logistic"], 1,
                                                       rule="kelly", name="carried"))
    strategies.set_status(store, saved.strategy_id, "promoted")
    newest = {s: store.read("bars", {"symbol": s}).iloc[-2:] for s in saved.symbols}   # the run's last bar, one after
    for s, b in newest.items():
        store.delete("bars", {"symbol": s, "ts": list(b["ts"])})
    cfg = load_config(overrides={"store": {"path": str(tmp_path / "lake")}}, environ={})

    async def down(*_):
        raise ConnectionError("no models are served here")

    svc = MeridianService(ServeAppConfig(meridian=cfg, options=ServeOptions(bars_refresh_s=0)), store, down, down, down)
    st = svc.promoted_strategies()[0]
    first = asyncio.run(svc.decision(st))
    carried = svc.served[st.strategy_id]
    n0 = carried.decided_bars
    assert carried.full_decides == 1 and n0 > 200
    assert asyncio.run(svc.decision(st)) == first and carried.decided_bars == n0
    for b in newest.values():
        store.write("bars", b)
    second = asyncio.run(svc.decision(st))
    assert pd.Timestamp(second["ts"]) == newest["EURUSD"]["ts"].iloc[0] > pd.Timestamp(first["ts"])
    assert (carried.full_decides, carried.decided_bars) == (1, n0 + 1)
    assert_same(second, served_decision(store, st))


def test_paper_start_and_stop_from_the_cli_through_the_api_and_locally(strategy_app, capsys, monkeypatch):
    """`meridian paper stop|start --server URL` is POST /paper/stop|start (the key from --api-key or
    the configuration); without --server it switches the account in the store; /portfolio shows
    either. A server that is down, a missing key and an unknown strategy: exit 1, one line."""
    from pipelines.cli import main
    from tests.helpers import cli_json, free_port
    url, store, ids, _ = strategy_app
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(store.root))
    sid = ids[1]

    def running() -> bool:
        return requests.get(f"{url}/portfolio", params={"strategy": sid}, timeout=120).json()["running"]

    try:
        out = cli_json(capsys, "paper", "stop", "--server", url, "--strategy", sid, "--api-key", KEY["X-API-Key"],
                       "--json")
        assert (out["account"], out["strategy_id"], out["running"]) == (f"paper:{sid}", sid, False)
        assert running() is False
        monkeypatch.setenv("MERIDIAN__SERVING__API_KEY", KEY["X-API-Key"])        # the key from configuration
        out = cli_json(capsys, "paper", "start", "--server", url + "/", "--strategy", sid, "--json")
        assert out["running"] is True and out["strategy_id"] == sid and running() is True
        monkeypatch.delenv("MERIDIAN__SERVING__API_KEY")
        # no server: the store's switch, which the served API reads
        out = cli_json(capsys, "paper", "stop", "--strategy", sid, "--json")
        assert (out["account"], out["running"]) == (f"paper:{sid}", False) and running() is False
        capsys.readouterr()
        assert main(["paper", "start", "--strategy", sid]) == 0
        assert capsys.readouterr().out.strip() == f"account paper:{sid} ({sid}): running" and running() is True

        down = f"http://127.0.0.1:{free_port()}"
        for argv, words in (
                (["--server", down, "--strategy", sid], [f"the Meridian API at {down} is not reachable"]),
                (["--server", url, "--strategy", sid], ["HTTP 401", "--api-key"]),
                (["--strategy", "st-nope"], ["no strategy 'st-nope'"]),
                (["--server", url, "--api-key", KEY["X-API-Key"]], ["HTTP 422", "3 strategies are promoted"])):
            capsys.readouterr()
            assert main(["paper", "stop", *argv]) == 1, argv
            err = capsys.readouterr().err
            assert err.startswith("meridian: error: ") and err.count("\n") == 1, err
            assert all(w in err for w in words), err
        assert running() is True                 # none of those switched anything
    finally:
        requests.post(f"{url}/paper/start", json={"strategy": sid}, headers=KEY, timeout=30)
