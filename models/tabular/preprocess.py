"""Preprocessing fitted on a fold's training rows only: optional HMM regime probabilities,
median imputation, standard scaling and univariate feature selection.

Every step is fitted in :meth:`Preprocessor.fit` on the rows the model trains on and only
applied (never refitted) to validation and test rows, so no statistic of a later window leaks
into a fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_selection import SelectKBest, f_regression
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from models.regimes.hmm import REGIME_COLUMNS, RegimeHMM


class Preprocessor:
    """``scale``: standardise columns; ``impute``: fill NaN with the training median;
    ``select_k``: keep the k columns most related to the target (F-test); ``regimes``: append
    the filtered probabilities of an HMM fitted on the training rows."""

    def __init__(self, *, scale: bool, impute: bool, select_k: int | None = None,
                 regimes: bool = False, random_state: int = 0) -> None:
        self.scale = scale
        self.impute = impute
        self.select_k = select_k
        self.regimes = regimes
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: pd.Series) -> "Preprocessor":
        self.columns_in_ = list(X.columns)
        if self.regimes:
            self.hmm_ = RegimeHMM(random_state=self.random_state).fit(X)
        A = self._augment(X)
        self.columns_ = list(self.columns_in_) + (list(REGIME_COLUMNS) if self.regimes else [])
        if self.impute:
            self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True).fit(A)
            A = self.imputer_.transform(A)
        if self.scale:
            self.scaler_ = StandardScaler().fit(A)
            A = self.scaler_.transform(A)
        if self.select_k is not None and self.select_k < A.shape[1]:
            ok = np.isfinite(A).all(axis=1) & np.isfinite(y.to_numpy())
            self.selector_ = SelectKBest(f_regression, k=int(self.select_k)).fit(
                np.nan_to_num(A[ok]), y.to_numpy()[ok])
            self.columns_ = [c for c, keep in zip(self.columns_, self.selector_.get_support()) if keep]
        return self

    def _augment(self, X: pd.DataFrame) -> np.ndarray:
        A = X.to_numpy(dtype="float64")
        if self.regimes:
            A = np.hstack([A, self.hmm_.filter_proba(X).to_numpy()])
        return A

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        A = self._augment(X)
        if self.impute:
            A = self.imputer_.transform(A)
        if self.scale:
            A = self.scaler_.transform(A)
        if hasattr(self, "selector_"):
            A = self.selector_.transform(A)
        return A

    def frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """The transformed rows as a frame with the output column names (for tree models that
        keep feature names)."""
        return pd.DataFrame(self.transform(X), index=X.index, columns=self.columns_)
