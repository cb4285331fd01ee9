"""Random forest: bagged trees for the forward return and for its sign. Predictions walk the
packed trees in one compiled kernel (:mod:`models.tabular.forest_eval`), bit-identical to
scikit-learn's and much faster for the few rows a live prediction scores."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from models.tabular import forest_eval
from models.tabular.base import TabularForecaster

DEFAULTS = {"n_estimators": 200, "max_depth": 6, "min_samples_leaf": 20, "max_features": 0.5,
            "n_jobs": 1, "random_state": 0}


class RandomForestForecaster(TabularForecaster):
    name = "random_forest"
    defaults = DEFAULTS
    scale = False

    def _make(self, kw):
        return RandomForestRegressor(**kw), RandomForestClassifier(**kw)

    def _fit_estimators(self, A, y, y_up, A_val, y_val) -> None:
        super()._fit_estimators(A, y, y_up, A_val, y_val)
        self._packed = None

    def _outputs(self, A):
        packed = getattr(self, "_packed", None)
        if packed is None:
            clf = forest_eval.pack(self.clf_, classifier=True) if isinstance(self.clf_, RandomForestClassifier) else None
            self._packed = packed = (forest_eval.pack(self.reg_, classifier=False), clf)
        X = A.to_numpy(dtype="float64")
        er = forest_eval.predict(packed[0], X)[:, 0]
        proba = forest_eval.predict(packed[1], X) if packed[1] is not None else \
            np.asarray(self.clf_.predict_proba(X), dtype="float64")
        return er, proba
