"""The same API without Serve: one process holds the model book, the predictor and the
routes. It is the floor the Serve application is benchmarked against, and a way to run the API
where Ray is not wanted (``uvicorn`` on :func:`local_api`)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from models.registry import list_models
from pipelines.store import open_store
from serving.api import create_api
from serving.config import ServeAppConfig
from serving.market import MarketData
from serving.model_book import ModelBook
from serving.predictor import Predictor
from serving.service import MeridianService, local_predict


def local_service(cfg: ServeAppConfig) -> MeridianService:
    store = open_store(cfg.meridian.store)
    book = ModelBook(store).load()
    o = cfg.options
    market = MarketData(store, cfg.meridian.features.feature_set, o.bars_refresh_s, o.history_bars,
                        cfg.meridian.features.store_dtype)

    async def call_model(name, model_id, X):
        return book.predict(model_id, X)

    async def call_panel(name, model_id, X):
        return book.predict_panel(model_id, X)

    predictor = Predictor(o, cfg.meridian.trading.threshold, market, list_models(store, "promoted"), call_model,
                          call_panel=call_panel)

    async def predict(symbol, horizons, min_ts):
        return await local_predict(predictor, symbol, horizons, min_ts)

    async def status():
        return predictor.panel_status(book.status())

    async def reload():
        await asyncio.to_thread(book.load)
        market.invalidate()
        predictor.set_records(list_models(store, "promoted"))

    return MeridianService(cfg, store, predict, status, reload)


def local_api(cfg: ServeAppConfig) -> FastAPI:
    return create_api(local_service(cfg))


def main(argv: list[str] | None = None) -> int:
    """``python -m serving.local --config FILE --port P [--options JSON]``: the API on uvicorn."""
    import argparse
    import json

    import uvicorn

    from serving.config import ServeArgs

    p = argparse.ArgumentParser(prog="python -m serving.local", description=main.__doc__)
    p.add_argument("--config")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8011)
    p.add_argument("--options", default="{}", help="ServeOptions as JSON")
    args = p.parse_args(argv)
    cfg = ServeArgs(config=args.config, options=json.loads(args.options)).resolve()
    uvicorn.run(local_api(cfg), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
