"""Cross-asset features against reference series in ``ctx.peers``: ``spy`` (the market), ``btc``,
``dxy`` (a dollar index or its proxy) and optionally ``sector``. Each peer is as-of aligned on
``known_at``: a bar sees the peer's last bar that had closed by its own close, never a later one.
Rolling correlation and beta of returns, correlation regime change, relative strength."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.features.kernels import arr, div, logret, shift, roll_corr, roll_cov, roll_mean, roll_std, roll_var, spec

PEERS = ("spy", "btc", "dxy", "sector")
CORR_SHORT, CORR_LONG, BETA_WINDOW, RS_WINDOW = 20, 100, 60, 20


def aligned_peer_close(bars: pd.DataFrame, peer: pd.DataFrame) -> np.ndarray:
    """The peer's close last known at each bar's close (NaN before the peer's first bar)."""
    p = peer.sort_values("known_at", kind="stable")
    ka = pd.DatetimeIndex(p["known_at"]).as_unit("ns").asi8
    at = pd.DatetimeIndex(bars["known_at"]).as_unit("ns").asi8
    pos = np.searchsorted(ka, at, side="right") - 1
    close = p["close"].to_numpy(dtype="float64")
    return np.where(pos >= 0, close[np.maximum(pos, 0)], np.nan)


def _peer(name: str):
    def fn(bars, ctx):
        c = arr(bars, "close")
        pc = aligned_peer_close(bars, ctx.peers[name])
        r, pr = logret(c), logret(pc)
        cs, cl = roll_corr(r, pr, CORR_SHORT), roll_corr(r, pr, CORR_LONG)
        beta = div(roll_cov(r, pr, BETA_WINDOW), roll_var(pr, BETA_WINDOW))
        rs = np.log(div(c, pc))
        rs_mom = rs - shift(rs, RS_WINDOW)
        # regime change: how far the short correlation sits from the long one, in units of the
        # short correlation's own recent variability
        regime = div(cs - cl, roll_std(cs, CORR_LONG))
        return {f"corr_{name}_{CORR_SHORT}": cs, f"corr_{name}_{CORR_LONG}": cl,
                f"beta_{name}_{BETA_WINDOW}": beta, f"corr_regime_{name}": regime,
                f"rel_strength_{name}_{RS_WINDOW}": rs_mom,
                f"rel_strength_z_{name}": div(rs - roll_mean(rs, CORR_LONG), roll_std(rs, CORR_LONG))}
    return fn


def peer_columns(name: str) -> tuple[str, ...]:
    return (f"corr_{name}_{CORR_SHORT}", f"corr_{name}_{CORR_LONG}", f"beta_{name}_{BETA_WINDOW}",
            f"corr_regime_{name}", f"rel_strength_{name}_{RS_WINDOW}", f"rel_strength_z_{name}")


FEATURES = tuple(
    spec(f"cross_{p}", "cross_asset", peer_columns(p), 2 * CORR_LONG, _peer(p), needs=(f"peer:{p}",),
         description=f"returns vs {p}: correlation ({CORR_SHORT}, {CORR_LONG} bars), beta ({BETA_WINDOW}), "
                     f"correlation regime z, relative strength change ({RS_WINDOW}) and z-score")
    for p in PEERS
)
