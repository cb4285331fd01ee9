"""XGBoost: a regressor for the forward return and a classifier for its sign, with early
stopping on the fold's validation tail when there is one."""

from __future__ import annotations

import xgboost as xgb

from models.tabular.base import TabularForecaster, assigned_gpu

DEFAULTS = {"n_estimators": 300, "max_depth": 3, "learning_rate": 0.05, "subsample": 0.8,
            "colsample_bytree": 0.8, "min_child_weight": 5, "reg_lambda": 1.0,
            "early_stopping_rounds": 30, "n_jobs": 1, "random_state": 0, "tree_method": "hist"}


class XGBoostForecaster(TabularForecaster):
    """Trains on the GPU (``device="cuda"``) when the walk-forward placed it on a GPU node;
    pass ``device`` explicitly to override."""

    name = "xgboost"
    defaults = DEFAULTS
    scale = False
    impute = False   # trees route missing values themselves
    wants_gpu = True

    def _make(self, kw):
        self._early = kw.pop("early_stopping_rounds", None)
        if "device" not in kw and assigned_gpu():
            kw["device"] = "cuda"
        return (xgb.XGBRegressor(objective="reg:squarederror", **kw),
                xgb.XGBClassifier(objective="binary:logistic", eval_metric="logloss", **kw))

    def _fit_estimators(self, A, y, y_up, A_val, y_val) -> None:
        if A_val is not None and self._early:
            self.reg_.set_params(early_stopping_rounds=self._early)
            self.reg_.fit(A, y, eval_set=[(A_val, y_val)], verbose=False)
            if isinstance(self.clf_, xgb.XGBClassifier) and (y_val > 0).nunique() > 1:
                self.clf_.set_params(early_stopping_rounds=self._early)
                self.clf_.fit(A, y_up, eval_set=[(A_val, (y_val > 0).astype(int))], verbose=False)
                return
        else:
            self.reg_.fit(A, y, verbose=False)
        self.clf_.fit(A, y_up)

    def _input(self, A):
        return A
