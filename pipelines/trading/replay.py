"""A strategy's paper account, fed one closed bar at a time.

At each bar's close the account asks the one decision (:func:`pipelines.trading.decide.targets`)
for the targets, from the bars up to that close and the models' predictions for it (the run's
out-of-sample predictions: what the run's models said at that time), and records them in
``strategy_decisions``. The account itself (positions, fills, equity) is the backtest engine
applied to the recorded decisions (:func:`pipelines.trading.decide.simulate_strategy`): one
computation, so the paper account, its status and the backtest agree by construction. Decisions
are flushed every ``flush_every`` bars and at the end; after a crash the account resumes after
the last recorded decision and re-decides what was lost, which gives the same decisions again.
Replaying stored bars decides them in blocks of ``flush_every``, a live bar alone; the account
carries the decision from block to block (:class:`pipelines.trading.decide.Decision`), so a bar
costs the decision's window, not a pass over the history. What it carries is rebuilt from the
store: an account restored after a crash decides its recorded bars again once, in one block,
before the next bar (the same numbers: the decision at t depends on nothing after t).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pipelines.store.base import Store
from pipelines.times import as_utc, utc_now
from pipelines.trading import strategy as strategies
from pipelines.trading.actions import Action, suggest_action
from pipelines.trading.backtest import PortfolioResult
from pipelines.errors import DataError
from pipelines.trading.decide import Decision, Market, combined, simulate_strategy, targets
from pipelines.trading.served import decision_answer
from pipelines.trading.strategy import Strategy

STATE_SOURCE = "strategy_account"
SWITCH_SOURCE = "paper_trading"   # an account's running/stopped switch (POST /paper/start|stop)
COLS = ("open", "high", "low", "close")


def default_account(st: Strategy) -> str:
    """The account a strategy is paper-traded in unless another is named."""
    return f"paper:{st.strategy_id}"


class StrategyAccount:
    """``symbols``: what the account trades from now on (default: what it traded, else the strategy's). An account
    that traded another set keeps what it decided; from the next bar it trades the new set, a
    symbol it drops gets a flat target (its position closes at the next open) and a symbol it adds
    is decided from the next bar on."""

    def __init__(self, store: Store, st: Strategy, symbols: list[str] | None = None,
                 account: str | None = None, flush_every: int = 500) -> None:
        self.store, self.st = store, st
        self.account = account or default_account(st)
        state = self._state()
        self.active = list(symbols or state.get("active") or st.symbols)
        unknown = sorted(set(self.active) - set(st.symbols))
        if unknown:
            raise DataError(f"strategy {st.strategy_id} does not trade {', '.join(unknown)}: it trades "
                            f"{', '.join(st.symbols)}")
        self.flush_every = flush_every
        before = [s for s in state.get("symbols", []) if s not in self.active]
        self.symbols = self.active + before          # every symbol the account has held or holds
        self._columns = pd.Index(self.symbols)
        self._flat = np.array([s not in self.active for s in self.symbols])
        p = strategies.run_predictions(store, st.run_id, list(st.models), st.horizon, self.symbols)
        self.views = {s: combined(st, s, strategies.model_frames(p, s)) for s in self.symbols}
        self.live_from: dict[str, pd.Timestamp] = {}      # symbol -> first bar decided from served models
        kept = store.read("strategy_live_predictions", {"strategy_id": st.strategy_id})
        for s, g in (kept.groupby("symbol") if len(kept) else ()):
            if s in self.views:
                self._extend(str(s), {str(m): f.set_index(pd.DatetimeIndex(f["ts"], name="ts"))
                                      for m, f in g.groupby("model")})
        self.classes: dict[str, str] = {}
        self.ts: list[pd.Timestamp] = []
        self._ns = np.empty(0, dtype="int64")            # the bars so far: epoch ns, one price matrix per column,
        self._px = {c: np.empty((0, len(self.symbols))) for c in COLS}   # grown by doubling
        self.decision: Decision | None = None             # what the decision carries; built at the first bar decided
        self.decided: list[list[float]] = []
        self.pending: list[dict] = []
        self._resume(state)

    # ---------------------------------------------------------------- state
    def _state(self) -> dict:
        rows = self.store.read("checkpoints", {"source": STATE_SOURCE, "stream": self.account})
        state = json.loads(rows["state"].iloc[-1]) if len(rows) else {}
        if state and state.get("strategy_id") != self.st.strategy_id:
            raise ValueError(f"account {self.account} trades {state['strategy_id']}: reset it first "
                             "(`meridian paper reset --account ...`)")
        return state

    def _resume(self, state: dict) -> None:
        self.since = as_utc(state["since"]) if state.get("since") else None
        d = self.store.read("strategy_decisions", {"account": self.account})
        if d.empty or self.since is None:
            return
        wide = d.pivot_table(index="ts", columns="symbol", values="target", aggfunc="last").sort_index()
        done = wide.index                       # the bars the account processed, and only those
        for ts, row in self._rows(self._bars(self.since, done[-1] + pd.Timedelta(1, "ns"))):
            if ts in done:
                self._append(ts, row)
        self.decided = wide.reindex(index=pd.DatetimeIndex(self.ts), columns=self.symbols).fillna(0.0).to_numpy().tolist()

    def _bars(self, start, end=None) -> pd.DataFrame:
        # one read for every symbol (not one per symbol), each kept to its view's span
        b = self.store.read("bars", {"symbol": list(self.symbols), "timeframe": self.st.timeframe}, start, end)
        sym = b["symbol"].astype(str)
        lo = sym.map({s: v.index[0] for s, v in self.views.items()})
        hi = sym.map({s: v.index[-1] for s, v in self.views.items()})
        bars = b[((b["ts"] >= lo) & (b["ts"] <= hi)).to_numpy(dtype=bool)].reset_index(drop=True)
        self.classes.update(bars.groupby("symbol")["asset_class"].first().astype(str).to_dict())
        return bars.sort_values(["ts", "symbol"], kind="stable")

    @property
    def last_ts(self) -> pd.Timestamp | None:
        return self.ts[-1] if self.ts else None

    def _rows(self, bars: pd.DataFrame):
        """(ts, {column: one price per symbol, NaN where a symbol has no bar}) in time order."""
        if bars.empty:
            return
        wide = {c: bars.pivot_table(index="ts", columns="symbol", values=c, aggfunc="last")
                .sort_index().reindex(columns=self.symbols).to_numpy(dtype="float64") for c in COLS}
        index = pd.DatetimeIndex(bars["ts"].drop_duplicates().sort_values())
        for i, ts in enumerate(index):
            yield ts, {c: wide[c][i] for c in COLS}

    def _append(self, ts: pd.Timestamp, row: dict[str, np.ndarray]) -> None:
        n = len(self.ts)
        if n == len(self._ns):
            cap = max(64, 2 * n)
            self._ns = np.concatenate([self._ns, np.zeros(cap - n, dtype="int64")])
            self._px = {c: np.vstack([a, np.full((cap - n, len(self.symbols)), np.nan)]) for c, a in self._px.items()}
        self._ns[n] = ts.value
        for c in COLS:
            self._px[c][n] = row[c]
        self.ts.append(ts)

    def market(self, lo: int = 0, hi: int | None = None) -> Market:
        """The bars so far, rows ``lo:hi`` as a slice (``market(-k)``: the last k)."""
        rows = slice(lo, hi)
        n = len(self.ts)
        idx = pd.DatetimeIndex(self._ns[:n][rows].view("M8[ns]"), name="ts").tz_localize("UTC")
        frames = {c: pd.DataFrame(self._px[c][:n][rows], index=idx, columns=self._columns) for c in COLS}
        return Market(**frames, classes=dict(self.classes), timeframe=self.st.timeframe)

    # ---------------------------------------------------------------- served predictions in
    def _extend(self, symbol: str, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """Append the bars after the view's end that every model of the strategy answered, combined
        with the strategy's weights (the final ones: after the run); returns the model rows used."""
        v = self.views[symbol]
        end = v.index[-1]
        if not set(self.st.models) <= set(frames):
            return pd.DataFrame()
        new = {m: frames[m].loc[frames[m].index > end, ["expected_return", "prob_up"]] for m in self.st.models}
        common = new[self.st.models[0]].index
        for f in new.values():
            common = common.intersection(f.index)
        if common.empty:
            return pd.DataFrame()
        new = {m: f.reindex(common).assign(realized_return=np.nan) for m, f in new.items()}
        self.views[symbol] = pd.concat([v, combined(self.st, symbol, new)])
        self.live_from.setdefault(symbol, common[0])
        return pd.concat([f.assign(model=m, ts=f.index) for m, f in new.items()], ignore_index=True)

    def add_predictions(self, symbol: str, frames: dict[str, pd.DataFrame]) -> int:
        """What the served models answered for ``symbol`` (model name -> frame indexed by ts with
        expected_return and prob_up): bars after the run become decidable, kept in the store so a
        restart decides them from the same numbers. Returns the bars added."""
        return self.add_predictions_many({symbol: frames})

    def add_predictions_many(self, answers: dict[str, dict[str, pd.DataFrame]]) -> int:
        """:meth:`add_predictions` for many symbols (symbol -> its frames), kept in the store with
        one write. Returns the (symbol, bar) pairs added."""
        kept, added = [], 0
        for symbol, frames in answers.items():
            if symbol not in self.views:
                continue
            rows = self._extend(symbol, frames)
            if rows.empty:
                continue
            kept.append(rows.assign(symbol=symbol))
            added += int(rows["ts"].nunique())
        if kept:
            rows = pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0]
            self.store.write("strategy_live_predictions", rows.assign(strategy_id=self.st.strategy_id)[
                ["strategy_id", "model", "symbol", "ts", "expected_return", "prob_up"]])
        return added

    def _realized(self, views: dict[str, pd.DataFrame]) -> None:
        """The outcome of each served-model bar in ``views`` whose horizon has passed (close to
        close, as the run's labels): what the Kelly payoff measures, known only after the horizon."""
        if not self.live_from:
            return
        n, h = len(self.ts), self.st.horizon
        ns, close = self._ns[:n], self._px["close"][:n]
        for s, first in self.live_from.items():
            v = views[s]
            live = v.index[v.index >= first]
            if live.empty:
                continue
            pos = np.searchsorted(ns, live.asi8)
            bar = (pos < n) & (ns[np.minimum(pos, n - 1)] == live.asi8)    # views rows that are bars of the account
            ahead = bar & (pos + h < n)
            j = self.symbols.index(s)
            fwd = np.full(len(live), np.nan)
            fwd[ahead] = close[pos[ahead] + h, j] / close[pos[ahead], j] - 1.0
            views[s] = v.copy()
            views[s].loc[live, "realized_return"] = fwd

    # ---------------------------------------------------------------- bars in
    def on_bar(self, ts: pd.Timestamp, row: dict[str, np.ndarray]) -> dict[str, float]:
        """The bars closing at ``ts`` (``row``: open/high/low/close, one per symbol, NaN where a
        symbol has no bar): decide, record."""
        self._append(ts, row)
        return self._decide(1)[-1]

    def _decide(self, k: int) -> list[dict[str, float]]:
        """Decide the last ``k`` appended bars, each from the bars and predictions up to it, carrying
        the decision from the bars before (rebuilt once, by deciding them again, for an account
        restored from the store), so replaying stored bars decides a block at once and a live bar
        decides alone, with the numbers of one decision over the whole history."""
        if self.decision is None:
            self.decision = Decision(self.st, self.symbols)
            if len(self.ts) > k:
                self._step(self.market(0, len(self.ts) - k))
        block = self._step(self.market(-k)).copy()
        block[:, self._flat] = 0.0
        out = []
        for ts, tgt in zip(self.ts[-k:], block):
            self.decided.append(tgt.tolist())
            self.pending += [{"account": self.account, "symbol": s, "ts": ts, "strategy_id": self.st.strategy_id,
                              "target": float(x)} for s, x in zip(self.symbols, tgt)]
            out.append(dict(zip(self.symbols, map(float, tgt))))
        if len(self.pending) >= self.flush_every * len(self.symbols):
            self.flush()
        return out

    def _step(self, m: Market) -> np.ndarray:
        """The carried decision of the bars of ``m`` (the next after those decided), from the
        predictions up to its last bar."""
        first = self.decision.views_from or m.index[0]
        last = m.index[-1]
        views = {}
        for s, v in self.views.items():
            lo, hi = int(v.index.searchsorted(first, side="left")), int(v.index.searchsorted(last, side="right"))
            views[s] = v.iloc[lo:hi]
        self._realized(views)
        return self.decision.next(views, m).to_numpy(dtype="float64")

    def flush(self) -> None:
        if self.pending:
            self.store.write("strategy_decisions", pd.DataFrame(self.pending))
            self.pending = []
        self.store.write("checkpoints", pd.DataFrame([{
            "source": STATE_SOURCE, "stream": self.account, "ts": self.last_ts or utc_now(),
            "updated_at": utc_now(), "state": json.dumps({
                "strategy_id": self.st.strategy_id, "symbols": self.symbols, "active": self.active,
                "since": None if self.since is None else self.since.isoformat()})}]))

    def replay(self, since=None, until=None, max_bars: int | None = None) -> int:
        """Feed the stored bars after the last one processed (from ``since`` for a new account),
        one timestamp at a time; returns how many were processed."""
        if self.since is None:
            self.since = as_utc(since) if since is not None else None
        start = self.last_ts + pd.Timedelta(1, "ns") if self.last_ts is not None else self.since
        bars = self._bars(start, as_utc(until) if until is not None else None)
        done, waiting = 0, 0
        for ts, row in self._rows(bars):
            if max_bars is not None and done >= max_bars:
                break
            if self.since is None:
                self.since = ts
            self._append(ts, row)
            done += 1
            waiting += 1
            if waiting >= self.flush_every:
                self._decide(waiting)
                waiting = 0
        if waiting:
            self._decide(waiting)
        self.flush()
        return done

    # ---------------------------------------------------------------- the account
    def result(self) -> PortfolioResult:
        if not self.ts:
            raise ValueError(f"account {self.account} has processed no bars yet")
        tgt = pd.DataFrame(self.decided, index=pd.DatetimeIndex(self.ts), columns=self.symbols)
        return simulate_strategy(self.st, tgt, self.market())

    def summary(self, capital: float = 1.0) -> dict:
        """Equity, P&L (total and over the last UTC day of bars), positions and fills: what the
        CLI and the panel show."""
        res = self.result()
        eq = res.equity
        day = eq.index[-1].normalize()
        before = eq[eq.index < day]
        held = res.positions.iloc[-1]
        changes = np.abs(np.diff(np.vstack([np.zeros(len(self.symbols)), res.sim.held]), axis=0))
        return {"account": self.account, "strategy_id": self.st.strategy_id, "as_of": eq.index[-1].isoformat(),
                "bars": len(eq), "final_equity": float(eq.iloc[-1]), "equity": float(eq.iloc[-1] * capital),
                "pnl_total": float((eq.iloc[-1] - 1.0) * capital),
                "pnl_today": float((eq.iloc[-1] - (before.iloc[-1] if len(before) else 1.0)) * capital),
                "positions": {s: float(v) for s, v in held.items()},
                "fills": int((changes > 0).sum()), "costs_paid": float(res.sim.costs.sum())}


def account_status(store: Store, st: Strategy, account: str | None = None, capital: float = 1.0) -> dict:
    """A strategy account now, read from the store without trading: equity, P&L total and today,
    positions (multiples of equity), fills, costs, and its switch (running or stopped). What
    ``meridian paper status`` prints and the API's ``/portfolio`` and ``/strategies/{id}/account``
    answer (the panel shows it)."""
    acct = StrategyAccount(store, st, account=account)
    switch = paper_switch(store, acct.account)
    if not acct.ts:
        return {"account": acct.account, "strategy_id": st.strategy_id, "as_of": None, "bars": 0,
                "final_equity": None, "equity": None, "pnl_total": None, "pnl_today": None, "positions": {},
                "fills": 0, "costs_paid": 0.0, **switch}
    return {**acct.summary(capital), **switch}


def account_equity(store: Store, st: Strategy, account: str | None = None, capital: float = 1.0) -> list[dict]:
    """The account's equity at every bar it processed (the same numbers whose last one
    :func:`account_status` reports), oldest first; empty before its first bar."""
    acct = StrategyAccount(store, st, account=account)
    if not acct.ts:
        return []
    return [{"ts": t.isoformat(), "equity": float(v * capital)} for t, v in acct.result().equity.items()]


def account_positions(store: Store, st: Strategy, account: str | None = None) -> dict[str, dict]:
    """Per symbol of the account: the position held at its last bar (a multiple of equity, as
    :func:`account_status`), the entry price of the open trade (the open it was filled at) and
    the advice for it (:func:`pipelines.trading.actions.suggest_action` with the strategy's risk
    limits, from the bars up to the last one processed)."""
    acct = StrategyAccount(store, st, account=account)
    if not acct.ts:
        return {s: {"held": 0.0, "entry_price": None, "position_action": "NONE",
                    "position_reason": "the account has processed no bars yet"} for s in acct.symbols}
    res, m = acct.result(), acct.market()
    held = res.positions.iloc[-1]
    trades = res.trade_list
    entry = trades[trades["open"].astype(bool)].groupby("symbol")["entry_price"].last()
    out = {}
    for s in acct.symbols:
        qty = float(held[s])
        price = float(entry[s]) if qty and s in entry.index else None
        if price is None:
            a = Action("NONE", "no position")
        else:
            bars = pd.DataFrame({"high": m.high[s], "low": m.low[s], "close": m.close[s]}).dropna()
            a = suggest_action(bars, qty, price, st.limits)
        out[s] = {"held": qty, "entry_price": price, "position_action": a.action, "position_reason": a.reason}
    return out


def account_strategy(store: Store, account: str) -> str | None:
    """The strategy an account trades, or None when no account of that name has processed a bar."""
    rows = store.read("checkpoints", {"source": STATE_SOURCE, "stream": account})
    return _json(rows["state"].iloc[-1]).get("strategy_id") if len(rows) else None


def paper_switch(store: Store, account: str) -> dict:
    """An account's switch (``POST /paper/start|stop``): the live loop and ``meridian paper run``
    step it while running, which it is until switched off."""
    rows = store.read("checkpoints", {"source": SWITCH_SOURCE, "stream": account})
    if rows.empty:
        return {"running": True, "switched_at": None}
    r = rows.iloc[-1]
    return {"running": bool(_json(r["state"]).get("running", True)),
            "switched_at": pd.Timestamp(r["updated_at"]).isoformat()}


def set_running(store: Store, account: str, running: bool) -> dict:
    """Switch an account's stepping on or off; returns the switch as :func:`paper_switch` reads it."""
    now = utc_now()
    store.write("checkpoints", pd.DataFrame([{"source": SWITCH_SOURCE, "stream": account, "ts": now,
                                              "updated_at": now, "state": json.dumps({"running": running})}]))
    return paper_switch(store, account)


def _json(state) -> dict:
    return state if isinstance(state, dict) else json.loads(state or "{}")


def reset(store: Store, account: str) -> int:
    """Forget an account: its decisions, its checkpoint and its switch. Returns the decisions removed."""
    n = store.delete("strategy_decisions", {"account": account})
    store.delete("checkpoints", {"source": STATE_SOURCE, "stream": account})
    store.delete("checkpoints", {"source": SWITCH_SOURCE, "stream": account})
    return int(n or 0)


# ---------------------------------------------------------------- views and the served decision

def strategy_views(store: Store, st: Strategy, symbols: list[str] | None = None, since=None, until=None,
                   live: dict[str, dict[str, pd.DataFrame]] | None = None
                   ) -> tuple[dict[str, pd.DataFrame], Market]:
    """The strategy's combined views and the bars they cover, on ``[since, until]``.

    The views are the run's out-of-sample predictions; ``live`` (symbol -> model -> frame indexed
    by ts with expected_return and prob_up: what the served models answered) adds the bars after
    the run's last prediction where every model of the strategy answered, combined with the same
    weights (the final ones: those bars are after the run)."""
    symbols = list(symbols or st.symbols)
    unknown = sorted(set(symbols) - set(st.symbols))
    if unknown:
        raise DataError(f"strategy {st.strategy_id} does not trade {', '.join(unknown)}: it trades "
                        f"{', '.join(st.symbols)}")
    p = strategies.run_predictions(store, st.run_id, list(st.models), st.horizon, symbols)
    views, bars = {}, []
    lo = as_utc(since) if since is not None else None
    hi = as_utc(until) if until is not None else None
    for s in symbols:
        frames = strategies.model_frames(p, s)
        extra = (live or {}).get(s) or {}
        b = store.read_bars(s, st.timeframe)
        if extra and set(st.models) <= set(extra) and len(b):
            end = max(f.index[-1] for f in frames.values())
            close = b.set_index("ts")["close"]
            # outcomes of served-model bars, close to close as the run's labels; row t of the
            # decision reads only those known by t (measured_payoff)
            fwd = close.shift(-st.horizon) / close - 1.0
            for m in st.models:
                new = extra[m][extra[m].index > end][["expected_return", "prob_up"]]
                frames[m] = pd.concat([frames[m], new.assign(realized_return=fwd.reindex(new.index).to_numpy(),
                                                             fold=-1)])
        v = combined(st, s, frames)
        v = v.dropna(subset=["expected_return"]) if extra else v
        v = v[(v.index >= lo) if lo is not None else slice(None)]
        v = v[(v.index <= hi) if hi is not None else slice(None)]
        if v.empty:
            raise DataError(f"run {st.run_id} has no predictions of {s} in the requested period")
        views[s] = v
        if b.empty:
            raise DataError(f"no {st.timeframe} bars of {s} in the store")
        bars.append(b[(b["ts"] >= v.index[0]) & (b["ts"] <= v.index[-1])])
    return views, Market.from_bars(pd.concat(bars, ignore_index=True), symbols)


def served_decision(store: Store, st: Strategy, live: dict[str, dict[str, pd.DataFrame]] | None = None
                    ) -> dict:
    """What serving answers for a strategy: the one decision (:func:`targets`) at the newest bar
    every model of the strategy has a prediction for, per symbol with the combined view, the
    target, the position held into that bar's close and the signal; the same numbers as the
    backtest's last bar over the same predictions. Recomputed over the whole history: serving
    carries it instead (:class:`pipelines.trading.served.ServedStrategy`, equal to it by test)."""
    views, market = strategy_views(store, st, live=live)
    tgt = targets(st, views, market)
    return decision_answer(st, views, market, tgt, simulate_strategy(st, tgt, market))
