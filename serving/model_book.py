"""The promoted forecasters and panel models held in memory by one replica, loaded from the
registry. A model that fails to load is remembered with its reason, never raised: the ensemble
answers without it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.base import Forecaster
from models.registry import ModelRecord, list_models
from models.zoo import model_class
from pipelines.store.base import Store

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    record: ModelRecord
    model: Forecaster | None
    error: str | None


SERVED_KINDS = ("forecaster", "panel")   # per-symbol forecasters; cross-sectional (panel) models


def promoted_served(store: Store, name: str | None = None) -> list[ModelRecord]:
    """The promoted models a model deployment holds (of one model name, or all)."""
    recs = [r for r in list_models(store, "promoted") if r.kind in SERVED_KINDS]
    return [r for r in recs if name is None or r.name == name]


def load_record(rec: ModelRecord) -> Loaded:
    try:
        model = model_class(rec.name).load(rec.artifact_path, expected_features=rec.features)
        return Loaded(rec, model, None)
    except Exception as exc:  # any failure (missing file, corrupt weights, wrong features) is reported
        log.warning("model %s did not load: %s", rec.model_id, exc)
        return Loaded(rec, None, f"{type(exc).__name__}: {exc}")


class ModelBook:
    """Every promoted forecaster and panel model (or those of one model name), by model id."""

    def __init__(self, store: Store, name: str | None = None) -> None:
        self.store = store
        self.name = name
        self.models: dict[str, Loaded] = {}

    def load(self) -> "ModelBook":
        self.models = {r.model_id: load_record(r) for r in promoted_served(self.store, self.name)}
        return self

    def status(self) -> dict[str, str | None]:
        """model id -> None when loaded, else why not."""
        return {mid: ld.error for mid, ld in self.models.items()}

    def predict_many(self, model_id: str, X: pd.DataFrame) -> list[dict[str, Any]]:
        """The model's prediction for every row of X (rows of different symbols), in one call;
        each as :meth:`predict` answers it."""
        ld = self.models.get(model_id)
        if ld is None or ld.model is None:
            return [self.predict(model_id, X)] * len(X)
        try:
            out = ld.model.predict(X)
            if len(out) != len(X):
                raise ValueError(f"{len(out)} predictions for {len(X)} rows")
            cols = [out[k].to_numpy(dtype=float) for k in ("expected_return", "prob_up", "confidence")]
        except Exception:   # one bad row must not cost the others their answer
            return [self.predict(model_id, X.iloc[[i]]) for i in range(len(X))]
        answers = []
        for er, p, c in zip(*cols):
            if np.isnan(er) or np.isnan(p) or np.isnan(c):
                answers.append({"error": "the model returned NaN for the latest bar (features missing?)"})
            else:
                answers.append({"expected_return": float(er), "prob_up": float(p), "confidence": float(c)})
        return answers

    def predict_panel(self, model_id: str, X: pd.DataFrame) -> list[dict[str, Any]]:
        """A panel model's answer for every row of one date's cross-section X, from one call on
        the whole cross-section (a cross-sectional model may read the rows together); when that
        call fails, every row carries the reason."""
        ld = self.models.get(model_id)
        if ld is None or ld.model is None:
            return [self.predict(model_id, X)] * len(X)
        try:
            out = ld.model.predict(X)
            if len(out) != len(X):
                raise ValueError(f"{len(out)} predictions for {len(X)} rows")
            cols = [out[k].to_numpy(dtype=float) for k in ("expected_return", "prob_up", "confidence")]
        except Exception as exc:
            return [{"error": f"{type(exc).__name__}: {exc}"}] * len(X)
        return [{"error": "the model returned NaN for this row (features missing?)"}
                if np.isnan(er) or np.isnan(p) or np.isnan(c)
                else {"expected_return": float(er), "prob_up": float(p), "confidence": float(c)}
                for er, p, c in zip(*cols)]

    def predict(self, model_id: str, X: pd.DataFrame) -> dict[str, Any]:
        """The model's prediction for the last row of X, or ``{"error": reason}``."""
        ld = self.models.get(model_id)
        if ld is None:
            return {"error": f"{model_id} is not loaded in this replica (promoted after start? reload)"}
        if ld.model is None:
            return {"error": ld.error}
        try:
            out = ld.model.predict(X.iloc[[-1]])
            row = out.iloc[-1]
            vals = {k: float(row[k]) for k in ("expected_return", "prob_up", "confidence")}
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        if not all(pd.notna(v) for v in vals.values()):
            return {"error": "the model returned NaN for the latest bar (features missing?)"}
        return vals
