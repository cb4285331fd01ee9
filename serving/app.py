"""The Serve application: a FastAPI ingress composed with ``.bind()`` over the ensemble
deployment, which fans out to one deployment per promoted model name (forecasters and panel
models alike).

    serve run serving.app:build_app            # or `meridian serve`, or serve-config.yaml
"""

from __future__ import annotations

import asyncio
import logging

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from cluster.placement import Work, options_for
from cluster.runtime import direct_ingress_urls
from models.zoo import model_class
from pipelines.store import open_store
from serving.api import create_api
from serving.config import DeploymentOptions, ServeAppConfig, ServeArgs
from serving.deployments import EnsembleServer, ModelServer
from serving.model_book import promoted_served
from serving.service import MeridianService

log = logging.getLogger(__name__)


@serve.deployment
@serve.ingress()
class Ingress:
    """HTTP and WebSocket entry point; routes call a MeridianService that asks the ensemble."""

    def __init__(self, cfg: ServeAppConfig, ensemble: DeploymentHandle) -> None:
        self.store = open_store(cfg.meridian.store)
        self.ensemble = ensemble

        async def predict(symbol, horizons, min_ts):
            return await ensemble.predict.remote(symbol, horizons, min_ts)

        async def status():
            return await ensemble.status.remote()

        async def reload():
            return await ensemble.reload.remote()

        self.service = MeridianService(cfg, self.store, predict, status, reload)
        app_name = serve.get_replica_context().app_name
        self.service.direct_ingress = lambda: direct_ingress_urls(app_name)
        o = cfg.options
        if o.live_bus:
            from serving.live import LiveFeed, StrategyStep

            async def on_bars(records):
                return await ensemble.on_bars.remote(records)

            hooks = [StrategyStep(cfg.meridian)] if o.paper_live else []
            self.service.live = LiveFeed(o.live_bus, on_bars, self.service.market, hooks)
            try:
                asyncio.get_running_loop()
                self.service.live.start()
            except RuntimeError:  # no loop in the constructor: the first request starts it
                pass

    def __serve_build_asgi_app__(self):
        return create_api(self.service)


def _options(d: DeploymentOptions, name: str, access_log: bool) -> dict:
    return {"name": name, "logging_config": {"enable_access_log": access_log},
            **d.serve_kwargs(options_for(Work.SERVE, num_cpus=d.num_cpus))}


def compose(cfg: ServeAppConfig) -> Application:
    """Bind the deployment graph for the models promoted now."""
    store = open_store(cfg.meridian.store)
    try:
        names = sorted({r.name for r in promoted_served(store)})
    finally:
        store.close()
    o = cfg.options
    handles, unavailable = {}, {}
    for name in names:
        try:
            model_class(name)
        except Exception as exc:
            unavailable[name] = f"{type(exc).__name__}: {exc}"
            continue
        handles[name] = ModelServer.options(**_options(o.model, f"Model_{name}", o.access_log)).bind(cfg, name)
    ensemble = EnsembleServer.options(**_options(o.ensemble, "Ensemble", o.access_log)).bind(cfg, handles, unavailable)
    return Ingress.options(**_options(o.ingress, "Ingress", o.access_log)).bind(cfg, ensemble)


def build_app(args: ServeArgs) -> Application:
    """App builder for ``serve run`` / ``serve build`` / a Serve config file's ``args:``."""
    if not isinstance(args, ServeArgs):
        args = ServeArgs.model_validate(args or {})
    return compose(args.resolve())
