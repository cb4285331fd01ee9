"""Walk-forward folds never let a training label overlap the test window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.training.dataset import make_dataset
from models.training.walkforward import assert_no_overlap, splits_for
from pipelines.config import WalkForwardConfig
from models.training.splits import walk_forward_splits
from pipelines.features.catalog import feature_set
from pipelines.validation import validate_bars


@pytest.mark.parametrize("horizon,embargo,expanding,val", [(1, 0, False, 0.0), (5, 3, False, 0.2),
                                                          (24, 0, True, 0.25), (3, 10, True, 0.0)])
def test_training_labels_end_before_test(horizon, embargo, expanding, val):
    folds = walk_forward_splits(2000, horizon=horizon, train_bars=500, test_bars=100,
                                embargo_bars=embargo, expanding=expanding, validation_fraction=val)
    assert len(folds) >= 10
    prev_end = None
    for f in folds:
        # a training row t has a label over (t, t+h]: it must end before the first test row
        assert f.train.max() + horizon < f.test.min()
        assert f.test.min() - f.train.max() - 1 >= horizon + embargo
        if len(f.val):
            assert f.fit.max() + horizon < f.val.min()
        assert not set(f.train) & set(f.test)
        if prev_end is not None:
            assert f.test.min() == prev_end + 1  # test windows tile, each fold retrains
        prev_end = f.test.max()
        if not expanding:
            assert len(f.train) <= 500


def test_purge_shorter_than_horizon_is_refused():
    with pytest.raises(ValueError, match="purge"):
        walk_forward_splits(1000, horizon=5, train_bars=100, test_bars=50, purge_bars=2)
    with pytest.raises(ValueError, match="no walk-forward fold"):
        walk_forward_splits(50, horizon=1, train_bars=100, test_bars=50)


def test_label_known_times_on_a_real_dataset():
    rng = np.random.default_rng(1)
    n = 1500
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    df = pd.DataFrame({"ts": pd.date_range("2020", periods=n, freq="h", tz="UTC"), "open": close,
                       "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1.0})
    bars, _ = validate_bars(df, symbol="X", asset_class="crypto", timeframe="1h")
    for h in (1, 12):
        ds = make_dataset(bars, feature_set("core"), h)
        wf = WalkForwardConfig(horizon=h, train_bars=400, test_bars=100, validation_fraction=0.2)
        folds = splits_for(ds, wf)
        assert_no_overlap(ds, folds)
        # the check can fail: a fold without purge is caught
        from models.training.splits import Fold
        leaky = Fold(0, np.arange(0, 300), np.arange(0, 0), np.arange(300, 400))
        with pytest.raises(AssertionError, match="known at"):
            assert_no_overlap(ds, [leaky])
