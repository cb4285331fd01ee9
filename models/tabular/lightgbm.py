"""LightGBM: gradient-boosted leaves for the forward return and for its sign, with early
stopping on the fold's validation tail when there is one."""

from __future__ import annotations

import inspect

import lightgbm as lgb

from models.tabular.base import TabularForecaster

DEFAULTS = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 20,
            "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "reg_lambda": 1.0,
            "early_stopping_rounds": 30, "n_jobs": 1, "random_state": 0, "verbose": -1}


_NEW_EVAL_API = "eval_X" in inspect.signature(lgb.LGBMRegressor.fit).parameters


def _eval(X, y) -> dict:
    """Validation rows in the form this LightGBM takes (``eval_X``/``eval_y`` since 4.7)."""
    return {"eval_X": (X,), "eval_y": (y,)} if _NEW_EVAL_API else {"eval_set": [(X, y)]}


class LightGBMForecaster(TabularForecaster):
    name = "lightgbm"
    defaults = DEFAULTS
    scale = False
    impute = False

    def _make(self, kw):
        self._early = kw.pop("early_stopping_rounds", None)
        return lgb.LGBMRegressor(objective="regression", **kw), lgb.LGBMClassifier(objective="binary", **kw)

    def _fit_estimators(self, A, y, y_up, A_val, y_val) -> None:
        if A_val is not None and self._early:
            stop = [lgb.early_stopping(self._early, verbose=False)]
            self.reg_.fit(A, y, **_eval(A_val, y_val), callbacks=stop)
            if isinstance(self.clf_, lgb.LGBMClassifier) and (y_val > 0).nunique() > 1:
                self.clf_.fit(A, y_up, **_eval(A_val, (y_val > 0).astype(int)), callbacks=stop)
                return
        else:
            self.reg_.fit(A, y)
        self.clf_.fit(A, y_up)

    def _input(self, A):
        return A
