"""The model and ensemble deployments: thin Serve wrappers around the model book and the
predictor. One model deployment per model name (it holds every promoted model of that name,
all symbols and horizons); the ensemble computes live features and fans out to them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pandas as pd
from ray import serve
from ray.serve.handle import DeploymentHandle

from pipelines.store import open_store
from serving.config import ServeAppConfig
from serving.errors import ServingError
from serving.market import MarketData
from models.registry import list_models
from serving.model_book import ModelBook
from serving.predictor import Predictor
from serving.service import local_predict

log = logging.getLogger(__name__)


@serve.deployment
class ModelServer:
    """Every promoted forecaster and panel model of one model name, in memory."""

    def __init__(self, cfg: ServeAppConfig, name: str) -> None:
        self.name = name
        self.store = open_store(cfg.meridian.store)
        self.book = ModelBook(self.store, name).load()

    def predict(self, model_id: str, X: pd.DataFrame) -> dict[str, Any]:
        return self.book.predict(model_id, X)

    def predict_many(self, model_id: str, X: pd.DataFrame) -> list[dict[str, Any]]:
        """One answer per row of X (the rows of many symbols), in one call."""
        return self.book.predict_many(model_id, X)

    def predict_panel(self, model_id: str, X: pd.DataFrame) -> list[dict[str, Any]]:
        """A panel model's answers for one date's cross-section, from one call on all its rows."""
        return self.book.predict_panel(model_id, X)

    def status(self) -> dict[str, str | None]:
        return self.book.status()

    def reload(self) -> dict[str, str | None]:
        self.book.load()
        return self.book.status()


@serve.deployment
class EnsembleServer:
    """Live features for the latest bars, every model's prediction, the combination, the signal."""

    def __init__(self, cfg: ServeAppConfig, models: dict[str, DeploymentHandle],
                 unavailable: dict[str, str]) -> None:
        self.cfg = cfg
        self.models = models
        self.unavailable = unavailable
        self.store = open_store(cfg.meridian.store)
        o = cfg.options
        self.market = MarketData(self.store, cfg.meridian.features.feature_set, o.bars_refresh_s, o.history_bars,
                                 cfg.meridian.features.store_dtype)
        self.predictor = Predictor(o, cfg.meridian.trading.threshold, self.market,
                                   list_models(self.store, "promoted"), self._call, unavailable,
                                   call_many=self._call_many, call_panel=self._call_panel)

    async def _call(self, name: str, model_id: str, X: pd.DataFrame) -> dict[str, Any]:
        handle = self.models.get(name)
        if handle is None:
            return {"error": f"no deployment serves {name} models: redeploy the application"}
        return await handle.predict.remote(model_id, X)

    async def _call_many(self, name: str, model_id: str, X: pd.DataFrame) -> list[dict[str, Any]]:
        handle = self.models.get(name)
        if handle is None:
            return [{"error": f"no deployment serves {name} models: redeploy the application"}] * len(X)
        return await handle.predict_many.remote(model_id, X)

    async def _call_panel(self, name: str, model_id: str, X: pd.DataFrame) -> list[dict[str, Any]]:
        handle = self.models.get(name)
        if handle is None:
            return [{"error": f"no deployment serves {name} models: redeploy the application"}] * len(X)
        return await handle.predict_panel.remote(model_id, X)

    async def predict(self, symbol: str, horizons: list[str] | None = None,
                      min_ts: dict[str, pd.Timestamp] | None = None) -> dict:
        return await local_predict(self.predictor, symbol, horizons, min_ts)

    async def on_bars(self, records: list[dict]) -> dict[str, dict]:
        """New closed bars (records from the bar bus): appended to the kept series, their feature
        rows streamed, and a prediction for every symbol they reach that a promoted model serves,
        as {symbol: {"ok": prediction} or {"status", "reason"}}."""
        bars = pd.DataFrame(records)
        if bars.empty:
            return {}
        with self.market.held():   # one state of the store for the whole batch
            self.market.push(bars)
            newest = bars.sort_values("ts").groupby("symbol", sort=False).tail(1)
            wanted = {str(r.symbol): {str(r.timeframe): r.ts} for r in newest.itertuples()
                      if self.predictor.by_horizon(str(r.symbol))}
            # one round for the batch: every symbol's feature row, then one call per model
            answers = await self.predictor.predict_many(wanted)
        return {s: ({"status": a.status_code, "reason": str(a)} if isinstance(a, ServingError) else {"ok": a})
                for s, a in answers.items()}

    async def status(self) -> dict[str, str | None]:
        """model id -> None when served, else why not (one entry per promoted forecaster and
        panel model; a loaded panel model whose cross-section cannot be built says why)."""
        out: dict[str, str | None] = {}
        names = list(self.models)
        answers = await asyncio.gather(*(self.models[n].status.remote() for n in names), return_exceptions=True)
        for name, ans in zip(names, answers):
            if isinstance(ans, BaseException):
                for r in self.predictor.served_records():
                    if r.name == name:
                        out[r.model_id] = f"model deployment {name} failed: {ans}"
            else:
                out.update(ans)
        for r in self.predictor.served_records():
            if r.name in self.unavailable or r.model_id not in out:
                out[r.model_id] = self.unavailable.get(r.name, f"no deployment serves {r.name} models: redeploy")
        return self.predictor.panel_status(out)

    async def reload(self) -> dict[str, str | None]:
        await asyncio.gather(*(h.reload.remote() for h in self.models.values()))
        self.market.invalidate()
        self.predictor.set_records(list_models(self.store, "promoted"))
        return await self.status()
