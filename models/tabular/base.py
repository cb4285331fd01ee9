"""What every tabular forecaster shares: a regressor for the forward return over the horizon
and a classifier for its sign, both behind a :class:`Preprocessor` fitted on the training rows
of the fold. A subclass says only how to build its two estimators and how to fit them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier

from models.base import Forecaster
from pipelines.errors import ModelError
from models.tabular.preprocess import Preprocessor

PREP_KEYS = ("select_k", "regimes")


def assigned_gpu() -> bool:
    """Whether Ray gave the current task a GPU (a model that can use one then trains on it)."""
    import ray
    try:
        return ray.is_initialized() and bool(ray.get_gpu_ids())
    except Exception:  # outside a Ray worker
        return False


class TabularForecaster(Forecaster):
    """Parameters common to all tabular models: ``select_k`` (int, keep the k best columns),
    ``regimes`` (bool, add HMM regime probabilities as features), ``random_state``; the rest
    go to the estimators on top of the class ``defaults``."""

    consumes = "tabular"
    defaults: ClassVar[dict[str, Any]] = {}
    scale: ClassVar[bool] = True          # linear / kernel models need standardised inputs
    impute: ClassVar[bool] = True         # models that cannot take NaN
    max_train_rows: ClassVar[int | None] = None
    strict_params: ClassVar[bool] = False  # True: only ``defaults`` keys are accepted

    # -- for subclasses -----------------------------------------------------------------------
    def _make(self, kw: dict[str, Any]) -> tuple[Any, Any]:
        """(regressor, classifier), unfitted."""
        raise NotImplementedError

    def _fit_estimators(self, A: pd.DataFrame, y: pd.Series, y_up: pd.Series,
                        A_val: pd.DataFrame | None, y_val: pd.Series | None) -> None:
        """Default: plain ``fit`` (validation rows unused)."""
        self.reg_.fit(A.to_numpy(), y.to_numpy())
        self.clf_.fit(A.to_numpy(), y_up.to_numpy())

    # -- shared -------------------------------------------------------------------------------
    def estimator_params(self) -> dict[str, Any]:
        kw = {**self.defaults, **{k: v for k, v in self.params.items() if k not in PREP_KEYS}}
        return kw

    def _check_params(self) -> None:
        known = set(self.defaults) | set(PREP_KEYS) | {"max_train_rows", "random_state"}
        unknown = sorted(set(self.params) - known)
        if self.strict_params and unknown:
            raise ModelError(f"{self.name}: unknown parameter(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")

    def _fit(self, X, y, X_val, y_val) -> None:
        self._check_params()
        limit = self.params.get("max_train_rows", self.max_train_rows)
        if limit and len(X) > limit:        # keep the most recent rows
            X, y = X.iloc[-int(limit):], y.iloc[-int(limit):]
        ok = np.isfinite(y.to_numpy(dtype="float64"))
        X, y = X[ok], y[ok]
        self.prep_ = Preprocessor(scale=self.scale, impute=self.impute,
                                  select_k=self.params.get("select_k"),
                                  regimes=bool(self.params.get("regimes", False)),
                                  random_state=int(self.params.get("random_state", 0))).fit(X, y)
        A = self.prep_.frame(X)
        has_val = X_val is not None and len(X_val) > 0
        A_val = self.prep_.frame(X_val) if has_val else None
        y_up = (y > 0).astype(int)
        kw = {k: v for k, v in self.estimator_params().items() if k != "max_train_rows"}
        try:
            self.reg_, self.clf_ = self._make(kw)
        except TypeError as exc:     # an estimator refused a parameter
            raise ModelError(f"{self.name}: bad parameters {sorted(self.params)}: {exc}") from None
        self.base_rate_ = float(y_up.mean())
        if y_up.nunique() < 2:  # one class only: the prior is all a classifier could learn
            self.clf_ = DummyClassifier(strategy="prior")
        self._fit_estimators(A, y, y_up, A_val, y_val if has_val else None)

    def _outputs(self, A: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(expected return per row, class probabilities per row in ``clf_.classes_`` order)."""
        er = np.asarray(self.reg_.predict(self._input(A)), dtype="float64").reshape(-1)
        proba = np.asarray(self.clf_.predict_proba(self._input(A)), dtype="float64")
        return er, proba

    def _predict(self, X: pd.DataFrame) -> pd.DataFrame:
        A = self.prep_.frame(X)
        er, proba = self._outputs(A)
        classes = list(getattr(self.clf_, "classes_", [0, 1]))
        p = proba[:, classes.index(1)] if 1 in classes else np.zeros(len(A))
        p = np.clip(p, 0.0, 1.0)
        return pd.DataFrame({"expected_return": er, "prob_up": p,
                             "confidence": np.abs(p - 0.5) * 2}, index=X.index)

    def _input(self, A: pd.DataFrame):
        """What the fitted estimators take (arrays by default; frames for tree libraries that
        remember feature names)."""
        return A.to_numpy()

    def _save_weights(self, path: Path) -> None:
        joblib.dump({"prep": self.prep_, "reg": self.reg_, "clf": self.clf_,
                     "base_rate": self.base_rate_}, path / "model.joblib")

    def _load_weights(self, path: Path) -> None:
        state = joblib.load(path / "model.joblib")
        self.prep_, self.reg_, self.clf_ = state["prep"], state["reg"], state["clf"]
        self.base_rate_ = state["base_rate"]
