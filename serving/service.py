"""The logic behind every route, as a plain object: the HTTP layer only parses and calls it,
tests call it directly, and the plain-FastAPI floor of the benchmark runs it without Serve.

Predictions come from ``predict`` (the ensemble deployment in the application, an in-process
:class:`~serving.predictor.Predictor` elsewhere); it answers ``{"ok": result}`` or
``{"status": code, "reason": text}`` so errors cross process boundaries as data."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

import pandas as pd

from models.registry import get as get_model, list_models, promote as promote_model
from pipelines.features import sessions as sessions_mod
from pipelines.times import timeframe_seconds
from pipelines.trading.actions import trade_action
from pipelines.errors import DataError
from pipelines.trading.replay import account_equity, account_positions, account_status, default_account
from pipelines.trading.served import ServedStrategy
from pipelines.trading.strategy import Strategy, list_strategies
from pipelines.store.base import Store
from serving import insights, portfolio as portfolio_mod
from serving.config import ServeAppConfig
from serving.errors import BadParameter, NotFound, ServingError, Unavailable
from serving.market import MarketData
from serving.models_view import models_info
from serving.panel import panel_summary
from serving.predictor import Predictor, horizon_label, record_horizon_s, strategy_answers
from serving.stream import bar_dict
from serving.training import TrainingTracker

MinTs = dict[str, pd.Timestamp] | None  # timeframe -> the newest bar the answer must use
PredictFn = Callable[[str, list[str] | None, MinTs], Awaitable[dict]]
StatusFn = Callable[[], Awaitable[dict[str, str | None]]]
ReloadFn = Callable[[], Awaitable[Any]]


def session_status(now: pd.Timestamp) -> dict:
    """Which trading sessions are open at ``now`` (pipelines.features.sessions)."""
    return sessions_mod.session_status(now)


async def local_predict(predictor: Predictor, symbol: str, horizons: list[str] | None,
                        min_ts: MinTs = None) -> dict:
    """Run the predictor and turn a ServingError into data (what the ensemble deployment does)."""
    try:
        return {"ok": await predictor.predict(symbol, horizons, min_ts)}
    except ServingError as exc:
        return {"status": exc.status_code, "reason": str(exc)}


log = logging.getLogger(__name__)


class MeridianService:
    def __init__(self, cfg: ServeAppConfig, store: Store, predict: PredictFn, load_status: StatusFn,
                 reload: ReloadFn, clock: Callable[[], pd.Timestamp] | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self._predict = predict
        self._load_status = load_status
        self._reload = reload
        self.clock = clock or (lambda: pd.Timestamp.now(tz="UTC"))
        # the running ingress replicas' direct URLs (set by the Serve ingress; none without Serve)
        self.direct_ingress: Callable[[], Awaitable[list[dict]]] | None = None
        o = cfg.options
        self.market = MarketData(store, cfg.meridian.features.feature_set, o.bars_refresh_s, o.history_bars,
                        cfg.meridian.features.store_dtype)
        self.tracker = TrainingTracker(cfg.meridian, o.tune_root)
        self._memo: dict[tuple, dict] = {}
        self._inflight: dict[tuple, asyncio.Future] = {}
        self._generation = 0
        self._status_cache: tuple[float, int, dict[str, str | None]] | None = None
        self._scorer = None
        self.live = None   # serving.live.LiveFeed when the application follows the bar bus
        self._decisions: dict[tuple, dict] = {}   # (strategy, newest bars) -> its served decision
        self.served: dict[str, ServedStrategy] = {}   # strategy id -> its decision, carried from request to request

    # -- strategies ----------------------------------------------------------------------------
    def promoted_strategies(self) -> list[Strategy]:
        return list_strategies(self.store, "promoted")

    async def _live_views(self, st: Strategy, symbol: str) -> dict[str, pd.DataFrame]:
        """What the served models answered for the newest bar of ``symbol`` at the strategy's
        horizon (model name -> one row), or nothing when no promoted model serves it."""
        label = horizon_label(st.horizon * timeframe_seconds(st.timeframe))
        try:
            res = await self._predict(symbol, [label], self.market.latest(symbol))
        except Exception:
            return {}
        return strategy_answers(res.get("ok") or {}, st.models, st.timeframe, st.horizon)

    async def decision(self, st: Strategy) -> dict:
        """The strategy's decision at its newest decidable bar: the run's predictions, then what the
        served models answer for bars after them. Carried per strategy
        (:class:`pipelines.trading.served.ServedStrategy`: a new bar is decided alone, with the
        numbers of :func:`pipelines.trading.replay.served_decision` over the whole history), and
        memoised per (strategy, newest bars of its symbols)."""
        latest = []
        for s in st.symbols:
            try:
                latest.append((s, tuple(sorted(self.market.latest(s).items()))))
            except ServingError:
                latest.append((s, ()))
        key = (st.strategy_id, tuple(latest), self._generation)
        if key in self._decisions:
            return self._decisions[key]
        live = {s: await self._live_views(st, s) for s in st.symbols}
        carried = self.served.get(st.strategy_id)
        if carried is None or carried.st != st:
            carried = self.served[st.strategy_id] = ServedStrategy(self.store, st)
        out = await asyncio.to_thread(carried.advance, {s: v for s, v in live.items() if v})
        if len(self._decisions) > 256:
            self._decisions.clear()
        self._decisions[key] = out
        return out

    async def strategy_states(self) -> tuple[list[dict], list[str]]:
        """(served decisions, 'id: reason' for promoted strategies that cannot be served)."""
        served, missing = [], []
        for st in self.promoted_strategies():
            try:
                served.append(await self.decision(st))
            except Exception as exc:
                missing.append(f"{st.strategy_id}: {type(exc).__name__}: {exc}")
        return served, missing

    async def strategy_account(self, strategy_id: str | None, account: str | None) -> dict:
        """A strategy's paper account (:func:`pipelines.trading.replay.account_status`, the
        computation `meridian paper status` prints): ``strategy_id``, else the strategy
        ``account`` trades, else the only promoted one (serving.portfolio.choose_strategy)."""
        st = portfolio_mod.choose_strategy(self.store, strategy_id, account)
        return await self._account_read(account_status, st, account, self.cfg.meridian.portfolio.initial_cash)

    async def _account_read(self, fn, st: Strategy, account: str | None, *args):
        """``fn(store, st, account, *args)`` in a worker thread, its errors as answers."""
        try:
            return await asyncio.to_thread(fn, self.store, st, account, *args)
        except ValueError as exc:   # the account trades another strategy
            raise BadParameter(str(exc), ("query", "account")) from None
        except DataError as exc:    # e.g. the strategy's run is gone
            raise Unavailable(f"the account of strategy {st.strategy_id} cannot be read: {exc}") from None

    async def strategies(self) -> dict:
        served, missing = await self.strategy_states()
        return {"strategies": served, "missing": missing}

    # -- reads ---------------------------------------------------------------------------------
    async def _status(self) -> dict[str, str | None]:
        """Every model's load status, asked of the deployments at most once per ``status_ttl_s``
        (and again after a reload), so a monitor polling /health does not ask every model each time."""
        now = time.monotonic()
        cached = self._status_cache
        if cached is not None and cached[1] == self._generation and now - cached[0] < self.cfg.options.status_ttl_s:
            return cached[2]
        try:
            status = await self._load_status()
        except Exception as exc:  # the model side is down: say so, do not fail the read
            log.warning("model deployments unreachable: %s", exc)
            return {"(model deployments)": f"unreachable ({type(exc).__name__})"}
        self._status_cache = (now, self._generation, status)
        return status

    async def health(self) -> dict:
        if self.live is not None:
            self.live.start()
        status = await self._status()
        panels = [r.model_id for r in list_models(self.store, "promoted") if r.kind == "panel"]
        missing = [f"{mid}: {err}" for mid, err in status.items() if err and mid not in panels]
        panels_missing = [f"{mid}: {status.get(mid) or 'not held by the model deployments (reload)'}"
                          for mid in panels if status.get(mid, "") is not None]
        served, st_missing = await self.strategy_states()
        return {"status": "degraded" if missing or st_missing or panels_missing else "ok",
                "time": self.clock().isoformat(), "store": self.cfg.meridian.store.backend,
                "models_loaded": sum(1 for e in status.values() if e is None), "models_missing": missing,
                "strategies_served": [d["strategy_id"] for d in served], "strategies_missing": st_missing,
                "panels_served": [mid for mid in panels if mid in status and status[mid] is None],
                "panels_missing": panels_missing, "instance": self.cfg.instance}

    async def ingress(self) -> dict:
        direct = await self.direct_ingress() if self.direct_ingress is not None else []
        return {"instance": self.cfg.instance, "direct": direct}

    def _panel_universe(self) -> set[str]:
        """Symbols of the promoted panel models' universes."""
        return {s for r in list_models(self.store, "promoted") if r.kind == "panel" for s in r.symbols}

    async def assets(self) -> dict:
        """Every series with its bars and served horizons, and per symbol of a panel model's universe
        the panel models' latest answers (the /predictions answers, memoised per bar)."""
        recs = [r for r in list_models(self.store, "promoted") if r.kind == "forecaster"]
        series = self.market.series()
        preds = await self.batch(sorted(set(series["symbol"]) & self._panel_universe()), None)
        panels = {p["symbol"]: p.get("panels", []) for p in preds["results"]}
        out = []
        for _, s in series.iterrows():
            bars = self.market.bars(s["symbol"], s["timeframe"])
            hs = sorted({record_horizon_s(r) for r in recs if s["symbol"] in r.symbols and r.timeframe == s["timeframe"]})
            out.append({"symbol": s["symbol"], "asset_class": s["asset_class"], "timeframe": s["timeframe"],
                        "last_ts": bars["ts"].iloc[-1].isoformat() if len(bars) else None,
                        "last_close": float(bars["close"].iloc[-1]) if len(bars) else None,
                        "bars": int(len(bars)), "horizons": [horizon_label(h) for h in hs],
                        "panels": [a for a in panels.get(s["symbol"], []) if a["timeframe"] == s["timeframe"]]})
        return {"assets": out, "errors": preds["errors"]}

    async def prediction(self, symbol: str, horizons: list[str] | None) -> dict:
        """The models' predictions for the newest bar and, for every promoted strategy trading
        ``symbol``, the strategy's decision (its combined view, target and signal); a horizon a
        strategy trades shows the strategy's combined view as its ensemble and its signal."""
        sts = [st for st in self.promoted_strategies() if symbol in st.symbols]
        try:
            out = await self._model_prediction(symbol, horizons)
        except NotFound:
            if not sts:
                raise
            last = self.market.bars(symbol)
            out = {"symbol": symbol, "asset_class": self.market.asset_class(symbol),
                   "last_close": float(last["close"].iloc[-1]) if len(last) else None,
                   "regime": None, "regime_missing": None, "horizons": [], "unavailable_horizons": []}
        if not sts:
            return out   # the memoised answer itself (strategies default to none)
        decided, failed = [], []
        for st in sts:
            try:
                d = (await self.decision(st))["symbols"][symbol]
            except Exception as exc:   # listed with its reason, as /health lists it
                failed.append(f"{st.strategy_id}: {type(exc).__name__}: {exc}")
                continue
            decided.append({"strategy_id": st.strategy_id, "name": st.name, "rule": st.rule, **d,
                            **dict(zip(("action", "reason"), trade_action(
                                d["signal"], d["held"], st.signal.allow_short)))})
        horizons_out = []
        for h in out["horizons"]:
            mine = next((d for d in decided if d["timeframe"] == h["timeframe"]
                         and d["horizon_bars"] == h["horizon_bars"] and d["ts"] == h["ts"]
                         and d["expected_return"] is not None), None)
            if mine is not None:
                h = {**h, "signal": mine["signal"],
                     "ensemble": {"method": f"strategy {mine['strategy_id']}",
                                  **{k: mine[k] for k in ("expected_return", "prob_up", "confidence")}}}
            horizons_out.append(h)
        return {**out, "horizons": horizons_out, "strategies": decided, "strategies_missing": failed}

    async def _model_prediction(self, symbol: str, horizons: list[str] | None) -> dict:
        """Memoised per latest bar: a repeated request between two bars is answered here, and a
        new bar (or a reload) makes the next request ask the predictor again. Requests for the
        same answer that arrive while it is being computed (every client asking at a bar's close)
        wait for that one computation instead of each asking every model."""
        latest = self.market.latest(symbol)
        key = (symbol, tuple(horizons) if horizons else None, tuple(sorted(latest.items())), self._generation)
        if key in self._memo:
            return self._memo[key]
        if not self.cfg.options.cache_predictions:
            return await self._compute(key, symbol, horizons, latest)
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._compute(key, symbol, horizons, latest))
            self._inflight[key] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(pending)

    async def _compute(self, key: tuple, symbol: str, horizons: list[str] | None,
                       latest: dict[str, pd.Timestamp]) -> dict:
        try:
            res = await self._predict(symbol, horizons, latest)
        except Exception as exc:
            raise Unavailable(f"the prediction service did not answer ({type(exc).__name__}: {exc}); "
                              "retry in a few seconds") from None
        if "ok" in res:
            out = res["ok"]
            # a panel answer depends on every universe symbol's bars: reused only once it is made
            # from this symbol's newest bar (no universe symbol lags behind it)
            complete = (all(not h.get("missing") and pd.Timestamp(h["ts"]) == latest.get(h["timeframe"])
                            for h in [*out["horizons"], *out.get("panels", [])])
                        and not out.get("panels_missing"))
            if complete and self.cfg.options.cache_predictions and key[-1] == self._generation:
                if len(self._memo) > 4096:
                    self._memo.clear()
                self._memo[key] = out
            return out
        code = res.get("status", 500)
        raise {404: NotFound, 422: BadParameter}.get(code, Unavailable)(res.get("reason", "prediction failed"))

    async def batch(self, symbols: list[str], horizons: list[str] | None) -> dict:
        uniq = list(dict.fromkeys(symbols))
        answers = await asyncio.gather(*(self._safe(s, horizons) for s in uniq))
        results = [a["ok"] for a in answers if "ok" in a]
        errors = [{"symbol": s, "status": a["status"], "reason": a["reason"]}
                  for s, a in zip(uniq, answers) if "ok" not in a]
        return {"results": results, "errors": errors}

    async def _safe(self, symbol: str, horizons: list[str] | None) -> dict:
        try:
            return {"ok": await self.prediction(symbol, horizons)}
        except ServingError as exc:
            return {"status": exc.status_code, "reason": str(exc)}

    async def predict_at_least(self, symbol: str, timeframe: str, ts: pd.Timestamp) -> dict:
        """A prediction made from bars that reach at least ``ts`` (for the stream), as data."""
        return await self._predict(symbol, None, {timeframe: ts})

    async def sessions(self) -> dict:
        return session_status(self.clock())

    async def overview(self, top: int = 5) -> dict:
        series = self.market.series()
        served = {s for r in list_models(self.store, "promoted") if r.kind == "forecaster" for s in r.symbols}
        preds = await self.batch(sorted(set(series["symbol"]) & (served | self._panel_universe())), None)
        by_symbol = {p["symbol"]: p for p in preds["results"]}
        cards, tops = [], []
        for ac, grp in series.groupby("asset_class", sort=True):
            assets = []
            for sym in sorted(grp["symbol"].unique()):
                bars = self.market.bars(sym)
                last = float(bars["close"].iloc[-1]) if len(bars) else None
                prev = float(bars["close"].iloc[-2]) if len(bars) > 1 else None
                first = ((by_symbol.get(sym) or {}).get("horizons") or [None])[0]
                ens = first["ensemble"] if first else None
                assets.append({"symbol": sym, "last_close": last,
                               "change_pct": (last / prev - 1) * 100 if last and prev else None,
                               "signal": first["signal"] if first else None,
                               "expected_return": ens["expected_return"] if ens else None,
                               "confidence": ens["confidence"] if ens else None})
                for h in (by_symbol.get(sym) or {}).get("horizons", []):
                    if h["ensemble"]:
                        tops.append({"symbol": sym, "horizon": h["horizon"], "signal": h["signal"],
                                     "expected_return": h["ensemble"]["expected_return"],
                                     "confidence": h["ensemble"]["confidence"]})
            sig = [a["signal"] for a in assets]
            cards.append({"asset_class": str(ac), "n_assets": len(assets), "buy": sig.count("BUY"),
                          "sell": sig.count("SELL"), "hold": sig.count("HOLD"), "assets": assets})
        tops.sort(key=lambda t: (t["signal"] == "HOLD", -t["confidence"] * abs(t["expected_return"])))
        panels, panels_missing = panel_summary(preds["results"], top)
        return {"generated_at": self.clock().isoformat(), "sessions": await self.sessions(), "cards": cards,
                "top_predictions": tops[:top], "panels": panels, "panels_missing": panels_missing,
                "errors": preds["errors"]}

    async def indicators(self, symbol: str) -> dict:
        return insights.indicators(self.market, symbol)

    async def risk(self, symbol: str) -> dict:
        return insights.risk(self.market, symbol)

    async def sentiment(self, symbol: str, window_days: int) -> dict:
        bars = self.market.bars(symbol)
        as_of = min(self.clock(), pd.Timestamp(bars["known_at"].iloc[-1]))
        return insights.sentiment(self.store, symbol, window_days, now=as_of, scorer=self.scorer())

    def scorer(self):
        """The configured sentiment scorer, built once (the trained model from the models folder)."""
        if self._scorer is None:
            from pipelines.errors import ModelError
            from pipelines.sentiment.scorer import SentimentScorer
            m = self.cfg.meridian
            try:
                self._scorer = SentimentScorer(m.sentiment, models_dir=m.models_dir)
            except ModelError as exc:
                raise Unavailable(f"the configured sentiment scorer ({m.sentiment.model}) cannot load: {exc}") from None
        return self._scorer

    async def bars(self, symbol: str, limit: int) -> dict:
        bars = self.market.bars(symbol).iloc[-limit:]
        return {"symbol": symbol, "timeframe": str(bars["timeframe"].iloc[-1]),
                "bars": [bar_dict(r) for _, r in bars.iterrows()]}

    async def equity(self, strategy_id: str | None, account: str | None) -> dict:
        """The account's equity at every bar it processed (the numbers /portfolio's equity ends on)."""
        st = portfolio_mod.choose_strategy(self.store, strategy_id, account)
        points = await self._account_read(account_equity, st, account, self.cfg.meridian.portfolio.initial_cash)
        return {"account": account or default_account(st), "strategy_id": st.strategy_id, "points": points}

    async def portfolio(self, strategy_id: str | None, account: str | None) -> dict:
        return await self.strategy_account(strategy_id, account)

    async def actions(self, strategy_id: str | None, account: str | None) -> dict:
        """What to do now in a strategy's account: per symbol, the strategy's decision (its
        target and signal) against the position the account holds, and advice for that position."""
        st = portfolio_mod.choose_strategy(self.store, strategy_id, account)
        positions = await self._account_read(account_positions, st, account)
        try:
            dec = await self.decision(st)
        except Exception as exc:
            raise Unavailable(f"strategy {st.strategy_id} cannot be served: {type(exc).__name__}: {exc}") from None
        return portfolio_mod.actions(st, account or default_account(st), dec, positions)

    async def models(self, status: str | None) -> dict:
        return {"models": models_info(self.store, await self._status(), status)}

    async def training(self) -> dict:
        return self.tracker.status()

    # -- writes --------------------------------------------------------------------------------
    async def promote(self, model_id: str) -> dict:
        try:
            before = {r.model_id for r in list_models(self.store, "promoted")}
            get_model(self.store, model_id)
        except Exception as exc:
            raise NotFound(str(exc)) from None
        rec = promote_model(self.store, model_id)
        after = {r.model_id for r in list_models(self.store, "promoted")}
        reloaded = True
        self._generation += 1
        self._memo.clear()
        try:
            await self._reload()
        except Exception:
            reloaded = False
        # answers computed while the replicas reloaded may come from the old models: not reused
        self._generation += 1
        self._memo.clear()
        return {"model_id": rec.model_id, "status": rec.status, "retired": sorted(before - after),
                "reloaded": reloaded}

    async def retrain(self, symbols: list[str], models: list[str] | None, horizon: int | None,
                      promote: bool) -> dict:
        from models.zoo import model_class
        for s in symbols:
            self.market.timeframes(s)
        names = models or list(self.cfg.meridian.models.names)
        for m in names:
            try:
                model_class(m)
            except Exception as exc:
                raise BadParameter(str(exc), ("body", "models")) from None
        return self.tracker.start(symbols, names, horizon or self.cfg.meridian.walkforward.horizon, promote)

    async def paper(self, running: bool, strategy_id: str | None, account: str | None) -> dict:
        """Switch a strategy account's stepping (the live loop and `meridian paper run` honour it)."""
        return await asyncio.to_thread(portfolio_mod.switch, self.store, running, strategy_id, account)
