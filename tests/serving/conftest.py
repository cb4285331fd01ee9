"""One store with promoted models (built by the demo job's own code) and one Serve application
for every serving test, on a free loopback port."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import requests

from models.registry import ModelRecord, list_models, promote, register
from models.training.dataset import make_dataset
from models.zoo import model_class
from pipelines.features.catalog import feature_set
from pipelines.config import MeridianConfig, load_config
from pipelines.jobs.demo import DEMO_DEFAULTS, run as run_demo
from pipelines.store import ParquetStore
from models.regimes.hmm import RegimeHMM
from serving.config import ServeAppConfig, ServeOptions
from serving.market import live_features
from serving.regime import save_regime
from tests.helpers import drop_serve_apps, free_port, serve_port

API_KEY = "test-key-123"
WITHHELD = {"EURUSD": 50, "SPX": 5}  # bars kept out of the store: the "future" of each series


@dataclass
class Served:
    url: str
    cfg: ServeAppConfig
    root: Path
    withheld: dict[str, pd.DataFrame]

    def store(self) -> ParquetStore:
        return ParquetStore(self.cfg.meridian.store.path)

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return requests.post(self.url + path, timeout=30, **kw)


def _config(root: Path, horizon: int = 1) -> MeridianConfig:
    overrides = {**DEMO_DEFAULTS,
                 "walkforward": {"horizon": horizon, "train_bars": 300, "test_bars": 100, "validation_fraction": 0.2},
                 "store": {"path": str(root / "data" / "lake")},
                 "report_dir": str(root / "reports"),
                 "models": {"params": {"xgboost": {"n_estimators": 30}}},
                 "serving": {"api_key": API_KEY}}
    return load_config(overrides=overrides, environ={})


def _register_fitted(store, root: Path, cfg: MeridianConfig, symbol: str, horizon: int) -> None:
    """An xgboost fitted at ``horizon`` bars on the rows labelled by the bars that stay in the
    store (none of the withheld future), saved, promoted."""
    bars = store.read("bars", {"symbol": symbol}).iloc[:-WITHHELD[symbol]]
    ds = make_dataset(bars, feature_set(cfg.features.feature_set), horizon)
    model = model_class("xgboost")(n_estimators=30).fit(ds.X, ds.y)
    model_id = f"xgboost-{symbol}-{ds.timeframe}-h{horizon}-fitted"
    path = model.save(root / "data" / "models" / model_id)
    register(store, ModelRecord(
        model_id=model_id, name="xgboost", kind="forecaster", config={"params": {"n_estimators": 30}},
        config_hash="fitted", features=list(ds.X.columns), symbols=[symbol], timeframe=ds.timeframe,
        horizon=horizon, train_start=ds.X.index[0], train_end=ds.X.index[-1],
        metrics={"directional_accuracy": 0.5}, artifact_path=str(path)))
    promote(store, model_id)


@pytest.fixture(scope="session")
def serving_root(tmp_path_factory, ray_session) -> tuple[Path, MeridianConfig, dict]:
    """EURUSD (1h) and SPX (1d) with promoted xgboost and logistic models at one bar (the demo
    job's walk-forward), an xgboost at 24 bars for EURUSD (fitted directly), a promoted model whose artifact is gone, a few news items,
    paper positions; the last bars of each series are then withheld from the store."""
    root = tmp_path_factory.mktemp("serving")
    cfg = _config(root)
    run_demo(cfg, ["EURUSD", "SPX"], ["xgboost", "logistic"], max_bars=700, progress=False)
    store = ParquetStore(cfg.store.path)
    _register_fitted(store, root, cfg, "EURUSD", horizon=24)
    good = next(r for r in list_models(store, "promoted") if r.name == "xgboost" and r.symbols == ["EURUSD"]
                and r.horizon == 1)
    broken = ModelRecord(**{**good.__dict__, "model_id": "random_forest-EURUSD-1h-h1-broken",
                            "name": "random_forest", "artifact_path": str(root / "data" / "models" / "gone"),
                            "status": "candidate"})
    register(store, broken)
    promote(store, broken.model_id)
    spx = store.read("bars", {"symbol": "SPX"})
    feats = live_features(spx, cfg.features.feature_set)
    hmm = RegimeHMM().fit(feats.loc[:good.train_end])
    regime = ModelRecord(**{**good.__dict__, "model_id": "hmm-SPX-1d", "name": "hmm", "kind": "regime",
                            "symbols": ["SPX"], "timeframe": "1d", "metrics": {}, "status": "candidate",
                            "artifact_path": str(save_regime(hmm, root / "data" / "models" / "hmm-SPX-1d"))})
    register(store, regime)
    promote(store, regime.model_id)
    withheld = {}
    for sym, n in WITHHELD.items():
        bars = store.read("bars", {"symbol": sym})
        withheld[sym] = bars.iloc[-n:].reset_index(drop=True)
        store.delete("bars", {"symbol": sym, "ts": list(bars["ts"].iloc[-n:])})
    last = store.read("bars", {"symbol": "EURUSD"})["known_at"].iloc[-1]
    store.write("news", pd.DataFrame([
        {"item_id": "n1", "provider": "test", "published_at": last - pd.Timedelta(hours=5),
         "known_at": last - pd.Timedelta(hours=5), "headline": "Euro rallies strongly on great growth data",
         "summary": "", "url": "", "source": "wire", "tickers": json.dumps(["EURUSD"]), "kind": "news"},
        {"item_id": "n2", "provider": "test", "published_at": last + pd.Timedelta(hours=5),
         "known_at": last + pd.Timedelta(hours=5), "headline": "Euro crashes in terrible panic",
         "summary": "", "url": "", "source": "wire", "tickers": json.dumps(["EURUSD"]), "kind": "news"},
    ]))
    t = last - pd.Timedelta(hours=3)
    store.write("fills", pd.DataFrame([{"fill_id": "f1", "account": "paper", "symbol": "EURUSD", "ts": t,
                                        "side": "buy", "qty": 1000.0, "price": 1.2, "fee": 0.1,
                                        "order_id": "o1", "reason": "signal"}]))
    store.write("positions", pd.DataFrame([
        {"account": "paper", "symbol": "CASH", "ts": t - pd.Timedelta(hours=1), "qty": 0.0, "avg_price": 0.0,
         "realized_pnl": 0.0, "cash": 10000.0},
        {"account": "paper", "symbol": "EURUSD", "ts": t, "qty": 1000.0, "avg_price": 1.2, "realized_pnl": 0.0,
         "cash": 8800.0}]))
    store.close()
    return root, cfg, withheld


@pytest.fixture(scope="session")
def served(serving_root):
    """The Serve application over that store on a free port; shut down after the session."""
    from ray import serve
    from serving.app import compose
    root, cfg, withheld = serving_root
    app_cfg = ServeAppConfig(meridian=cfg, options=ServeOptions(stream_poll_s=0.2, bars_refresh_s=0.2))
    port = serve_port()
    serve.run(compose(app_cfg), name="meridian-test", route_prefix="/")
    yield Served(f"http://127.0.0.1:{port}", app_cfg, root, withheld)
    drop_serve_apps("meridian-test")


@pytest.fixture(scope="session")
def keyed_local(serving_root):
    """The same routes on plain uvicorn (no Serve) with reads keyed, for the read-key tests."""
    import uvicorn
    from serving.local import local_api
    root, cfg, withheld = serving_root
    app_cfg = ServeAppConfig(meridian=cfg, options=ServeOptions(read_requires_key=True))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(local_api(app_cfg), host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{port}", app_cfg, root, withheld)
    server.should_exit = True
    th.join(timeout=10)


@pytest.fixture(scope="session")
def api_schema(served):
    import schemathesis
    return schemathesis.openapi.from_url(served.url + "/openapi.json")
