"""A sequence model through the same purged walk-forward as the tabular models, folds as Ray
tasks placed by ``training_options`` (CPU here: no GPU in the test cluster)."""

from __future__ import annotations

import numpy as np
import pytest

from models.training.dataset import make_dataset
from models.training.walkforward import assert_no_overlap, run_walkforward, splits_for
from pipelines.config import WalkForwardConfig
from pipelines.features.catalog import feature_set
from pipelines.sources.sample import sample_bars


@pytest.mark.slow
def test_sequence_model_walks_forward_as_ray_tasks(ray_session):
    bars, _ = sample_bars("SPX", 420)
    ds = make_dataset(bars, feature_set("core"), horizon=1)
    wf = WalkForwardConfig(horizon=1, train_bars=200, test_bars=60, validation_fraction=0.2)
    params = {"hidden": 8, "window": 8, "max_epochs": 2, "aux_horizons": [5]}
    res = run_walkforward(ds, "tcn", wf, params, use_ray=True, use_gpu=True, timeout=300)
    folds = splits_for(ds, wf)
    assert_no_overlap(ds, folds)
    assert len(res.folds) == len(folds) >= 2
    p = res.predictions
    assert len(p) == sum(len(f.test) for f in folds)
    assert p.index.is_monotonic_increasing and p.index.min() > ds.X.index[folds[0].train[-1]]
    assert np.isfinite(p[["expected_return", "prob_up", "confidence"]].to_numpy()).all()
    np.testing.assert_allclose(p["realized_return"].to_numpy(), ds.y.loc[p.index].to_numpy())
    assert res.final_model is not None and res.final_model.fit_info_["accelerator"] == "cpu"
