"""Random forest: bagged trees for the forward return and for its sign."""

from __future__ import annotations

from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from models.tabular.base import TabularForecaster

DEFAULTS = {"n_estimators": 200, "max_depth": 6, "min_samples_leaf": 20, "max_features": 0.5,
            "n_jobs": 1, "random_state": 0}


class RandomForestForecaster(TabularForecaster):
    name = "random_forest"
    defaults = DEFAULTS
    scale = False

    def _make(self, kw):
        return RandomForestRegressor(**kw), RandomForestClassifier(**kw)
