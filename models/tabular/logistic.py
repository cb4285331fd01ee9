"""Linear baseline: logistic regression for the direction, ridge regression for the return
(inputs standardised on the training rows)."""

from __future__ import annotations

from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

from models.tabular.base import TabularForecaster

DEFAULTS = {"C": 0.1, "alpha": 10.0, "max_iter": 500, "random_state": 0}


class LogisticForecaster(TabularForecaster):
    name = "logistic"
    defaults = DEFAULTS
    strict_params = True

    def _make(self, kw):
        reg = TransformedTargetRegressor(Ridge(alpha=kw["alpha"]), transformer=StandardScaler())
        clf = LogisticRegression(C=kw["C"], max_iter=kw["max_iter"], random_state=kw["random_state"])
        return reg, clf
