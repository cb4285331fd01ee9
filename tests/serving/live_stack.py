"""The whole live path on one machine, for the live-loop test and bench_live.py: a loopback
Binance (tests/replay), a Parquet store with recent 1m bars and one promoted xgboost serving
every symbol, the bar bus, the live ingestion actor and the Serve application following the bus."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import ray

from models.registry import ModelRecord, promote, register
from models.training.dataset import make_dataset
from models.zoo import model_class
from pipelines.config import MeridianConfig, load_config
from pipelines.config.ingest import IngestConfig, LiveConfig
from pipelines.features.catalog import feature_set
from pipelines.ingest.backfill import backfill_bars
from pipelines.ingest.pubsub import bar_bus
from pipelines.ingest.service import start_live_actor
from pipelines.sources.binance import BinanceSource
from pipelines.store import open_store
from serving.config import ServeAppConfig, ServeOptions
from tests.helpers import drop_serve_apps, serve_port
from tests.replay.fixtures import replay_sources
from tests.replay.server import ReplayServer, kline_event


def symbols_of(n: int) -> list[str]:
    return [f"S{i:03d}USDT" for i in range(n)]


def prepare(root: Path, replay: ReplayServer, symbols: list[str], history: int = 300,
            store: dict | None = None) -> MeridianConfig:
    """The store (the lake under ``root``, or the ``store`` section given): ``history`` closed 1m
    bars of every symbol (through the loopback REST API) and an xgboost fitted on the first
    symbol's core features, promoted for all of them."""
    cfg = load_config(overrides={"store": store or {"path": str(root / "lake")}, "report_dir": str(root / "reports")},
                      environ={})
    store = open_store(cfg.store)
    source = BinanceSource(replay_sources(replay).binance)
    since = pd.Timestamp.now(tz="UTC").floor("1min") - pd.Timedelta(minutes=history)
    for s in symbols:
        backfill_bars(source, store, s, "1m", since, progress=False)
    bars = store.read("bars", {"symbol": symbols[0], "timeframe": "1m"})
    ds = make_dataset(bars, feature_set(cfg.features.feature_set), 1)
    model = model_class("xgboost")(n_estimators=20).fit(ds.X, ds.y)
    model_id = "xgboost-live-1m-h1"
    path = model.save(root / "models" / model_id)
    register(store, ModelRecord(
        model_id=model_id, name="xgboost", kind="forecaster", config={"params": {"n_estimators": 20}},
        config_hash="live", features=list(ds.X.columns), symbols=list(symbols), timeframe="1m", horizon=1,
        train_start=ds.X.index[0], train_end=ds.X.index[-1], metrics={"directional_accuracy": 0.55},
        artifact_path=str(path)))
    promote(store, model_id)
    _promoted_strategy(store, cfg, model, symbols)
    store.close()
    return cfg


def _promoted_strategy(store, cfg: MeridianConfig, model, symbols: list[str]) -> None:
    """A recorded run of the served model's answers on the stored 1m bars (minus the last, whose
    outcome is unknown) and a promoted strategy over it: the paper step trades its account."""
    from pipelines.evaluation import runs
    from pipelines.trading import strategy as strategies
    rec = runs.start(store, kind="walkforward", config={}, config_hash="live" * 4, symbols=list(symbols),
                     models=["xgboost"], horizons=[1])
    for s in symbols:
        bars = store.read("bars", {"symbol": s, "timeframe": "1m"})
        X = make_dataset(bars, feature_set(cfg.features.feature_set), 1).X
        out = model.predict(X)
        close = bars.set_index("ts")["close"]
        fwd = (close.shift(-1) / close - 1.0).reindex(X.index)
        runs.record_predictions(store, rec.run_id, "xgboost", 1, s, "1m", pd.DataFrame(
            {"expected_return": out["expected_return"].to_numpy(), "prob_up": out["prob_up"].to_numpy(),
             "realized_return": fwd.to_numpy(), "fold": 0}, index=X.index.rename("ts")).dropna())
    runs.finish(store, rec, {"horizons": {}}, {})
    st = strategies.save(store, strategies.from_run(store, cfg, rec.run_id, ["xgboost"], 1, name="live"))
    strategies.set_status(store, st.strategy_id, "promoted")


@dataclass
class LiveStack:
    replay: ReplayServer
    cfg: MeridianConfig
    symbols: list[str]
    bus_name: str = "meridian-live-bus"
    app_name: str = "meridian-live"
    prefix: str = "/live"
    paper: bool = True

    def start(self) -> "LiveStack":
        from ray import serve
        from serving.app import compose
        self.bus = bar_bus(self.bus_name)
        ray.get(self.bus.stats.remote(), timeout=60)
        live = LiveConfig(symbols=tuple(self.symbols), timeframe="1m", depth=False, reconnect_delay=0.05)
        self.actor = start_live_actor(IngestConfig(sources=replay_sources(self.replay)), live,
                                      self.cfg.store,
                                      name=None, bus_name=self.bus_name)
        self.wait(lambda: self.stats()["connects"] >= 1, 60, "the live ingestion to connect")
        app = ServeAppConfig(meridian=self.cfg, options=ServeOptions(live_bus=self.bus_name, paper_live=self.paper))
        self.port = serve_port()
        serve.run(compose(app), name=self.app_name, route_prefix=self.prefix)
        return self

    def stop(self) -> None:
        try:
            drop_serve_apps(self.app_name)
        finally:
            try:
                ray.get(self.actor.stop.remote(), timeout=30)
            finally:
                ray.kill(self.actor, no_restart=True)
                ray.kill(self.bus)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.prefix}/stream"

    def stats(self) -> dict:
        return ray.get(self.actor.stats.remote(), timeout=30)

    def last(self, symbol: str) -> pd.Timestamp:
        return pd.Timestamp(self.stats()["last"][symbol])

    def close_bar(self, symbol: str, ts: pd.Timestamp) -> None:
        """The exchange closes the 1m bar opening at ``ts``."""
        ms = int(ts.value // 1_000_000)
        self.replay.push({"stream": f"{symbol.lower()}@kline_1m", "data": kline_event(symbol, "1m", ms, True)})

    def close_bars(self, symbols: list[str], ts: pd.Timestamp) -> None:
        """The exchange closes the 1m bar opening at ``ts`` of every symbol in one burst."""
        ms = int(ts.value // 1_000_000)
        self.replay.push_many([{"stream": f"{s.lower()}@kline_1m", "data": kline_event(s, "1m", ms, True)}
                               for s in symbols])

    @staticmethod
    def wait(cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


def recv(ws, timeout: float = 30.0) -> dict:
    return json.loads(ws.recv(timeout=timeout))
