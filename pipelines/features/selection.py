"""Feature selection fitted on a training window only: rank by mutual information with the
label, then prune features too correlated with a better-ranked one. Follows scikit-learn's
contract: parameters in ``__init__``, ``fit`` returns self, learned state ends in ``_``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

from pipelines.errors import ModelError


class FeatureSelector:
    """Keep at most ``k`` features: the highest mutual information first, skipping any whose
    absolute Spearman correlation with an already kept feature exceeds ``max_corr``.

    ``fit`` sees only the rows it is given (a fold's training rows, purged of the label horizon
    by the splitter); :func:`fit_on_fold` makes that the only way it is fed in the pipeline."""

    def __init__(self, k: int | None = 50, max_corr: float = 0.9, n_neighbors: int = 3,
                 max_rows: int = 20000, random_state: int = 0):
        self.k = k
        self.max_corr = max_corr
        self.n_neighbors = n_neighbors
        self.max_rows = max_rows
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> "FeatureSelector":
        y = pd.Series(np.asarray(y, dtype="float64"), index=X.index)
        ok = y.notna() & np.isfinite(y)
        usable_cols = [c for c in X.columns if X.loc[ok, c].notna().mean() > 0.5 and X.loc[ok, c].nunique() > 1]
        if not usable_cols:
            raise ModelError("feature selection: no feature has values on the training rows")
        Xt = X.loc[ok, usable_cols]
        Xt = Xt.fillna(Xt.median())
        yt = y[ok]
        if len(Xt) < 30:
            raise ModelError(f"feature selection: {len(Xt)} training rows with a label; need at least 30")
        if len(Xt) > self.max_rows:  # the most recent rows of the window
            Xt, yt = Xt.iloc[-self.max_rows:], yt.iloc[-self.max_rows:]
        discrete = yt.nunique() <= 10
        mi_fn = mutual_info_classif if discrete else mutual_info_regression
        mi = mi_fn(Xt.to_numpy(), yt.to_numpy().astype(int) if discrete else yt.to_numpy(),
                   n_neighbors=self.n_neighbors, random_state=self.random_state)
        self.mi_ = pd.Series(mi, index=usable_cols).sort_values(ascending=False, kind="stable")
        ranks = Xt[self.mi_.index].rank().to_numpy()
        corr = np.corrcoef(ranks, rowvar=False)
        pos = {c: i for i, c in enumerate(self.mi_.index)}
        kept: list[str] = []
        dropped: dict[str, str] = {}
        for c in self.mi_.index:
            if self.k is not None and len(kept) >= self.k:
                break
            worst = max(kept, key=lambda kc: abs(corr[pos[c], pos[kc]]), default=None)
            if worst is not None and abs(corr[pos[c], pos[worst]]) > self.max_corr:
                dropped[c] = worst
                continue
            kept.append(c)
        self.selected_ = kept
        self.pruned_ = dropped
        self.train_rows_ = len(Xt)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "selected_"):
            raise ModelError("FeatureSelector is not fitted: call fit on a training window first")
        missing = [c for c in self.selected_ if c not in X.columns]
        if missing:
            raise ModelError(f"features {missing[:5]} chosen at fit time are absent")
        return X[self.selected_]


@dataclass(frozen=True)
class FoldSelection:
    fold: int
    selected: list[str]
    train_end: pd.Timestamp


def fit_on_fold(X: pd.DataFrame, y: pd.Series, train_rows: np.ndarray, **params) -> FeatureSelector:
    """Fit a selector on the fold's training rows only (positions into X, y)."""
    rows = np.asarray(train_rows)
    return FeatureSelector(**params).fit(X.iloc[rows], pd.Series(np.asarray(y, dtype="float64")[rows], index=X.index[rows]))


def select_per_fold(X: pd.DataFrame, y: pd.Series, folds, **params) -> list[FoldSelection]:
    """One selection per walk-forward fold (``models.training.splits.Fold``), each from that
    fold's training rows."""
    out = []
    for f in folds:
        sel = fit_on_fold(X, y, f.train, **params)
        out.append(FoldSelection(f.index, sel.selected_, X.index[np.asarray(f.train).max()]))
    return out
