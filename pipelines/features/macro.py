"""Macro features: FRED observations (the MACRO table: series_id, ts, known_at, value) as-of
joined on ``known_at``, so a bar sees an observation only once it was released (its release lag
is in ``known_at``), never from its reference date ``ts``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.features.kernels import div, spec

SERIES = ("DGS10", "DGS2", "FEDFUNDS", "VIXCLS", "CPIAUCSL", "CPILFESL", "UNRATE", "DTWEXBGS", "DCOILWTICO")
Z_OBS = 20  # observations in the z-score window


def macro_series(ctx, series_id: str) -> pd.DataFrame:
    """One series' observations in release order; revisions of the same ``ts`` replace earlier
    ones only from their own ``known_at`` on."""
    m = ctx.macro
    s = m[m["series_id"] == series_id][["ts", "known_at", "value"]]
    return s.sort_values(["known_at", "ts"], kind="stable").reset_index(drop=True)


def _asof_pos(known: pd.Series, bars: pd.DataFrame) -> np.ndarray:
    ka = pd.DatetimeIndex(known).as_unit("ns").asi8
    at = pd.DatetimeIndex(bars["known_at"]).as_unit("ns").asi8
    return np.searchsorted(ka, at, side="right") - 1


def _take(values: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return np.where(pos >= 0, values[np.maximum(pos, 0)], np.nan)


def _series(sid: str):
    low = sid.lower()

    def fn(bars, ctx):
        s = macro_series(ctx, sid)
        v = s["value"].to_numpy(dtype="float64")
        prev = np.concatenate([[np.nan], v[:-1]])
        vs = pd.Series(v)
        z = div(v - vs.rolling(Z_OBS, min_periods=5).mean().to_numpy(),
                vs.rolling(Z_OBS, min_periods=5).std().to_numpy())
        pos = _asof_pos(s["known_at"], bars)
        ref = pd.DatetimeIndex(s["ts"]).as_unit("ns").asi8.astype("float64")
        at = pd.DatetimeIndex(bars["known_at"]).as_unit("ns").asi8.astype("float64")
        return {f"macro_{low}": _take(v, pos), f"macro_{low}_chg": _take(v - prev, pos),
                f"macro_{low}_z": _take(z, pos),
                f"macro_{low}_age_days": (at - _take(ref, pos)) / 86400e9}
    return fn


def _curve(bars, ctx):
    a, b = _series("DGS10")(bars, ctx), _series("DGS2")(bars, ctx)
    return {"macro_curve_10y_2y": a["macro_dgs10"] - b["macro_dgs2"]}


FEATURES = tuple(
    spec(f"macro_{sid.lower()}", "macro",
         (f"macro_{sid.lower()}", f"macro_{sid.lower()}_chg", f"macro_{sid.lower()}_z", f"macro_{sid.lower()}_age_days"),
         0, _series(sid), needs=(f"macro:{sid}",),
         description=f"FRED {sid} as released by the bar's close: value, change from the previous "
                     f"release, z-score over {Z_OBS} releases, age of the observation in days")
    for sid in SERIES
) + (
    spec("macro_curve", "macro", ("macro_curve_10y_2y",), 0, _curve, needs=("macro:DGS10", "macro:DGS2"),
         description="10-year minus 2-year Treasury yield as released"),
)
