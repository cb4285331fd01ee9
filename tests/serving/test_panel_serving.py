"""Serving a promoted panel model over real HTTP: a prediction for a symbol of its universe is its
row of the latest common date's cross-section, built from every universe symbol's bars with the
walk-forward's own features and ranking, and equals the registered model's prediction on the
panel row the batch code builds for that date; /health lists a promoted panel model that cannot
be served (artifact gone, too few universe symbols with bars) with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import requests

from models.registry import ModelRecord, get, promote, register
from models.training.panel import make_panel
from models.zoo import model_class
from pipelines.cli import main as cli_main
from pipelines.config import load_config
from pipelines.features.catalog import feature_set
from pipelines.store import ParquetStore
from serving.config import ServeAppConfig
from tests.helpers import drop_serve_apps, serve_port
from tests.synthetic.markets import bars_from_returns

PREFIX = "/panel-serving"
SYMS = [f"P{i}" for i in range(6)]
N_DAYS, WITHHELD = 300, 1          # the last bar of each symbol stays out of the store: its label's close


@pytest.fixture(scope="module")
def panel_app(tmp_path_factory, ray_session):
    from ray import serve
    from serving.app import compose
    root = tmp_path_factory.mktemp("panel-serving")
    rng = np.random.default_rng(11)
    full = {s: bars_from_returns(np.r_[0.0, rng.normal(0, 0.01, N_DAYS - 1)], symbol=s, timeframe="1d", seed=i)
            for i, s in enumerate(SYMS)}
    store = ParquetStore(root / "lake")
    for b in full.values():
        store.write_bars(b.iloc[:-WITHHELD])
    env = {"MERIDIAN_HOME": str(root / "home"), "MERIDIAN__STORE__PATH": str(root / "lake"),
           "MERIDIAN__WALKFORWARD__TRAIN_BARS": "150", "MERIDIAN__WALKFORWARD__TEST_BARS": "60"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        assert cli_main(["walkforward", "--panel", "--symbols", ",".join(SYMS), "--models", "logistic",
                         "--label", "rank", "--horizon", "1", "--no-ray", "--json"]) == 0
        good = next(r for r in _panels(store) if r.config.get("run_id"))
        assert cli_main(["models", "promote", good.model_id, "--force", "--reason", "serve it in the test"]) == 0
        cfg = load_config()
    # two promoted panel models that cannot be served: its artifact is gone; its universe is
    # mostly symbols without bars
    gone = ModelRecord(**{**get(store, good.model_id).__dict__, "model_id": "logistic-panel-gone",
                          "horizon": 2, "artifact_path": str(root / "home" / "models" / "gone"), "status": "candidate"})
    thin = ModelRecord(**{**get(store, good.model_id).__dict__, "model_id": "logistic-panel-thin",
                          "symbols": ["P0", "Q1", "Q2", "Q3"], "status": "candidate"})
    for rec in (gone, thin):
        register(store, rec)
        promote(store, rec.model_id)
    port = serve_port()
    serve.run(compose(ServeAppConfig(meridian=cfg)), name="panel-serving", route_prefix=PREFIX)
    yield f"http://127.0.0.1:{port}{PREFIX}", store, cfg, full, get(store, good.model_id)
    drop_serve_apps("panel-serving")
    store.close()


def _panels(store) -> list[ModelRecord]:
    from models.registry import list_models
    return [r for r in list_models(store) if r.kind == "panel"]


def test_served_panel_prediction_equals_the_batch_panel_row_of_the_latest_date(panel_app):
    url, store, cfg, full, rec = panel_app
    latest = store.read("bars", {"symbol": "P0"})["ts"].iloc[-1]
    # the batch side: the walk-forward's panel over the full bars (the withheld bar labels the
    # latest stored date), its rows of that date, the registered model's predictions on them
    panel = make_panel(full, feature_set(cfg.features.feature_set), rec.horizon, label="rank")
    rows = panel.X.xs(latest, level="ts", drop_level=False)
    assert len(rows) == len(SYMS)
    model = model_class(rec.name).load(rec.artifact_path, expected_features=rec.features)
    want = model.predict(rows)["expected_return"].droplevel("ts")

    r = requests.post(f"{url}/predictions/batch", json={"symbols": SYMS}, timeout=120)
    assert r.status_code == 200, r.text
    got = {p["symbol"]: p for p in r.json()["results"]}
    assert sorted(got) == SYMS and r.json()["errors"] == []
    for s in SYMS:
        p = got[s]
        assert p["horizons"] == []              # no per-symbol forecaster serves these symbols
        (a,) = p["panels"]
        assert a["model_id"] == rec.model_id and a["label"] == "rank" and a["horizon"] == "1d"
        assert pd.Timestamp(a["ts"]) == latest and a["cross_section"] == len(SYMS)
        assert a["score"] == pytest.approx(float(want[s]), abs=1e-9)
        # the unservable ones say why, for each symbol of their universe
        assert {m["model_id"] for m in p["panels_missing"]} == (
            {"logistic-panel-gone", "logistic-panel-thin"} if s == "P0" else {"logistic-panel-gone"})
    # the rank of each symbol's score across the cross-section, in [-0.5, 0.5]
    order = sorted(SYMS, key=lambda s: got[s]["panels"][0]["score"])
    assert [got[s]["panels"][0]["rank"] for s in order] == pytest.approx(np.linspace(-0.5, 0.5, len(SYMS)))
    one = requests.get(f"{url}/predictions/P3", timeout=120).json()
    assert one["panels"][0]["score"] == got["P3"]["panels"][0]["score"]


def test_health_lists_unservable_panel_models_with_the_reason(panel_app):
    url, _, _, _, rec = panel_app
    h = requests.get(f"{url}/health", timeout=120).json()
    assert h["panels_served"] == [rec.model_id] and h["status"] == "degraded"
    missing = {m.split(":", 1)[0]: m.split(":", 1)[1] for m in h["panels_missing"]}
    assert set(missing) == {"logistic-panel-gone", "logistic-panel-thin"}
    assert "meta.json" in missing["logistic-panel-gone"] or "No such file" in missing["logistic-panel-gone"]
    assert "1 of the 4 universe symbols have 1d bars, fewer than the 4" in missing["logistic-panel-thin"]
    assert "Q1" in missing["logistic-panel-thin"]
    assert not any(m.startswith("logistic-panel") for m in h["models_missing"])


def test_assets_and_overview_show_the_panel_answers(panel_app):
    """/assets gives each universe symbol the panel model's latest score and rank, /overview the
    model's cross-section (leaders and laggards by rank) and the panel models that cannot answer:
    the numbers /predictions gives."""
    url, store, _, _, rec = panel_app
    want = {p["symbol"]: p for p in requests.post(f"{url}/predictions/batch", json={"symbols": SYMS},
                                                  timeout=120).json()["results"]}
    r = requests.get(f"{url}/assets", timeout=120)
    assert r.status_code == 200, r.text
    rows = {a["symbol"]: a for a in r.json()["assets"]}
    assert sorted(rows) == SYMS and r.json()["errors"] == []
    for s in SYMS:
        (a,) = rows[s]["panels"]
        assert a == want[s]["panels"][0] and a["model_id"] == rec.model_id and rows[s]["horizons"] == []

    r = requests.get(f"{url}/overview", params={"top": 2}, timeout=120)
    assert r.status_code == 200, r.text
    o = r.json()
    (p,) = o["panels"]
    ranked = sorted(SYMS, key=lambda s: -want[s]["panels"][0]["rank"])
    assert (p["model_id"], p["label"], p["horizon"], p["cross_section"]) == (rec.model_id, "rank", "1d", len(SYMS))
    assert p["ts"] == want["P0"]["panels"][0]["ts"]
    assert [m["symbol"] for m in p["leaders"]] == ranked[:2] and [m["symbol"] for m in p["laggards"]] == ranked[::-1][:2]
    assert p["leaders"][0]["score"] == want[ranked[0]]["panels"][0]["score"] and p["leaders"][0]["rank"] == 0.5
    assert p["laggards"][0]["rank"] == -0.5
    assert {m["model_id"] for m in o["panels_missing"]} == {"logistic-panel-gone", "logistic-panel-thin"}
    # the universe's symbols are on the cards even though no per-symbol forecaster serves them
    card_syms = {a["symbol"] for c in o["cards"] for a in c["assets"]}
    assert set(SYMS) <= card_syms and o["errors"] == []


def test_the_panel_pages_show_the_panel_models(panel_app, monkeypatch):
    """The Streamlit overview and asset pages, through Streamlit's own harness against this app:
    the panel model's leaders and laggards, the models that cannot answer, and the asset's rank."""
    from tests.dashboards.test_pages import run_page, texts
    url, _, _, _, rec = panel_app
    o = requests.get(f"{url}/overview", params={"top": 10}, timeout=120).json()
    (p,) = o["panels"]
    at = run_page("overview", url, monkeypatch)
    t = texts(at)
    assert "Panel models" in t and f"{p['cross_section']} symbols ranked on {p['ts']}" in t
    table = next(d.value for d in at.dataframe if "side" in d.value.columns)
    want = [("leader", m["symbol"]) for m in p["leaders"]] + [("laggard", m["symbol"]) for m in p["laggards"]]
    assert list(zip(table["side"], table["symbol"])) == want
    assert len(o["panels_missing"]) == 2
    for m in o["panels_missing"]:
        assert f"Panel model {m['name']} cannot answer: {m['reason']}" in t

    pred = requests.get(f"{url}/predictions/P3", timeout=120).json()
    (a,) = pred["panels"]
    at = run_page("asset", url, monkeypatch, symbol="P3", range="1M")
    shown = next(d.value for d in at.dataframe if "rank" in d.value.columns)
    assert shown["model"].tolist() == [rec.name] and shown["rank"].tolist() == [f"{a['rank']:+.2f}"]
    assert shown["of symbols"].tolist() == [len(SYMS)]
    assert "No models promoted yet" not in texts(at)
