"""The one action vocabulary: what a signal says (``BUY``/``SELL``/``HOLD``), the trade that moves a
position toward it (``BUY``/``SELL``/``HOLD``/``CLOSE``, :func:`trade_action`), and the advice for an
open position from the risk rules and simple price structure (:func:`suggest_action`), each with
the reason that produced it. Everything uses the bars up to the newest closed one.

* ``TAKE_PROFIT``: the move from the entry reached the take-profit distance (ATRs);
* ``EXIT``: the move against the position reached the stop distance;
* ``ADD``: breakout confirmed: the close went beyond the previous ``lookback``-bar high (low for
  a short) and stayed there for ``confirm`` closes;
* ``MONITOR``: approaching resistance (support for a short): within ``near_atr`` ATRs of the
  previous ``lookback``-bar high (low);
* ``HOLD``: none of the above; ``NONE``: no position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from pipelines.config.trading import RiskConfig
from pipelines.trading.risk import atr


Signal = Literal["BUY", "SELL", "HOLD"]
TradeAction = Literal["BUY", "SELL", "HOLD", "CLOSE"]
PositionAction = Literal["TAKE_PROFIT", "EXIT", "ADD", "MONITOR", "HOLD", "NONE"]


def trade_action(signal: str, qty: float, allow_short: bool) -> tuple[TradeAction, str]:
    """(action, reason) that moves the position ``qty`` toward the signal."""
    if signal == "BUY":
        if qty > 0:
            return "HOLD", "already long and the signal is BUY"
        return "BUY", "signal is BUY" + (" (covers the short)" if qty < 0 else "")
    if signal == "SELL":
        if qty > 0:
            return ("SELL", "signal is SELL: exit the long and go short") if allow_short else \
                   ("CLOSE", "signal is SELL and shorting is off: exit the long")
        if qty < 0:
            return "HOLD", "already short and the signal is SELL"
        return ("SELL", "signal is SELL") if allow_short else ("HOLD", "signal is SELL but shorting is off")
    return "HOLD", "no edge above the threshold" + (": keep the position" if qty else "")


@dataclass(frozen=True)
class Action:
    action: PositionAction
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"action": self.action, "reason": self.reason}


def suggest_action(bars: pd.DataFrame, qty: float, entry_price: float, risk: RiskConfig = RiskConfig(),
                   lookback: int = 20, confirm: int = 2, near_atr: float = 0.5) -> Action:
    """``bars``: the symbol's bars up to now (open/high/low/close); ``qty`` signed position;
    ``entry_price``: its average price."""
    if qty == 0:
        return Action("NONE", "no position")
    if len(bars) < lookback + confirm + 1:
        return Action("HOLD", f"fewer than {lookback + confirm + 1} bars to judge structure")
    h, lo, c = (bars[k].to_numpy(dtype="float64") for k in ("high", "low", "close"))
    a = float(atr(h[:, None], lo[:, None], c[:, None], risk.atr_period)[-1, 0])
    side = 1.0 if qty > 0 else -1.0
    last = c[-1]
    move = (last - entry_price) * side
    if a > 0 and risk.take_profit_atr and move >= risk.take_profit_atr * a:
        return Action("TAKE_PROFIT", f"target reached: {move / a:.1f} ATR in favour since entry "
                                     f"{entry_price:.6g} (target {risk.take_profit_atr} ATR)")
    if a > 0 and risk.stop_atr and move <= -risk.stop_atr * a:
        return Action("EXIT", f"stop reached: {-move / a:.1f} ATR against since entry {entry_price:.6g} "
                              f"(stop {risk.stop_atr} ATR)")
    # the level: extreme of the lookback bars before the confirmation closes
    ref = slice(-(lookback + confirm), -confirm)
    level = np.max(h[ref]) if side > 0 else np.min(lo[ref])
    beyond = (c[-confirm:] - level) * side > 0
    if beyond.all():
        kind = "high" if side > 0 else "low"
        return Action("ADD", f"breakout confirmed: {confirm} closes beyond the {lookback}-bar {kind} {level:.6g}")
    dist = (level - last) * side
    if a > 0 and 0 <= dist <= near_atr * a:
        kind = "resistance" if side > 0 else "support"
        return Action("MONITOR", f"approaching {kind}: {dist / a:.2f} ATR from the {lookback}-bar "
                                 f"{'high' if side > 0 else 'low'} {level:.6g}")
    return Action("HOLD", "no target, stop, breakout or nearby level")
