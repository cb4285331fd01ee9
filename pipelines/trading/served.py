"""A strategy's served decision, carried from request to request.

:func:`pipelines.trading.replay.served_decision` answers from scratch: it reads the run's
predictions and every bar, and decides the whole history again. :class:`ServedStrategy` gives the
same answer (tested: equal to that recomputation over the same bars and served answers) but keeps
what it read and what the decision carries (:class:`pipelines.trading.decide.Decision`): a request
after new bars reads only the bars after the last one read and decides only them. The served
models' answers for bars after the run are kept as they come (each request brings the newest
bar's), so a bar is decided from the answer given for it. Data that changes a bar already decided
(one symbol's bar that becomes decidable after another symbol's later bar was decided, a view that
starts elsewhere) makes it decide the history again, once.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from pipelines.store.base import Store
from pipelines.times import as_utc
from pipelines.trading import strategy as strategies
from pipelines.trading.backtest import PortfolioResult
from pipelines.trading.decide import Decision, Market, combined, simulate_strategy
from pipelines.trading.strategy import Strategy

OHLC = ("open", "high", "low", "close")
Answers = dict[str, dict[str, pd.DataFrame]]   # symbol -> model -> frame indexed by ts (expected_return, prob_up)


def signal_of_target(target: float) -> str:
    """The signal a target position states: BUY long, SELL short, HOLD flat."""
    return "BUY" if target > 0 else "SELL" if target < 0 else "HOLD"


def run_end(st: Strategy, symbol: str) -> pd.Timestamp:
    """The last bar of the run's predictions of ``symbol`` (when the combiner's final weights start)."""
    end = st.combiner.params[symbol].get("end")
    return as_utc(end) if end else pd.Timestamp.max.tz_localize("UTC")


def decision_answer(st: Strategy, views: dict[str, pd.DataFrame], market: Market, tgt: pd.DataFrame,
                    res: PortfolioResult) -> dict:
    """What serving answers for a strategy decided over ``market``: at its last bar, per symbol,
    the combined view, the target, the position held into that bar's close and the signal."""
    ts = market.index[-1]
    held = res.positions.iloc[-1]
    out = {}
    for s in market.symbols:
        v = views[s]
        row = v.loc[ts] if ts in v.index else None
        target = float(tgt[s].iloc[-1])
        out[s] = {"ts": ts.isoformat(), "horizon_bars": st.horizon, "timeframe": st.timeframe,
                  "expected_return": None if row is None else float(row["expected_return"]),
                  "prob_up": None if row is None else float(row["prob_up"]),
                  "confidence": None if row is None else float(row["confidence"]),
                  "target": target, "held": float(held[s]), "signal": signal_of_target(target),
                  "source": "run" if row is None or ts <= run_end(st, s) else "served models"}
    return {"strategy_id": st.strategy_id, "name": st.name, "rule": st.rule, "ts": ts.isoformat(),
            "symbols": out}


class ServedStrategy:
    """The served decision of ``st``; :meth:`advance` brings it to the newest decidable bar.

    ``full_decides`` counts the times the whole history was decided, ``decided_bars`` every bar
    decided (a request with one new bar adds one)."""

    def __init__(self, store: Store, st: Strategy) -> None:
        self.store, self.st = store, st
        self.symbols = list(st.symbols)
        self.full_decides = 0
        self.decided_bars = 0
        self._lock = threading.Lock()
        self._views: dict[str, pd.DataFrame] | None = None    # run's combined view + served answers, per symbol
        self._run_end: dict[str, pd.Timestamp] = {}            # last ts of the run's predictions, per symbol
        self._bars: dict[str, pd.DataFrame] = {}               # every bar read so far, per symbol (ts-indexed)
        self._classes: dict[str, str] = {}
        self._answered: set[str] = set()                       # symbols the served models have answered for
        self._reset()

    def _reset(self) -> None:
        self._decision: Decision | None = None
        self._blocks: list[tuple[Market, pd.DataFrame]] = []  # decided bars and their targets
        self._ranges: dict[str, tuple] = {}   # symbol -> (its view's first ts, its last bar decided)
        self._answer: dict | None = None

    # ---------------------------------------------------------------- inputs
    def _load(self) -> None:
        st = self.st
        p = strategies.run_predictions(self.store, st.run_id, list(st.models), st.horizon, self.symbols)
        views = {}
        for s in self.symbols:
            frames = strategies.model_frames(p, s)
            self._run_end[s] = max(f.index[-1] for f in frames.values())
            views[s] = combined(st, s, frames)
        self._views = views

    def _add_answers(self, s: str, frames: dict[str, pd.DataFrame]) -> None:
        """The served models' answers for bars after the view's end where every model answered,
        combined with the strategy's weights (the final ones: after the run)."""
        if not set(self.st.models) <= set(frames):
            return
        v = self._views[s]
        if s not in self._answered:     # as the recomputation, the run's rows without a combined view go
            v = self._views[s] = v.dropna(subset=["expected_return"])
            self._answered.add(s)
        end = v.index[-1]
        new = {m: frames[m].loc[frames[m].index > end, ["expected_return", "prob_up"]] for m in self.st.models}
        common = new[self.st.models[0]].index
        for f in new.values():
            common = common.intersection(f.index)
        if common.empty:
            return
        rows = combined(self.st, s, {m: f.reindex(common).assign(realized_return=np.nan) for m, f in new.items()})
        self._views[s] = pd.concat([v, rows.dropna(subset=["expected_return"])])

    def _read_bars(self, s: str) -> None:
        old = self._bars.get(s)
        start = old.index[-1] + pd.Timedelta(1, "ns") if old is not None and len(old) else None
        b = self.store.read_bars(s, self.st.timeframe, start=start)
        if b.empty:
            return
        self._classes.setdefault(s, str(b["asset_class"].iloc[0]))
        new = b.set_index(pd.DatetimeIndex(b["ts"], name="ts"))[list(OHLC)].astype("float64")
        self._bars[s] = new if old is None or old.empty else pd.concat([old, new])

    def _view(self, s: str, lo: pd.Timestamp | None = None) -> pd.DataFrame:
        """The view from ``lo``, the served answers' outcomes (close to close, as the run's labels)
        from the bars known now: the decision reads only those known by each bar."""
        v = self._views[s]
        if lo is not None:
            v = v.loc[lo:]
        live = v.index > self._run_end[s]
        if live.any():
            close = self._bars[s]["close"]
            fwd = close.shift(-self.st.horizon) / close - 1.0
            v = v.copy()
            v.loc[live, "realized_return"] = fwd.reindex(v.index[live]).to_numpy()
        return v

    # ---------------------------------------------------------------- the decision
    def advance(self, answers: Answers | None = None) -> dict:
        """Read the bars after those read, keep the served models' ``answers``, decide the bars
        that became decidable and answer at the newest (as :func:`decision_answer`)."""
        from pipelines.errors import DataError
        with self._lock:
            if self._views is None:
                self._load()
            for s, frames in (answers or {}).items():
                if s in self._views and frames:
                    self._add_answers(s, frames)
            for s in self.symbols:
                self._read_bars(s)
                if s not in self._bars:
                    raise DataError(f"no {self.st.timeframe} bars of {s} in the store")
            spans = {s: (v.index[0], v.index[-1]) for s, v in self._views.items()}
            decided = self._blocks[-1][0].index[-1] if self._blocks else None
            new, ranges = {}, {}
            for s, (lo, hi) in spans.items():
                b = self._bars[s]
                first, last = self._ranges.get(s, (None, None))
                if first is not None and first != lo:
                    decided = None          # the view starts elsewhere: decide everything again
                rows = b.loc[(b.index >= lo) & (b.index <= hi) & ((b.index > last) if last is not None else True)]
                if decided is not None and len(rows) and rows.index[0] <= decided:
                    decided = None          # a bar became decidable at a time already decided
                new[s], ranges[s] = rows, (lo, rows.index[-1] if len(rows) else last)
            if decided is None and self._blocks:
                self._reset()
                new = {s: self._bars[s].loc[lo:hi] for s, (lo, hi) in spans.items()}
                ranges = {s: (lo, f.index[-1] if len(f) else None) for (s, (lo, _)), f in zip(spans.items(), new.values())}
            self._ranges = ranges
            if not any(len(f) for f in new.values()):
                if self._answer is None:
                    raise DataError(f"run {self.st.run_id} has no predictions of the strategy's symbols "
                                    "where the store has bars")
                return self._answer
            market = self._market(new)
            if self._decision is None:
                self._decision = Decision(self.st, self.symbols)
                self.full_decides += 1
            lo = self._decision.views_from or market.index[0]
            views = {s: self._view(s, lo) for s in self.symbols}
            tgt = self._decision.next(views, market)
            self.decided_bars += len(market.index)
            self._blocks.append((market, tgt))
            whole, targets = self._whole()
            self._answer = decision_answer(self.st, views, whole, targets, simulate_strategy(self.st, targets, whole))
            return self._answer

    def _market(self, rows: dict[str, pd.DataFrame]) -> Market:
        idx = pd.DatetimeIndex(sorted(set().union(*(f.index for f in rows.values()))), name="ts")
        wide = {c: pd.DataFrame({s: rows[s][c] for s in self.symbols}, index=idx, columns=self.symbols)
                for c in OHLC}
        for f in wide.values():
            f.columns.name = "symbol"
        return Market(**wide, classes={s: self._classes[s] for s in self.symbols}, timeframe=self.st.timeframe)

    def _whole(self) -> tuple[Market, pd.DataFrame]:
        """Every bar decided so far, one Market, and its targets (kept as one block afterwards)."""
        if len(self._blocks) > 1:
            ms = [m for m, _ in self._blocks]
            whole = Market(*(pd.concat([getattr(m, c) for m in ms]) for c in OHLC),
                           classes=ms[0].classes, timeframe=ms[0].timeframe)
            self._blocks = [(whole, pd.concat([t for _, t in self._blocks]))]
        return self._blocks[0]
