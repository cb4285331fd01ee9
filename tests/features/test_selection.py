"""Feature selection: mutual information ranking, correlation pruning, training rows only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.errors import ModelError
from models.training.splits import walk_forward_splits
from pipelines.features.selection import FeatureSelector, fit_on_fold, select_per_fold


def _data(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    X = pd.DataFrame({"noise_a": rng.normal(size=n), "signal": signal,
                      "signal_twin": signal * 2.0 + rng.normal(scale=0.01, size=n),
                      "weak": signal * 0.3 + rng.normal(size=n), "noise_b": rng.normal(size=n),
                      "constant": np.ones(n)},
                     index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))
    y = pd.Series(np.sin(signal) + 0.2 * rng.normal(size=n), index=X.index)
    return X, y


def test_ranks_by_information_and_prunes_the_twin():
    X, y = _data()
    sel = FeatureSelector(k=3, max_corr=0.9).fit(X, y)
    assert sel.mi_.index[0] in ("signal", "signal_twin")
    assert sel.selected_[0] in ("signal", "signal_twin")
    assert ("signal" in sel.selected_) != ("signal_twin" in sel.selected_)  # one twin only
    assert "weak" in sel.selected_ and "constant" not in sel.mi_.index
    assert list(sel.transform(X).columns) == sel.selected_


def test_classification_labels_work_too():
    X, y = _data(seed=1)
    sel = FeatureSelector(k=2).fit(X, (y > 0).astype(int))
    assert sel.selected_[0] in ("signal", "signal_twin")


def test_fit_sees_training_rows_only():
    X, y = _data(seed=2)
    folds = walk_forward_splits(len(X), horizon=1, train_bars=600, test_bars=200)
    f = folds[0]
    base = fit_on_fold(X, y, f.train, k=3)
    # scramble everything outside the training rows: the selection must not move
    X2, y2 = X.copy(), y.copy()
    outside = np.setdiff1d(np.arange(len(X)), f.train)
    rng = np.random.default_rng(9)
    X2.iloc[outside] = rng.normal(size=(len(outside), X.shape[1])) * 100
    y2.iloc[outside] = X2["noise_b"].iloc[outside]
    again = fit_on_fold(X2, y2, f.train, k=3)
    assert again.selected_ == base.selected_ and again.mi_.equals(base.mi_)
    per = select_per_fold(X, y, folds, k=3)
    assert len(per) == len(folds) and per[0].train_end < X.index[f.test[0]]


def test_unfitted_and_tiny_inputs_raise():
    X, y = _data(n=200)
    with pytest.raises(ModelError, match="not fitted"):
        FeatureSelector().transform(X)
    with pytest.raises(ModelError, match="at least 30"):
        FeatureSelector().fit(X.iloc[:10], y.iloc[:10])
