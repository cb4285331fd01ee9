"""One conformance test over every tabular model in the zoo: fit on a small real series, save,
load, identical predictions, shapes, no NaN; unfitted and mismatched features raise."""

from __future__ import annotations

import importlib
import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from models.base import PREDICTION_COLUMNS, NotFittedError
from models.tabular.base import TabularForecaster
from models import zoo
from models.zoo import all_models, model_class
from models.training.dataset import make_dataset
from pipelines.errors import ModelError
from pipelines.features.catalog import feature_set
from pipelines.sources.sample import sample_bars

SMALL = {"n_estimators": 25, "iterations": 25}


def _tabular_names() -> list[str]:
    names = []
    for name, target in all_models().items():
        try:
            cls = model_class(name)
        except ModelError:          # optional extra not installed: still listed, skipped below
            names.append(name)
            continue
        if cls.consumes == "tabular":
            names.append(name)
    return sorted(names)


@pytest.fixture(scope="module")
def spx():
    bars, _ = sample_bars("SPX", 700)          # real S&P 500 daily bars shipped with arch
    ds = make_dataset(bars, feature_set("core"), horizon=1)
    return ds.X, ds.y


def _cls_or_skip(name):
    try:
        return model_class(name)
    except ModelError as exc:
        pytest.skip(str(exc))


def _params(cls) -> dict:
    keys = set(getattr(cls, "defaults", {}))
    return {k: v for k, v in SMALL.items() if k in keys}


@pytest.mark.parametrize("name", _tabular_names())
def test_model_conformance(name, spx, tmp_path):
    cls = _cls_or_skip(name)
    X, y = spx
    fit_X, fit_y = X.iloc[:450], y.iloc[:450]
    val_X, val_y = X.iloc[452:520], y.iloc[452:520]
    test_X = X.iloc[522:]

    model = cls(**_params(cls))
    with pytest.raises(NotFittedError):
        model.predict(test_X)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "unfitted")

    assert model.fit(fit_X, fit_y, val_X, val_y) is model
    pred = model.predict(test_X)
    assert list(pred.columns) == list(PREDICTION_COLUMNS)
    assert pred.shape == (len(test_X), 3)
    assert pred.index.equals(test_X.index)
    assert not pred.isna().any().any()
    assert ((pred["prob_up"] >= 0) & (pred["prob_up"] <= 1)).all()
    assert ((pred["confidence"] >= 0) & (pred["confidence"] <= 1)).all()
    assert pred["expected_return"].abs().max() < 1.0     # a daily log return, not a price

    path = model.save(tmp_path / name)
    assert (path / "meta.json").exists()
    loaded = cls.load(path, expected_features=list(X.columns))
    pd.testing.assert_frame_equal(loaded.predict(test_X), pred)
    meta = json.loads((path / "meta.json").read_text())
    assert meta["name"] == name and meta["features"] == list(X.columns) and meta["consumes"] == "tabular"
    pd.testing.assert_frame_equal(zoo.load(path).predict(test_X), pred)   # by its own description

    # a feature list that no longer matches is refused with a message naming both sets
    with pytest.raises(ModelError, match="retrain it or use the matching feature set"):
        cls.load(path, expected_features=list(X.columns[:-1]) + ["something_else"])
    with pytest.raises(ModelError, match="features differ from training"):
        loaded.predict(test_X[list(reversed(X.columns))])


@pytest.mark.parametrize("name", ["logistic", "lightgbm"])
def test_fold_local_preprocessing(name, spx):
    """Scaler, imputer, selection and regimes are fitted on the training rows only: the same
    model fitted on a window that differs only *after* the training rows predicts the same."""
    cls = _cls_or_skip(name)
    X, y = spx
    params = {**_params(cls), "select_k": 6, "regimes": True}
    a = cls(**params).fit(X.iloc[:400], y.iloc[:400])
    if cls.scale:
        train = X.iloc[:400]
        np.testing.assert_allclose(a.prep_.scaler_.mean_[: X.shape[1]],
                                   train.fillna(train.median()).mean().to_numpy(), rtol=1e-9)
    assert len(a.prep_.columns_) == 6
    X2 = X.copy()
    X2.iloc[400:] = X2.iloc[400:] * 50.0      # later rows changed wildly
    b = cls(**params).fit(X2.iloc[:400], y.iloc[:400])
    pd.testing.assert_frame_equal(a.predict(X.iloc[420:]), b.predict(X.iloc[420:]))


def test_one_class_training_window(spx):
    cls = model_class("logistic")
    X, y = spx
    m = cls().fit(X.iloc[:200], y.iloc[:200].abs() + 1e-4)   # every label up
    p = m.predict(X.iloc[210:260])
    assert np.allclose(p["prob_up"], 1.0)


@pytest.mark.skipif(importlib.util.find_spec("catboost") is not None, reason="catboost is installed here")
def test_catboost_absent_is_a_clear_error():
    with pytest.raises(ModelError, match=r"meridian\[catboost\]"):
        importlib.import_module("models.tabular.catboost")


@pytest.mark.parametrize("name", _tabular_names())
def test_missing_values_and_feature_selection(name, spx):
    """A column that is entirely missing and gaps in another do not break fitting, selection or
    prediction; selection keeps k columns chosen on the training rows."""
    cls = _cls_or_skip(name)
    if not issubclass(cls, TabularForecaster):
        pytest.skip(f"{name} has no feature-selection step")
    X, y = spx
    X = X.copy()
    X.iloc[::7, 3] = np.nan
    X["volume_z_20"] = np.nan
    m = cls(**_params(cls), select_k=6).fit(X.iloc[:450], y.iloc[:450])
    assert len(m.prep_.columns_) == 6 and "volume_z_20" not in m.prep_.columns_
    p = m.predict(X.iloc[460:])
    assert not p.isna().any().any()


@pytest.mark.parametrize("name", ["logistic", "svm", "random_forest"])
def test_unknown_parameters_are_refused(name, spx):
    X, y = spx
    with pytest.raises(ModelError, match="unknown parameter|bad parameters"):
        model_class(name)(n_estimatorz=5).fit(X.iloc[:200], y.iloc[:200])
