"""Out-of-sample predictions as rows of the ``predictions`` table: model id, fold, config hash,
and when each prediction was known (the close of its bar)."""

from __future__ import annotations

import pandas as pd

from pipelines.schema import PREDICTIONS
from pipelines.store.base import Store


def prediction_rows(preds: pd.DataFrame, bars: pd.DataFrame, *, model_id: str, symbol: str,
                    timeframe: str, horizon: int, config_hash: str) -> pd.DataFrame:
    """``preds`` indexed by ts (expected_return, prob_up, confidence, realized_return, fold)."""
    out = preds.reset_index()
    if "ts" not in out.columns:
        out = out.rename(columns={out.columns[0]: "ts"})
    known = bars.set_index("ts")["known_at"]
    missing = ~out["ts"].isin(known.index)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} predictions of {model_id} have no bar in {symbol} "
                         f"{timeframe} (first: {out.loc[missing, 'ts'].iloc[0]})")
    out["known_at"] = out["ts"].map(known)
    out["model_id"] = model_id
    out["symbol"] = symbol
    out["timeframe"] = timeframe
    out["horizon"] = int(horizon)
    out["config_hash"] = config_hash
    out["fold"] = out["fold"].astype("int64")
    return out[PREDICTIONS.columns]


def persist_predictions(store: Store, preds: pd.DataFrame, bars: pd.DataFrame, **ids) -> int:
    """Upsert the rows (idempotent: a rerun of the same model id replaces them)."""
    return store.write("predictions", prediction_rows(preds, bars, **ids))
