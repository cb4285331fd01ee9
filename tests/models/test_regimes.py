"""HMM regimes: fitted on training rows only, filtered causally, named from their parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.regimes.hmm import REGIME_COLUMNS, REGIMES, RegimeHMM
from models.training.dataset import make_dataset
from pipelines.errors import ModelError
from pipelines.features.catalog import feature_set
from tests.synthetic.markets import regime_switching


@pytest.fixture(scope="module")
def sim_ds():
    sim = regime_switching(2500, seed=4)
    ds = make_dataset(sim.bars, feature_set("core"), 1)
    states = pd.Series(sim.states, index=sim.bars["ts"]).loc[ds.X.index]
    return ds, states


def test_filtered_probabilities_are_causal(sim_ds):
    ds, _ = sim_ds
    hmm = RegimeHMM().fit(ds.X.iloc[:1200])
    full = hmm.filter_proba(ds.X.iloc[1200:])
    assert list(full.columns) == list(REGIME_COLUMNS)
    np.testing.assert_allclose(full.sum(axis=1), 1.0, atol=1e-9)
    for cut in (1, 37, 400, len(full) - 1):
        prefix = hmm.filter_proba(ds.X.iloc[1200:1200 + cut])
        pd.testing.assert_frame_equal(prefix, full.iloc[:cut], rtol=1e-10, atol=1e-12)


def test_fit_uses_only_the_training_rows(sim_ds):
    ds, _ = sim_ds
    a = RegimeHMM().fit(ds.X.iloc[:1000])
    X2 = ds.X.copy()
    X2.iloc[1000:] = X2.iloc[1000:] * 10
    b = RegimeHMM().fit(X2.iloc[:1000])
    np.testing.assert_allclose(a.transmat_, b.transmat_)
    assert a.state_names_ == b.state_names_


def test_regimes_are_named_and_track_the_hidden_volatility(sim_ds):
    ds, states = sim_ds
    hmm = RegimeHMM().fit(ds.X.iloc[:1500])
    assert sorted(hmm.state_names_) == sorted(REGIMES)
    labels = hmm.labels(ds.X.iloc[1500:])
    assert set(labels.unique()) <= set(REGIMES)
    true = states.iloc[1500:]
    # the simulator's state 1 is the volatile, mean-reverting one: 'volatile' rows are mostly it
    vol_rows = labels == "volatile"
    assert vol_rows.sum() > 50
    assert true[vol_rows].mean() > true[~vol_rows].mean() + 0.3


def test_unfitted_and_missing_columns_raise(sim_ds):
    ds, _ = sim_ds
    with pytest.raises(ModelError, match="not fitted"):
        RegimeHMM().filter_proba(ds.X)
    with pytest.raises(ModelError, match="ret_lag_1"):
        RegimeHMM().fit(ds.X.drop(columns=["vol_20"]))


def test_regimes_as_a_feature_inside_a_model(sim_ds):
    from models.zoo import create
    ds, _ = sim_ds
    m = create("logistic", {"regimes": True}).fit(ds.X.iloc[:1200], ds.y.iloc[:1200])
    assert m.prep_.columns_[-3:] == list(REGIME_COLUMNS)
    assert hasattr(m.prep_, "hmm_")
    p = m.predict(ds.X.iloc[1300:])
    assert p.notna().all().all()


def test_regime_switch_learns_opposite_rules_per_regime(sim_ds):
    """Calm bars trend (phi = +0.4), volatile bars revert (phi = -0.4): the specialist of the
    volatile regime learns a negative slope on the last bar's return, the calm regimes' a
    positive one, and switching between them beats 50% out of sample."""
    from models.zoo import create
    ds, states = sim_ds
    m = create("regime_switch").fit(ds.X.iloc[:1500], ds.y.iloc[:1500])
    labels = m.hmm_.labels(ds.X.iloc[:1500])
    calm = labels[states.iloc[:1500] == 0].value_counts().idxmax()
    assert calm != "volatile"
    slope = {r: f["ridge"].coef_[f["signal"].index("last_bar")] for r, f in m.fits_.items()}
    assert slope["volatile"] < 0 < slope[calm]
    p = m.predict(ds.X.iloc[1500:])
    acc = ((p["expected_return"] > 0) == (ds.y.iloc[1500:] > 0)).mean()
    assert acc > 0.55
