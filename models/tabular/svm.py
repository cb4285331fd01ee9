"""Support vector machines: an RBF classifier for the direction, its probabilities Platt-scaled
on calibration folds inside the training window, and an RBF regressor on the standardised
return. Kernel methods scale quadratically, so only the most recent ``max_train_rows`` training
rows are used."""

from __future__ import annotations

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from models.tabular.base import TabularForecaster

DEFAULTS = {"C": 0.5, "gamma": "scale", "epsilon": 0.5, "max_train_rows": 3000, "random_state": 0}


class SVMForecaster(TabularForecaster):
    name = "svm"
    defaults = DEFAULTS
    strict_params = True
    max_train_rows = 3000

    def _make(self, kw):
        reg = TransformedTargetRegressor(SVR(C=kw["C"], gamma=kw["gamma"], epsilon=kw["epsilon"]),
                                         transformer=StandardScaler())
        clf = CalibratedClassifierCV(SVC(C=kw["C"], gamma=kw["gamma"], random_state=kw["random_state"]),
                                     method="sigmoid", cv=3, ensemble=False)
        return reg, clf
