"""Suggested actions for a position, each with its reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.trading.actions import suggest_action
from pipelines.config.trading import RiskConfig


def _bars(closes) -> pd.DataFrame:
    c = np.asarray(closes, dtype="float64")
    return pd.DataFrame({"open": c, "high": c + 0.5, "low": c - 0.5, "close": c})


def test_actions_and_reasons():
    flat = [100.0] * 30
    risk = RiskConfig(stop_atr=2.0, take_profit_atr=4.0)
    tp = suggest_action(_bars(flat[:-1] + [106.0]), 1.0, 100.0, risk)
    assert tp.action == "TAKE_PROFIT" and "target reached" in tp.reason
    stop = suggest_action(_bars(flat[:-1] + [97.0]), 1.0, 100.0, risk)
    assert stop.action == "EXIT" and "stop reached" in stop.reason
    short_tp = suggest_action(_bars(flat[:-1] + [94.0]), -1.0, 100.0, risk)
    assert short_tp.action == "TAKE_PROFIT"
    breakout = suggest_action(_bars(flat[:-2] + [100.8, 100.9]), 1.0, 100.0, RiskConfig(take_profit_atr=None))
    assert breakout.action == "ADD" and "breakout confirmed" in breakout.reason
    one_close = suggest_action(_bars(flat[:-2] + [100.0, 100.9]), 1.0, 100.0, RiskConfig(take_profit_atr=None))
    assert one_close.action != "ADD"                                # one close beyond is not confirmed
    near = suggest_action(_bars(flat[:-1] + [100.3]), 1.0, 100.0, risk)
    assert near.action == "MONITOR" and "approaching resistance" in near.reason
    far = suggest_action(_bars([100.0] * 10 + [104.0] * 10 + [100.0] * 10), 1.0, 100.0, risk)
    assert far.action == "HOLD"
    assert suggest_action(_bars(flat), 0.0, 0.0).action == "NONE"
    assert suggest_action(_bars(flat[:5]), 1.0, 100.0).action == "HOLD"
