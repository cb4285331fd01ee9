"""The forecaster interface every model in the zoo follows (scikit-learn's contract).

``__init__`` stores parameters only; ``fit`` returns self; learned state ends in ``_``; an
unfitted model raises :class:`NotFittedError`. ``predict`` returns, per row, the expected return
over the horizon, the probability of an up move and a confidence in [0, 1]. Artifacts describe
themselves: ``save`` writes weights plus ``meta.json`` (name, params, feature list and its hash),
and ``load`` refuses a feature list that does not match the one it was trained on.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Literal

import pandas as pd

from pipelines.errors import ModelError
from pipelines.features.catalog import feature_hash

PREDICTION_COLUMNS = ("expected_return", "prob_up", "confidence")


class NotFittedError(ModelError):
    pass


class Forecaster(ABC):
    name: ClassVar[str]
    # tabular: one symbol's rows indexed by ts; sequence: windows of them; panel: rows (ts, symbol)
    # of a universe (the panel walk-forward only)
    consumes: ClassVar[Literal["tabular", "sequence", "panel"]] = "tabular"
    wants_gpu: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)

    # -- to implement -------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, X: pd.DataFrame, y: pd.Series, X_val: pd.DataFrame | None,
             y_val: pd.Series | None) -> None: ...

    @abstractmethod
    def _predict(self, X: pd.DataFrame) -> pd.DataFrame: ...

    @abstractmethod
    def _save_weights(self, path: Path) -> None: ...

    @abstractmethod
    def _load_weights(self, path: Path) -> None: ...

    # -- shared -------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: pd.Series, X_val: pd.DataFrame | None = None,
            y_val: pd.Series | None = None) -> "Forecaster":
        if len(X) != len(y):
            raise ModelError(f"{self.name}: X has {len(X)} rows, y has {len(y)}")
        if len(X) == 0:
            raise ModelError(f"{self.name}: cannot fit on zero rows")
        self.features_ = list(X.columns)
        self._fit(X, y, X_val, y_val)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "features_"):
            raise NotFittedError(f"{self.name} is not fitted: call fit() first")

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        self._check_fitted()
        if list(X.columns) != self.features_:
            raise ModelError(f"{self.name}: features differ from training "
                             f"({feature_hash(list(X.columns))} != {feature_hash(self.features_)})")
        out = self._predict(X)
        return out[list(PREDICTION_COLUMNS)]

    def save(self, path: str | Path) -> Path:
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_weights(path)
        meta = {"name": self.name, "class": f"{type(self).__module__}:{type(self).__qualname__}",
                "consumes": self.consumes, "params": self.params, "features": self.features_,
                "feature_hash": feature_hash(self.features_),
                "saved_at": datetime.now(timezone.utc).isoformat()}
        (path / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path, expected_features: list[str] | None = None) -> "Forecaster":
        path = Path(path)
        meta_path = path / "meta.json"
        if not meta_path.exists():
            raise ModelError(f"{path} is not a saved model (no meta.json)")
        meta = json.loads(meta_path.read_text())
        if meta["name"] != cls.name:
            raise ModelError(f"{path} holds a {meta['name']} model, not {cls.name}")
        if expected_features is not None and list(expected_features) != meta["features"]:
            raise ModelError(
                f"{cls.name} at {path} was trained on feature set {meta['feature_hash']} "
                f"({len(meta['features'])} columns) but is asked to serve {feature_hash(list(expected_features))} "
                f"({len(expected_features)} columns): retrain it or use the matching feature set")
        model = cls(**meta["params"])
        model.features_ = list(meta["features"])
        model._load_weights(path)
        return model
