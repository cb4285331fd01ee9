"""One conformance test over every deep sequence model: fit a few steps on a small real series
(S&P 500 daily bars), save, load, identical predictions, shapes, no NaN; plus the contract's
errors and early stopping, seeds and checkpoint resume on one model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.base import PREDICTION_COLUMNS, NotFittedError
from models.sequence import MODELS
from models.zoo import create, load, model_class
from models.training.dataset import make_dataset
from pipelines.errors import ModelError
from pipelines.features.catalog import feature_set
from pipelines.sources.sample import sample_bars

TINY = {"hidden": 8, "window": 12, "max_epochs": 2, "batch_size": 32, "aux_horizons": [5]}
HEADS = {"transformer": 2, "tft": 2, "transformer_lstm": 2}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def spx():
    bars, _ = sample_bars("SPX", 330)            # real S&P 500 daily bars shipped with arch
    ds = make_dataset(bars, feature_set("core"), horizon=1)
    return ds.X, ds.y


def tiny(name: str, **kw) -> dict:
    p = {**TINY, **kw}
    if name in HEADS:
        p["heads"] = HEADS[name]
    return p


@pytest.mark.parametrize("name", sorted(MODELS))
def test_sequence_model_conformance(name, spx, tmp_path):
    X, y = spx
    cls = model_class(name)
    assert cls.consumes == "sequence" and cls.wants_gpu
    fit, val, test = slice(0, 180), slice(181, 220), slice(220, None)
    with pytest.raises(NotFittedError):
        cls(**tiny(name)).predict(X.iloc[test])
    m = create(name, tiny(name))
    assert m.fit(X.iloc[fit], y.iloc[fit], X.iloc[val], y.iloc[val]) is m
    pred = m.predict(X.iloc[test])
    assert list(pred.columns) == list(PREDICTION_COLUMNS)
    assert pred.index.equals(X.iloc[test].index)
    assert not pred.isna().any().any()
    assert pred["prob_up"].between(0, 1).all() and pred["confidence"].between(0, 1).all()
    assert pred["expected_return"].std() > 0          # not a constant
    r, p_up = m.predict_all(X.iloc[test])
    n_q = max(1, len(m.hp()["quantiles"]))
    assert r.shape == (len(pred), 2, n_q) and np.isfinite(r).all()
    np.testing.assert_allclose(p_up, pred["prob_up"].to_numpy())

    path = m.save(tmp_path / name)
    meta = json.loads((path / "meta.json").read_text())
    assert meta["consumes"] == "sequence" and meta["features"] == list(X.columns)
    again = load(path, expected_features=list(X.columns))
    np.testing.assert_array_equal(again.predict(X.iloc[test]).to_numpy(), pred.to_numpy())
    with pytest.raises(ModelError, match="trained on feature set"):
        load(path, expected_features=list(X.columns)[:-1])
    with pytest.raises(ModelError, match="features differ"):
        m.predict(X.iloc[test, :-1])


def test_unknown_parameter_is_refused(spx):
    X, y = spx
    with pytest.raises(ModelError, match="unknown parameter"):
        create("gru", {"hiden": 8}).fit(X.iloc[:50], y.iloc[:50])


def test_seeded_fits_are_identical_and_early_stopping_keeps_the_best(spx):
    X, y = spx
    a = create("gru", tiny("gru", max_epochs=30, patience=1, lr=0.05)).fit(
        X.iloc[:180], y.iloc[:180], X.iloc[181:220], y.iloc[181:220])
    b = create("gru", tiny("gru", max_epochs=30, patience=1, lr=0.05)).fit(
        X.iloc[:180], y.iloc[:180], X.iloc[181:220], y.iloc[181:220])
    np.testing.assert_array_equal(a.predict(X.iloc[220:]).to_numpy(), b.predict(X.iloc[220:]).to_numpy())
    assert a.fit_info_["epochs"] < 30                  # stopped on the validation slice
    assert a.fit_info_["best_val_loss"] is not None


def test_checkpoints_resume(spx, tmp_path):
    X, y = spx
    ck = tmp_path / "ck"
    first = create("tcn", tiny("tcn", max_epochs=1, checkpoint_dir=str(ck)))
    first.fit(X.iloc[:180], y.iloc[:180], X.iloc[181:220], y.iloc[181:220])
    assert (ck / "last.ckpt").exists()
    state = torch.load(ck / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["epoch"] == 0
    # a rerun with more epochs continues from the checkpoint instead of starting over
    more = create("tcn", tiny("tcn", max_epochs=3, checkpoint_dir=str(ck)))
    more.fit(X.iloc[:180], y.iloc[:180], X.iloc[181:220], y.iloc[181:220])
    state = torch.load(ck / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["epoch"] == 2
    assert more.fit_info_["epochs"] == 3
    kept = [v for k, v in state["callbacks"].items() if k.startswith("KeepBest")]
    assert kept and kept[0]["best"] == more.fit_info_["best_val_loss"] < float("inf")


def test_tft_variable_selection_weights(spx):
    X, y = spx
    m = create("tft", tiny("tft")).fit(X.iloc[:180], y.iloc[:180])
    imp = m.variable_importance(X.iloc[180:])
    assert list(imp) == list(X.columns)
    assert sum(imp.values()) == pytest.approx(1.0, abs=1e-4) and min(imp.values()) > 0
    r, _ = m.predict_all(X.iloc[180:])
    assert r.shape[2] == 3 and (np.diff(r, axis=2) > -1e-3).mean() > 0.5   # quantiles mostly ordered
