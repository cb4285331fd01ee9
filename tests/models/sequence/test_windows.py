"""The window builder is causal (the window for t holds nothing after t), views one tensor,
and the normaliser sees only the rows it is fitted on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from models.sequence.heads import multi_horizon_targets
from models.sequence.windows import Normaliser, WindowDataset, padded, window_view
from models.sequence import MODELS
from models.zoo import create


def test_window_for_t_covers_t_and_the_rows_before_only():
    n, w = 40, 7
    z = np.arange(n * 3, dtype="float32").reshape(n, 3)
    views = window_view(padded(z, w), w)
    assert views.shape == (n, w, 3)
    for t in range(n):
        lo = max(0, t - w + 1)
        np.testing.assert_array_equal(views[t, w - (t - lo + 1):].numpy(), z[lo:t + 1])
        assert (views[t, :w - (t - lo + 1)] == 0).all()        # padding, not future rows
    ds = WindowDataset(z, np.zeros((n, 2)), w)
    for t in (0, 5, n - 1):
        x, _ = ds[t]
        np.testing.assert_array_equal(x.numpy(), views[t].numpy())
        assert x.data_ptr() >= ds.xp.data_ptr()               # a view into the one tensor
        assert x.untyped_storage().data_ptr() == ds.xp.untyped_storage().data_ptr()


CASES = [(n, {}) for n in sorted(MODELS)] + [("lstm", {"bidirectional": True})]


@pytest.mark.parametrize("name,extra", CASES, ids=[n + ("-bi" if e else "") for n, e in CASES])
def test_predictions_at_t_ignore_every_later_row(name, extra):
    rng = np.random.default_rng(0)
    idx = pd.date_range("2024-01-01", periods=160, freq="h", tz="UTC")
    X = pd.DataFrame(rng.normal(size=(160, 4)), index=idx, columns=list("abcd"))
    y = pd.Series(rng.normal(scale=0.01, size=160), index=idx)
    torch.set_num_threads(1)
    params = {"hidden": 8, "window": 10, "max_epochs": 1, "aux_horizons": [], **extra}
    if name in ("transformer", "tft", "transformer_lstm"):
        params["heads"] = 2
    m = create(name, params).fit(X.iloc[:100], y.iloc[:100])
    full = m.predict(X.iloc[100:])
    for cut in (105, 130):
        prefix = m.predict(X.iloc[100:cut + 1])
        changed = X.iloc[100:].copy()
        changed.iloc[cut + 1 - 100:] = 1e6                       # poison everything after the cut
        poisoned = m.predict(changed)
        np.testing.assert_allclose(prefix.to_numpy(), full.iloc[:cut + 1 - 100].to_numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(poisoned.iloc[:cut + 1 - 100].to_numpy(), prefix.to_numpy(), rtol=1e-5, atol=1e-6)


def test_normaliser_is_fitted_on_its_rows_only():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 1000.0], "b": [np.nan, 1.0, np.inf, 3.0]})
    n = Normaliser.fit(X.iloc[:3])
    assert n.mean[0] == pytest.approx(2.0) and n.mean[1] == pytest.approx(1.0)
    z = n.transform(X)
    assert np.isfinite(z).all() and z[1, 1] == 0 and z[3, 0] == 10.0     # clipped, not refitted


def test_longer_horizon_targets_sum_labels_inside_the_slice():
    y = np.array([0.1, -0.2, 0.3, 0.05, np.nan])
    t = multi_horizon_targets(y, 1, (1, 3))
    np.testing.assert_allclose(t[:, 1], [0.2, 0.15, np.nan, np.nan, np.nan], equal_nan=True)
    np.testing.assert_allclose(t[:, 2], [1, 0, 1, 1, np.nan], equal_nan=True)
