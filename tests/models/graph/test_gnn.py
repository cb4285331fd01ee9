"""Graph forecaster: the correlation graph from training rows only, joint prediction that uses
neighbours' features, causality per row, save / load."""

import numpy as np
import pandas as pd
import pytest
import torch

from models.base import NotFittedError
from models.graph.gnn import GraphForecaster, correlation_graph
from pipelines.errors import ModelError

torch.set_num_threads(1)
SYMS = ["A", "B", "C", "D"]


def _panel(n=400, seed=0):
    """Clusters {A, B} and {C, D}: each symbol's next return is the mean of its cluster's
    features plus a shared cluster shock (which makes the cluster correlated) plus noise."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-01", periods=n, freq="D")
    x = {s: rng.normal(size=n) for s in SYMS}
    shock = {0: rng.normal(size=n), 1: rng.normal(size=n)}
    X, y = {}, {}
    for s in SYMS:
        c = 0 if s in "AB" else 1
        mates = "AB" if c == 0 else "CD"
        sig = (x[mates[0]] + x[mates[1]]) / 2
        y[s] = pd.Series(0.01 * (sig + 0.8 * shock[c] + 0.3 * rng.normal(size=n)), index=idx)
        X[s] = pd.DataFrame({"f": x[s], "g": rng.normal(size=n)}, index=idx)
    return X, y


def _rows(d, sl):
    return {k: v.iloc[sl] for k, v in d.items()}


def test_graph_links_correlated_symbols_only():
    _, y = _panel()
    adj = correlation_graph(pd.DataFrame(y)[SYMS], window=60, threshold=0.3)
    assert adj[0, 1] > 0 and adj[2, 3] > 0
    assert adj[0, 2] == adj[0, 3] == adj[1, 2] == adj[1, 3] == 0
    np.testing.assert_allclose(adj, adj.T)


def test_predicts_all_nodes_jointly_out_of_sample():
    X, y = _panel()
    m = GraphForecaster(corr_window=60, epochs=300, seed=0).fit(_rows(X, slice(0, 300)), _rows(y, slice(0, 300)))
    pred = m.predict(_rows(X, slice(300, 400)))
    assert set(pred) == set(SYMS)
    for s in SYMS:
        p = pred[s]
        assert list(p.columns) == ["expected_return", "prob_up", "confidence"]
        assert p["prob_up"].between(0, 1).all() and p["confidence"].between(0, 1).all()
        ic = np.corrcoef(p["expected_return"], y[s].iloc[300:])[0, 1]
        # the signal is half the neighbour's feature: a node-only model cannot exceed ~0.45
        assert ic > 0.5, (s, ic)


def test_graph_depends_on_training_rows_only_and_rows_are_causal():
    X, y = _panel()
    m1 = GraphForecaster(corr_window=60, epochs=20).fit(_rows(X, slice(0, 300)), _rows(y, slice(0, 300)))
    X2, y2 = _panel(seed=0)
    for s in SYMS:
        y2[s].iloc[300:] = 0.05 * np.sign(np.random.default_rng(1).normal(size=100))
        X2[s].iloc[350:] = 99.0
    m2 = GraphForecaster(corr_window=60, epochs=20).fit(_rows(X2, slice(0, 300)), _rows(y2, slice(0, 300)))
    np.testing.assert_array_equal(m1.adj_, m2.adj_)
    a, b = m1.predict(_rows(X, slice(300, 400))), m1.predict(_rows(X2, slice(300, 400)))
    for s in SYMS:
        pd.testing.assert_frame_equal(a[s].iloc[:50], b[s].iloc[:50])
        assert not a[s].iloc[50:].equals(b[s].iloc[50:])


def test_save_load_round_trip(tmp_path):
    X, y = _panel(n=200)
    m = GraphForecaster(corr_window=40, epochs=10).fit(X, y)
    back = GraphForecaster.load(m.save(tmp_path / "g"))
    for s in SYMS:
        pd.testing.assert_frame_equal(m.predict(X)[s], back.predict(X)[s])


def test_bad_input_is_refused():
    X, y = _panel(n=100)
    with pytest.raises(NotFittedError):
        GraphForecaster().predict(X)
    with pytest.raises(ModelError, match="unknown parameters"):
        GraphForecaster(layers=3)
    with pytest.raises(ModelError, match="corr_window"):
        GraphForecaster(corr_window=200).fit(X, y)
    m = GraphForecaster(corr_window=40, epochs=2).fit(X, y)
    with pytest.raises(ModelError, match="lacks symbols"):
        m.predict({k: v for k, v in X.items() if k != "D"})
    with pytest.raises(ModelError, match="features differ"):
        m.predict({k: v.rename(columns={"g": "h"}) for k, v in X.items()})
