"""Predictors for paper trading: the promoted forecasters of the model registry, each fed the
features of its own feature set computed on the bars up to the newest closed one."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.errors import ModelError
from pipelines.features.engine import compute_features
from pipelines.features.catalog import feature_set
from pipelines.features.spec import FeatureContext
from pipelines.store.base import Store

log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    model_id: str
    model: Any
    features: list[str]
    feature_set: str


class RegistryPredictor:
    """``(symbol, bars) -> {"expected_return", "prob_up", "confidence"}``: the average of the
    promoted forecasters that cover the symbol and timeframe (optionally only those named), or
    None when none can answer for the newest bar (too little history, missing features)."""

    def __init__(self, store: Store, symbols: list[str], timeframe: str, names: list[str] | None = None) -> None:
        from models.registry import list_models
        from models.zoo import load
        self.timeframe = timeframe
        self.by_symbol: dict[str, list[_Loaded]] = {s: [] for s in symbols}
        for rec in list_models(store, "promoted"):
            if rec.kind != "forecaster" or rec.timeframe != timeframe or (names and rec.name not in names):
                continue
            for s in set(rec.symbols) & set(symbols):
                model = load(rec.artifact_path, expected_features=rec.features)
                self.by_symbol[s].append(_Loaded(rec.model_id, model, rec.features,
                                                 str(rec.config.get("feature_set", "core"))))
        missing = [s for s, ms in self.by_symbol.items() if not ms]
        if missing:
            raise ModelError(f"no promoted {timeframe} forecaster for {', '.join(missing)}"
                             f"{' among ' + ', '.join(names) if names else ''}: train and promote one "
                             f"(the demo or `meridian walkforward`), see `meridian models list`")

    def model_ids(self, symbol: str) -> list[str]:
        return [m.model_id for m in self.by_symbol.get(symbol, [])]

    def __call__(self, symbol: str, bars: pd.DataFrame) -> dict[str, float] | None:
        if bars.empty:
            return None
        ctx = FeatureContext(symbol=symbol, asset_class=str(bars["asset_class"].iloc[-1]), timeframe=self.timeframe)
        feats: dict[str, pd.DataFrame] = {}
        answers = []
        for m in self.by_symbol.get(symbol, []):
            if m.feature_set not in feats:
                feats[m.feature_set] = compute_features(bars, feature_set(m.feature_set), ctx)
            X = feats[m.feature_set]
            if X.empty or X.index[-1] != bars["ts"].iloc[-1]:
                continue
            row = X.iloc[[-1]].reindex(columns=m.features)
            if row.isna().any(axis=1).iloc[0]:
                log.info("%s: features of %s missing at %s; it sits this bar out", symbol, m.model_id, X.index[-1])
                continue
            out = m.model.predict(row).iloc[-1]
            answers.append({k: float(out[k]) for k in ("expected_return", "prob_up", "confidence")})
        if not answers:
            return None
        view = {k: float(np.nanmean([a[k] for a in answers])) for k in answers[0]}
        return {k: v for k, v in view.items() if not math.isnan(v)} or None
