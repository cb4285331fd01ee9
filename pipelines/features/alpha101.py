"""Alpha101 factors that need no cross-section, computed per symbol to their published
definitions (Kakushadze, "101 Formulaic Alphas", 2016). Price differences that the paper leaves
in currency units are divided by the close so symbols compare; ``vwap`` is the bar's typical
price (h + l + c) / 3, ``adv20`` the 20-bar mean volume; thresholds stated in price units
apply to the close rescaled to 100. The alphas built on cross-sectional
``rank`` live in :mod:`pipelines.features.universe` (the universe stage)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.features import alpha_ops as op
from pipelines.features.kernels import shared, spec


def panels(bars: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One-column panels of the inputs the alphas use."""
    p = {c: bars[[c]].astype("float64").set_axis(["x"], axis=1) for c in ("open", "high", "low", "close", "volume")}
    p["returns"] = p["close"].pct_change(fill_method=None)
    p["vwap"] = (p["high"] + p["low"] + p["close"]) / 3
    p["adv20"] = op.ts_mean(p["volume"], 20)
    return p


def a006(p):
    return -1 * op.correlation(p["open"], p["volume"], 10)


def a009(p):
    d = op.delta(p["close"], 1)
    inner = d.where(op.ts_min(d, 5) > 0, d.where(op.ts_max(d, 5) < 0, -d))
    return inner / p["close"]


def a012(p):
    return np.sign(op.delta(p["volume"], 1)) * (-1 * op.delta(p["close"], 1)) / p["close"]


def a023(p):
    cond = op.ts_mean(p["high"], 20) < p["high"]
    return (-1 * op.delta(p["high"], 2)).where(cond, 0.0).where(op.ts_mean(p["high"], 20).notna()) / p["close"]


def a024(p):
    c = p["close"]
    x = op.delta(op.ts_mean(c, 100), 100) / op.delay(c, 100)
    out = (-1 * (c - op.ts_min(c, 100))).where(x <= 0.05, -1 * op.delta(c, 3))
    return out.where(x.notna()) / c


def a026(p):
    return -1 * op.ts_max(op.correlation(op.ts_rank(p["volume"], 5), op.ts_rank(p["high"], 5), 5), 3)


def a035(p):
    return (op.ts_rank(p["volume"], 32) * (1 - op.ts_rank(p["close"] + p["high"] - p["low"], 16))
            * (1 - op.ts_rank(p["returns"], 32)))


def a041(p):
    return (np.sqrt(p["high"] * p["low"]) - p["vwap"]) / p["close"]


def _slope_diff(c):
    """The alphas' slope difference with the close rescaled to 100 (their thresholds assume
    prices in that range)."""
    x = (op.delay(c, 20) - op.delay(c, 10)) / 10 - (op.delay(c, 10) - c) / 10
    return 100 * x / c


def a046(p):
    c = p["close"]
    x = _slope_diff(c)
    step = -1 * op.delta(c, 1) / c
    out = step.where(x >= 0, 1.0).where(x <= 0.25, -1.0)
    return out.where(x.notna())


def a049(p):
    c = p["close"]
    x = _slope_diff(c)
    return (-1 * op.delta(c, 1) / c).where(x >= -0.1, 1.0).where(x.notna())


def a051(p):
    c = p["close"]
    x = _slope_diff(c)
    return (-1 * op.delta(c, 1) / c).where(x >= -0.05, 1.0).where(x.notna())


def a043(p):
    return op.ts_rank(p["volume"] / p["adv20"], 20) * op.ts_rank(-1 * op.delta(p["close"], 7), 8)


def a053(p):
    c, lo, h = p["close"], p["low"], p["high"]
    x = ((c - lo) - (h - c)) / (c - lo)
    return -1 * op.delta(x.replace([np.inf, -np.inf], np.nan), 9)


def a054(p):
    o, h, lo, c = p["open"], p["high"], p["low"], p["close"]
    return (-1 * ((lo - c) * (o / c) ** 5)) / (lo - h)


def a101(p):
    return (p["close"] - p["open"]) / ((p["high"] - p["low"]) + 0.001 * p["close"])


ALPHAS = {
    "alpha006": (a006, 10, True), "alpha009": (a009, 6, False), "alpha012": (a012, 1, True),
    "alpha023": (a023, 19, False), "alpha024": (a024, 200, False), "alpha026": (a026, 11, True),
    "alpha035": (a035, 32, True), "alpha041": (a041, 0, False), "alpha043": (a043, 39, True),
    "alpha046": (a046, 20, False), "alpha049": (a049, 20, False), "alpha051": (a051, 20, False),
    "alpha053": (a053, 9, False), "alpha054": (a054, 0, False), "alpha101": (a101, 0, False),
}


def _alpha(fn):
    def wrapped(bars, ctx):
        out = np.array(fn(shared(bars, ctx, "alpha101.panels", lambda: panels(bars)))["x"], dtype="float64")
        out[~np.isfinite(out)] = np.nan
        return {fn.__name__.replace("a", "alpha", 1): out}
    return wrapped


FEATURES = tuple(
    spec(name, "alpha101", (name,), lb, _alpha(fn), needs=("volume",) if vol else (),
         description=f"Alpha#{int(name[5:])} of 101 Formulaic Alphas (time-series form)")
    for name, (fn, lb, vol) in ALPHAS.items()
)
