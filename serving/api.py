"""The HTTP API: typed routes over a :class:`~serving.service.MeridianService`.

Reads are public unless ``read_requires_key``; writes always need the ``X-API-Key`` header to
match the configured key (and are refused while none is configured). Errors answer with a
``detail`` that says what went wrong: 404 unknown symbol or model, 422 bad parameter."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, WebSocket
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.websockets import WebSocketDisconnect

from pipelines.errors import StoreError
from serving import schemas as S
from serving.errors import BadParameter, ServingError, public_reason
from serving.predictor import parse_horizons
from serving.service import MeridianService
from serving.stream import stream_updates

log = logging.getLogger(__name__)
NOT_FOUND = {404: {"model": S.Error, "description": "unknown symbol, model or horizon"}}
KEYED = {401: {"model": S.Error, "description": "missing or wrong X-API-Key"},
         403: {"model": S.Error, "description": "no API key configured: writes are disabled"}}
SYMBOL = Path(..., min_length=1, max_length=40, description="e.g. EURUSD, BTCUSDT, AAPL")
ACCOUNT = {404: {"model": S.Error, "description": "unknown strategy or account, or none promoted"},
           503: {"model": S.Error, "description": "the strategy's account cannot be read (e.g. its run is gone)"}}
STRATEGY = Query(None, min_length=1, max_length=200,
                 description="stored strategy id; default: the strategy `account` trades, else the only "
                             "promoted one (several promoted: 422 listing them)")
ACCOUNT_Q = Query(None, min_length=1, max_length=200, description="account name; default: paper:<strategy id>")


def _key_ok(given: str | None, expected: str | None) -> bool:
    return bool(given and expected and hmac.compare_digest(given.encode(), expected.encode()))


def create_api(service: MeridianService) -> FastAPI:
    cfg = service.cfg
    # FastAPIOffline serves Swagger UI's files itself: /docs works with no internet (FastAPI's
    # default page loads them from a CDN and is blank offline)
    app = FastAPIOffline(title="Meridian", version="1.0",
                         description="Predictions, signals, portfolio and live updates for crypto, stocks and forex.")

    async def need_key(x_api_key: str | None = Header(None, description="the API key from configuration")) -> None:
        if cfg.api_key is None:
            raise HTTPException(403, "write endpoints are disabled: no API key is configured "
                                     "(set MERIDIAN__SERVING__API_KEY)")
        if not _key_ok(x_api_key, cfg.api_key):
            raise HTTPException(401, "missing or wrong X-API-Key header")

    async def read_key(x_api_key: str | None = Header(None, description="needed when reads are keyed")) -> None:
        await need_key(x_api_key)

    @app.exception_handler(ServingError)
    async def _serving_error(_: Request, exc: ServingError) -> JSONResponse:
        if isinstance(exc, BadParameter):
            detail = [{"loc": list(exc.loc), "msg": str(exc), "type": "value_error"}]
            return JSONResponse({"detail": detail}, status_code=422)
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.exception_handler(StoreError)
    async def _store_error(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": f"the store is unavailable: {exc}"}, status_code=503)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")  # the details stay in the log: they can carry paths and pids
        return JSONResponse({"detail": public_reason(exc)}, status_code=500)

    # open reads carry no dependency at all: resolving one costs a sizeable share of a cached answer
    reads = [Depends(read_key)] if cfg.options.read_requires_key else []
    writes = [Depends(need_key)]

    @app.get("/health", response_model=S.Health)
    async def health():
        return await service.health()

    @app.get("/ingress", response_model=S.Ingress)
    async def ingress():
        """Where the API answers directly: ask the proxy (its port is fixed), then use a URL."""
        return await service.ingress()

    @app.get("/assets", response_model=S.Assets, dependencies=reads, responses=KEYED)
    async def assets():
        return await service.assets()

    @app.get("/predictions/batch", include_in_schema=False)
    async def batch_needs_post():
        raise HTTPException(405, 'the batch takes POST /predictions/batch with {"symbols": [...]}',
                            headers={"Allow": "POST"})

    @app.get("/predictions/{symbol}", response_model=S.Prediction, dependencies=reads, responses={**KEYED, **NOT_FOUND})
    async def prediction(symbol: str = SYMBOL,
                         horizons: str | None = Query(None, max_length=200, description="comma-separated, e.g. 1h,24h")):
        return await service.prediction(symbol, parse_horizons(horizons))

    @app.post("/predictions/batch", response_model=S.BatchResponse, dependencies=reads, responses=KEYED)
    async def batch(req: S.BatchRequest):
        hs = parse_horizons(",".join(req.horizons)) if req.horizons else None
        return await service.batch(req.symbols, hs)

    @app.get("/overview", response_model=S.Overview, dependencies=reads, responses=KEYED)
    async def overview(top: int = Query(5, ge=1, le=50)):
        return await service.overview(top)

    @app.get("/sessions", response_model=S.Sessions, dependencies=reads, responses=KEYED)
    async def sessions():
        return await service.sessions()

    @app.get("/assets/{symbol}/indicators", response_model=S.Indicators, dependencies=reads, responses={**KEYED, **NOT_FOUND})
    async def indicators(symbol: str = SYMBOL):
        return await service.indicators(symbol)

    @app.get("/assets/{symbol}/sentiment", response_model=S.Sentiment, dependencies=reads, responses={**KEYED, **NOT_FOUND})
    async def sentiment(symbol: str = SYMBOL, window_days: int = Query(7, ge=1, le=365)):
        return await service.sentiment(symbol, window_days)

    @app.get("/assets/{symbol}/bars", response_model=S.Bars, dependencies=reads, responses={**KEYED, **NOT_FOUND})
    async def bars(symbol: str = SYMBOL, limit: int = Query(500, ge=1, le=5000)):
        return await service.bars(symbol, limit)

    @app.get("/assets/{symbol}/risk", response_model=S.Risk, dependencies=reads, responses={**KEYED, **NOT_FOUND})
    async def risk(symbol: str = SYMBOL):
        return await service.risk(symbol)

    @app.get("/portfolio", response_model=S.Portfolio, dependencies=reads, responses={**KEYED, **ACCOUNT})
    async def portfolio(strategy: str | None = STRATEGY, account: str | None = ACCOUNT_Q):
        """A strategy's paper account: what `meridian paper status --strategy ID --json` prints."""
        return await service.portfolio(strategy, account)

    @app.get("/portfolio/equity", response_model=S.Equity, dependencies=reads, responses={**KEYED, **ACCOUNT})
    async def equity(strategy: str | None = STRATEGY, account: str | None = ACCOUNT_Q):
        return await service.equity(strategy, account)

    @app.get("/portfolio/actions", response_model=S.Actions, dependencies=reads, responses={**KEYED, **ACCOUNT})
    async def actions(strategy: str | None = STRATEGY, account: str | None = ACCOUNT_Q):
        return await service.actions(strategy, account)

    @app.get("/strategies", response_model=S.Strategies, dependencies=reads, responses=KEYED)
    async def strategies():
        return await service.strategies()

    @app.get("/strategies/{strategy_id}/account", response_model=S.StrategyAccount, dependencies=reads,
             responses={**KEYED, **ACCOUNT})
    async def strategy_account(strategy_id: str = Path(..., min_length=1, max_length=200),
                               account: str | None = Query(None, max_length=200,
                                                           description="default: paper:<strategy id>")):
        return await service.strategy_account(strategy_id, account)

    @app.get("/models", response_model=S.Models, dependencies=reads, responses=KEYED)
    async def models(status: Literal["candidate", "promoted", "retired"] | None = Query(None)):
        return await service.models(status)

    @app.get("/training", response_model=S.Training, dependencies=reads, responses=KEYED)
    async def training():
        return await service.training()

    @app.post("/models/{model_id}/promote", response_model=S.Promoted, dependencies=writes, responses={**KEYED, **NOT_FOUND})
    async def promote(model_id: str = Path(..., min_length=1, max_length=200)):
        return await service.promote(model_id)

    @app.post("/training/retrain", response_model=S.TrainingRun, status_code=202, dependencies=writes, responses={**KEYED, **NOT_FOUND})
    async def retrain(req: S.RetrainRequest):
        return await service.retrain(req.symbols, req.models, req.horizon, req.promote)

    @app.post("/paper/{action}", response_model=S.PaperState, dependencies=writes, responses={**KEYED, **ACCOUNT})
    async def paper(action: Literal["start", "stop"], req: S.PaperControl | None = None):
        """Switch a strategy account's stepping on or off (body: strategy and/or account; default:
        the only promoted strategy's account)."""
        return await service.paper(action == "start", req.strategy if req else None, req.account if req else None)

    @app.websocket("/stream")
    async def stream(ws: WebSocket, symbols: str | None = None, api_key: str | None = None):
        if cfg.options.read_requires_key and not _key_ok(api_key or ws.headers.get("x-api-key"), cfg.api_key):
            await ws.close(code=1008, reason="missing or wrong API key")
            return
        await ws.accept()
        try:
            await stream_updates(service, ws, symbols)
        except (WebSocketDisconnect, asyncio.CancelledError):
            pass
        except Exception as exc:  # never drop the socket without a close frame
            log.exception("stream failed")
            await ws.close(code=1011, reason=public_reason(exc)[:120])

    return app
