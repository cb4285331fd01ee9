"""A supervised dataset for one symbol: causal features and forward-return labels, row-aligned."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipelines.features.engine import compute_features
from pipelines.features.store import DEFAULT_STORE_DTYPE, as_stored
from pipelines.features.spec import FeatureContext, FeatureSpec
from pipelines.labels import ForwardReturn


@dataclass
class Dataset:
    symbol: str
    asset_class: str
    timeframe: str
    horizon: int
    X: pd.DataFrame            # features, indexed by ts
    y: pd.Series               # forward return over the horizon, same index
    label_known_at: pd.Series  # when each label becomes known

    def __len__(self) -> int:
        return len(self.X)


def make_dataset(bars: pd.DataFrame, specs: tuple[FeatureSpec, ...], horizon: int,
                 ctx: FeatureContext | None = None, features: pd.DataFrame | None = None,
                 store_dtype: str = DEFAULT_STORE_DTYPE) -> Dataset:
    """Features (warm-up dropped) joined with labels; rows whose label is unknown are dropped.
    ``features``: the series' features already computed with ``specs`` (not recomputed, taken as
    given). Features computed here are rounded as the feature store keeps them
    (:func:`pipelines.features.store.as_stored` with ``store_dtype``), so a model trained on them
    sees the values a model trained from the store would."""
    if bars.empty:
        raise ValueError("no bars")
    symbol = str(bars["symbol"].iloc[0])
    ctx = ctx or FeatureContext(symbol=symbol, asset_class=str(bars["asset_class"].iloc[0]),
                                timeframe=str(bars["timeframe"].iloc[0]))
    feats = features if features is not None else as_stored(compute_features(bars, specs, ctx), store_dtype)
    lab = ForwardReturn(horizon).compute(bars)
    lab = lab.loc[feats.index]
    keep = lab[f"fwd_ret_{horizon}"].notna()
    return Dataset(symbol=symbol, asset_class=ctx.asset_class, timeframe=ctx.timeframe,
                   horizon=horizon, X=feats[keep], y=lab.loc[keep, f"fwd_ret_{horizon}"],
                   label_known_at=lab.loc[keep, "label_known_at"])


def universe_frame(xs: pd.DataFrame, index: pd.Index, exclude=()) -> pd.DataFrame:
    """One symbol's universe-stage columns on ``index``. Undefined values (a correlation of ranks
    that stayed constant, a factor's warm-up) read as 0, neutral for these centred factors and
    ranks. Training and serving both go through here."""
    import numpy as np
    u = xs.reindex(index)
    u = u.loc[:, [c for c in u.columns if c not in set(exclude)]]
    return u.astype("float64").replace([np.inf, -np.inf], np.nan).fillna(0.0)


def universe_features(bars: dict[str, pd.DataFrame], features: dict[str, pd.DataFrame],
                      store_dtype: str = DEFAULT_STORE_DTYPE) -> dict[str, pd.DataFrame]:
    """The universe stage (cross-sectional Alpha101 factors and ranks of per-symbol features) for
    each symbol, from every symbol's bars and its full feature frame (warm-up dropped, latest
    rows kept: the same frames serving has). The ranked features and the result are rounded as
    the feature store keeps them, as the build job's universe stage does."""
    from pipelines.features.universe import RANKED_COLUMNS, cross_sectional
    ranked = {s: as_stored(f[[c for c in RANKED_COLUMNS if c in f.columns]], store_dtype) for s, f in features.items()}
    return {s: as_stored(x, store_dtype) for s, x in cross_sectional(bars, ranked).items()}


def universe_datasets(bars: dict[str, pd.DataFrame], specs: tuple[FeatureSpec, ...],
                      horizon: int, store_dtype: str = DEFAULT_STORE_DTYPE) -> tuple[dict[str, Dataset], list[str]]:
    """A dataset per symbol whose features include the universe stage, and the added columns."""
    feats = {}
    for s, b in bars.items():
        ctx = FeatureContext(symbol=s, asset_class=str(b["asset_class"].iloc[0]), timeframe=str(b["timeframe"].iloc[0]))
        feats[s] = as_stored(compute_features(b, specs, ctx), store_dtype)
    xs = universe_features(bars, feats, store_dtype)
    out, cols = {}, []
    for s, b in bars.items():
        ds = make_dataset(b, specs, horizon, features=feats[s], store_dtype=store_dtype)
        u = universe_frame(xs[s], ds.X.index, exclude=ds.X.columns)
        ds.X = pd.concat([ds.X, u], axis=1)
        out[s], cols = ds, list(u.columns)
    return out, cols
