"""Walk-forward: folds as Ray tasks give the same out-of-sample predictions as a sequential run;
predictions persist with model id, fold and config hash."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.training.dataset import make_dataset
from models.training.persist import persist_predictions, prediction_rows
from models.training.walkforward import assert_no_overlap, fit_fold, run_walkforward, splits_for
from pipelines.config import WalkForwardConfig
from pipelines.features.catalog import feature_set
from tests.synthetic.markets import ar1

WF = WalkForwardConfig(horizon=3, train_bars=600, test_bars=300, embargo_bars=2, validation_fraction=0.2)


@pytest.fixture(scope="module")
def sim():
    s = ar1(1800, phi=0.3, seed=11, symbol="SIM")
    return s.bars, make_dataset(s.bars, feature_set("core"), WF.horizon)


@pytest.mark.parametrize("model", ["lightgbm", "logistic"])
def test_ray_folds_equal_sequential(ray_session, sim, model):
    bars, ds = sim
    params = {"n_estimators": 30} if model == "lightgbm" else {}
    par = run_walkforward(ds, model, WF, params, use_ray=True, timeout=120)
    seq = run_walkforward(ds, model, WF, params, use_ray=False)
    pd.testing.assert_frame_equal(par.predictions, seq.predictions)
    folds = splits_for(ds, WF)
    assert_no_overlap(ds, folds)
    assert len(par.folds) == len(folds) >= 3
    assert par.predictions["fold"].nunique() == len(folds)
    # every out-of-sample row comes after its fold's training window plus purge and embargo
    for info in par.folds:
        gap = ds.X.index.get_loc(info["test_start"]) - ds.X.index.get_loc(info["train_end"]) - 1
        assert gap >= WF.horizon + WF.embargo_bars
    assert par.final_model is not None and par.final_model.features_ == list(ds.X.columns)


def test_fit_fold_keeps_its_signature(sim):
    _, ds = sim
    fold = splits_for(ds, WF)[0]
    pred, info, model = fit_fold("logistic", {}, ds.X, ds.y, fold, keep_model=True)
    assert len(pred) == len(fold.test) and info["n_fit"] == len(fold.fit) and model is not None


def test_predictions_persist_with_ids(store, sim):
    bars, ds = sim
    res = run_walkforward(ds, "logistic", WF, use_ray=False)
    ids = dict(model_id="logistic-SIM-1h-h3-abc", symbol="SIM", timeframe="1h", horizon=3,
               config_hash="abc123")
    n = persist_predictions(store, res.predictions, bars, **ids)
    assert n == len(res.predictions)
    back = store.read("predictions", {"model_id": ids["model_id"]})
    assert len(back) == len(res.predictions)
    assert set(back["config_hash"]) == {"abc123"} and set(back["horizon"]) == {3}
    assert sorted(back["fold"].unique()) == sorted(res.predictions["fold"].unique())
    np.testing.assert_allclose(back["prob_up"].to_numpy(), res.predictions["prob_up"].to_numpy())
    # known at the close of the bar, before the label's horizon ends
    assert (back["known_at"] > back["ts"]).all()
    persist_predictions(store, res.predictions, bars, **ids)     # idempotent
    assert len(store.read("predictions", {"model_id": ids["model_id"]})) == len(res.predictions)
    with pytest.raises(ValueError, match="no bar"):
        prediction_rows(res.predictions, bars.iloc[:100], **ids)


def test_calendar_spans_in_bars():
    from pipelines.times import span_bars
    assert span_bars("1M", "1d", "stock") == 21            # monthly retrain on daily stock bars
    assert span_bars("3Y", "1d", "stock") == 756           # keep the last 3 years
    assert span_bars("30D", "1h", "crypto") == 720
    assert span_bars(500, "1h") == span_bars("500", "1h") == 500
    with pytest.raises(ValueError, match="span"):
        span_bars("3 years", "1d")
