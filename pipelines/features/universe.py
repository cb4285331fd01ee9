"""The universe stage: features that need every symbol at once, run after the per-symbol stage.

Alpha101 factors built on the cross-sectional ``rank`` (to their published definitions, with
``vwap`` the bar's typical price) and cross-sectional percentile ranks of chosen per-symbol
features. Symbols are aligned on ``ts``; the value at t uses every symbol's bars at or before t
only, so a universe cut at T reproduces the row at T exactly."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import pandas as pd

from pipelines.features import alpha_ops as op

# Per-symbol feature columns ranked across the universe (when present).
RANKED_COLUMNS = ("roc_20", "roc_5", "vol_20", "rv_50", "rsi_14", "volume_ratio_5_50", "sma_dist_50",
                  "zscore_logclose_20", "skew_60", "atr_norm_14")
MIN_SYMBOLS = 3
# rows of the aligned universe recomputed before the first new date on an append: every factor
# looks back at most ~25 rows (a001: returns, a 20-row stddev, a 5-row argmax), so 250 leaves the
# rolling sums ample room to agree with a computation over the whole history
XS_MEMORY = 250
# dates x symbols computed at once (at least 2048 dates): bounds the stage's memory whatever the
# history's length or the universe's size (measured: 8192 dates x 35 symbols ~ +270 MiB peak, 2857 x 35 ~ +110 MiB)
XS_CHUNK_CELLS = 150_000


def _a001(p):
    r = p["returns"]
    x = p["close"].where(~(r < 0), op.stddev(r, 20))
    return op.rank(op.ts_argmax(op.signedpower(x, 2.0), 5)) - 0.5


def _a002(p):
    return -1 * op.correlation(op.rank(op.delta(np.log(p["volume"].where(p["volume"] > 0)), 2)),
                               op.rank((p["close"] - p["open"]) / p["open"]), 6)


def _a003(p):
    return -1 * op.correlation(op.rank(p["open"]), op.rank(p["volume"]), 10)


def _a004(p):
    return -1 * op.ts_rank(op.rank(p["low"]), 9)


def _a008(p):
    x = op.ts_sum(p["open"], 5) * op.ts_sum(p["returns"], 5)
    return -1 * op.rank(x - op.delay(x, 10))


def _a013(p):
    return -1 * op.rank(op.covariance(op.rank(p["close"]), op.rank(p["volume"]), 5))


def _a016(p):
    return -1 * op.rank(op.covariance(op.rank(p["high"]), op.rank(p["volume"]), 5))


def _a033(p):
    return op.rank(-1 * (1 - p["open"] / p["close"]))


def _a034(p):
    r = p["returns"]
    return op.rank((1 - op.rank(op.stddev(r, 2) / op.stddev(r, 5))) + (1 - op.rank(op.delta(p["close"], 1))))


def _a038(p):
    return (-1 * op.rank(op.ts_rank(p["close"], 10))) * op.rank(p["close"] / p["open"])


def _a040(p):
    return (-1 * op.rank(op.stddev(p["high"], 10))) * op.correlation(p["high"], p["volume"], 10)


def _a044(p):
    return -1 * op.correlation(p["high"], op.rank(p["volume"]), 5)


def _a055(p):
    lo, hi = op.ts_min(p["low"], 12), op.ts_max(p["high"], 12)
    return -1 * op.correlation(op.rank((p["close"] - lo) / (hi - lo)), op.rank(p["volume"]), 6)


XS_ALPHAS: dict[str, Callable[[dict[str, pd.DataFrame]], pd.DataFrame]] = {
    "xs_alpha001": _a001, "xs_alpha002": _a002, "xs_alpha003": _a003, "xs_alpha004": _a004,
    "xs_alpha008": _a008, "xs_alpha013": _a013, "xs_alpha016": _a016, "xs_alpha033": _a033,
    "xs_alpha034": _a034, "xs_alpha038": _a038, "xs_alpha040": _a040, "xs_alpha044": _a044,
    "xs_alpha055": _a055,
}


def universe_panels(bars_by_symbol: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """ts x symbol panels of open, high, low, close, volume, returns and vwap."""
    cols = ("open", "high", "low", "close", "volume")
    p = {c: pd.DataFrame({s: b.set_index("ts")[c].astype("float64") for s, b in bars_by_symbol.items()}).sort_index()
         for c in cols}
    p["returns"] = p["close"].pct_change(fill_method=None)
    p["vwap"] = (p["high"] + p["low"] + p["close"]) / 3
    return p


def cross_sectional(bars_by_symbol: dict[str, pd.DataFrame],
                    features_by_symbol: dict[str, pd.DataFrame] | None = None) -> dict[str, pd.DataFrame]:
    """For each symbol, a frame indexed by its ``ts`` with the universe columns. Needs at least
    ``MIN_SYMBOLS`` symbols (a rank over fewer says little)."""
    if len(bars_by_symbol) < MIN_SYMBOLS:
        raise ValueError(f"the universe stage needs at least {MIN_SYMBOLS} symbols, got {len(bars_by_symbol)}")
    p = universe_panels(bars_by_symbol)
    panels = {name: (lambda fn=fn: fn(p).replace([np.inf, -np.inf], np.nan)) for name, fn in XS_ALPHAS.items()}
    if features_by_symbol:
        common = set.intersection(*(set(f.columns) for f in features_by_symbol.values()))
        for c in RANKED_COLUMNS:
            if c in common:
                panels[f"xs_rank_{c}"] = lambda c=c: op.rank(
                    pd.DataFrame({s: f[c] for s, f in features_by_symbol.items()}).sort_index())
    index = {s: pd.DatetimeIndex(b["ts"], name="ts") for s, b in bars_by_symbol.items()}
    columns: dict[str, dict[str, np.ndarray]] = {s: {} for s in bars_by_symbol}
    for name, make in panels.items():  # one output panel alive at a time
        pan = make()
        for s, idx in index.items():
            columns[s][name] = pan[s].reindex(idx).to_numpy()
        del pan
    return {s: pd.DataFrame(columns.pop(s), index=idx) for s, idx in index.items()}


def cross_sectional_blocks(bars_by_symbol: dict[str, pd.DataFrame],
                           features_by_symbol: dict[str, pd.DataFrame] | None,
                           since: pd.Timestamp | None = None, memory: int = XS_MEMORY,
                           chunk: int | None = None
                           ) -> Iterator[tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame] | None, pd.Timestamp]]:
    """The inputs of each range of :func:`cross_sectional_chunks`: (bars, features, first date),
    each sliced to the range and the ``memory`` aligned rows before it, so a range is computed by
    :func:`cross_sectional_block` alone (in a Ray task, say) from what it is given."""
    chunk = chunk or max(2048, XS_CHUNK_CELLS // max(1, len(bars_by_symbol)))
    ts = pd.DatetimeIndex(pd.concat([b["ts"] for b in bars_by_symbol.values()]).unique()).sort_values()
    first = 0 if since is None else int(ts.searchsorted(since))
    for i in range(first, len(ts), chunk):
        lo, hi, start = ts[i], ts[min(i + chunk, len(ts)) - 1], ts[max(0, i - memory)]
        bars = {s: b[(b["ts"] >= start) & (b["ts"] <= hi)] for s, b in bars_by_symbol.items()}
        feats = None if features_by_symbol is None else \
            {s: f[(f.index >= start) & (f.index <= hi)] for s, f in features_by_symbol.items()}
        yield bars, feats, lo


def cross_sectional_block(bars: dict[str, pd.DataFrame], feats: dict[str, pd.DataFrame] | None,
                          lo: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """One range of :func:`cross_sectional_blocks`: its rows at or after ``lo``."""
    return {s: f[f.index >= lo] for s, f in cross_sectional(bars, feats).items()}


def cross_sectional_chunks(bars_by_symbol: dict[str, pd.DataFrame],
                           features_by_symbol: dict[str, pd.DataFrame] | None,
                           since: pd.Timestamp | None = None, memory: int = XS_MEMORY,
                           chunk: int | None = None) -> Iterator[dict[str, pd.DataFrame]]:
    """The rows of :func:`cross_sectional` at or after ``since`` (all rows when None), in
    consecutive ranges of ``chunk`` aligned dates, each computed from the ``memory`` aligned rows
    before it on: equal to a computation over the whole history, with memory bounded by the
    chunk instead of the history (what the build job's universe stage runs). A symbol without
    rows in a range gets an empty frame for it. ``chunk`` defaults to ``XS_CHUNK_CELLS`` cells."""
    for bars, feats, lo in cross_sectional_blocks(bars_by_symbol, features_by_symbol, since, memory, chunk):
        yield cross_sectional_block(bars, feats, lo)


def cross_sectional_since(bars_by_symbol: dict[str, pd.DataFrame],
                          features_by_symbol: dict[str, pd.DataFrame] | None,
                          since: pd.Timestamp, memory: int = XS_MEMORY,
                          chunk: int | None = None) -> dict[str, pd.DataFrame]:
    """The rows of :func:`cross_sectional` at or after ``since`` as one frame per symbol
    (:func:`cross_sectional_chunks` put together)."""
    parts = list(cross_sectional_chunks(bars_by_symbol, features_by_symbol, since, memory, chunk))
    if not parts:
        return {s: cross_sectional(bars_by_symbol, features_by_symbol)[s].iloc[:0] for s in bars_by_symbol}
    return {s: pd.concat([p[s] for p in parts]) for s in bars_by_symbol}
