"""XGBoost: a regressor for the forward return and a classifier for its sign."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from models.base import Forecaster

DEFAULTS = {"n_estimators": 300, "max_depth": 3, "learning_rate": 0.05, "subsample": 0.8,
            "colsample_bytree": 0.8, "min_child_weight": 5, "reg_lambda": 1.0,
            "early_stopping_rounds": 30, "n_jobs": 1, "random_state": 0}


class XGBoostForecaster(Forecaster):
    name = "xgboost"

    def _kw(self) -> dict:
        kw = {**DEFAULTS, **self.params}
        kw.setdefault("tree_method", "hist")
        return kw

    def _fit(self, X, y, X_val, y_val) -> None:
        kw = self._kw()
        has_val = X_val is not None and len(X_val) > 0
        if not has_val:
            kw.pop("early_stopping_rounds", None)
        y_up = (y > 0).astype(int)
        self.reg_ = xgb.XGBRegressor(objective="reg:squarederror", **kw)
        self.clf_ = xgb.XGBClassifier(objective="binary:logistic", eval_metric="logloss", **kw)
        if has_val:
            self.reg_.fit(X, y, eval_set=[(X_val, y_val)], verbose=False)
            if y_up.nunique() > 1:
                self.clf_.fit(X, y_up, eval_set=[(X_val, (y_val > 0).astype(int))], verbose=False)
        else:
            self.reg_.fit(X, y, verbose=False)
            if y_up.nunique() > 1:
                self.clf_.fit(X, y_up, verbose=False)
        self.base_rate_ = float(y_up.mean())

    def _predict(self, X: pd.DataFrame) -> pd.DataFrame:
        er = self.reg_.predict(X)
        try:
            p = self.clf_.predict_proba(X)[:, 1]
        except (AttributeError, xgb.core.XGBoostError):  # classifier never fitted (one class)
            p = np.full(len(X), self.base_rate_)
        return pd.DataFrame({"expected_return": er, "prob_up": p,
                             "confidence": np.abs(p - 0.5) * 2}, index=X.index)

    def _save_weights(self, path: Path) -> None:
        self.reg_.save_model(path / "regressor.ubj")
        if hasattr(self.clf_, "_Booster") or getattr(self.clf_, "n_features_in_", None):
            self.clf_.save_model(path / "classifier.ubj")
        (path / "base_rate.txt").write_text(repr(self.base_rate_))

    def _load_weights(self, path: Path) -> None:
        self.reg_ = xgb.XGBRegressor()
        self.reg_.load_model(path / "regressor.ubj")
        self.clf_ = xgb.XGBClassifier()
        if (path / "classifier.ubj").exists():
            self.clf_.load_model(path / "classifier.ubj")
        self.base_rate_ = float((path / "base_rate.txt").read_text())
