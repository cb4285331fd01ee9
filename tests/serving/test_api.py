"""Every endpoint of the Serve application over real HTTP: answers, errors, auth."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from pipelines.features.sessions import session_status
from tests.serving.conftest import API_KEY

KEY = {"X-API-Key": API_KEY}


def reason(r) -> str:
    """The error's reason, whether a plain detail or a validation-error list."""
    d = r.json()["detail"]
    return d if isinstance(d, str) else "; ".join(x["msg"] for x in d)


def test_health_says_which_model_failed_to_load(served):
    h = served.get("/health").json()
    assert h["status"] == "degraded"
    assert h["models_loaded"] == 5
    assert len(h["models_missing"]) == 1 and h["models_missing"][0].startswith("random_forest-EURUSD-1h-h1-broken")
    assert "meta.json" in h["models_missing"][0]


def test_assets_lists_series_with_their_horizons(served):
    assets = {a["symbol"]: a for a in served.get("/assets").json()["assets"]}
    assert set(assets) == {"EURUSD", "SPX"}
    eur = assets["EURUSD"]
    assert eur["asset_class"] == "forex" and eur["timeframe"] == "1h" and eur["bars"] == 650
    assert eur["horizons"] == ["1h", "1d"]
    assert assets["SPX"]["horizons"] == ["1d"]
    store = served.store()
    bars = store.read("bars", {"symbol": "SPX"})
    assert assets["SPX"]["last_close"] == pytest.approx(bars["close"].iloc[-1])


def test_prediction_per_model_and_ensemble(served):
    r = served.get("/predictions/EURUSD", params={"horizons": "1h,24h"})
    assert r.status_code == 200, r.text
    p = r.json()
    assert [h["horizon"] for h in p["horizons"]] == ["1h", "1d"]
    assert p["unavailable_horizons"] == []
    h1 = p["horizons"][0]
    assert {m["name"] for m in h1["models"]} == {"xgboost", "logistic"}
    assert [m["name"] for m in h1["missing"]] == ["random_forest"]
    assert "meta.json" in h1["missing"][0]["reason"]
    assert set(h1["model_versions"]) == {"xgboost", "logistic"}
    ens = h1["ensemble"]
    w = sum(m["weight"] for m in h1["models"])
    assert w == pytest.approx(1.0)
    assert ens["expected_return"] == pytest.approx(sum(m["weight"] * m["expected_return"] for m in h1["models"]))
    assert ens["confidence"] == pytest.approx(abs(ens["prob_up"] - 0.5) * 2)
    assert h1["signal"] == ("BUY" if ens["expected_return"] > 0 else "SELL" if ens["expected_return"] < 0 else "HOLD")
    last = served.store().read("bars", {"symbol": "EURUSD"}).iloc[-1]
    assert pd.Timestamp(h1["ts"]) == last["ts"] and pd.Timestamp(h1["known_at"]) == last["known_at"]
    assert pd.Timestamp(h1["target_ts"]) == last["ts"] + pd.Timedelta(hours=2)
    h24 = p["horizons"][1]
    assert h24["horizon_bars"] == 24 and [m["name"] for m in h24["models"]] == ["xgboost"] and h24["missing"] == []
    assert p["regime"] is None  # no regime model for EURUSD


def test_prediction_errors_say_why(served):
    r = served.get("/predictions/NOPE")
    assert r.status_code == 404 and "unknown symbol 'NOPE'" in reason(r)
    r = served.get("/predictions/EURUSD", params={"horizons": "1hour"})
    assert r.status_code == 422 and "bad horizon '1hour'" in reason(r)
    r = served.get("/predictions/EURUSD", params={"horizons": "15m"})
    assert r.status_code == 404 and "served horizons are 1h, 1d" in reason(r)
    r = served.get("/predictions/EURUSD", params={"horizons": "1h,15m"})
    assert r.status_code == 200 and r.json()["unavailable_horizons"] == ["15m"]


def test_batch_answers_each_symbol_or_says_why(served):
    r = served.post("/predictions/batch", json={"symbols": ["SPX", "EURUSD", "NOPE"], "horizons": ["1d"]})
    assert r.status_code == 200, r.text
    b = r.json()
    assert [x["symbol"] for x in b["results"]] == ["SPX", "EURUSD"]
    assert all(x["horizons"][0]["horizon"] == "1d" for x in b["results"])
    assert b["errors"] == [{"symbol": "NOPE", "status": 404, "reason": b["errors"][0]["reason"]}]
    assert served.post("/predictions/batch", json={"symbols": []}).status_code == 422
    assert served.post("/predictions/batch", json={"symbols": ["SPX"], "horizons": ["x"]}).status_code == 422


def test_overview_and_sessions(served):
    o = served.get("/overview").json()
    cards = {c["asset_class"]: c for c in o["cards"]}
    assert set(cards) == {"forex", "index"}
    assert cards["forex"]["n_assets"] == 1 and cards["forex"]["buy"] + cards["forex"]["sell"] + cards["forex"]["hold"] == 1
    assert {t["symbol"] for t in o["top_predictions"]} <= {"EURUSD", "SPX"} and o["top_predictions"]
    assert set(o["sessions"]["sessions"]) == {"sydney", "tokyo", "london", "new_york"}
    s = served.get("/sessions").json()
    expected = session_status(pd.Timestamp(s["ts"]))
    assert s["open"] == expected["open"] and s["liquidity"] == expected["liquidity"]


def test_asset_detail_panels(served):
    ind = served.get("/assets/EURUSD/indicators").json()
    assert ind["feature_set"] == "core" and "vol_20" in ind["values"] and ind["close"] > 0
    risk = served.get("/assets/SPX/risk").json()
    assert risk["volatility_annual"] > 0 and risk["var_95"] < 0 and risk["cvar_95"] <= risk["var_95"]
    assert -1 < risk["max_drawdown"] <= 0
    sent = served.get("/assets/EURUSD/sentiment", params={"window_days": 2}).json()
    assert sent["n_items"] == 1  # the later headline was not known yet at the last bar
    assert sent["items"][0]["headline"].startswith("Euro rallies") and sent["mean_score"] > 0.3
    assert served.get("/assets/NOPE/risk").status_code == 404
    assert served.get("/assets/EURUSD/sentiment", params={"window_days": 0}).status_code == 422


def test_portfolio_without_a_promoted_strategy_says_what_to_do(served):
    """The portfolio is a strategy's paper account: with none promoted, each route answers 404
    with the reason (tests/serving/test_strategy_serving.py covers the accounts themselves)."""
    for path in ("/portfolio", "/portfolio/equity", "/portfolio/actions"):
        r = served.get(path)
        assert r.status_code == 404 and "no strategy is promoted" in reason(r), (path, r.text)
        r = served.get(path, params={"strategy": "st-nope"})
        assert r.status_code == 404 and "no strategy 'st-nope'" in reason(r), (path, r.text)
        r = served.get(path, params={"account": "paper:nope"})
        assert r.status_code == 404 and "no paper account 'paper:nope'" in reason(r), (path, r.text)


def test_bars_for_the_price_chart(served):
    r = served.get("/assets/SPX/bars", params={"limit": 30}).json()
    stored = served.store().read("bars", {"symbol": "SPX"}).iloc[-30:]
    assert r["timeframe"] == "1d" and [pd.Timestamp(b["ts"]) for b in r["bars"]] == list(stored["ts"])
    assert r["bars"][-1]["close"] == pytest.approx(stored["close"].iloc[-1])
    assert served.get("/assets/SPX/bars", params={"limit": 0}).status_code == 422
    assert served.get("/assets/NOPE/bars").status_code == 404


def test_models_show_accuracy_over_time_and_load_state(served):
    models = {m["model_id"]: m for m in served.get("/models").json()["models"]}
    broken = models["random_forest-EURUSD-1h-h1-broken"]
    assert broken["loaded"] is False and "meta.json" in broken["load_error"]
    xgb = next(m for m in models.values() if m["name"] == "xgboost" and m["symbols"] == ["SPX"])
    assert xgb["loaded"] is True and xgb["load_error"] is None and 0 <= xgb["accuracy"] <= 1
    assert len(xgb["accuracy_over_time"]) >= 6
    assert all(0 <= p["accuracy"] <= 1 and p["n"] > 0 for p in xgb["accuracy_over_time"])
    assert served.get("/models", params={"status": "bogus"}).status_code == 422


def test_writes_need_the_key(served):
    assert served.post("/paper/start").status_code == 401
    assert served.post("/paper/start", headers={"X-API-Key": "wrong"}).status_code == 401
    assert served.post("/models/x/promote").status_code == 401
    assert served.post("/training/retrain", json={"symbols": ["SPX"]}).status_code == 401
    r = served.post("/paper/start", headers=KEY)   # the key passes; no strategy account to switch
    assert r.status_code == 404 and "no strategy is promoted" in reason(r)
    assert served.post("/paper/pause", headers=KEY).status_code == 422


def test_promote_reloads_the_models(served):
    r = served.post("/models/nope/promote", headers=KEY)
    assert r.status_code == 404 and "no model 'nope'" in reason(r)
    mid = next(m["model_id"] for m in served.get("/models").json()["models"]
               if m["name"] == "logistic" and m["symbols"] == ["SPX"])
    r = served.post(f"/models/{mid}/promote", headers=KEY)
    assert r.status_code == 200, r.text
    assert r.json() == {"model_id": mid, "status": "promoted", "retired": [], "reloaded": True}


def test_retrain_runs_on_ray_and_shows_in_training(served):
    r = served.post("/training/retrain", headers=KEY, json={"symbols": ["NOPE"]})
    assert r.status_code == 404
    r = served.post("/training/retrain", headers=KEY, json={"symbols": ["SPX"], "models": ["nomodel"]})
    assert r.status_code == 422 and "unknown model 'nomodel'" in reason(r)
    r = served.post("/training/retrain", headers=KEY, json={"symbols": ["SPX"], "models": ["logistic"], "horizon": 2})
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    deadline = time.time() + 90
    while time.time() < deadline:
        runs = {x["run_id"]: x for x in served.get("/training").json()["runs"]}
        if runs[run_id]["state"] != "RUNNING":
            break
        time.sleep(0.5)
    run = runs[run_id]
    assert run["state"] == "FINISHED", run
    training = served.get("/training").json()
    assert training["source"].startswith("serve") and isinstance(training["notes"], list)
    # a public endpoint names no paths, pids or addresses (Ray's own errors stay in the log)
    text = served.get("/training").text
    assert "/tmp" not in text and "pid" not in text.lower() and "Traceback" not in text
    mid = run["detail"]["model_ids"]["SPX"]["logistic"]
    assert "-h2-" in mid
    models = {m["model_id"]: m for m in served.get("/models").json()["models"]}
    assert models[mid]["status"] == "candidate" and models[mid]["horizon"] == 2


def test_reads_can_require_the_key(keyed_local):
    assert keyed_local.get("/assets").status_code == 401
    assert keyed_local.get("/assets", headers=KEY).status_code == 200
    r = keyed_local.get("/predictions/SPX", headers=KEY)
    assert r.status_code == 200 and r.json()["horizons"][0]["signal"] in ("BUY", "SELL", "HOLD")
    assert keyed_local.get("/health").status_code == 200  # liveness stays public


def test_batch_by_get_is_a_405_not_a_symbol_named_batch(served):
    r = served.get("/predictions/batch")
    assert r.status_code == 405 and r.headers["allow"] == "POST" and "POST /predictions/batch" in reason(r)


def test_docs_work_without_the_internet(served):
    """Swagger UI's files come from the application itself, not a CDN."""
    import re
    page = served.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(not a.startswith("http") for a in assets), assets
    for a in assets:
        got = served.get(a)
        assert got.status_code == 200 and len(got.content) > 1000, a
