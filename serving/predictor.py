"""Per-model and ensemble predictions for the latest bar of a symbol, with a signal.

The predictor knows which promoted models cover which (symbol, horizon), computes the live
features once per new bar, asks every model for its prediction through ``call_model`` (an
in-process model book in tests and the plain-FastAPI floor, Serve deployment handles in the
application) and combines the answers. A model that fails is listed as missing with its reason
and the ensemble answers from the others."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import numpy as np
import pandas as pd

from models.ensembles.combine import apply_step
from models.registry import ModelRecord
from pipelines.times import duration_seconds, timeframe_offset, timeframe_seconds
from pipelines.trading.signals import long_short_flat
from serving.config import ServeOptions
from serving.errors import BadParameter, NotFound, ServingError
from serving.market import MarketData
from serving.panel import ServedPanels
from serving.regime import RegimeBook

CallModel = Callable[[str, str, pd.DataFrame], Awaitable[dict[str, Any]]]
# one model's answers for many rows at once (one per row of X, in order)
CallMany = Callable[[str, str, pd.DataFrame], Awaitable[list[dict[str, Any]]]]
class _Prep(dict):
    """A horizon's models and features, before they are asked (a plain dict: cached answers are too)."""


def parse_horizon(text: str) -> int:
    """'1h' -> 3600, '24h' and '1d' -> 86400 (seconds), by the one duration grammar (pipelines.times)."""
    try:
        return int(round(duration_seconds(text or "")))
    except ValueError:
        raise BadParameter(f"bad horizon {text!r}: use a positive count and a unit, e.g. 15m, 1h, 24h, 1d, 1w",
                           ("query", "horizons")) from None


def parse_horizons(text: str | None) -> list[str] | None:
    if text is None or not text.strip():
        return None
    parts = [p.strip() for p in text.split(",")]
    for p in parts:
        parse_horizon(p)
    return parts


def horizon_label(seconds: float) -> str:
    s = int(round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def record_horizon_s(rec: ModelRecord) -> int:
    return int(round(rec.horizon * timeframe_seconds(rec.timeframe)))


def version_of(rec: ModelRecord) -> str:
    return f"{rec.model_id}@{pd.Timestamp(rec.created_at).isoformat()}"


def signal_of(expected_return: float, confidence: float, threshold: float, min_confidence: float) -> str:
    """The backtest's long/short/flat rule on the ensemble's expected return; HOLD below the
    confidence floor."""
    pos = long_short_flat(pd.Series([expected_return]), threshold, allow_short=True).iloc[0]
    if confidence < min_confidence or pos == 0:
        return "HOLD"
    return "BUY" if pos > 0 else "SELL"


def equal_combiner(names: list[str]) -> dict:
    """The one combiner (models.ensembles.combine.apply_weights) with equal weights: the mix for a
    symbol and horizon no promoted strategy trades; a strategy's answer uses its own weights."""
    return {"models": list(names), "folds": [], "final": [1.0 / len(names)] * len(names), "end": None}


def strategy_answers(prediction: dict, models: tuple[str, ...], timeframe: str, horizon_bars: int
                     ) -> dict[str, pd.DataFrame]:
    """The served models' answers in a prediction that a strategy of ``models`` at
    (``timeframe``, ``horizon_bars``) decides from: model name -> one row indexed by the bar's ts."""
    out = {}
    for h in prediction.get("horizons", []):
        if h["timeframe"] != timeframe or h["horizon_bars"] != horizon_bars:
            continue
        ts = pd.DatetimeIndex([pd.Timestamp(h["ts"])], name="ts")
        for m in h["models"]:
            if m["name"] in models:
                out[m["name"]] = pd.DataFrame({"expected_return": [m["expected_return"]],
                                               "prob_up": [m["prob_up"]]}, index=ts)
    return out


class Predictor:
    def __init__(self, options: ServeOptions, threshold: float, market: MarketData,
                 records: list[ModelRecord], call_model: CallModel,
                 unavailable: dict[str, str] | None = None, call_many: CallMany | None = None,
                 call_panel: CallMany | None = None) -> None:
        self.options = options
        self.threshold = threshold
        self.market = market
        self.call_model = call_model
        self.call_many = call_many
        self.unavailable = dict(unavailable or {})  # model name -> why no deployment serves it
        self._cache: dict[tuple, dict] = {}
        self._generation = 0  # moves on every set_records: answers begun before it are not cached
        self.regimes = RegimeBook()
        self.panels = ServedPanels(market, options.panel_min_coverage, call_panel)
        self.set_records(records)

    def set_records(self, records: list[ModelRecord]) -> None:
        """Promoted records: forecasters feed the ensemble, regime models label the bar, panel
        models answer from their universe's cross-section (:mod:`serving.panel`)."""
        self.records = [r for r in records if r.kind == "forecaster"]
        self.regimes.set_records(records)
        self.panels.set_records(records)
        self._cache.clear()
        self._generation += 1

    def served_records(self) -> list[ModelRecord]:
        """Every promoted model a model deployment answers for: forecasters and panel models."""
        return [*self.records, *self.panels.records]

    def panel_status(self, status: dict[str, str | None]) -> dict[str, str | None]:
        """``status`` (model id -> None or why not loaded) with why a loaded panel model cannot
        be served now."""
        return self.panels.status(status)

    def by_horizon(self, symbol: str) -> dict[int, list[ModelRecord]]:
        out: dict[int, list[ModelRecord]] = {}
        for r in self.records:
            if symbol in r.symbols:
                out.setdefault(record_horizon_s(r), []).append(r)
        return dict(sorted(out.items()))

    def horizons(self, symbol: str) -> list[str]:
        return [horizon_label(s) for s in self.by_horizon(symbol)]

    async def predict(self, symbol: str, horizons: list[str] | None = None,
                      min_ts: dict[str, pd.Timestamp] | None = None) -> dict[str, Any]:
        """Predictions for every requested horizon (default: all served) from the latest bar;
        ``min_ts`` (timeframe -> bar time) makes sure bars at least that new are used. The
        promoted panel models whose universe holds the symbol answer under ``panels``."""
        panels = self.panels.of(symbol)
        if horizons:
            want = {parse_horizon(h) for h in horizons}
            panels = [r for r in panels if record_horizon_s(r) in want]
        groups = self.by_horizon(symbol)
        if panels and (not groups or (horizons and not any(parse_horizon(h) in groups for h in horizons))):
            out = self._panel_only(symbol, horizons, min_ts, panels)
        else:
            asset_class, groups, wanted, unavailable = self._plan(symbol, horizons, min_ts)
            parts = await asyncio.gather(*(self._horizon(symbol, s, groups[s]) for s in wanted if s in groups))
            out = self._finish(symbol, asset_class, groups, wanted, unavailable, list(parts))
        out["panels"], out["panels_missing"] = await self._panel_answers(symbol, panels)
        return out

    def _panel_only(self, symbol: str, horizons: list[str] | None, min_ts: dict[str, pd.Timestamp] | None,
                    panels: list[ModelRecord]) -> dict[str, Any]:
        """The answer's frame for a symbol only panel models serve."""
        asset_class = self.market.asset_class(symbol)  # NotFound for unknown symbols
        for tf, ts in (min_ts or {}).items():
            self.market.bars(symbol, tf, min_ts=ts)
        bars = self.market.bars(symbol, panels[0].timeframe)
        served = {record_horizon_s(r) for r in panels}
        return {"symbol": symbol, "asset_class": asset_class,
                "last_close": float(bars["close"].iloc[-1]) if len(bars) else None,
                "regime": None, "regime_missing": None, "horizons": [],
                "unavailable_horizons": [h for h in horizons or [] if parse_horizon(h) not in served]}

    async def _panel_answers(self, symbol: str, panels: list[ModelRecord]) -> tuple[list[dict], list[dict]]:
        """Each panel model's answer for ``symbol`` from its latest cross-section, or why not."""
        async def one(rec: ModelRecord) -> dict[str, Any]:
            try:
                ts, answers = await self.panels.answers(rec)
            except ServingError as exc:
                return {"error": str(exc)}
            a = answers.get(symbol) or {"error": f"{symbol} has no {rec.timeframe} feature row at "
                                                  f"{ts.isoformat()}, the cross-section's date"}
            if "error" in a:
                return a
            seconds = record_horizon_s(rec)
            return {"model_id": rec.model_id, "name": rec.name, "version": version_of(rec),
                    "label": str(rec.config.get("label", "fwd")), "horizon": horizon_label(seconds),
                    "horizon_bars": rec.horizon, "timeframe": rec.timeframe, "ts": ts.isoformat(),
                    "target_ts": (ts + timeframe_offset(rec.timeframe) * (rec.horizon + 1)).isoformat(), **a}
        got = await asyncio.gather(*(one(r) for r in panels))
        ok = [a for a in got if "error" not in a]
        missing = [{"model_id": r.model_id, "name": r.name, "reason": a["error"]}
                   for r, a in zip(panels, got) if "error" in a]
        return ok, missing

    async def predict_many(self, wanted: dict[str, dict[str, pd.Timestamp] | None]) -> dict[str, dict[str, Any]]:
        """:meth:`predict` for many symbols (symbol -> its ``min_ts``) in one round: every
        symbol's feature row first, then one call per model for all the rows it is asked, then
        each symbol's answer. Returns symbol -> the prediction or the ServingError it raised."""
        plans: dict[str, tuple] = {}
        out: dict[str, Any] = {}
        for symbol, min_ts in wanted.items():
            try:
                plans[symbol] = self._plan(symbol, None, min_ts)
            except ServingError as exc:
                out[symbol] = exc
        preps: dict[tuple[str, int], Any] = {}
        asks: dict[tuple[str, str], list[tuple[tuple[str, int], int, pd.DataFrame]]] = {}
        answers: dict[tuple[str, int], list] = {}
        for symbol, (_, groups, want, _) in plans.items():
            try:
                for seconds in (s for s in want if s in groups):
                    prep = self._prepare(symbol, seconds, groups[seconds])
                    preps[(symbol, seconds)] = prep
                    if not isinstance(prep, _Prep):   # cached
                        continue
                    answers[(symbol, seconds)] = [None] * len(prep["recs"])
                    for i, rec in enumerate(prep["recs"]):
                        if rec.name in self.unavailable:
                            answers[(symbol, seconds)][i] = {"error": self.unavailable[rec.name]}
                            continue
                        try:
                            X = self._row(rec, prep["feats"])
                        except Exception as exc:
                            answers[(symbol, seconds)][i] = {"error": f"{type(exc).__name__}: {exc}"}
                            continue
                        asks.setdefault((rec.name, rec.model_id), []).append(((symbol, seconds), i, X))
            except ServingError as exc:
                out[symbol] = exc
                plans.pop(symbol)

        async def one_model(key: tuple[str, str], items: list) -> None:
            try:
                got = await self._call_many(key[0], key[1], [x for _, _, x in items])
                if len(got) != len(items):
                    raise ServingError(f"{key[1]} answered {len(got)} rows for {len(items)}")
            except Exception as exc:   # a dead replica or a failed call: a missing model for every row
                got = [{"error": f"{type(exc).__name__}: {exc}"}] * len(items)
            for (where, i, _), a in zip(items, got):
                answers[where][i] = a
        await asyncio.gather(*(one_model(k, v) for k, v in asks.items()))
        for symbol, (asset_class, groups, want, unavailable) in plans.items():
            if symbol in out:
                continue
            try:
                parts = []
                for seconds in (s for s in want if s in groups):
                    prep = preps[(symbol, seconds)]
                    parts.append(prep if not isinstance(prep, _Prep)
                                 else self._assemble(seconds, prep, answers[(symbol, seconds)]))
                out[symbol] = self._finish(symbol, asset_class, groups, want, unavailable, parts)
                out[symbol]["panels"], out[symbol]["panels_missing"] = await self._panel_answers(
                    symbol, self.panels.of(symbol))   # each panel model's cross-section is asked once
            except ServingError as exc:
                out[symbol] = exc
        return out

    async def _call_many(self, name: str, model_id: str, rows: list[pd.DataFrame]) -> list[dict[str, Any]]:
        if self.call_many is None:
            return list(await asyncio.gather(*(self.call_model(name, model_id, X) for X in rows)))
        X = rows[0] if len(rows) == 1 else pd.concat(rows)
        return list(await self.call_many(name, model_id, X))

    def _plan(self, symbol: str, horizons: list[str] | None, min_ts: dict[str, pd.Timestamp] | None):
        asset_class = self.market.asset_class(symbol)  # NotFound for unknown symbols
        groups = self.by_horizon(symbol)
        for tf, ts in (min_ts or {}).items():
            self.market.bars(symbol, tf, min_ts=ts)
        if not groups:
            raise NotFound(f"no promoted model serves {symbol}: train and promote one "
                           f"(`python -m pipelines.jobs.train --symbols {symbol} --promote`)")
        wanted = {parse_horizon(h): h for h in horizons} if horizons else {s: horizon_label(s) for s in groups}
        unavailable = [label for s, label in wanted.items() if s not in groups]
        if len(unavailable) == len(wanted):
            raise NotFound(f"no promoted model for {symbol} at {', '.join(unavailable)}: "
                           f"served horizons are {', '.join(horizon_label(s) for s in groups)}")
        return asset_class, groups, wanted, unavailable

    def _finish(self, symbol: str, asset_class: str, groups, wanted, unavailable, parts: list) -> dict[str, Any]:
        last_close = None
        tf = groups[next(s for s in wanted if s in groups)][0].timeframe
        bars = self.market.bars(symbol, tf)
        if len(bars):
            last_close = float(bars["close"].iloc[-1])
        regime, regime_missing = None, None
        rrec = self.regimes.for_symbol(symbol, tf)
        if rrec is not None:
            regime, regime_missing = self.regimes.regime(rrec, self.market.features(symbol, tf))
        return {"symbol": symbol, "asset_class": asset_class, "last_close": last_close,
                "regime": regime, "regime_missing": regime_missing, "horizons": list(parts),
                "unavailable_horizons": unavailable}

    async def _horizon(self, symbol: str, seconds: int, recs: list[ModelRecord]) -> dict[str, Any]:
        prep = self._prepare(symbol, seconds, recs)
        if not isinstance(prep, _Prep):   # cached
            return prep
        answers = await asyncio.gather(*(self._ask(r, prep["feats"]) for r in prep["recs"]))
        return self._assemble(seconds, prep, list(answers))

    def _prepare(self, symbol: str, seconds: int, recs: list[ModelRecord]):
        """The cached answer of the horizon, or what its models are asked from (the features)."""
        tf = recs[0].timeframe
        recs = [r for r in recs if r.timeframe == tf]
        bars = self.market.bars(symbol, tf)
        key = (symbol, tf, seconds, bars["ts"].iloc[-1], len(bars))
        generation = self._generation
        if key in self._cache:
            return self._cache[key]
        feats = self.market.features(symbol, tf)
        if feats.empty:
            raise NotFound(f"{symbol} {tf}: too few bars for the features' warm-up ({len(bars)} bars)")
        return _Prep(key=key, generation=generation, tf=tf, recs=recs, bars=bars, feats=feats)

    def _assemble(self, seconds: int, prep: "_Prep", answers: list[dict[str, Any]]) -> dict[str, Any]:
        recs, feats, bars, tf = prep["recs"], prep["feats"], prep["bars"], prep["tf"]
        key, generation = prep["key"], prep["generation"]
        ok = [(r, a) for r, a in zip(recs, answers) if "error" not in a]
        missing = [{"model_id": r.model_id, "name": r.name, "reason": a["error"]}
                   for r, a in zip(recs, answers) if "error" in a]
        names = [r.model_id for r, _ in ok]
        w = equal_combiner(names)["final"] if ok else []
        models = [{"model_id": r.model_id, "name": r.name, "version": version_of(r),
                   "expected_return": a["expected_return"], "prob_up": a["prob_up"],
                   "confidence": a["confidence"], "weight": float(wi)} for (r, a), wi in zip(ok, w)]
        ensemble, signal = None, "HOLD"
        if ok:   # the combiner's final step on the one row (apply_weights' own arithmetic, without its frames)
            er, p, conf = (float(v[0]) for v in apply_step(
                equal_combiner(names)["final"], np.array([[a["expected_return"] for _, a in ok]], dtype="float64"),
                np.array([[a["prob_up"] for _, a in ok]], dtype="float64")))
            ensemble = {"method": "average", "expected_return": er, "prob_up": p, "confidence": conf}
            signal = signal_of(er, conf, self.threshold, self.options.min_confidence)
        ts = feats.index[-1]
        known_at = bars["known_at"].iloc[-1]
        horizon_bars = recs[0].horizon
        out = {"horizon": horizon_label(seconds), "horizon_bars": horizon_bars, "timeframe": tf,
               "ts": ts.isoformat(), "known_at": pd.Timestamp(known_at).isoformat(),
               "target_ts": (ts + timeframe_offset(tf) * (horizon_bars + 1)).isoformat(),
               "models": models, "ensemble": ensemble, "signal": signal, "missing": missing,
               "model_versions": {m["name"]: m["version"] for m in models}}
        if not missing and self.options.cache_predictions and generation == self._generation:
            self._cache[key] = out
            if len(self._cache) > 4096:
                self._cache.pop(next(iter(self._cache)))
        return out

    def _with_universe(self, rec: ModelRecord, X: pd.DataFrame) -> pd.DataFrame:
        """The row with the universe-stage columns the model was trained with, rebuilt over the
        symbols it was trained with (training's own code, from the bars in the store)."""
        from models.training.dataset import universe_frame
        symbol, ts = rec.symbols[0], X.index[-1]
        peers = list(rec.config["universe"])
        for peer in peers:   # every peer's bar at ts must be in: a rank over fewer symbols is another number
            last = self.market.bars(peer, rec.timeframe, min_ts=ts)["ts"].iloc[-1]
            if last < ts:
                raise ServingError(f"universe peer {peer} has no {rec.timeframe} bar at {ts.isoformat()} yet "
                                   f"(its last is {last.isoformat()})")
        xs = self.market.universe(peers, rec.timeframe)[symbol]
        return pd.concat([X, universe_frame(xs, X.index, exclude=X.columns)], axis=1)

    def _row(self, rec: ModelRecord, feats: pd.DataFrame) -> pd.DataFrame:
        """What ``rec`` is asked: the latest feature row (with the universe columns it needs)."""
        X = feats.iloc[[-1]]
        if rec.config.get("universe"):
            X = self._with_universe(rec, X)
        return X

    async def _ask(self, rec: ModelRecord, feats: pd.DataFrame) -> dict[str, Any]:
        if rec.name in self.unavailable:
            return {"error": self.unavailable[rec.name]}
        try:
            return await self.call_model(rec.name, rec.model_id, self._row(rec, feats))
        except Exception as exc:  # a dead replica or a failed call is a missing model, not a 500
            return {"error": f"{type(exc).__name__}: {exc}"}
