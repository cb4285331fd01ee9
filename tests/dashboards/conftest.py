"""A real Serve application over a store the demo job filled, and another over an empty store,
for the panel's tests, under their own route prefixes on whichever Serve proxy is running. Each
module that uses them deletes them at its end (and shuts Serve down if nothing else is up)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.config import load_config
from pipelines.jobs.demo import DEMO_DEFAULTS, run as run_demo
from tests.helpers import drop_serve_apps, serve_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Api:
    url: str        # Serve over the demo's store
    strategy_id: str  # the promoted strategy of that store
    empty_url: str  # Serve over an empty store
    root: Path


def _cfg(root: Path):
    overrides = {**DEMO_DEFAULTS,
                 "walkforward": {"horizon": 1, "train_bars": 300, "test_bars": 100, "validation_fraction": 0.2},
                 "store": {"path": str(root / "data" / "lake")}, "report_dir": str(root / "reports"),
                 "models": {"params": {"xgboost": {"n_estimators": 30}}}}
    return load_config(overrides=overrides, environ={})


def _paper_account(cfg) -> str:
    """One promoted strategy (over a recorded run of BTCUSDT) whose paper account replayed 300 bars."""
    from pipelines.config import MeridianConfig
    from pipelines.store import ParquetStore
    from pipelines.trading import strategy as strategies
    from pipelines.trading.replay import StrategyAccount
    from tests.trading.test_backtest_cli import seed_run
    store = ParquetStore(cfg.store.path)
    run_id = seed_run(store, symbols=(("BTCUSDT", "crypto", 1),))
    st = strategies.save(store, strategies.from_run(store, MeridianConfig(), run_id, ["xgboost", "logistic"], 1,
                                                    name="panel"))
    strategies.set_status(store, st.strategy_id, "promoted")
    StrategyAccount(store, st).replay(max_bars=300)
    store.close()
    return st.strategy_id


@pytest.fixture(scope="module")
def panel_api(tmp_path_factory, ray_session):
    from ray import serve

    from serving.app import compose
    from serving.config import ServeAppConfig
    root = tmp_path_factory.mktemp("panel")
    cfg = _cfg(root)
    run_demo(cfg, ["EURUSD", "SPX"], ["xgboost"], max_bars=700, progress=False)
    strategy_id = _paper_account(cfg)
    empty = _cfg(root / "empty")
    port = serve_port()  # own route prefixes: the serving tests' app may be up at "/"
    serve.run(compose(ServeAppConfig(meridian=cfg)), name="panel", route_prefix="/panel")
    serve.run(compose(ServeAppConfig(meridian=empty)), name="panel-empty", route_prefix="/panel-empty")
    yield Api(f"http://127.0.0.1:{port}/panel", strategy_id, f"http://127.0.0.1:{port}/panel-empty", root)
    drop_serve_apps("panel", "panel-empty")
