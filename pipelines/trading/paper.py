"""Paper trading: closed bars in, predictions, sized orders, simulated fills at the next open.

For each new closed bar of a symbol, in time order:

1. the order decided at the previous bar's close is filled at this bar's open, paying half the
   spread and the slippage (fixed, plus a share of the volatility known at the decision) in the
   price and the fee on the notional (:class:`Costs`);
2. the outcome of that previous decision (its direction times the bar-to-bar move) joins the
   measured average win/loss the Kelly fraction uses;
3. the predictor sees the bars up to and including this one and the sizing turns its answer
   into a target position (a multiple of equity: Kelly x leverage, the leverage following
   confidence, volatility against its history and the liquidity of the session the order fills
   in), capped by the risk limits (per asset, gross, correlated groups, ATR stop-loss and
   take-profit, the daily loss limit that flattens everything until the next UTC day); it waits
   for the next open.

Restart-safe: what is decided is kept in the store's ``checkpoints`` table after each bar, and
fills carry a deterministic id (account, symbol, bar), so a bar processed again after a crash
books nothing twice. The paper switch of the API (``checkpoints``, source ``paper_trading``)
pauses trading: bars that arrive while it is off are consumed without orders.
"""

from __future__ import annotations

import json
import logging
import math
from collections import deque
from typing import Any, Callable

import numpy as np
import pandas as pd

from pipelines.times import timeframe_offset
from pipelines.store.base import Store
from pipelines.config.trading import TradingLayerConfig
from pipelines.costs import Costs
from pipelines.trading.portfolio import Fill, PortfolioTracker
from pipelines.trading.risk import atr, group_caps, return_correlation
from pipelines.trading.sizing import dynamic_leverage, kelly_fraction, session_liquidity, volatility_ratio

log = logging.getLogger(__name__)
Predictor = Callable[[str, pd.DataFrame], "dict[str, float] | None"]
STATE_SOURCE = "paper_trader"
SWITCH_SOURCE = "paper_trading"


class PaperTrader:
    """``symbols``: symbol -> asset class; ``predictor(symbol, bars)`` returns ``prob_up`` (and
    optionally ``confidence``, ``expected_return``) for the newest bar, or None for no view."""

    def __init__(self, store: Store, symbols: dict[str, str], timeframe: str, predictor: Predictor,
                 cfg: TradingLayerConfig = TradingLayerConfig(), costs: Costs = Costs(),
                 history: int = 500, prior_payoff: tuple[float, float, int, int] | None = None) -> None:
        self.store, self.symbols, self.timeframe = store, dict(symbols), timeframe
        self.predictor, self.cfg, self.costs, self.history = predictor, cfg, costs, history
        self.account = cfg.account
        self.state = self._load_state(prior_payoff)
        self.book: PortfolioTracker | None = None
        self.buffers: dict[str, deque] = {s: deque(maxlen=history) for s in self.symbols}
        for s in self.symbols:
            last = self.state["last_ts"].get(s)
            if last is not None:
                past = store.read_bars(s, timeframe, start=pd.Timestamp(last) - history * timeframe_offset(timeframe),
                                       end=pd.Timestamp(last) + pd.Timedelta(1, "ns"))
                self.buffers[s].extend(past.to_dict("records"))

    # ---------------------------------------------------------------- state
    def _load_state(self, prior) -> dict[str, Any]:
        rows = self.store.read("checkpoints", {"source": STATE_SOURCE, "stream": self.account})
        if len(rows):
            return json.loads(rows["state"].iloc[-1])
        w, lo, nw, nl = prior or (0.0, 0.0, 0, 0)
        return {"last_ts": {}, "pending": {}, "direction": {}, "last_close": {},
                "payoff": {"win_sum": w * nw, "win_n": nw, "loss_sum": lo * nl, "loss_n": nl}}

    def _save_state(self, ts: pd.Timestamp) -> None:
        now = pd.Timestamp.now(tz="UTC")
        self.store.write("checkpoints", pd.DataFrame([{
            "source": STATE_SOURCE, "stream": self.account, "ts": ts, "updated_at": now,
            "state": json.dumps(self.state, sort_keys=True)}]))

    def running(self) -> bool:
        rows = self.store.read("checkpoints", {"source": SWITCH_SOURCE, "stream": self.account})
        if rows.empty:
            return True
        return bool(json.loads(rows["state"].iloc[-1] or "{}").get("running", True))

    def _book(self, ts: pd.Timestamp) -> PortfolioTracker:
        if self.book is None:
            self.book = PortfolioTracker(self.store, self.account, self.cfg.initial_cash, opened_at=ts)
        return self.book

    def start_at(self, ts: pd.Timestamp) -> None:
        """For symbols never traded on this account: treat bars up to ``ts`` as seen (their
        history still feeds the predictor), so trading starts with the first bar after it."""
        for s in self.symbols:
            if s in self.state["last_ts"]:
                continue
            past = self.store.read_bars(s, self.timeframe, end=pd.Timestamp(ts) + pd.Timedelta(1, "ns"))
            if past.empty:
                continue
            self.buffers[s].extend(past.tail(self.history).to_dict("records"))
            self.state["last_ts"][s] = pd.Timestamp(past["ts"].iloc[-1]).isoformat()
            self.state["last_close"][s] = float(past["close"].iloc[-1])
        self._save_state(pd.Timestamp(ts))

    # ---------------------------------------------------------------- bars in
    def poll(self, now: pd.Timestamp | None = None) -> int:
        """Take the bars closed by ``now`` (default: the clock) that arrived in the store since
        the last one processed; returns how many were processed."""
        now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
        frames = []
        for s in self.symbols:
            last = self.state["last_ts"].get(s)
            start = pd.Timestamp(last) + pd.Timedelta(1, "ns") if last else None
            b = self.store.read_bars(s, self.timeframe, start=start)
            frames.append(b[b["known_at"] <= now])
        bars = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return self.on_bars(bars)

    def poll_bus(self, bus, name: str, timeout: float = 30.0) -> int:
        """Take the closed bars waiting for subscriber ``name`` on the ingestion bar bus (a Ray
        actor with ``poll(name)``); returns how many were processed."""
        import ray
        records = ray.get(bus.poll.remote(name), timeout=timeout)
        return self.on_bars(pd.DataFrame(records)) if records else 0

    def on_bars(self, bars: pd.DataFrame) -> int:
        """Process new closed bars (canonical bar rows, any symbols, any order). Bars already
        processed, and symbols not traded, are skipped; the traded symbols' bars are upserted
        into the store."""
        if bars is None or bars.empty:
            return 0
        bars = bars.sort_values(["ts", "symbol"], kind="stable")
        mine = bars[bars["symbol"].astype(str).isin(list(self.symbols))]
        if "timeframe" in mine:
            mine = mine[mine["timeframe"] == self.timeframe]
        if len(mine):
            self.store.write("bars", mine)     # kept, so a restart rebuilds the predictor's history
        done = 0
        active = self.running()
        for rec in bars.to_dict("records"):
            s = str(rec["symbol"])
            if s not in self.symbols or rec.get("timeframe", self.timeframe) != self.timeframe:
                continue
            last = self.state["last_ts"].get(s)
            if last is not None and pd.Timestamp(rec["ts"]) <= pd.Timestamp(last):
                continue
            self._on_bar(s, rec, active)
            done += 1
        return done

    def _on_bar(self, s: str, bar: dict, active: bool) -> None:
        ts = pd.Timestamp(bar["ts"])
        book = self._book(ts)
        self.buffers[s].append(bar)
        # 1. fill the previous decision at this open
        target = self.state["pending"].pop(s, None)
        if active and target is not None:
            self._fill(book, s, ts, float(bar["open"]), float(target))
        # 2. the previous decision's outcome
        d, c0 = self.state["direction"].get(s, 0.0), self.state["last_close"].get(s)
        if d and c0:
            out = d * (float(bar["close"]) / c0 - 1.0)
            p = self.state["payoff"]
            if out > 0:
                p["win_sum"] += out
                p["win_n"] += 1
            elif out < 0:
                p["loss_sum"] -= out
                p["loss_n"] += 1
        self.state["last_close"][s] = float(bar["close"])
        # 3. decide, within the risk limits
        self.state["direction"][s] = 0.0
        if active:
            halted = self._daily_halt(book, ts)
            history = pd.DataFrame(list(self.buffers[s]))
            view = self.predictor(s, history)
            if view is not None:
                w = self.guard(s, ts, history, self.size(s, ts, view, history))
                self.state["pending"][s] = w
                self.state["direction"][s] = float(np.sign(w)) or float(np.sign(view.get("prob_up", 0.5) - 0.5))
                self._correlation_caps()
            if halted:
                held = [k for k, p in book.positions.items() if p.qty]
                self.state["pending"].update({k: 0.0 for k in held})
        self.state["last_ts"][s] = ts.isoformat()
        self._save_state(ts)

    # ---------------------------------------------------------------- sizing and fills
    def _daily_halt(self, book: PortfolioTracker, ts: pd.Timestamp) -> bool:
        """True while the UTC day's marked loss is at or beyond the daily limit."""
        limit = self.cfg.risk.daily_loss_limit
        if not limit:
            return False
        day = (ts + timeframe_offset(self.timeframe)).normalize().isoformat()
        equity = book.equity(self._marks())
        if self.state.get("day") != day:
            self.state.update(day=day, day_start_equity=equity, halted=False)
        if equity <= self.state["day_start_equity"] * (1.0 - limit) and not self.state["halted"]:
            self.state["halted"] = True
            log.warning("paper %s: daily loss limit %.1f%% reached at %s; flat until the next UTC day",
                        self.account, 100 * limit, ts)
        return bool(self.state["halted"])

    def _correlation_caps(self) -> None:
        """Cap the combined pending |target| of symbols whose recent returns move together."""
        pend = self.state["pending"]
        if len(pend) < 2:
            return
        syms = sorted(pend)
        closes = pd.concat({s: pd.DataFrame(list(self.buffers[s])).set_index("ts")["close"]
                            for s in syms if self.buffers[s]}, axis=1).reindex(columns=syms)
        corr = return_correlation(closes.tail(self.cfg.risk.corr_window + 1).to_numpy(dtype="float64"))
        if corr is None:
            return
        capped = group_caps(np.array([pend[s] for s in syms]), corr, self.cfg.risk)[0]
        pend.update({s: float(w) for s, w in zip(syms, capped)})

    def guard(self, s: str, ts: pd.Timestamp, history: pd.DataFrame, w: float) -> float:
        """ATR stop-loss and take-profit from the position's average price, checked at this close;
        a stopped side waits for the signal to go flat or flip. The daily limit halts all."""
        risk = self.cfg.risk
        blocked = self.state.setdefault("blocked", {})
        if blocked.get(s) and np.sign(w) != blocked[s]:
            blocked.pop(s)
        pos = self.book.positions.get(s) if self.book else None
        if pos is not None and pos.qty and len(history) > 1:
            h, lo, c = (history[k].to_numpy(dtype="float64")[:, None] for k in ("high", "low", "close"))
            a = float(atr(h, lo, c, risk.atr_period)[-1, 0])
            side = float(np.sign(pos.qty))
            move = (c[-1, 0] - pos.avg_price) * side
            hit_stop = risk.stop_atr is not None and move <= -risk.stop_atr * a
            hit_tp = risk.take_profit_atr is not None and move >= risk.take_profit_atr * a
            if a > 0 and (hit_stop or hit_tp) and np.sign(w) == side:
                blocked[s] = side
        if blocked.get(s) or self.state.get("halted"):
            return 0.0
        return w

    def size(self, s: str, ts: pd.Timestamp, view: dict, history: pd.DataFrame | None = None) -> float:
        sz, risk, p = self.cfg.sizing, self.cfg.risk, self.state["payoff"]
        enough = p["win_n"] >= sz.min_outcomes and p["loss_n"] >= sz.min_outcomes
        avg_win = p["win_sum"] / p["win_n"] if enough else math.nan
        avg_loss = p["loss_sum"] / p["loss_n"] if enough else math.nan
        prob = view.get("prob_up", math.nan)
        k = float(kelly_fraction(prob if prob == prob else 0.5, avg_win, avg_loss, sz.kelly_fraction, sz.max_kelly))
        ac = self.symbols[s]
        fills_at = ts + timeframe_offset(self.timeframe)         # the next open
        liq = session_liquidity(pd.DatetimeIndex([fills_at]), weekends=ac != "crypto")[0] \
            if ac in ("forex", "crypto") else None
        ratio = None
        if history is not None and len(history) > 20:
            h, lo, c = (history[k].to_numpy(dtype="float64")[:, None] for k in ("high", "low", "close"))
            vol = pd.Series(atr(h, lo, c, self.cfg.risk.atr_period)[:, 0] / c[:, 0])
            ratio = volatility_ratio(vol, sz.vol_lookback)[-1:]
        lev = float(dynamic_leverage(view.get("confidence", math.nan), ratio, liq, ac, sz)[0]
                    if ratio is not None else dynamic_leverage(view.get("confidence", math.nan), None, liq, ac, sz))
        w = float(np.clip(k * lev, -risk.max_position, risk.max_position))
        others = sum(abs(v) for k2, v in self.state["pending"].items() if k2 != s)
        room = max(risk.max_gross - others, 0.0)
        return float(np.clip(w, -room, room))

    def _marks(self, s: str | None = None, price: float | None = None) -> dict[str, float]:
        marks = {k: v for k, v in self.state["last_close"].items()}
        if s is not None:
            marks[s] = price
        return marks

    def _fill(self, book: PortfolioTracker, s: str, ts: pd.Timestamp, open_: float, target: float) -> None:
        equity = book.equity(self._marks(s, open_))
        held = book.positions.get(s)
        qty = target * equity / open_ - (held.qty if held else 0.0)
        if abs(qty * open_) < 1e-9 * max(equity, 1.0):
            return
        side = 1.0 if qty > 0 else -1.0
        slip = (self.costs.spread_bps / 2 + self.costs.slippage_bps) / 1e4
        decided = list(self.buffers[s])[:-1]                     # bars known when the order was decided
        if self.costs.slippage_vol_mult and decided:
            d = pd.DataFrame(decided)
            h, lo, c = (d[k].to_numpy(dtype="float64")[:, None] for k in ("high", "low", "close"))
            slip += self.costs.slippage_vol_mult * float(atr(h, lo, c, self.cfg.risk.atr_period)[-1, 0] / c[-1, 0])
        price = open_ * (1.0 + side * slip)
        fee = abs(qty) * price * self.costs.fee_bps / 1e4
        booked = book.apply(Fill(fill_id=f"{self.account}:{s}:{ts.isoformat()}", symbol=s, ts=ts, qty=qty,
                                 price=price, fee=fee, order_id=f"{s}:{ts.isoformat()}",
                                 reason=f"target {target:+.4f} x equity"))
        if booked:
            log.info("paper %s: %s %+.6g @ %.6g (fee %.4g) at %s", self.account, s, qty, price, fee, ts)


def payoff_from_predictions(store: Store, model_ids: list[str], known_by: pd.Timestamp | None = None
                            ) -> tuple[float, float, int, int]:
    """(average win, average loss, wins, losses) of trading the sign of the models' stored
    out-of-sample predictions, over the outcomes known by ``known_by``: the Kelly inputs a paper
    account starts from."""
    if not model_ids:
        return 0.0, 0.0, 0, 0
    p = store.read("predictions", {"model_id": list(model_ids)})
    if known_by is not None and len(p):
        horizon = p["horizon"].astype("float64").fillna(1.0)
        p = p[p["known_at"] + (horizon - 1) * (p["known_at"] - p["ts"]) <= known_by]
    out = (np.sign(p["expected_return"]) * p["realized_return"]).astype("float64").dropna()
    wins, losses = out[out > 0], -out[out < 0]
    return (float(wins.mean()) if len(wins) else 0.0, float(losses.mean()) if len(losses) else 0.0,
            int(len(wins)), int(len(losses)))
