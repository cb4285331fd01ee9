"""Preprocessing fitted on a fold's training rows only: optional HMM regime probabilities,
median imputation, standard scaling and univariate feature selection.

Every step is fitted in :meth:`Preprocessor.fit` on the rows the model trains on and only
applied (never refitted) to validation and test rows, so no statistic of a later window leaks
into a fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_selection import f_regression
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from models.regimes.hmm import REGIME_COLUMNS, RegimeHMM


def _select_k_best(A: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Indices (in input order) of the k columns with the highest F-statistic against y;
    missing values count as the column's median for scoring only, constant columns score 0."""
    if k <= 0:
        raise ValueError(f"select_k must be positive, got {k}")
    filled = A.copy()
    bad = ~np.isfinite(filled)
    med = np.zeros(A.shape[1])
    for j in np.flatnonzero((~bad).any(axis=0)):
        med[j] = np.median(filled[~bad[:, j], j])
    filled[bad] = med[np.nonzero(bad)[1]]
    ok = np.isfinite(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores, _ = f_regression(filled[ok], y[ok])
    scores = np.nan_to_num(scores, nan=0.0, posinf=0.0)
    return np.sort(np.argsort(-scores, kind="stable")[:k])


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
            self.keep_ = _select_k_best(A, y.to_numpy(dtype="float64"), int(self.select_k))
            self.columns_ = [self.columns_[i] for i in self.keep_]
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
        if hasattr(self, "keep_"):
            A = A[:, self.keep_]
        return A

    def frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """The transformed rows as a frame with the output column names (for tree models that
        keep feature names)."""
        return pd.DataFrame(self.transform(X), index=X.index, columns=self.columns_)
