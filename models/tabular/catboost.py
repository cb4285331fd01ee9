"""CatBoost (the optional ``catboost`` extra): ordered boosting for the forward return and its
sign. Importing this module without catboost installed raises a ModelError that says how to
install it."""

from __future__ import annotations

from models.tabular.base import TabularForecaster, assigned_gpu
from pipelines.errors import ModelError

try:
    import catboost as cb
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ModelError("the catboost model needs the optional extra: pip install 'meridian[catboost]'") from exc

DEFAULTS = {"iterations": 300, "learning_rate": 0.05, "depth": 4, "l2_leaf_reg": 3.0,
            "early_stopping_rounds": 30, "thread_count": 1, "random_seed": 0,
            "verbose": False, "allow_writing_files": False}


class CatBoostForecaster(TabularForecaster):
    """Trains on the GPU (``task_type="GPU"``) when the walk-forward placed it on a GPU node;
    pass ``task_type`` explicitly to override."""

    name = "catboost"
    defaults = DEFAULTS
    scale = False
    impute = False
    wants_gpu = True

    def estimator_params(self):
        kw = super().estimator_params()
        if "n_estimators" in kw:            # accept the name the other boosters use
            kw["iterations"] = kw.pop("n_estimators")
        if "random_state" in kw:
            kw["random_seed"] = kw.pop("random_state")
        return kw

    def _make(self, kw):
        self._early = kw.pop("early_stopping_rounds", None)
        if "task_type" not in kw and assigned_gpu():
            kw["task_type"] = "GPU"
        return (cb.CatBoostRegressor(loss_function="RMSE", **kw),
                cb.CatBoostClassifier(loss_function="Logloss", **kw))

    def _fit_estimators(self, A, y, y_up, A_val, y_val) -> None:
        if A_val is not None and self._early:
            self.reg_.fit(A, y, eval_set=(A_val, y_val), early_stopping_rounds=self._early)
            if isinstance(self.clf_, cb.CatBoostClassifier) and (y_val > 0).nunique() > 1:
                self.clf_.fit(A, y_up, eval_set=(A_val, (y_val > 0).astype(int)),
                              early_stopping_rounds=self._early)
                return
        else:
            self.reg_.fit(A, y)
        self.clf_.fit(A, y_up)

    def _input(self, A):
        return A
