"""A panel dataset (date x symbol) for cross-sectional models, and its walk-forward folds by date.

Features come from the feature engine, per symbol on that symbol's own bars (causal, warm-up
dropped), and are then **normalised per date across symbols by rank**: the cross-sectional rank
mapped to [-0.5, 0.5] as ``(rank - 1) / (n - 1) - 0.5`` (ties averaged, NaN stays NaN, a
column with a single value that date reads 0). Rank rather than a robust z-score because it has
no parameter, is bounded whatever the outliers (a split, a halted stock, a crypto crash), puts
symbols of different price level and volatility on one scale, and uses nothing but that date's
cross-section: no statistic is carried from one date to another, so nothing is fitted and
nothing can leak (scalers inside the models are fitted per fold, on training dates only).

Labels, per row (ts, symbol), from the symbol's log return from close(t) to close(t+h):

- ``fwd``: the forward return itself;
- ``excess``: minus the mean forward return of the symbols present that date;
- ``rank``: its cross-sectional rank in [-0.5, 0.5].

A symbol contributes the rows where it has bars: late listings, delistings and gaps are kept,
dates are never intersected. A symbol whose history is too short for its features' warm-up
plus ``min_rows`` labelled rows is left out with the reason recorded, never an error.

Folds: :func:`models.training.splits.walk_forward_splits` over the sorted unique dates (train,
test, purge and embargo all count dates), mapped to the rows of those dates. A training row
whose label becomes known after its test window (or validation slice) opens is dropped too: a
symbol with a gap reaches further than h dates ahead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.training.dataset import make_dataset
from pipelines.features.store import DEFAULT_STORE_DTYPE
from models.training.splits import Fold, walk_forward_splits
from pipelines.config import WalkForwardConfig
from pipelines.features.spec import FeatureSpec

LABELS = ("fwd", "excess", "rank")
SIGNALS = ("reversal_1", "reversal_5", "momentum_20")  # trivial predictors from closes known at ts


@dataclass
class PanelDataset:
    X: pd.DataFrame             # features ranked per date, index (ts, symbol), sorted
    y: pd.Series                # the label the models fit
    fwd: pd.Series              # the realized forward log return over the horizon
    label_known_at: pd.Series   # when each row's label becomes known
    signals: pd.DataFrame       # SIGNALS, raw, from closes known at ts
    horizon: int
    label: str
    skipped: dict[str, str] = field(default_factory=dict)  # symbol -> why it is left out

    def __len__(self) -> int:
        return len(self.X)

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.X.index.get_level_values("ts").unique())

    @property
    def symbols(self) -> list[str]:
        return sorted(self.X.index.get_level_values("symbol").unique())


def cross_sectional_rank(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """Each column's rank across the symbols of each date, in [-0.5, 0.5] (NaN kept)."""
    g = frame.groupby(level="ts")
    r = g.rank(method="average")
    n = g.transform("count")
    out = (r - 1.0) / (n - 1.0).where(n > 1) - 0.5
    return out.where(n > 1, 0.0).where(frame.notna())


def stack(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per-symbol frames indexed by ts as one frame indexed by (ts, symbol), sorted."""
    return pd.concat(parts, names=["symbol", "ts"]).swaplevel().sort_index()


def ranked_features(features: pd.DataFrame) -> pd.DataFrame:
    """Raw feature rows indexed by (ts, symbol) as the models see them: every column ranked
    across the symbols of each date (:func:`cross_sectional_rank`). The walk-forward's panel
    (:func:`make_panel`) and a served cross-section (:func:`cross_section`) both go through here."""
    return cross_sectional_rank(features.astype("float64"))


def cross_section(features: dict[str, pd.DataFrame], ts: pd.Timestamp) -> pd.DataFrame:
    """The ranked feature rows of date ``ts``, index (ts, symbol): each symbol's row at ``ts``
    from its own feature frame (``compute_features`` on its bars, warm-up dropped), for the
    symbols that have one, ranked across them. Used to predict the latest date, whose labels
    are not known yet: :func:`make_panel` keeps labelled rows only."""
    rows = {s: f.loc[[ts]] for s, f in features.items() if len(f) and ts in f.index}
    if not rows:
        raise ValueError(f"no symbol has a feature row at {pd.Timestamp(ts).isoformat()}")
    return ranked_features(stack(rows))


def price_signals(bars: pd.DataFrame) -> pd.DataFrame:
    """1-bar and 5-bar reversal and 20-bar momentum of the log close, indexed by ts."""
    lc = np.log(bars.set_index("ts")["close"].astype("float64"))
    return pd.DataFrame({"reversal_1": -lc.diff(1), "reversal_5": -lc.diff(5), "momentum_20": lc.diff(20)})


def make_panel(bars: dict[str, pd.DataFrame], specs: tuple[FeatureSpec, ...], horizon: int, *,
               label: str = "fwd", min_rows: int = 60, store_dtype: str = DEFAULT_STORE_DTYPE) -> PanelDataset:
    """The panel over every symbol with enough history; the others land in ``skipped``."""
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}: one of {', '.join(LABELS)}")
    warmup = max((s.lookback for s in specs), default=0)
    parts, skipped = {}, {}
    for sym, b in bars.items():
        need = warmup + horizon + min_rows
        if b is None or len(b) < need:
            skipped[sym] = (f"{0 if b is None else len(b)} bars, fewer than the {need} needed "
                            f"(warm-up {warmup} + horizon {horizon} + {min_rows} labelled rows)")
            continue
        b = b.sort_values("ts").reset_index(drop=True)
        ds = make_dataset(b, specs, horizon, store_dtype=store_dtype)
        if len(ds) < min_rows:
            skipped[sym] = f"{len(ds)} labelled rows after the features' warm-up, fewer than {min_rows}"
            continue
        sig = price_signals(b).reindex(ds.X.index)
        parts[sym] = pd.concat([ds.X, ds.y.rename("__fwd"), ds.label_known_at.rename("__known"), sig], axis=1)
    if not parts:
        raise ValueError(f"no symbol has enough history for a panel: {skipped}")
    df = stack(parts)
    fwd = df.pop("__fwd").astype("float64")
    known = df.pop("__known")
    signals = df[list(SIGNALS)]
    X = ranked_features(df.drop(columns=list(SIGNALS)))
    if label == "fwd":
        y = fwd
    elif label == "excess":
        y = fwd - fwd.groupby(level="ts").transform("mean")
    else:
        y = cross_sectional_rank(fwd)
    return PanelDataset(X=X, y=y.rename(f"{label}_{horizon}"), fwd=fwd.rename(f"fwd_ret_{horizon}"),
                        label_known_at=known, signals=signals, horizon=horizon, label=label,
                        skipped=skipped)


def date_splits(panel: PanelDataset, wf: WalkForwardConfig) -> list[Fold]:
    """The walk-forward over the panel's dates, in dates (see :func:`walk_forward_splits`)."""
    return walk_forward_splits(len(panel.dates), horizon=panel.horizon, train_bars=wf.train_bars,
                               test_bars=wf.test_bars, purge_bars=wf.purge_bars,
                               embargo_bars=wf.embargo_bars, expanding=wf.expanding,
                               validation_fraction=wf.validation_fraction)


def panel_folds(panel: PanelDataset, wf: WalkForwardConfig) -> list[Fold]:
    """The date folds as row folds of the panel: fit, validation and test rows of those dates,
    minus training rows whose label is known only after the next slice opens."""
    dates = panel.dates
    ts = panel.X.index.get_level_values("ts")
    pos = dates.get_indexer(ts)                       # date position of each row, non-decreasing
    known = pd.DatetimeIndex(panel.label_known_at).as_unit("ns").asi8   # NaT never occurs: labelled rows only
    opens_ns = dates.as_unit("ns").asi8

    def rows(date_pos: np.ndarray) -> np.ndarray:
        if len(date_pos) == 0:
            return np.arange(0)
        return np.arange(np.searchsorted(pos, date_pos[0]), np.searchsorted(pos, date_pos[-1], side="right"))

    def known_by(r: np.ndarray, opens: int) -> np.ndarray:
        return r[known[r] <= opens] if len(r) else r

    out = []
    for f in date_splits(panel, wf):
        test = rows(f.test)
        val = known_by(rows(f.val), opens_ns[f.test[0]])
        fit = known_by(rows(f.fit), opens_ns[f.val[0]] if len(f.val) else opens_ns[f.test[0]])
        out.append(Fold(f.index, fit, val, test))
    return out
