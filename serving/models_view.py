"""What the model monitor shows: every registered model with its out-of-sample accuracy over
time, Sharpe and last update, and whether serving holds it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.registry import list_models
from pipelines.store.base import Store
from serving.insights import number
from serving.model_book import SERVED_KINDS


def accuracy_over_time(preds: pd.DataFrame, max_points: int = 24) -> list[dict]:
    """Directional accuracy of out-of-sample predictions per calendar month (last ``max_points``)."""
    p = preds.dropna(subset=["expected_return", "realized_return"])
    p = p[(p["expected_return"] != 0) & (p["realized_return"] != 0)]
    if p.empty:
        return []
    hit = (np.sign(p["expected_return"]) == np.sign(p["realized_return"])).astype(float)
    period = p["ts"].dt.tz_convert("UTC").dt.strftime("%Y-%m")
    g = hit.groupby(period.to_numpy())
    out = [{"period": str(k), "accuracy": float(v), "n": int(n)}
           for (k, v), n in zip(g.mean().items(), g.size().to_numpy())]
    return out[-max_points:]


def models_info(store: Store, load_status: dict[str, str | None], status: str | None = None) -> list[dict]:
    recs = list_models(store, status)
    preds = store.read("predictions", {"model_id": [r.model_id for r in recs]}) if recs else pd.DataFrame()
    by_model = dict(tuple(preds.groupby("model_id"))) if not preds.empty else {}
    out = []
    for r in sorted(recs, key=lambda r: (r.status != "promoted", r.name, r.model_id)):
        m = r.metrics or {}
        out.append({
            "model_id": r.model_id, "name": r.name, "kind": r.kind, "status": r.status,
            "symbols": list(r.symbols), "timeframe": r.timeframe, "horizon": int(r.horizon),
            "feature_hash": r.feature_hash, "created_at": pd.Timestamp(r.created_at).isoformat(),
            "train_end": pd.Timestamp(r.train_end).isoformat(),
            "accuracy": number(m.get("directional_accuracy")), "sharpe": number(m.get("strategy_sharpe")),
            "accuracy_over_time": accuracy_over_time(by_model[r.model_id]) if r.model_id in by_model else [],
            "loaded": (load_status.get(r.model_id) is None and r.model_id in load_status)
            if r.status == "promoted" and r.kind in SERVED_KINDS else None,
            "load_error": load_status.get(r.model_id),
        })
    return out
