"""A supervised dataset for one symbol: causal features and forward-return labels, row-aligned."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipelines.features.engine import compute_features
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
                 ctx: FeatureContext | None = None) -> Dataset:
    """Features (warm-up dropped) joined with labels; rows whose label is unknown are dropped."""
    if bars.empty:
        raise ValueError("no bars")
    symbol = str(bars["symbol"].iloc[0])
    ctx = ctx or FeatureContext(symbol=symbol, asset_class=str(bars["asset_class"].iloc[0]),
                                timeframe=str(bars["timeframe"].iloc[0]))
    feats = compute_features(bars, specs, ctx)
    lab = ForwardReturn(horizon).compute(bars)
    lab = lab.loc[feats.index]
    keep = lab[f"fwd_ret_{horizon}"].notna()
    return Dataset(symbol=symbol, asset_class=ctx.asset_class, timeframe=ctx.timeframe,
                   horizon=horizon, X=feats[keep], y=lab.loc[keep, f"fwd_ret_{horizon}"],
                   label_known_at=lab.loc[keep, "label_known_at"])
