"""Promoted panel models served: the cross-section a panel model is asked, built as the panel
walk-forward built its rows.

A panel model (registry kind "panel") was fitted on every symbol of its universe at once, on
features ranked per date across those symbols (:mod:`models.training.panel`). To serve it, every
universe symbol's features come from its own bars (the same feature specs, through
:class:`~serving.market.MarketData`), up to the **latest common decidable date**: the newest bar
time every universe symbol with bars has reached. The rows of that date are ranked across the
symbols that have one by :func:`models.training.panel.cross_section` (the walk-forward's own
ranking, no other normalisation), the model predicts the whole cross-section in one call, and
each requested symbol gets its row.

A cross-section holding fewer than ``ServeOptions.panel_min_coverage`` of the universe (and
never fewer than two symbols: a rank over one symbol is no rank) is not served: the model is
listed as missing with the reason, by /health too."""

from __future__ import annotations

import asyncio
import math
from typing import Any, Awaitable, Callable

import pandas as pd

from models.registry import ModelRecord
from models.training.panel import cross_section, cross_sectional_rank
from serving.errors import NotFound, ServingError, Unavailable
from serving.market import MarketData


class PanelUnservable(Unavailable):
    """A promoted panel model's cross-section cannot be built now (too few symbols with bars)."""


def min_symbols(universe: list[str], coverage: float) -> int:
    """The fewest symbols a served cross-section of this universe may hold."""
    return max(2, math.ceil(coverage * len(universe) - 1e-9))


def universe_bars(market: MarketData, rec: ModelRecord) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Each universe symbol's bars in the model's timeframe, and why the others have none."""
    bars, missing = {}, {}
    for s in rec.symbols:
        try:
            bars[s] = market.bars(s, rec.timeframe)
        except NotFound as exc:
            missing[s] = str(exc)
    return bars, missing


def state_key(bars: dict[str, pd.DataFrame]) -> tuple:
    """What a served cross-section depends on: every universe symbol's newest bar and bar count."""
    return tuple((s, b["ts"].iloc[-1], len(b)) for s, b in sorted(bars.items()))


def decidable_date(bars: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """The newest bar time every symbol with bars has reached."""
    return min(b["ts"].iloc[-1] for b in bars.values())


def served_cross_section(market: MarketData, rec: ModelRecord, coverage: float
                         ) -> tuple[pd.Timestamp, pd.DataFrame]:
    """(date, ranked feature rows of that date indexed by (ts, symbol), columns = the model's
    features); :class:`PanelUnservable` when too few universe symbols have a row that date."""
    need = min_symbols(rec.symbols, coverage)
    bars, missing = universe_bars(market, rec)
    if len(bars) < need:
        raise PanelUnservable(
            f"{len(bars)} of the {len(rec.symbols)} universe symbols have {rec.timeframe} bars, fewer than "
            f"the {need} a cross-section needs (panel_min_coverage in `meridian serve --options`); "
            f"without bars: {', '.join(sorted(missing))}")
    ts = decidable_date(bars)
    feats = {s: market.features(s, rec.timeframe) for s in bars}
    present = [s for s, f in feats.items() if len(f) and ts in f.index]
    if len(present) < need:
        absent = sorted(set(rec.symbols) - set(present))
        raise PanelUnservable(
            f"{len(present)} of the {len(rec.symbols)} universe symbols have a {rec.timeframe} feature row at "
            f"{ts.isoformat()}, fewer than the {need} a cross-section needs; none for {', '.join(absent)}")
    X = cross_section({s: feats[s] for s in present}, ts)
    lost = [c for c in rec.features if c not in X.columns]
    if lost:
        raise PanelUnservable(f"the live features lack {', '.join(lost[:5])} that {rec.model_id} was "
                              f"trained with: serve the feature set it was trained on")
    return ts, X[list(rec.features)]


def symbol_answers(rec: ModelRecord, ts: pd.Timestamp, X: pd.DataFrame, answers: list[dict]) -> dict[str, dict]:
    """symbol -> its answer in the cross-section (the model's output, and that output's
    cross-sectional rank in [-0.5, 0.5] among the symbols answered), or ``{"error": ...}``."""
    symbols = list(X.index.get_level_values("symbol"))
    ok = {s: a for s, a in zip(symbols, answers) if "error" not in a}
    ranks = {}
    if ok:
        score = pd.Series([a["expected_return"] for a in ok.values()],
                          index=pd.MultiIndex.from_tuples([(ts, s) for s in ok], names=["ts", "symbol"]))
        ranks = dict(zip(ok, cross_sectional_rank(score).to_numpy()))
    out = {}
    for s, a in zip(symbols, answers):
        if "error" in a:
            out[s] = a
            continue
        out[s] = {"score": a["expected_return"], "prob_up": a["prob_up"], "confidence": a["confidence"],
                  "rank": float(ranks[s]), "cross_section": len(symbols)}
    return out


CallPanel = Callable[[str, str, pd.DataFrame], Awaitable[list[dict[str, Any]]]]


class ServedPanels:
    """The promoted panel models a predictor serves: each one's latest cross-section and answers,
    computed once per state of its universe's bars (and after every reload)."""

    def __init__(self, market: MarketData, coverage: float, call_panel: CallPanel | None) -> None:
        self.market = market
        self.coverage = coverage
        self.call_panel = call_panel
        self.records: list[ModelRecord] = []
        self._cache: dict[tuple, tuple[pd.Timestamp, dict[str, dict]]] = {}
        self._inflight: dict[tuple, asyncio.Future] = {}
        self._generation = 0

    def set_records(self, records: list[ModelRecord]) -> None:
        self.records = [r for r in records if r.kind == "panel"]
        self._cache.clear()
        self._generation += 1

    def of(self, symbol: str) -> list[ModelRecord]:
        return [r for r in self.records if symbol in r.symbols]

    def problem(self, rec: ModelRecord) -> str | None:
        """Why ``rec``'s cross-section cannot be built now, or None."""
        try:
            served_cross_section(self.market, rec, self.coverage)
        except (ServingError, ValueError) as exc:
            return str(exc)
        return None

    def status(self, status: dict[str, str | None]) -> dict[str, str | None]:
        """The model deployments' load status with, for each promoted panel model they hold, why
        its cross-section cannot be built now (when it cannot)."""
        out = dict(status)
        for r in self.records:
            if r.model_id not in out:
                out[r.model_id] = f"{r.model_id} is not loaded by the model deployments (promoted after start? reload)"
            elif out[r.model_id] is None:
                out[r.model_id] = self.problem(r)
        return out

    async def answers(self, rec: ModelRecord) -> tuple[pd.Timestamp, dict[str, dict]]:
        """(the decidable date, symbol -> answer) of ``rec``'s latest cross-section; raises
        :class:`PanelUnservable` when it cannot be built."""
        bars, _ = universe_bars(self.market, rec)
        key = (rec.model_id, state_key(bars))
        if key in self._cache:
            return self._cache[key]
        pending = self._inflight.get(key)
        if pending is None:   # symbols asked together (a batch) wait for one computation
            pending = asyncio.ensure_future(self._compute(rec, key))
            self._inflight[key] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(pending)

    async def _compute(self, rec: ModelRecord, key: tuple) -> tuple[pd.Timestamp, dict[str, dict]]:
        generation = self._generation
        ts, X = served_cross_section(self.market, rec, self.coverage)
        if self.call_panel is None:
            raise Unavailable("this predictor has no way to ask panel models")
        try:
            got = list(await self.call_panel(rec.name, rec.model_id, X))
            if len(got) != len(X):
                raise ServingError(f"{rec.model_id} answered {len(got)} rows for {len(X)}")
        except Exception as exc:   # a dead replica or a failed call: every symbol misses it
            got = [{"error": f"{type(exc).__name__}: {exc}"}] * len(X)
        out = (ts, symbol_answers(rec, ts, X, got))
        if generation == self._generation and not any("error" in a for a in out[1].values()):
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = out
        return out


def panel_summary(predictions: list[dict], top: int) -> tuple[list[dict], list[dict]]:
    """From answers of /predictions (their ``panels`` and ``panels_missing``), each panel model's
    latest cross-section as far as those symbols show it: its ``top`` leaders and laggards by rank;
    and the panel models that could not answer (one reason each)."""
    by_model: dict[str, dict] = {}
    missing: dict[str, dict] = {}
    for p in predictions:
        for a in p.get("panels", []):
            m = by_model.setdefault(a["model_id"], {
                **{k: a[k] for k in ("model_id", "name", "label", "horizon", "timeframe", "ts", "cross_section")},
                "members": []})
            m["members"].append({"symbol": p["symbol"], "score": a["score"], "rank": a["rank"]})
        for a in p.get("panels_missing", []):
            missing.setdefault(a["model_id"], a)
    out = []
    for mid in sorted(by_model):
        m = by_model[mid]
        members = sorted(m.pop("members"), key=lambda x: (-x["rank"], x["symbol"]))
        out.append({**m, "leaders": members[:top], "laggards": members[::-1][:top]})
    return out, [missing[k] for k in sorted(missing) if k not in by_model]
