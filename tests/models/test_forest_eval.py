"""The packed random-forest evaluator gives scikit-learn's predictions to the bit."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from models.tabular import forest_eval
from models.zoo import create, load


def _data(n=600, p=8, seed=0, nan_frac=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X[:, 0] - 0.5 * X[:, 1] ** 2 + rng.normal(0, 0.5, n)
    if nan_frac:
        X[rng.random(X.shape) < nan_frac] = np.nan
    return X, y


@pytest.mark.parametrize("nan_frac", [0.0, 0.1])
def test_regressor_and_classifier_match_sklearn_exactly(nan_frac):
    X, y = _data(nan_frac=nan_frac)
    reg = RandomForestRegressor(n_estimators=30, max_depth=6, random_state=0).fit(X[:400], y[:400])
    clf = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0).fit(X[:400], (y[:400] > 0).astype(int))
    Xt = X[400:]
    np.testing.assert_array_equal(forest_eval.predict(forest_eval.pack(reg, False), Xt)[:, 0], reg.predict(Xt))
    np.testing.assert_array_equal(forest_eval.predict(forest_eval.pack(clf, True), Xt), clf.predict_proba(Xt))
    # one row at a time (a live prediction) gives the same rows
    one = np.vstack([forest_eval.predict(forest_eval.pack(reg, False), Xt[[i]]) for i in range(5)])[:, 0]
    np.testing.assert_array_equal(one, reg.predict(Xt[:5]))


def test_forecaster_predictions_survive_save_and_load(tmp_path):
    X, y = _data(seed=3)
    idx = pd.date_range("2024-01-01", periods=len(y), freq="h", tz="UTC")
    Xf = pd.DataFrame(X, index=idx, columns=[f"f{i}" for i in range(X.shape[1])])
    m = create("random_forest", {"n_estimators": 25}).fit(Xf.iloc[:400], pd.Series(y[:400], index=idx[:400]))
    p = m.predict(Xf.iloc[400:])
    # the same numbers scikit-learn's own predict gives for the fitted estimators
    A = m.prep_.frame(Xf.iloc[400:]).to_numpy()
    np.testing.assert_array_equal(p["expected_return"].to_numpy(), m.reg_.predict(A))
    np.testing.assert_array_equal(p["prob_up"].to_numpy(), m.clf_.predict_proba(A)[:, list(m.clf_.classes_).index(1)])
    m.save(tmp_path / "rf")
    q = load(tmp_path / "rf").predict(Xf.iloc[400:])
    pd.testing.assert_frame_equal(p, q)


def test_three_classes_and_refusals():
    X, y = _data(seed=5)
    labels = np.digitize(y, [-0.5, 0.5])                   # three classes
    clf = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(X[:400], labels[:400])
    np.testing.assert_array_equal(forest_eval.predict(forest_eval.pack(clf, True), X[400:]), clf.predict_proba(X[400:]))
    with pytest.raises(ValueError, match="fitted on 8 features"):
        forest_eval.predict(forest_eval.pack(clf, True), X[400:, :5])
    multi = RandomForestRegressor(n_estimators=5, random_state=0).fit(X[:400], np.c_[y[:400], -y[:400]])
    with pytest.raises(ValueError, match="single-output"):
        forest_eval.pack(multi, False)
