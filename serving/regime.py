"""The market regime of a symbol's latest bar from a promoted regime model (registry records of
kind ``regime``), with filtered probabilities: the forward pass reads rows up to the bar only.

A regime artifact is loaded through the model zoo when its name is registered there, else from
``regime.pkl`` in the artifact folder (a pickled fitted :class:`models.regimes.hmm.RegimeHMM`)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pandas as pd

from models.registry import ModelRecord

REGIME_FILE = "regime.pkl"


def load_regime(rec: ModelRecord) -> Any:
    from models.zoo import all_models, model_class
    if rec.name in all_models():
        return model_class(rec.name).load(rec.artifact_path)
    path = Path(rec.artifact_path) / REGIME_FILE
    if not path.exists():
        raise FileNotFoundError(f"{rec.model_id}: no {REGIME_FILE} in {rec.artifact_path}")
    with path.open("rb") as fh:
        return pickle.load(fh)


def save_regime(model: Any, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / REGIME_FILE).open("wb") as fh:
        pickle.dump(model, fh)
    return folder


def regime_now(model: Any, features: pd.DataFrame) -> dict[str, Any]:
    """Label and probabilities at the last row of ``features``."""
    proba = model.filter_proba(features).iloc[-1]
    probs = {str(k).removeprefix("regime_p_"): float(v) for k, v in proba.items()}
    return {"label": max(probs, key=probs.get), "probabilities": probs}


class RegimeBook:
    """Promoted regime models by symbol, loaded on first use; failures remembered with a reason."""

    def __init__(self) -> None:
        self.records: list[ModelRecord] = []
        self._loaded: dict[str, tuple[Any, str | None]] = {}
        self._memo: dict[tuple, dict] = {}

    def set_records(self, records: list[ModelRecord]) -> None:
        self.records = [r for r in records if r.kind == "regime"]
        self._loaded.clear()
        self._memo.clear()

    def for_symbol(self, symbol: str, timeframe: str) -> ModelRecord | None:
        recs = [r for r in self.records if symbol in r.symbols and r.timeframe == timeframe]
        return max(recs, key=lambda r: pd.Timestamp(r.created_at)) if recs else None

    def regime(self, rec: ModelRecord, features: pd.DataFrame) -> tuple[dict | None, str | None]:
        """(regime, None) or (None, why not)."""
        if rec.model_id not in self._loaded:
            try:
                self._loaded[rec.model_id] = (load_regime(rec), None)
            except Exception as exc:
                self._loaded[rec.model_id] = (None, f"{rec.model_id} did not load: {type(exc).__name__}: {exc}")
        model, err = self._loaded[rec.model_id]
        if model is None:
            return None, err
        key = (rec.model_id, features.index[-1], len(features))
        if key not in self._memo:
            try:
                self._memo[key] = {"model_id": rec.model_id, **regime_now(model, features)}
            except Exception as exc:
                return None, f"{rec.model_id} failed: {type(exc).__name__}: {exc}"
        return self._memo[key], None
